//! Every shared encoding vector through the core encoder (clock and ids given by the vector).
//! `cargo test -p logship --lib vectors`

// The doors' tests use the rest of it.
#[allow(dead_code)]
#[path = "../tests/common/shared_vectors.rs"]
mod shared_vectors;

use serde_json::Value;

use crate::core::encode::{Encoder, EntryMeta};
use crate::Config;

#[test]
fn every_vector_encodes_exactly() {
    let vectors = shared_vectors::vectors();
    assert!(vectors.len() >= 60, "at least 60 vectors");
    let mut failures = Vec::new();
    for v in &vectors {
        let opt = |k: &str| v.options.get(k);
        let mut config = Config::from_json(r#"{"base_url":"http://x","collection":"c"}"#).unwrap();
        config.skip_client_time = opt("skip_client_time").is_none_or(|b| b == &Value::Bool(true));
        config.low_memory = opt("low_memory") == Some(&Value::Bool(true));
        config.include_proc_id = opt("proc_id").is_some();
        config.include_proc_seq = opt("proc_seq").is_some();
        let proc_id = opt("proc_id").and_then(Value::as_u64).unwrap_or(0) as u32;
        let metrics = opt("metrics").and_then(Value::as_str);
        let mut encoder = Encoder::new(config.encode_options(proc_id));
        let meta = EntryMeta {
            unix_nanos: opt("client_time").and_then(Value::as_i64).unwrap_or(0),
            proc_seq: opt("proc_seq").and_then(Value::as_u64).unwrap_or(0),
            metrics,
        };
        let mut out = Vec::new();
        let produced = encoder.encode(&v.input, &meta, &mut out);
        assert_eq!(produced, !v.expected.is_empty(), "{}", v.name);
        if out != v.expected {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                v.name,
                shorten(&v.expected),
                shorten(&out)
            ));
            continue;
        }
        if produced {
            let entry: Value = serde_json::from_slice(&out)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", v.name));
            assert!(entry.is_object(), "{}", v.name);
            assert_eq!(
                out.iter().filter(|&&b| b == b'\n').count(),
                1,
                "{}: one line",
                v.name
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

fn shorten(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > 300 {
        let head: String = s.chars().take(150).collect();
        let tail: String = s
            .chars()
            .rev()
            .take(150)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head:?}…({} bytes)…{tail:?}", bytes.len())
    } else {
        format!("{s:?}")
    }
}
