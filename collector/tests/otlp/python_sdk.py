"""Logs through the OpenTelemetry Python SDK and its OTLP/HTTP exporter (protobuf, the SDK's default).

    python3 python_sdk.py BASE_URL none|gzip SERVICE_NAME

Python's `logging` goes through the SDK's LoggingHandler and a BatchLogRecordProcessor to the exporter,
as in an instrumented application. Prints each export's result ("export: SUCCESS" or "export: FAILURE").
"""

import logging
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource


class ReportingExporter(OTLPLogExporter):
    """The real exporter; says how each export went."""

    def export(self, batch):
        result = super().export(batch)
        print(f"export: {result.name}", flush=True)
        return result


def main():
    base_url, compression, service = sys.argv[1], sys.argv[2], sys.argv[3]
    provider = LoggerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "test"})
    )
    exporter = ReportingExporter(
        endpoint=f"{base_url}/v1/logs",
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
        timeout=10,
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    log = logging.getLogger("logship.otel.test")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

    log.info("hello from the python sdk")
    log.warning("disk almost full", extra={"disk.free_mb": 42, "mount": "/var"})
    log.error("it broke: %s", "badly")

    provider.force_flush(10_000)
    provider.shutdown()


if __name__ == "__main__":
    main()
