//! PROTOCOL.md §5: an entry as an OTLP/HTTP JSON `logRecord`, and the request around the records.
//!
//! There is one encoder: every write is first encoded into its logtail entry (PROTOCOL.md §1: level
//! prefix, escaping, UTF-8 repair, truncation, JSON validation), and the record is derived from
//! that entry plus the write's time. So both formats carry the same entry, byte for byte, and no
//! rule of §1 exists twice. The derivation reads the entry with the encoder's own JSON parser
//! (it reads only what that parser accepted) straight into the record, with scratch buffers that
//! live as long as the shipper.
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
//!   integers that fit 64 bits signed `intValue`, other numbers `doubleValue` written as the entry
//!   writes them, `null` an empty value).
//! - `attributes`: each member of the entry's `logtail` object but `client_time`, as
//!   `logtail.<name>` (proc_id, proc_seq, error), and `metrics`.
//! - Resource attribute `service.name`: the collection. Scope: `logship` and its version.

use super::encode::json_object::Parser;
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
fn named_severity(name: &[u8]) -> Option<Severity> {
    let known = [
        (&b"trace"[..], TRACE),
        (&b"debug"[..], DEBUG),
        (&b"info"[..], INFO),
        (&b"warn"[..], WARN),
        (&b"warning"[..], WARN),
        (&b"error"[..], ERROR),
        (&b"fatal"[..], FATAL),
        (&b"critical"[..], FATAL),
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
    /// The parser's scratch: the string being read, unescaped, and nested member names.
    names: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl RecordWriter {
    /// Appends the `logRecord` for `entry` (one logtail entry, as the encoder made it) to `out`.
    /// `written_at`: when the write happened (`None` for logship's own notices).
    pub fn append(&mut self, out: &mut Vec<u8>, entry: &[u8], written_at: Option<i64>) {
        self.members.clear();
        self.attributes.clear();
        let mut parser = Parser::new(entry, &mut self.names, &mut self.spans);
        let summary = read_entry(&mut parser, &mut self.members, &mut self.attributes);
        let summary = summary.unwrap_or_else(|| {
            // What a record cannot carry (a number beyond a double, such as 1e400) keeps the
            // entry whole, as a string.
            self.members.clear();
            self.attributes.clear();
            let text = entry.strip_suffix(b"\n").unwrap_or(entry);
            write_string_value(&mut self.members, text);
            EntrySummary {
                body: Body::Text(0..self.members.len()),
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

/// Reads the entry object: metadata goes to severity and attributes, the rest to the body.
/// `None` when the entry holds what a record cannot carry (or is not an object).
fn read_entry(
    p: &mut Parser,
    members: &mut Vec<u8>,
    attributes: &mut Vec<u8>,
) -> Option<EntrySummary> {
    let mut summary = EntrySummary::default();
    let mut level_seen = false;
    let mut count = 0usize;
    let mut text_value = None;
    open_object(p)?;
    let mut first = true;
    while next_member(p, &mut first)? {
        match p.last_string() {
            b"logtail" => {
                open_object(p)?;
                let mut first = true;
                while next_member(p, &mut first)? {
                    if p.last_string() == b"client_time" {
                        // Carried by timeUnixNano.
                        summary.has_client_time = true;
                        p.skip_value()?;
                        continue;
                    }
                    open_pair(attributes, 0, b"logtail.", p.last_string());
                    read_value(p, attributes, 0)?;
                    attributes.push(b'}');
                }
            }
            b"metrics" => {
                open_pair(attributes, 0, b"", b"metrics");
                read_value(p, attributes, 0)?;
                attributes.push(b'}');
            }
            b"v" if !level_seen => {
                level_seen = true;
                // The level: a number from 0 to 9 (one digit in JSON); any other `v` is content.
                let start = p.pos();
                if p.peek().is_some_and(|b| b.is_ascii_digit()) {
                    p.number()?;
                    if let [digit] = p.src()[start..p.pos()] {
                        summary.level = digit - b'0';
                        continue;
                    }
                }
                open_pair(members, 0, b"", b"v");
                match p.pos() > start {
                    true => write_number(members, &p.src()[start..p.pos()])?,
                    false => drop(read_value(p, members, 0)?),
                }
                members.push(b'}');
                count += 1;
            }
            name => {
                let (is_level, is_text) = (name == b"level", name == b"text");
                open_pair(members, 0, b"", name);
                let start = members.len();
                if read_value(p, members, 0)? {
                    if is_level {
                        summary.named = named_severity(p.last_string()).or(summary.named);
                    }
                    if is_text {
                        text_value = Some(start..members.len());
                    }
                }
                members.push(b'}');
                count += 1;
            }
        }
    }
    p.whitespace();
    if p.peek().is_some() {
        return None;
    }
    summary.body = match (count, text_value) {
        (0, _) => Body::Empty,
        (1, Some(range)) => Body::Text(range),
        _ => Body::Members,
    };
    Some(summary)
}

/// Consumes an object's `{`.
fn open_object(p: &mut Parser) -> Option<()> {
    p.whitespace();
    p.eat(b'{').then_some(())
}

/// Steps to the object's next member: reads its name into [`Parser::last_string`] and stops at
/// its value; false at the object's end. `first` starts true for each object.
fn next_member(p: &mut Parser, first: &mut bool) -> Option<bool> {
    p.whitespace();
    if p.eat(b'}') {
        return Some(false);
    }
    if !std::mem::take(first) && !p.eat(b',') {
        return None;
    }
    p.whitespace();
    p.unescape_string()?;
    p.whitespace();
    if !p.eat(b':') {
        return None;
    }
    p.whitespace();
    Some(true)
}

/// Opens `{"key":"<prefix><name>","value":`, after a comma when `out` holds a pair past `start`
/// (where the list of pairs begins).
fn open_pair(out: &mut Vec<u8>, start: usize, prefix: &[u8], name: &[u8]) {
    if out.len() > start {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"key\":\"");
    out.extend_from_slice(prefix);
    append_escaped(out, name);
    out.extend_from_slice(b"\",\"value\":");
}

/// Writes a member or element of a container at `depth`: as an `AnyValue`, or past
/// [`MAX_NESTING`] as the string of its JSON text.
fn read_child(p: &mut Parser, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth < MAX_NESTING {
        return read_value(p, out, depth + 1).map(drop);
    }
    p.whitespace();
    let start = p.pos();
    p.skip_value()?;
    write_string_value(out, &p.src()[start..p.pos()]);
    Some(())
}

/// Writes the value at `pos` as an OTLP `AnyValue`; true when it was a string (then in
/// [`Parser::last_string`]).
fn read_value(p: &mut Parser, out: &mut Vec<u8>, depth: usize) -> Option<bool> {
    p.whitespace();
    let start = p.pos();
    match p.peek()? {
        b'"' => {
            p.unescape_string()?;
            write_string_value(out, p.last_string());
            return Some(true);
        }
        b'{' => {
            p.eat(b'{');
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
            let (mut first, opened) = (true, out.len());
            while next_member(p, &mut first)? {
                open_pair(out, opened, b"", p.last_string());
                read_child(p, out, depth)?;
                out.push(b'}');
            }
            out.extend_from_slice(b"]}}");
        }
        b'[' => {
            p.eat(b'[');
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            p.whitespace();
            if !p.eat(b']') {
                loop {
                    read_child(p, out, depth)?;
                    p.whitespace();
                    if p.eat(b']') {
                        break;
                    }
                    if !p.eat(b',') {
                        return None;
                    }
                    out.push(b',');
                }
            }
            out.extend_from_slice(b"]}}");
        }
        b't' | b'f' => {
            let value = p.peek() == Some(b't');
            p.literal(if value { b"true" } else { b"false" })?;
            out.extend_from_slice(match value {
                true => b"{\"boolValue\":true}",
                false => b"{\"boolValue\":false}",
            });
        }
        b'n' => {
            p.literal(b"null")?;
            // An AnyValue with no value set is OTLP's null.
            out.extend_from_slice(b"{}");
        }
        _ => {
            p.number()?;
            write_number(out, &p.src()[start..p.pos()])?;
        }
    }
    Some(false)
}

/// Writes a JSON number (its text): as `intValue` when it is an integer that fits 64 bits signed,
/// else as `doubleValue`, as the entry writes it (no digit lost to a conversion). `None` beyond
/// the largest double (such as 1e400): OTLP receivers refuse an infinity.
fn write_number(out: &mut Vec<u8>, text: &[u8]) -> Option<()> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    // JSON writes integers without leading zeros: compare lengths, then digits.
    let limit: &[u8] = match negative {
        true => b"9223372036854775808",
        false => b"9223372036854775807",
    };
    let integer = digits.iter().all(u8::is_ascii_digit) && text != b"-0";
    if integer && (digits.len(), digits) <= (limit.len(), limit) {
        out.extend_from_slice(b"{\"intValue\":\"");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\"}");
        return Some(());
    }
    if beyond_double(digits) {
        return None;
    }
    out.extend_from_slice(b"{\"doubleValue\":");
    out.extend_from_slice(text);
    out.push(b'}');
    Some(())
}

/// Whether a JSON number without its sign rounds to infinity as a double: its first significant
/// digit's power of ten is past 308, or is 308 and its first 20 digits reach those of the
/// rounding threshold, 1.7976931348623158079…e308.
fn beyond_double(number: &[u8]) -> bool {
    let e_at = (number.iter()).position(|b| matches!(b, b'e' | b'E'));
    let (mantissa, exponent) = number.split_at(e_at.unwrap_or(number.len()));
    let magnitude = (exponent.iter().filter(|b| b.is_ascii_digit())).fold(0i64, |e, &d| {
        e.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    let exponent = match exponent.get(1) {
        Some(b'-') => -magnitude,
        _ => magnitude,
    };
    let Some(lead) = mantissa.iter().position(|b| matches!(b, b'1'..=b'9')) else {
        return false;
    };
    let point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    let power = match lead < point {
        true => (point - lead - 1) as i64,
        false => -((lead - point) as i64),
    };
    let power = power.saturating_add(exponent);
    if power != 308 {
        return power > 308;
    }
    let mut first = [b'0'; 20];
    let digits = mantissa[lead..].iter().filter(|b| b.is_ascii_digit());
    for (slot, &d) in first.iter_mut().zip(digits) {
        *slot = d;
    }
    first >= *b"17976931348623158079"
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
                {"key": "big", "value": {"doubleValue": 18446744073709551615u64}},
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
    fn numbers_are_ints_when_they_fit_and_doubles_as_written() {
        let mut out = Vec::new();
        RecordWriter::default().append(
            &mut out,
            br#"{"a":[9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809,-0,0,1.50,2E+3,1e308,-1.7976931348623157e308,0.0e999]}"#,
            None,
        );
        let text = String::from_utf8(out).unwrap();
        let values: Vec<&str> = text.split("Value\":").skip(3).collect();
        let numbers: Vec<&str> = values
            .iter()
            .map(|v| v.split('}').next().unwrap())
            .collect();
        assert_eq!(
            numbers,
            [
                "\"9223372036854775807\"",
                "\"-9223372036854775808\"",
                "9223372036854775808",
                "-9223372036854775809",
                "-0",
                "\"0\"",
                "1.50",
                "2E+3",
                "1e308",
                "-1.7976931348623157e308",
                "0.0e999",
            ],
            "{text}"
        );
    }

    #[test]
    fn a_level_is_one_digit_and_any_other_v_is_content() {
        let r = record(r#"{"v":3,"text":"x"}"#, Some(1));
        assert_eq!(r["severityText"], "V3");
        assert_eq!(r["body"], json!({"stringValue": "x"}));
        for v in ["10", "-1", "1.0", "[1]"] {
            let r = record(&format!(r#"{{"v":{v},"text":"x"}}"#), Some(1));
            assert_eq!(r["severityText"], "INFO", "{v}");
            assert_eq!(r["body"]["kvlistValue"]["values"][0]["key"], "v", "{v}");
        }
    }

    #[test]
    fn deep_nesting_is_cut_into_a_string_and_what_a_double_cannot_hold_stays_whole() {
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
        for huge in ["1e400", "-2e308", "1.7976931348623159e308", "0.00018e312"] {
            let entry = format!("{{\"a\":{{\"b\":[{huge}]}}}}\n");
            let r = record(&entry, Some(1));
            assert_eq!(r["body"]["stringValue"], entry.trim_end(), "{huge}");
        }
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
