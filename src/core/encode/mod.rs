//! PROTOCOL.md §1: one write becomes one entry — every rule of the line encoding lives here.

pub(crate) mod json_object;
mod text;
mod time;

use super::level;
use json_object::{ObjectScanner, ObjectShape};
pub use text::{append_decimal, append_escaped};
use time::TimeFormatter;

/// What shapes every entry of one logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Leave out `logtail.client_time` (the server stamps arrival instead).
    pub skip_client_time: bool,
    /// `Some` when `include_proc_id` is set: the logger's random non-zero id.
    pub proc_id: Option<u32>,
    /// Add `logtail.proc_seq`, a per-logger counter (1 for the first entry).
    pub include_proc_seq: bool,
    /// Text payloads are cut past this many raw bytes (16384, or 4096 in low-memory mode).
    pub text_limit: usize,
    /// JSON objects larger than this become a `logtail.error` entry: [`OBJECT_LIMIT`], or the
    /// upload limit when that is smaller.
    pub object_limit: usize,
}

/// Raw bytes of a text payload kept before it is cut.
pub const TEXT_LIMIT: usize = 16 * 1024;
/// [`TEXT_LIMIT`] in low-memory mode.
pub const TEXT_LIMIT_LOW_MEMORY: usize = 4 * 1024;
/// The largest JSON object kept as it is (the shared vectors' limit).
pub const OBJECT_LIMIT: usize = 256 * 1024;

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            skip_client_time: false,
            proc_id: None,
            include_proc_seq: false,
            text_limit: TEXT_LIMIT,
            object_limit: OBJECT_LIMIT,
        }
    }
}

/// What is known about one write besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EntryMeta<'a> {
    /// When the write happened (the client time).
    pub unix_nanos: i64,
    /// The entry's sequence number (used when `include_proc_seq` is set).
    pub proc_seq: u64,
    /// What the metrics source returned for this entry (text entries only).
    pub metrics: Option<&'a str>,
}

enum BadData<'a> {
    /// A JSON value, put in verbatim (without `\n` bytes).
    Json(&'a [u8]),
    /// Arbitrary bytes, put in as a JSON string cut to the given number of raw bytes.
    Truncated(&'a [u8], usize),
}

struct Metadata<'a> {
    client_time: Option<i64>,
    proc_id: Option<u32>,
    proc_seq: Option<u64>,
    error: Option<(&'a str, BadData<'a>)>,
    metrics: Option<&'a str>,
    level: u8,
}

/// Encodes writes into entries; owns scratch buffers so that steady-state encoding allocates nothing.
pub struct Encoder {
    options: EncodeOptions,
    level_scratch: Vec<u8>,
    members: Vec<u8>,
    detail: Vec<u8>,
    scanner: ObjectScanner,
    times: TimeFormatter,
}

impl Encoder {
    /// An encoder with empty scratch buffers (they grow to the largest entry, then stay).
    pub fn new(options: EncodeOptions) -> Self {
        Encoder {
            options,
            level_scratch: Vec::new(),
            members: Vec::new(),
            detail: Vec::new(),
            scanner: ObjectScanner::default(),
            times: TimeFormatter::default(),
        }
    }

    /// The options every entry is shaped by.
    pub fn options(&self) -> &EncodeOptions {
        &self.options
    }

    /// Appends the entry for `write` (ending in `\n`) to `out`. An empty write appends nothing
    /// and returns false.
    pub fn encode(&mut self, write: &[u8], meta: &EntryMeta<'_>, out: &mut Vec<u8>) -> bool {
        if write.is_empty() {
            return false;
        }
        let opts = &self.options;
        let (level, payload) = level::parse(write, &mut self.level_scratch);
        let mut metadata = Metadata {
            client_time: (!opts.skip_client_time).then_some(meta.unix_nanos),
            proc_id: opts.proc_id,
            proc_seq: opts.include_proc_seq.then_some(meta.proc_seq),
            error: None,
            metrics: None,
            level,
        };
        let Some(shape) = self.scanner.scan(payload) else {
            metadata.metrics = meta.metrics;
            append_text_entry(out, &metadata, &mut self.times, payload, opts.text_limit);
            return true;
        };
        if payload.len() > opts.object_limit {
            self.detail.clear();
            self.detail.extend_from_slice(b"entry too large: ");
            append_decimal(&mut self.detail, payload.len() as u64);
            self.detail.extend_from_slice(b" bytes");
            let detail = std::str::from_utf8(&self.detail).unwrap_or_default();
            metadata.error = Some((detail, BadData::Truncated(payload, opts.object_limit / 6)));
            out.push(b'{');
            append_metadata(out, &metadata, &mut self.times);
            out.extend_from_slice(b"}\n");
            return true;
        }
        members_without_logtail(payload, &shape, &mut self.members);
        if let Some(member) = shape.logtail {
            let value = &payload[member.value_start..member.value_end];
            metadata.error = Some(("duplicate logtail member", BadData::Json(value)));
        }
        out.push(b'{');
        if append_metadata(out, &metadata, &mut self.times) && !self.members.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(&self.members);
        out.extend_from_slice(b"}\n");
        true
    }

    /// Appends a text entry written by logship itself (such as the dropped-entries notice):
    /// level 0, no client_time, no proc_seq.
    pub fn encode_notice(&self, text: &str, out: &mut Vec<u8>) {
        let metadata = Metadata {
            client_time: None,
            proc_id: self.options.proc_id,
            proc_seq: None,
            error: None,
            metrics: None,
            level: 0,
        };
        let mut times = TimeFormatter::default(); // a notice has no client_time
        append_text_entry(
            out,
            &metadata,
            &mut times,
            text.as_bytes(),
            self.options.text_limit,
        );
    }
}

fn append_text_entry(
    out: &mut Vec<u8>,
    metadata: &Metadata<'_>,
    times: &mut TimeFormatter,
    payload: &[u8],
    limit: usize,
) {
    out.push(b'{');
    let wrote_metadata = append_metadata(out, metadata, times);
    if !payload.is_empty() {
        if wrote_metadata {
            out.push(b',');
        }
        out.extend_from_slice(b"\"text\":");
        text::append_truncated_string(out, payload, limit);
    }
    out.extend_from_slice(b"}\n");
}

/// The object's members, verbatim but for: the top-level `logtail` member (and one comma next to
/// it) removed, every `\n` byte removed, trailing whitespace and separators trimmed.
fn members_without_logtail(payload: &[u8], shape: &ObjectShape, members: &mut Vec<u8>) {
    let inner = 1..shape.close;
    let (hole_start, hole_end) = match shape.logtail {
        None => (shape.close, shape.close),
        Some(member) => {
            let after = skip_whitespace(payload, member.value_end);
            if payload[after] == b',' {
                (member.key_start, after + 1)
            } else {
                let before = payload[..member.key_start]
                    .iter()
                    .rposition(|b| !is_whitespace(*b))
                    .unwrap_or(0);
                let start = if payload[before] == b',' {
                    before
                } else {
                    member.key_start
                };
                (start, member.value_end)
            }
        }
    };
    members.clear();
    for part in [
        &payload[inner.start..hole_start],
        &payload[hole_end..inner.end],
    ] {
        members.extend(part.iter().copied().filter(|&b| b != b'\n'));
    }
    let kept = members
        .iter()
        .rposition(|&b| !is_whitespace(b) && b != b',')
        .map_or(0, |i| i + 1);
    members.truncate(kept);
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_whitespace(src: &[u8], mut at: usize) -> usize {
    while at < src.len() && is_whitespace(src[at]) {
        at += 1;
    }
    at
}

/// Appends the metadata members (PROTOCOL.md §1.2, in order, no spaces); says whether any was written.
fn append_metadata(out: &mut Vec<u8>, m: &Metadata<'_>, times: &mut TimeFormatter) -> bool {
    let start = out.len();
    if m.client_time.is_some() || m.proc_id.is_some() || m.proc_seq.is_some() || m.error.is_some() {
        out.extend_from_slice(b"\"logtail\":{");
        let inner_start = out.len();
        let member = |out: &mut Vec<u8>, name: &[u8]| {
            if out.len() > inner_start {
                out.push(b',');
            }
            out.extend_from_slice(name);
        };
        if let Some(nanos) = m.client_time {
            member(out, b"\"client_time\":\"");
            times.append(out, nanos);
            out.push(b'"');
        }
        if let Some(id) = m.proc_id {
            member(out, b"\"proc_id\":");
            append_decimal(out, u64::from(id));
        }
        if let Some(seq) = m.proc_seq {
            member(out, b"\"proc_seq\":");
            append_decimal(out, seq);
        }
        if let Some((detail, bad_data)) = &m.error {
            member(out, b"\"error\":{\"detail\":\"");
            append_escaped(out, detail.as_bytes());
            out.extend_from_slice(b"\",\"bad_data\":");
            match bad_data {
                BadData::Json(value) => out.extend(value.iter().copied().filter(|&b| b != b'\n')),
                BadData::Truncated(src, limit) => text::append_truncated_string(out, src, *limit),
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
    let member = |out: &mut Vec<u8>, name: &[u8]| {
        if out.len() > start {
            out.push(b',');
        }
        out.extend_from_slice(name);
    };
    if let Some(metrics) = m.metrics.filter(|s| !s.is_empty()) {
        member(out, b"\"metrics\":\"");
        append_escaped(out, metrics.as_bytes());
        out.push(b'"');
    }
    if (1..=9).contains(&m.level) {
        member(out, b"\"v\":");
        out.push(b'0' + m.level);
    }
    out.len() > start
}
