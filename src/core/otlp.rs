//! PROTOCOL.md §5: an entry as an OTLP/HTTP JSON `logRecord`, and the request around the records.
//!
//! There is one encoder: every write is first encoded into its logtail entry (PROTOCOL.md §1: level
//! prefix, escaping, UTF-8 repair, truncation, JSON validation), and the record is derived from
//! that entry plus the write's time. So both formats carry the same entry, byte for byte, and no
//! rule of §1 exists twice. The derivation streams the entry through serde_json into the record,
//! with scratch buffers that live as long as the shipper.
//!
//! The mapping (`timeUnixNano` and the other 64-bit integers are strings in OTLP JSON, enums are
//! numbers, keys are lowerCamelCase):
//! - `observedTimeUnixNano`: when the program wrote the line; `timeUnixNano`: the same, but only
//!   when the entry carries `client_time` (so `skip_client_time` leaves it out, as it does for
//!   logtail). logship's own notices have neither.
//! - `severityNumber`/`severityText`: from the entry's level `"v"` (0 → INFO, 1 → DEBUG, 2 → TRACE,
//!   3..9 → TRACE with text `V3`..`V9`), unless a top-level string member `level` names a
//!   severity (`error`, `warn`, …, as the `log` and `tracing` facades write), which then wins.
//! - `body`: `stringValue` for a text entry (one `text` member), else `kvlistValue` with the
//!   entry's own members in order (nested objects become `kvlistValue`, arrays `arrayValue`,
//!   integers `intValue`, other numbers `doubleValue`, `null` an empty value).
//! - `attributes`: each member of the entry's `logtail` object but `client_time`, as
//!   `logtail.<name>` (proc_id, proc_seq, error), and `metrics`.
//! - Resource attribute `service.name`: the collection. Scope: `logship` and its version.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::encode::{append_decimal, append_escaped};

/// What closes a body opened by [`body_opener`].
pub const BODY_CLOSER: &[u8] = b"]}]}]}";

/// Nested JSON deeper than this goes into the record as a string holding its JSON text: OTLP
/// receivers bound message nesting (each JSON level costs about four protobuf levels).
const MAX_NESTING: usize = 16;

/// The start of an `ExportLogsServiceRequest` whose records follow, comma-separated.
pub fn body_opener(service_name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + service_name.len());
    out.extend_from_slice(
        b"{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"",
    );
    append_escaped(&mut out, service_name.as_bytes());
    out.extend_from_slice(b"\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"logship\",\"version\":\"");
    out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    out.extend_from_slice(b"\"},\"logRecords\":[");
    out
}

/// An OTLP severity: its number in the logs data model, and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Severity(pub u8, pub &'static str);

pub const TRACE: Severity = Severity(1, "TRACE");
pub const DEBUG: Severity = Severity(5, "DEBUG");
pub const INFO: Severity = Severity(9, "INFO");
pub const WARN: Severity = Severity(13, "WARN");
pub const ERROR: Severity = Severity(17, "ERROR");
pub const FATAL: Severity = Severity(21, "FATAL");

/// The severity of a logtail level (PROTOCOL.md §1.1): higher levels are more verbose.
pub fn level_severity(level: u8) -> Severity {
    const VERBOSE: [&str; 7] = ["V3", "V4", "V5", "V6", "V7", "V8", "V9"];
    match level {
        0 => INFO,
        1 => DEBUG,
        2 => TRACE,
        3..=9 => Severity(TRACE.0, VERBOSE[usize::from(level) - 3]),
        _ => INFO,
    }
}

/// A severity named by a `level` member, as logging libraries spell them.
fn named_severity(name: &str) -> Option<Severity> {
    let known = [
        ("trace", TRACE),
        ("debug", DEBUG),
        ("info", INFO),
        ("warn", WARN),
        ("warning", WARN),
        ("error", ERROR),
        ("fatal", FATAL),
        ("critical", FATAL),
    ];
    known
        .into_iter()
        .find(|(spelling, _)| name.eq_ignore_ascii_case(spelling))
        .map(|(_, severity)| severity)
}

/// Turns entries into records; its scratch buffers make steady-state use allocation-free.
#[derive(Debug, Default)]
pub struct RecordWriter {
    /// The body's key-value pairs, written while the entry is read.
    members: Vec<u8>,
    attributes: Vec<u8>,
}

impl RecordWriter {
    /// Appends the `logRecord` for `entry` (one logtail entry, as the encoder made it) to `out`.
    /// `written_at`: when the write happened (`None` for logship's own notices).
    pub fn append(&mut self, out: &mut Vec<u8>, entry: &[u8], written_at: Option<i64>) {
        self.members.clear();
        self.attributes.clear();
        let mut de = serde_json::Deserializer::from_slice(entry);
        let summary = EntrySeed {
            members: &mut self.members,
            attributes: &mut self.attributes,
        }
        .deserialize(&mut de)
        .and_then(|summary| de.end().map(|()| summary));
        let summary = summary.unwrap_or_else(|_| {
            // The encoder's JSON check is the contract, but serde_json refuses a few things it
            // accepts (a number beyond f64, such as 1e400): keep such an entry whole, as a string.
            self.members.clear();
            self.attributes.clear();
            let text = entry.strip_suffix(b"\n").unwrap_or(entry);
            let start = self.members.len();
            write_string_value(&mut self.members, text);
            EntrySummary {
                body: Body::Text(start..self.members.len()),
                ..EntrySummary::default()
            }
        });

        out.push(b'{');
        if let Some(nanos) = written_at {
            let nanos = nanos.max(0) as u64;
            if summary.has_client_time {
                out.extend_from_slice(b"\"timeUnixNano\":\"");
                append_decimal(out, nanos);
                out.extend_from_slice(b"\",");
            }
            out.extend_from_slice(b"\"observedTimeUnixNano\":\"");
            append_decimal(out, nanos);
            out.extend_from_slice(b"\",");
        }
        let severity = summary
            .named
            .unwrap_or_else(|| level_severity(summary.level));
        out.extend_from_slice(b"\"severityNumber\":");
        append_decimal(out, u64::from(severity.0));
        out.extend_from_slice(b",\"severityText\":\"");
        out.extend_from_slice(severity.1.as_bytes());
        out.extend_from_slice(b"\",\"body\":");
        match summary.body {
            Body::Text(range) => out.extend_from_slice(&self.members[range]),
            Body::Members => {
                out.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
                out.extend_from_slice(&self.members);
                out.extend_from_slice(b"]}}");
            }
            Body::Empty => out.extend_from_slice(b"{\"stringValue\":\"\"}"),
        }
        if !self.attributes.is_empty() {
            out.extend_from_slice(b",\"attributes\":[");
            out.extend_from_slice(&self.attributes);
            out.push(b']');
        }
        out.push(b'}');
    }
}

fn write_string_value(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(b"{\"stringValue\":\"");
    append_escaped(out, text);
    out.extend_from_slice(b"\"}");
}

#[derive(Debug, Default)]
enum Body {
    /// The `AnyValue` of the only member, `text` (a string), at this range of `members`.
    Text(std::ops::Range<usize>),
    /// The members, as key-value pairs.
    Members,
    #[default]
    Empty,
}

#[derive(Debug, Default)]
struct EntrySummary {
    level: u8,
    named: Option<Severity>,
    has_client_time: bool,
    body: Body,
}

/// Reads the top-level entry object: metadata goes to severity and attributes, the rest to the body.
struct EntrySeed<'o> {
    members: &'o mut Vec<u8>,
    attributes: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = EntrySummary;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EntrySummary, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = EntrySummary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntrySummary, A::Error> {
        let mut summary = EntrySummary::default();
        let mut level_seen = false;
        let mut count = 0usize;
        let mut text_value = None;
        let mut key = Vec::new();
        while map.next_key_seed(KeySeed(&mut key))?.is_some() {
            match key.as_slice() {
                b"logtail" => {
                    summary.has_client_time |= map.next_value_seed(LogtailSeed(self.attributes))?;
                    continue;
                }
                b"metrics" => {
                    open_pair(self.attributes, b"metrics");
                    map.next_value_seed(AnyValueSeed::new(self.attributes))?;
                    self.attributes.push(b'}');
                    continue;
                }
                b"v" if !level_seen => {
                    level_seen = true;
                    let value: &RawValue = map.next_value()?;
                    match value.get().parse::<u8>() {
                        Ok(level) if level <= 9 => summary.level = level,
                        _ => {
                            open_pair(self.members, b"v");
                            AnyValueSeed::new(self.members)
                                .deserialize(value)
                                .map_err(serde::de::Error::custom)?;
                            self.members.push(b'}');
                            count += 1;
                        }
                    }
                    continue;
                }
                _ => {}
            }
            open_pair(self.members, &key);
            let start = self.members.len();
            let written = map.next_value_seed(AnyValueSeed::new(self.members))?;
            if key == b"level" {
                if let Written::String(Some(severity)) = written {
                    summary.named = Some(severity);
                }
            }
            if key == b"text" && matches!(written, Written::String(_)) {
                text_value = Some(start..self.members.len());
            }
            self.members.push(b'}');
            count += 1;
        }
        summary.body = match (count, text_value) {
            (0, _) => Body::Empty,
            (1, Some(range)) => Body::Text(range),
            _ => Body::Members,
        };
        Ok(summary)
    }
}

/// Opens `{"key":"…","value":` (after a comma when `out` already holds a pair).
fn open_pair(out: &mut Vec<u8>, escaped_key: &[u8]) {
    if !out.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"key\":\"");
    out.extend_from_slice(escaped_key);
    out.extend_from_slice(b"\",\"value\":");
}

/// Reads a member name into `self.0`, escaped for JSON output (so it can be compared with plain
/// ASCII names and copied as it is).
struct KeySeed<'k>(&'k mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<(), E> {
        self.0.clear();
        append_escaped(self.0, name.as_bytes());
        Ok(())
    }
}

/// Reads the entry's `logtail` object into `logtail.<name>` attributes; says whether it held
/// `client_time`.
struct LogtailSeed<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for LogtailSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogtailSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the logtail metadata object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut has_client_time = false;
        let mut key = Vec::new();
        while map.next_key_seed(KeySeed(&mut key))?.is_some() {
            if key == b"client_time" {
                // Carried by timeUnixNano.
                map.next_value::<IgnoredAny>()?;
                has_client_time = true;
                continue;
            }
            if !self.0.is_empty() {
                self.0.push(b',');
            }
            self.0.extend_from_slice(b"{\"key\":\"logtail.");
            self.0.extend_from_slice(&key);
            self.0.extend_from_slice(b"\",\"value\":");
            map.next_value_seed(AnyValueSeed::new(self.0))?;
            self.0.push(b'}');
        }
        Ok(has_client_time)
    }
}

/// What an [`AnyValueSeed`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// A `stringValue`, and the severity it names, if it names one.
    String(Option<Severity>),
    Other,
}

/// Writes one JSON value as an OTLP `AnyValue`.
struct AnyValueSeed<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
}

impl<'o> AnyValueSeed<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        AnyValueSeed { out, depth: 0 }
    }

    fn nested(&mut self) -> AnyValueSeed<'_> {
        AnyValueSeed {
            out: self.out,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for AnyValueSeed<'_> {
    type Value = Written;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Written, D::Error> {
        d.deserialize_any(self)
    }
}

/// A nested value too deep for OTLP receivers, written as the string of its JSON text.
struct DeepValueSeed<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for DeepValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let raw: &RawValue = serde::Deserialize::deserialize(d)?;
        write_string_value(self.0, raw.get().as_bytes());
        Ok(())
    }
}

impl<'de> Visitor<'de> for AnyValueSeed<'_> {
    type Value = Written;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Written, E> {
        self.out.extend_from_slice(match v {
            true => b"{\"boolValue\":true}",
            false => b"{\"boolValue\":false}",
        });
        Ok(Written::Other)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Written, E> {
        self.out.extend_from_slice(b"{\"intValue\":\"");
        if v < 0 {
            self.out.push(b'-');
        }
        append_decimal(self.out, v.unsigned_abs());
        self.out.extend_from_slice(b"\"}");
        Ok(Written::Other)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Written, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            // intValue is signed 64-bit; larger integers keep their magnitude as a double.
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Written, E> {
        self.out.extend_from_slice(b"{\"doubleValue\":");
        // JSON has no NaN or infinity, so what was parsed is finite and serde_json prints it.
        let _ = serde_json::to_writer(&mut *self.out, &v);
        self.out.push(b'}');
        Ok(Written::Other)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Written, E> {
        write_string_value(self.out, v.as_bytes());
        Ok(Written::String(named_severity(v)))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Written, E> {
        // An AnyValue with no value set is OTLP's null.
        self.out.extend_from_slice(b"{}");
        Ok(Written::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Written, A::Error> {
        self.out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
        let mut first = true;
        loop {
            if !first {
                self.out.push(b',');
            }
            let more = if self.depth >= MAX_NESTING {
                seq.next_element_seed(DeepValueSeed(self.out))?.is_some()
            } else {
                seq.next_element_seed(self.nested())?.is_some()
            };
            if !more {
                if !first {
                    self.out.pop();
                }
                break;
            }
            first = false;
        }
        self.out.extend_from_slice(b"]}}");
        Ok(Written::Other)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Written, A::Error> {
        self.out
            .extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
        let mut first = true;
        let mut key = Vec::new();
        while map.next_key_seed(KeySeed(&mut key))?.is_some() {
            if !first {
                self.out.push(b',');
            }
            first = false;
            self.out.extend_from_slice(b"{\"key\":\"");
            self.out.extend_from_slice(&key);
            self.out.extend_from_slice(b"\",\"value\":");
            if self.depth >= MAX_NESTING {
                map.next_value_seed(DeepValueSeed(self.out))?;
            } else {
                map.next_value_seed(self.nested())?;
            }
            self.out.push(b'}');
        }
        self.out.extend_from_slice(b"]}}");
        Ok(Written::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record(entry: &str, written_at: Option<i64>) -> Value {
        let mut out = Vec::new();
        RecordWriter::default().append(&mut out, entry.as_bytes(), written_at);
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out));
        })
    }

    #[test]
    fn a_text_entry_is_a_string_body_with_its_time_and_level() {
        let r = record(
            "{\"logtail\":{\"client_time\":\"2023-11-14T22:13:20Z\",\"proc_id\":7,\"proc_seq\":3},\"metrics\":\"m=1\",\"v\":1,\"text\":\"a \\\"b\\\"\\n\"}\n",
            Some(1_700_000_000_000_000_001),
        );
        assert_eq!(
            r,
            json!({
                "timeUnixNano": "1700000000000000001",
                "observedTimeUnixNano": "1700000000000000001",
                "severityNumber": 5,
                "severityText": "DEBUG",
                "body": {"stringValue": "a \"b\"\n"},
                "attributes": [
                    {"key": "logtail.proc_id", "value": {"intValue": "7"}},
                    {"key": "logtail.proc_seq", "value": {"intValue": "3"}},
                    {"key": "metrics", "value": {"stringValue": "m=1"}},
                ],
            })
        );
    }

    #[test]
    fn without_client_time_only_the_observed_time_is_set() {
        let r = record("{\"text\":\"x\"}\n", Some(5));
        assert_eq!(r["observedTimeUnixNano"], "5");
        assert!(r.get("timeUnixNano").is_none());
        let notice = record("{\"text\":\"logship: dropped 3 entries\"}\n", None);
        assert!(notice.get("observedTimeUnixNano").is_none());
        assert_eq!(notice["severityNumber"], 9);
        assert!(notice.get("attributes").is_none());
    }

    #[test]
    fn a_json_entry_is_a_kvlist_in_member_order() {
        let r = record(
            r#"{"v":2,"zeta":null,"alpha":[1,-2,1.5,true,"s",{"k":[]}],"big":18446744073709551615,"text":"not alone","é\"":{}}"#,
            Some(1),
        );
        assert_eq!(
            (r["severityNumber"].clone(), r["severityText"].clone()),
            (json!(1), json!("TRACE"))
        );
        assert_eq!(
            r["body"],
            json!({"kvlistValue": {"values": [
                {"key": "zeta", "value": {}},
                {"key": "alpha", "value": {"arrayValue": {"values": [
                    {"intValue": "1"},
                    {"intValue": "-2"},
                    {"doubleValue": 1.5},
                    {"boolValue": true},
                    {"stringValue": "s"},
                    {"kvlistValue": {"values": [{"key": "k", "value": {"arrayValue": {"values": []}}}]}},
                ]}}},
                {"key": "big", "value": {"doubleValue": 18446744073709551615.0}},
                {"key": "text", "value": {"stringValue": "not alone"}},
                {"key": "é\"", "value": {"kvlistValue": {"values": []}}},
            ]}})
        );
    }

    #[test]
    fn a_level_member_names_the_severity_and_stays_in_the_body() {
        for (name, number) in [
            ("ERROR", 17),
            ("warn", 13),
            ("Info", 9),
            ("debug", 5),
            ("TRACE", 1),
        ] {
            let r = record(&format!(r#"{{"level":"{name}","message":"m"}}"#), Some(1));
            assert_eq!(r["severityNumber"], number, "{name}");
            assert_eq!(r["body"]["kvlistValue"]["values"][0]["key"], "level");
        }
        let r = record(r#"{"v":1,"level":"loud"}"#, Some(1));
        assert_eq!(r["severityText"], "DEBUG");
        let r = record(r#"{"v":"x","v":2}"#, Some(1));
        assert_eq!(r["severityText"], "INFO", "only a level number is a level");
        assert_eq!(
            r["body"]["kvlistValue"]["values"][0]["value"]["stringValue"],
            "x"
        );
        assert_eq!(level_severity(7), Severity(1, "V7"));
    }

    #[test]
    fn errors_become_attributes_and_an_empty_entry_an_empty_string() {
        let r = record(
            r#"{"logtail":{"error":{"detail":"duplicate logtail member","bad_data":{"a":1}}},"b":2}"#,
            Some(1),
        );
        assert_eq!(r["attributes"][0]["key"], "logtail.error");
        assert_eq!(
            r["attributes"][0]["value"]["kvlistValue"]["values"][0]["value"]["stringValue"],
            "duplicate logtail member"
        );
        assert_eq!(
            record("{\"v\":1}\n", Some(1))["body"],
            json!({"stringValue": ""})
        );
    }

    #[test]
    fn deep_nesting_is_cut_into_a_string_and_what_serde_refuses_stays_whole() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        let r = record(&deep, Some(1));
        let mut value = &r["body"]["kvlistValue"]["values"][0]["value"];
        for _ in 0..=MAX_NESTING {
            value = &value["arrayValue"]["values"][0];
        }
        assert_eq!(
            value["stringValue"].as_str().unwrap().len(),
            2 * (40 - MAX_NESTING - 1) + 1
        );
        let huge = "{\"a\":1e400}\n";
        let r = record(huge, Some(1));
        assert_eq!(r["body"]["stringValue"], huge.trim_end());
    }

    #[test]
    fn the_body_frame_names_the_service() {
        let mut body = body_opener("app\"x");
        body.extend_from_slice(BODY_CLOSER);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["resourceLogs"][0]["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "app\"x"}})
        );
        assert_eq!(
            v["resourceLogs"][0]["scopeLogs"][0]["logRecords"],
            json!([])
        );
    }
}
