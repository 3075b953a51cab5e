//! OTLP/HTTP logs in protobuf (what OpenTelemetry SDKs send by default) as well as JSON, with OTLP's
//! answers: an `ExportLogsServiceResponse` (with `partial_success` when records were refused) on
//! success and a `google.rpc.Status` on failure, each in the request's own encoding.
//!
//! A protobuf request is decoded with the official messages (`opentelemetry-proto`) and turned into
//! OTLP JSON, so both encodings go through the same mapping to stored entries (`ingest::otlp_entries`).

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use serde_json::Value;

use crate::decode::Reject;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// Error bodies longer than this are cut when they are wrapped in a `Status`.
const STATUS_MESSAGE_MAX: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// The request's `Content-Type` (JSON when absent, as before protobuf was accepted).
    pub fn of(headers: &HeaderMap) -> Result<Format, Reject> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().trim().to_ascii_lowercase());
        match content_type.as_deref() {
            None => Ok(Format::Json),
            Some(t) if t.starts_with(JSON) => Ok(Format::Json),
            Some(t) if t.starts_with(PROTOBUF) => Ok(Format::Protobuf),
            Some(_) => Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("OTLP/HTTP takes Content-Type {PROTOBUF} or {JSON}"),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

/// A protobuf `ExportLogsServiceRequest` as OTLP JSON. Fields left at their defaults (empty ids,
/// zero flags, …) are dropped from log records, as an OTLP JSON sender would leave them out.
pub(crate) fn protobuf_to_json(body: &[u8]) -> Result<String, String> {
    let request = ExportLogsServiceRequest::decode(body)
        .map_err(|e| format!("body is not an OTLP ExportLogsServiceRequest: {e}"))?;
    let mut json = serde_json::to_value(&request).map_err(|e| e.to_string())?;
    drop(request);
    for resource in as_array(&mut json, "resourceLogs") {
        for scope in as_array(resource, "scopeLogs") {
            for record in as_array(scope, "logRecords") {
                if let Value::Object(fields) = record {
                    fields.retain(|_, v| !is_default(v));
                }
            }
        }
    }
    Ok(json.to_string())
}

fn as_array<'a>(v: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    v.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "0",
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Bool(_) | Value::Object(_) => false,
    }
}

/// The success answer: `rejected` records were refused for `reason`.
pub(crate) fn success(format: Format, rejected: usize, reason: Option<String>) -> Response {
    let partial = (rejected > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: rejected as i64,
        error_message: reason.unwrap_or_default(),
    });
    let body = match (format, partial) {
        (Format::Protobuf, partial_success) => {
            ExportLogsServiceResponse { partial_success }.encode_to_vec()
        }
        (Format::Json, None) => b"{}".to_vec(),
        // int64 is a decimal string in (OTLP) JSON.
        (Format::Json, Some(p)) => serde_json::json!({"partialSuccess": {
            "rejectedLogRecords": p.rejected_log_records.to_string(),
            "errorMessage": p.error_message,
        }})
        .to_string()
        .into_bytes(),
    };
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// `google.rpc.Status`, the body OTLP/HTTP gives every failed request.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Layered on `/v1/logs`: turns every failure answer (whoever made it: the token check, the upload
/// limits, the handler) into a `Status` in the request's encoding, keeping its status and headers.
pub(crate) async fn status_bodies(request: Request, next: Next) -> Response {
    let format = Format::of(request.headers()).unwrap_or(Format::Json);
    let response = next.run(request).await;
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, STATUS_MESSAGE_MAX).await.unwrap_or_default();
    let status = Status {
        code: grpc_code(parts.status),
        message: String::from_utf8_lossy(&text).trim().to_owned(),
    };
    let body = match format {
        Format::Protobuf => status.encode_to_vec(),
        Format::Json => serde_json::json!({"code": status.code, "message": status.message})
            .to_string()
            .into_bytes(),
    };
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The gRPC status code (google.rpc.Code) matching an HTTP failure.
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,      // UNAUTHENTICATED
        403 => 7,       // PERMISSION_DENIED
        413 | 429 => 8, // RESOURCE_EXHAUSTED
        503 => 14,      // UNAVAILABLE
        _ => 2,         // UNKNOWN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn string(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        })
    }

    #[test]
    fn protobuf_becomes_the_otlp_json_of_the_same_records() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: string("svc"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: string("hello"),
                        attributes: vec![KeyValue {
                            key: "n".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::IntValue(42)),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let json = protobuf_to_json(&request.encode_to_vec()).unwrap();
        let logs = crate::ingest::otlp_entries(&json).unwrap();
        assert_eq!(logs.collections, ["svc"]);
        let record: Value = serde_json::from_str(&logs.entries[0].raw).unwrap();
        assert_eq!(
            record,
            serde_json::json!({
                "timeUnixNano": "1700000000000000000",
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": "hello"},
                "attributes": [{"key": "n", "value": {"intValue": "42"}}]
            })
        );
        assert!(protobuf_to_json(&[0, 0, 0, 0]).is_err());
    }
}
