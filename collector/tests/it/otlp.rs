//! `POST /v1/logs` in OTLP/HTTP protobuf: a real OpenTelemetry SDK (Python's, `tests/otlp/python_sdk.py`)
//! as the client, and OTLP's answers (partial success, `google.rpc.Status`) in the request's encoding.

use std::path::Path;
use std::process::Command;

use logship_collector::Collector;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{json, Value};

use crate::{post, start};

/// Runs the Python SDK script against `c`; panics unless every export succeeded.
fn python_sdk(c: &Collector, compression: &str, service: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/python_sdk.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&c.url(), compression, service])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python_sdk.py failed (are opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http \
         installed? scripts/install-deps.sh installs them):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("export: SUCCESS") && !stdout.contains("FAILURE"),
        "{stdout}\n{stderr}"
    );
}

/// The attribute `key` of an OTLP JSON record.
fn attribute<'a>(record: &'a Value, key: &str) -> &'a Value {
    record["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
        .map(|kv| &kv["value"])
        .unwrap_or_else(|| panic!("no attribute {key} in {record}"))
}

#[tokio::test]
async fn the_python_sdk_ships_protobuf_plain_and_gzip() {
    let c = start();
    python_sdk(&c, "none", "python.plain");
    python_sdk(&c, "gzip", "python.gzip");
    for service in ["python.plain", "python.gzip"] {
        let stored = c.entries(service);
        let records: Vec<&Value> = stored.iter().map(|e| &e.entry).collect();
        let bodies: Vec<&str> = records
            .iter()
            .map(|r| r["body"]["stringValue"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                "hello from the python sdk",
                "disk almost full",
                "it broke: badly"
            ],
            "{service}"
        );
        let severities: Vec<(i64, &str)> = records
            .iter()
            .map(|r| {
                (
                    r["severityNumber"].as_i64().unwrap(),
                    r["severityText"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(severities, [(9, "INFO"), (13, "WARN"), (17, "ERROR")]);
        let warning = records[1];
        assert_eq!(
            attribute(warning, "disk.free_mb"),
            &json!({"intValue": "42"})
        );
        assert_eq!(attribute(warning, "mount"), &json!({"stringValue": "/var"}));
        assert!(warning["timeUnixNano"].as_str().unwrap().len() >= 19);
    }
    let encodings: Vec<Option<String>> = c
        .batches()
        .into_iter()
        .map(|b| b.content_encoding)
        .collect();
    assert!(encodings.contains(&None) && encodings.contains(&Some("gzip".into())));
}

fn string(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    })
}

fn resource_logs(service: &str, bodies: &[&str]) -> ResourceLogs {
    ResourceLogs {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: string(service),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: bodies
                .iter()
                .map(|b| LogRecord {
                    severity_number: 9,
                    body: string(b),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `google.rpc.Status`, as OTLP/HTTP failures carry it.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn post_bytes(c: &Collector, content_type: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let res = crate::client()
        .post(format!("{}/v1/logs", c.url()))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn protobuf_answers_partial_success_and_status_in_protobuf() {
    let c = start();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![
            resource_logs("good.service", &["kept"]),
            resource_logs("not a collection name", &["refused 1", "refused 2"]),
        ],
    };
    let (status, content_type, body) =
        post_bytes(&c, "application/x-protobuf", request.encode_to_vec()).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-protobuf")
    );
    let answer = ExportLogsServiceResponse::decode(&body[..]).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 2);
    assert!(partial.error_message.contains("service.name"));
    assert_eq!(c.entries("good.service").len(), 1);

    // The same request in JSON gets the same answer in JSON.
    let json_request = r#"{"resourceLogs":[
        {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"good.service"}}]},
         "scopeLogs":[{"logRecords":[{"body":{"stringValue":"kept too"}}]}]},
        {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"not a collection name"}}]},
         "scopeLogs":[{"logRecords":[{"body":{"stringValue":"refused"}}]}]}]}"#;
    let (status, text) = post(
        &format!("{}/v1/logs", c.url()),
        &[("Content-Type", "application/json")],
        json_request,
    )
    .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "1");
    assert_eq!(c.entries("good.service").len(), 2);

    // Failures carry a google.rpc.Status in the request's encoding.
    let (status, content_type, body) =
        post_bytes(&c, "application/x-protobuf", vec![0xff; 8]).await;
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/x-protobuf")
    );
    let failure = Status::decode(&body[..]).unwrap();
    assert_eq!(failure.code, 3, "INVALID_ARGUMENT");
    assert!(
        failure.message.contains("ExportLogsServiceRequest"),
        "{failure:?}"
    );
    let (status, content_type, body) = post_bytes(&c, "application/json", b"nope".to_vec()).await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    let failure: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(failure["code"], 3);
    let (status, _, body) = post_bytes(&c, "text/plain", b"{}".to_vec()).await;
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&body).contains("application/x-protobuf"));
    assert_eq!(
        c.entries("good.service").len(),
        2,
        "failures stored nothing"
    );
}
