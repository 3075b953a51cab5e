#!/usr/bin/env python3
"""Checks OTLP/HTTP JSON request bodies against the official OTLP protobuf schema.

Usage: validate.py BODY.json...   (each file: one ExportLogsServiceRequest, uncompressed)

Each body must parse with google.protobuf.json_format.Parse into
opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest *without* ignore_unknown_fields,
which is what OpenTelemetry receivers do with OTLP/HTTP JSON: a misspelt key, a 64-bit integer
written as a number where a string is due, an unknown enum value or two values in one AnyValue
all fail here. On top of the schema it checks what logship promises (PROTOCOL.md §5): a
service.name, and a severity and an observed time on every record that has a time at all.

Prints one line per body and a summary as JSON on the last line; exits 1 on the first bad body,
and 2 when the Python packages are missing (pip install opentelemetry-proto protobuf).
"""

import json
import sys

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )
except ImportError as missing:
    print(
        f"validate.py needs the OTLP schema packages ({missing}): "
        "pip install opentelemetry-proto protobuf",
        file=sys.stderr,
    )
    sys.exit(2)


def check(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    request = ExportLogsServiceRequest()
    json_format.Parse(text, request)  # strict: no ignore_unknown_fields
    records = 0
    services = []
    for resource_logs in request.resource_logs:
        names = [
            kv.value.string_value
            for kv in resource_logs.resource.attributes
            if kv.key == "service.name"
        ]
        if len(names) != 1 or not names[0]:
            raise ValueError("resource without exactly one non-empty service.name")
        services.extend(names)
        for scope_logs in resource_logs.scope_logs:
            if scope_logs.scope.name != "logship":
                raise ValueError(f"scope name {scope_logs.scope.name!r}")
            for record in scope_logs.log_records:
                records += 1
                if record.severity_number == 0 or not record.severity_text:
                    raise ValueError(f"record {records} has no severity")
                if not record.HasField("body"):
                    raise ValueError(f"record {records} has no body")
                if record.time_unix_nano and record.time_unix_nano != record.observed_time_unix_nano:
                    raise ValueError(f"record {records}: time and observed time differ")
    return records, services


def main():
    total = 0
    services = set()
    for path in sys.argv[1:]:
        try:
            records, names = check(path)
        except (json_format.ParseError, ValueError) as problem:
            print(f"{path}: INVALID: {problem}", file=sys.stderr)
            sys.exit(1)
        total += records
        services.update(names)
        print(f"{path}: ok, {records} records")
    print(json.dumps({"bodies": len(sys.argv) - 1, "records": total, "services": sorted(services)}))


if __name__ == "__main__":
    main()
