//! Helpers shared by the integration tests: the shared encoding vectors and a collector on loopback.
#![allow(dead_code)] // each test binary uses its own subset

pub mod fault;
pub mod loghub;

use std::time::{Duration, Instant};

use serde_json::Value;

/// Waits up to `timeout` for `done`; says whether it came true. (Bounds stay loose: a loaded
/// machine must not turn a slow pass into a failure.)
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

/// One shared encoding vector (tests/vectors.json): the bytes of one write, the options it needs,
/// and the exact entry it must produce ("" when it produces none).
#[derive(Debug, Clone)]
pub struct Vector {
    pub name: String,
    pub input: Vec<u8>,
    pub expected: Vec<u8>,
    pub options: serde_json::Map<String, Value>,
}

impl Vector {
    /// Whether a door can reproduce it through its configuration alone (no fake clock or ids).
    pub fn door_compatible(&self) -> bool {
        self.options
            .keys()
            .all(|k| k == "low_memory" || k == "skip_client_time")
            && self
                .options
                .get("skip_client_time")
                .is_none_or(|v| v == true)
    }

    pub fn low_memory(&self) -> bool {
        self.options.get("low_memory") == Some(&Value::Bool(true))
    }
}

/// Concatenates PARTS: a string, or an array of {"s"}, {"hex"} and {"repeat","count"}.
fn expand(parts: &Value) -> Vec<u8> {
    match parts {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Array(parts) => parts
            .iter()
            .flat_map(|part| {
                if let Some(s) = part.get("s").and_then(Value::as_str) {
                    s.as_bytes().to_vec()
                } else if let Some(h) = part.get("hex").and_then(Value::as_str) {
                    hex::decode(h).expect("hex part")
                } else {
                    let text = part["repeat"].as_str().expect("repeat part");
                    text.repeat(part["count"].as_u64().expect("count") as usize)
                        .into_bytes()
                }
            })
            .collect(),
        other => panic!("bad PARTS: {other}"),
    }
}

pub fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors.json"))
        .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            input: expand(&v["input"]),
            expected: expand(&v["expected"]),
            options: v["options"].as_object().cloned().unwrap_or_default(),
        })
        .collect()
}
