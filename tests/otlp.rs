//! `format: "otlp"` end to end: real bodies, captured on loopback on their way to the collector's
//! `POST /v1/logs`, checked against the official OTLP protobuf schema by tests/otlp/validate.py
//! (PyPI: `pip install opentelemetry-proto protobuf`; a missing package fails the test).

mod common;

use std::io::Read as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::fault::{Fault, FaultServer, Hit};
use logship::{Builder, Format, Logger};
use logship_collector::{Collector, Options};
use serde_json::Value;

fn collector() -> Collector {
    Collector::start(Options::default()).expect("collector starts")
}

fn otlp_logger(base_url: &str, collection: &str) -> Builder {
    Logger::builder()
        .base_url(base_url)
        .collection(collection)
        .format(Format::Otlp)
        .flush_delay_ms(50)
        .retry_initial_ms(20)
        .retry_max_ms(200)
}

/// The uncompressed body of a captured upload.
fn body(hit: &Hit) -> Vec<u8> {
    match hit.header("Content-Encoding") {
        None => hit.body.clone(),
        Some("gzip") => {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&hit.body[..])
                .read_to_end(&mut plain)
                .expect("gzip body");
            plain
        }
        Some(other) => panic!("OTLP bodies are plain or gzip, not {other}"),
    }
}

/// Runs tests/otlp/validate.py on the bodies; returns its summary (the last line of its output).
fn validate(bodies: &[Vec<u8>], name: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("otlp-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let path = dir.join(format!("body-{i}.json"));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/validate.py");
    let output = Command::new("python3")
        .arg(script)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 for the OTLP schema check: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "OTLP schema check failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary line")
}

fn records(body: &[u8]) -> Vec<Value> {
    let request: Value = serde_json::from_slice(body).unwrap();
    request["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_shared_vector_and_odd_json_pass_the_official_schema_and_reach_the_collector() {
    let c = collector();
    let relay = FaultServer::start(Some(c.addr()), |_| Fault::Forward);
    let log = otlp_logger(&relay.url(), "otlp.app")
        .include_proc_id(true)
        .include_proc_seq(true)
        .metrics(|| "rss=12".to_owned())
        .build()
        .unwrap();
    let mut writes: Vec<Vec<u8>> = common::shared_vectors::vectors()
        .into_iter()
        .map(|v| v.input)
        .collect();
    writes.extend(
        [
            r#"{"nested":{"a":[1,2.5,-3,true,null,"s",{"deep":[[[]]]}],"b":{}},"big":18446744073709551615}"#,
            r#"{"exp":1e300,"neg":-9223372036854775808,"uni":"é😀\u0000\u2028","":"empty key"}"#,
            r#"{"level":"error","message":"the level member names the severity"}"#,
            "\u{1b}[31mansi\u{1b}[0m and [v2] trace level",
            "[v\0JSON]7{\"verbose\":7}",
        ]
        .map(|s| s.as_bytes().to_vec()),
    );
    writes.push(format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100)).into_bytes());
    writes.push(vec![0xff, 0xfe, b'x', 0xe2, 0x82]);
    for write in &writes {
        log.write(write).unwrap();
    }
    log.flush(Duration::from_secs(30)).unwrap();
    let expected = writes.iter().filter(|w| !w.is_empty()).count();
    let stats = log.stats();
    assert_eq!((stats.uploaded, stats.rejected), (expected as u64, 0));

    let hits = relay.hits();
    assert!(hits.iter().all(|h| h.path == "/v1/logs"));
    assert!(hits
        .iter()
        .all(|h| h.header("Content-Type") == Some("application/json")));
    assert!(
        hits.iter()
            .any(|h| h.header("Content-Encoding") == Some("gzip")),
        "large OTLP bodies are gzipped"
    );
    let bodies: Vec<Vec<u8>> = hits.iter().map(body).collect();
    let summary = validate(&bodies, "vectors");
    assert_eq!(summary["records"], expected);
    assert_eq!(summary["services"], serde_json::json!(["otlp.app"]));

    let all: Vec<Value> = bodies.iter().flat_map(|b| records(b)).collect();
    let by_text = |needle: &str| {
        all.iter()
            .find(|r| r.to_string().contains(needle))
            .unwrap_or_else(|| panic!("a record with {needle}"))
            .clone()
    };
    let severity = |r: &Value| (r["severityNumber"].clone(), r["severityText"].clone());
    let named = by_text("the level member names the severity");
    assert_eq!(severity(&named), (17.into(), "ERROR".into()));
    let trace = by_text("ansi");
    assert_eq!(severity(&trace), (1.into(), "TRACE".into()));
    assert_eq!(
        trace["body"]["stringValue"],
        "\u{1b}[31mansi\u{1b}[0m and trace level"
    );
    assert_eq!(severity(&by_text("verbose")), (1.into(), "V7".into()));
    let written_at: u128 = trace["timeUnixNano"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert!(
        now - written_at < 60_000_000_000,
        "timeUnixNano is the write time"
    );
    let attribute_keys: Vec<&str> = trace["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        attribute_keys,
        ["logtail.proc_id", "logtail.proc_seq", "metrics"]
    );

    let stored = c.entries("otlp.app");
    assert_eq!(stored.len(), expected, "the collector took every record");
    log.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn retries_and_413_splits_work_for_otlp_with_the_same_batch_ids() {
    let c = collector();
    let relay = FaultServer::start(Some(c.addr()), |n| match n {
        0 => Fault::Status(503, vec![], "busy"),
        1 => Fault::Status(413, vec![], "too large"),
        _ => Fault::Forward,
    });
    let log = otlp_logger(&relay.url(), "otlp.split")
        .compression(logship::Compression::None)
        .build()
        .unwrap();
    for i in 0..10 {
        log.write(format!("line {i}").as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(30)).unwrap();
    let hits = relay.hits();
    assert_eq!(hits.len(), 4, "503, 413, then two halves");
    let id = |h: &Hit| h.header("Logship-Batch").unwrap().to_owned();
    assert_eq!(id(&hits[0]), id(&hits[1]));
    assert_ne!(id(&hits[2]), id(&hits[3]));
    let bodies: Vec<Vec<u8>> = hits.iter().map(body).collect();
    let summary = validate(&bodies, "split");
    assert_eq!(summary["records"], 10 + 10 + 10);
    let halves: Vec<Value> = bodies[2..].iter().flat_map(|b| records(b)).collect();
    assert_eq!(halves, records(&bodies[1]));
    let texts: Vec<String> = c
        .entries("otlp.split")
        .iter()
        .map(|e| e.entry["body"]["stringValue"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        (0..10).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    let stats = log.stats();
    assert_eq!((stats.uploaded, stats.retries), (10, 1));
    log.shutdown(Duration::from_secs(5)).unwrap();
}
