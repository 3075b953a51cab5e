//! Turning a decoded upload into entries: names and ids checked, the body parsed, nothing stored yet.

use std::fmt;

use logship::protocol;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::NewEntry;

/// Collections (and OTLP `service.name`s) follow the SDK's rule ([`protocol::COLLECTION_RULE`]).
pub(crate) fn check_collection(name: &str) -> Result<(), String> {
    match protocol::is_valid_collection(name) {
        true => Ok(()),
        false => Err(format!(
            "invalid collection name: use {}",
            protocol::COLLECTION_RULE
        )),
    }
}

/// The public id of a private id, by the SDK's rule ([`protocol::PrivateId`]). The error never
/// repeats the private id.
pub(crate) fn public_id(private_id: &str) -> Result<String, String> {
    protocol::PrivateId::parse(private_id)
        .map(|id| id.public_id())
        .map_err(|rule| format!("invalid private id: {rule}"))
}

fn not_entries(e: impl fmt::Display) -> String {
    format!("body is not a JSON array of objects: {e}")
}

/// The elements of a logtail upload (a JSON array of objects), each with its level (`"v"`, 0 when absent).
pub(crate) fn logtail_entries(body: &str) -> Result<Vec<NewEntry>, String> {
    let elements: Vec<&RawValue> = serde_json::from_str(body).map_err(not_entries)?;
    elements.into_iter().map(|raw| entry(0, raw)).collect()
}

fn entry(stream: usize, raw: &RawValue) -> Result<NewEntry, String> {
    let Level(level) = serde_json::from_str(raw.get()).map_err(not_entries)?;
    Ok(NewEntry {
        stream,
        level,
        raw: raw.get().to_owned(),
    })
}

/// An OTLP/HTTP JSON `ExportLogsServiceRequest`, reduced to what is stored.
#[derive(Deserialize)]
struct ExportLogs<'a> {
    #[serde(rename = "resourceLogs", default, borrow)]
    resource_logs: Vec<ResourceLogs<'a>>,
}

#[derive(Deserialize)]
struct ResourceLogs<'a> {
    #[serde(default)]
    resource: Resource,
    #[serde(rename = "scopeLogs", default, borrow)]
    scope_logs: Vec<ScopeLogs<'a>>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: AnyValue,
}

#[derive(Deserialize, Default)]
struct AnyValue {
    #[serde(rename = "stringValue")]
    string_value: Option<String>,
}

#[derive(Deserialize)]
struct ScopeLogs<'a> {
    #[serde(rename = "logRecords", default, borrow)]
    log_records: Vec<&'a RawValue>,
}

/// Collection used for OTLP resources without a `service.name` (OpenTelemetry's own default).
const UNKNOWN_SERVICE: &str = "unknown_service";

/// The log records of an OTLP upload, by collection (`service.name`).
pub(crate) struct OtlpLogs {
    pub collections: Vec<String>,
    pub entries: Vec<NewEntry>,
    /// Records refused because their resource's `service.name` is not a collection name, and why.
    pub rejected: usize,
    pub rejection: Option<String>,
}

/// The log records of an OTLP/HTTP JSON body. Records of a resource with an invalid `service.name`
/// are refused (OTLP's partial success); when nothing is left to store, the whole request is.
pub(crate) fn otlp_entries(body: &str) -> Result<OtlpLogs, String> {
    let request: ExportLogs<'_> =
        serde_json::from_str(body).map_err(|e| format!("body is not OTLP/HTTP JSON logs: {e}"))?;
    let mut logs = OtlpLogs {
        collections: Vec::new(),
        entries: Vec::new(),
        rejected: 0,
        rejection: None,
    };
    for rl in request.resource_logs {
        let name = rl
            .resource
            .attributes
            .into_iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.string_value)
            .unwrap_or_else(|| UNKNOWN_SERVICE.into());
        let records = rl.scope_logs.iter().flat_map(|s| &s.log_records);
        if let Err(e) = check_collection(&name) {
            logs.rejected += records.count();
            logs.rejection.get_or_insert(format!("service.name: {e}"));
            continue;
        }
        let stream = match logs.collections.iter().position(|c| *c == name) {
            Some(i) => i,
            None => {
                logs.collections.push(name);
                logs.collections.len() - 1
            }
        };
        for record in records {
            logs.entries.push(entry(stream, record)?);
        }
    }
    match logs.rejection {
        Some(reason) if logs.entries.is_empty() => Err(reason),
        _ => Ok(logs),
    }
}

/// An entry's level: its top-level `"v"` when that is an integer, else 0. Fails unless the value is an object.
struct Level(i64);

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        d.deserialize_map(LevelVisitor)
    }
}

struct LevelVisitor;

impl<'de> Visitor<'de> for LevelVisitor {
    type Value = Level;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Level, A::Error> {
        let mut level = None;
        while let Some(IsV(is_v)) = map.next_key()? {
            if is_v && level.is_none() {
                let v: serde_json::Value = map.next_value()?;
                level = Some(v.as_i64().unwrap_or(0));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Level(level.unwrap_or(0)))
    }
}

/// A member name, reduced to whether it is `"v"` (without allocating).
struct IsV(bool);

impl<'de> Deserialize<'de> for IsV {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IsV, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = IsV;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IsV, E> {
                Ok(IsV(v == "v"))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn names_and_ids() {
        assert!(check_collection("my-app.example_1").is_ok());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(check_collection(bad).is_err(), "{bad:?}");
        }
        let private = "00".repeat(32);
        let public = public_id(&private).unwrap();
        assert_eq!(public, hex::encode(Sha256::digest([0u8; 32])));
        for bad in [
            "AA".repeat(32),
            "0".repeat(63),
            "0".repeat(66),
            "g".repeat(64),
        ] {
            let err = public_id(&bad).unwrap_err();
            assert!(!err.contains(&bad));
        }
    }

    #[test]
    fn entries_keep_their_exact_text_and_level() {
        let entries =
            logtail_entries("[{\"v\":2,\"text\":\"a\"}\n,{\"x\": [1, {\"v\":3}]}\n]").unwrap();
        let got: Vec<_> = entries.iter().map(|e| (e.level, e.raw.as_str())).collect();
        assert_eq!(
            got,
            [(2, r#"{"v":2,"text":"a"}"#), (0, r#"{"x": [1, {"v":3}]}"#)]
        );
        for bad in ["", "{}", "[1]", "[{}", "[{},]", "[{}] x", "[\"a\"]"] {
            assert!(logtail_entries(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn otlp_records_by_service() {
        let body = r#"{"resourceLogs":[
            {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
             "scopeLogs":[{"logRecords":[{"body":{"stringValue":"one"}},{"body":{"stringValue":"two"}}]}]},
            {"scopeLogs":[{"logRecords":[{"severityNumber":9}]}]}]}"#;
        let logs = otlp_entries(body).unwrap();
        assert_eq!(logs.collections, ["svc", UNKNOWN_SERVICE]);
        assert_eq!(logs.rejected, 0);
        let got: Vec<_> = logs
            .entries
            .iter()
            .map(|e| (e.stream, e.raw.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0, r#"{"body":{"stringValue":"one"}}"#),
                (0, r#"{"body":{"stringValue":"two"}}"#),
                (1, r#"{"severityNumber":9}"#)
            ]
        );
        assert!(otlp_entries(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[1]}]}]}"#).is_err());
    }

    #[test]
    fn otlp_records_of_an_invalid_service_are_refused_alone() {
        let bad = r#"{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"no spaces"}}]},
             "scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"}},{"body":{"stringValue":"b"}}]}]}"#;
        let good = r#"{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"c"}}]}]}"#;
        let logs = otlp_entries(&format!(r#"{{"resourceLogs":[{bad},{good}]}}"#)).unwrap();
        assert_eq!(logs.collections, [UNKNOWN_SERVICE]);
        assert_eq!((logs.entries.len(), logs.rejected), (1, 2));
        assert!(logs.rejection.unwrap().contains("service.name"));
        let all_bad = otlp_entries(&format!(r#"{{"resourceLogs":[{bad}]}}"#));
        assert!(all_bad.is_err_and(|e| e.contains("service.name")));
    }
}
