//! Front ends for Rust's logging ecosystems: `log` (feature `log`) and `tracing` (feature
//! `tracing`). Each turns a record or event into one JSON object and hands it to
//! [`Logger::write`], so it goes through the same level parsing, encoding, queue and uploads as
//! any other write (PROTOCOL.md §1.4): nothing here knows about batches or formats.
//!
//! The level rides the standard encoding: level 0 is a plain object (a write starting with `{` is
//! level 0), levels 1 and 2 are written as `[v\0JSON]N{…}` (§1.1). The JSON is built in a
//! per-thread buffer, so a steady stream of events allocates nothing here; strings are escaped
//! by the core's own escaper.

#[cfg(feature = "log")]
pub mod log;
#[cfg(feature = "tracing")]
pub mod tracing;

use std::cell::RefCell;
use std::fmt;

use memchr::memmem;

use crate::core::encode::{append_decimal, append_escaped};
use crate::core::level::JSON_MARKER;
use crate::Logger;

/// The scratch of one thread: the entry being built, and (for tracing) its event's fields.
#[derive(Default)]
struct Buffers {
    entry: Vec<u8>,
    fields: Vec<u8>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::default();
}

/// Whether a record or event from this thread may be shipped: not from logship's own
/// background thread, whose HTTP client logs about every upload.
fn may_ship() -> bool {
    !crate::native::on_shipper_thread()
}

/// Builds one entry in this thread's buffers and writes it to `logger`. `build` appends the
/// object's members (without braces) to the entry, and may use the second buffer as scratch.
fn write_entry(logger: &Logger, level: u8, build: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) {
    if !may_ship() {
        return;
    }
    let run = |buffers: &mut Buffers| {
        let Buffers { entry, fields } = buffers;
        entry.clear();
        fields.clear();
        if level > 0 {
            entry.extend_from_slice(JSON_MARKER);
            entry.push(b'0' + level);
        }
        let object_start = entry.len();
        entry.push(b'{');
        build(entry, fields);
        entry.push(b'}');
        if level > 0 {
            defuse_level_prefixes(entry, object_start);
        }
        // A full queue is counted (and reported to the server); a shut-down logger takes
        // nothing more. Neither is the logging call's problem.
        let _ = logger.write(entry);
    };
    // A `Debug` or `Display` implementation that logs while its own event is being built
    // re-enters here: that inner entry gets buffers of its own.
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => run(&mut buffers),
        Err(_) => run(&mut Buffers::default()),
    });
}

/// `[v1] ` and `[v2] ` are level prefixes wherever they stand in a write (PROTOCOL.md §1.1) and
/// take precedence over the JSON marker; inside the object they can only be in strings, so
/// their `[` is written as `\u005b` there, which reads back as the same text.
fn defuse_level_prefixes(entry: &mut Vec<u8>, from: usize) {
    let mut at = from;
    while let Some(found) = memmem::find(&entry[at..], b"[v") {
        let start = at + found;
        let rest = &entry[start..];
        if rest.starts_with(b"[v1] ") || rest.starts_with(b"[v2] ") {
            entry.splice(start..start + 1, *b"\\u005b");
            at = start + 6;
        } else {
            at = start + 2;
        }
    }
}

/// Appends `"name":` after a comma, unless it is the object's first member (`out` ends in `{`).
fn key(out: &mut Vec<u8>, name: &str) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    append_escaped(out, name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    append_escaped(out, value.as_bytes());
    out.push(b'"');
}

/// Appends a value's `Display` or `Debug` text as a JSON string, escaping as it is formatted.
fn formatted(out: &mut Vec<u8>, value: fmt::Arguments<'_>) {
    out.push(b'"');
    match value.as_str() {
        Some(text) => append_escaped(out, text.as_bytes()),
        None => {
            let _ = fmt::Write::write_fmt(&mut Escaping(out), value);
        }
    }
    out.push(b'"');
}

fn unsigned(out: &mut Vec<u8>, value: u64) {
    append_decimal(out, value);
}

fn signed(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    append_decimal(out, value.unsigned_abs());
}

/// A `fmt::Write` that escapes what is written into a JSON string's inside.
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        append_escaped(self.0, s.as_bytes());
        Ok(())
    }
}

/// The members every facade entry starts with.
fn common_members(
    out: &mut Vec<u8>,
    level_name: &str,
    target: &str,
    module: Option<&str>,
    line: Option<u32>,
) {
    key(out, "level");
    string(out, level_name);
    key(out, "target");
    string(out, target);
    if let Some(module) = module {
        key(out, "module");
        string(out, module);
    }
    if let Some(line) = line {
        key(out, "line");
        unsigned(out, u64::from(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_prefixes_inside_strings_are_defused_and_read_back_the_same() {
        let mut entry = b"[v\0JSON]1{\"message\":\"a [v1] b [v2] c [v3] d [v\"}".to_vec();
        defuse_level_prefixes(&mut entry, 9);
        let object: serde_json::Value = serde_json::from_slice(&entry[9..]).unwrap();
        assert_eq!(object["message"], "a [v1] b [v2] c [v3] d [v");
        assert!(memmem::find(&entry, b"[v1] ").is_none());
        assert!(memmem::find(&entry, b"[v2] ").is_none());
    }

    #[test]
    fn formatted_values_are_escaped() {
        let mut out = b"{".to_vec();
        key(&mut out, "m");
        formatted(&mut out, format_args!("{}\"{}\n", 1, "\u{1}"));
        key(&mut out, "n");
        signed(&mut out, -5);
        out.push(b'}');
        let object: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(object, serde_json::json!({"m": "1\"\u{1}\n", "n": -5}));
    }
}
