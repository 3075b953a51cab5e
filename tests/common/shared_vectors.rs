//! The shared encoding vectors (tests/vectors.json), which every door runs: the native and C doors
//! through `common`, the browser door (tests/web.rs, wasm32) by including this file by path.

use serde_json::Value;

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

/// Every vector of tests/vectors.json, parts expanded.
pub fn vectors() -> Vec<Vector> {
    let file: Value = serde_json::from_str(include_str!("../vectors.json")).unwrap();
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
