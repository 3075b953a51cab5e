//! PROTOCOL.md §2: entries become one upload body `[{…}\n,{…}\n]` with a `Logship-Batch` id
//! (or, with `format: "otlp"`, one OTLP/HTTP JSON request around their log records, §5).

use std::ops::Range;
use std::sync::Arc;

use super::otlp;

/// How a batch's body frames its elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BodyFormat {
    /// A JSON array of entries (PROTOCOL.md §2).
    #[default]
    Logtail,
    /// An OTLP `ExportLogsServiceRequest` whose elements are log records (PROTOCOL.md §5):
    /// holds the body's opening, made once per logger ([`otlp::body_opener`]).
    Otlp(Arc<[u8]>),
}

impl BodyFormat {
    /// OTLP, with `service_name` as the resource's `service.name`.
    pub fn otlp(service_name: &str) -> Self {
        BodyFormat::Otlp(otlp::body_opener(service_name).into())
    }

    /// About how many times its write an element may grow (so a batch ends near its limit
    /// when filled a fraction of the room at a time): an entry adds metadata and escaping, a
    /// log record adds its own members, and key-value pairs for every JSON member.
    pub fn growth(&self) -> usize {
        match self {
            BodyFormat::Logtail => 2,
            BodyFormat::Otlp(_) => 4,
        }
    }

    fn opener(&self) -> &[u8] {
        match self {
            BodyFormat::Logtail => b"[",
            BodyFormat::Otlp(opener) => opener,
        }
    }

    fn closer(&self) -> &'static [u8] {
        match self {
            BodyFormat::Logtail => b"]",
            BodyFormat::Otlp(_) => otlp::BODY_CLOSER,
        }
    }
}

/// Ids of the form `<16 hex instance id>-<decimal batch sequence>`.
#[derive(Debug, Clone)]
pub struct BatchIds {
    instance: String,
    next: u64,
}

/// The header that carries a batch's id, the same on every attempt to upload it (PROTOCOL.md §2).
pub const BATCH_HEADER: &str = "Logship-Batch";

/// What every dropped-entries notice starts with (PROTOCOL.md §4).
pub const DROPPED_NOTICE_PREFIX: &str = "logship: dropped ";

/// The text of the entry that tells the server `count` entries were dropped (PROTOCOL.md §4).
pub fn dropped_notice(count: u64) -> String {
    DropNotice { dropped: count }.to_string()
}

/// A logtail upload body (PROTOCOL.md §2): the entries, each ending in `\n`, as one JSON array.
pub fn logtail_body<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut batch = Batch::new(String::new());
    for entry in entries {
        batch.push(entry, true);
    }
    batch.body().to_vec()
}

impl BatchIds {
    /// The ids of one shipper (`instance` is drawn at random for each destination of a logger).
    pub fn new(instance: u64) -> Self {
        BatchIds {
            instance: format!("{instance:016x}"),
            next: 1,
        }
    }

    /// The next batch's id: the instance, `-`, and the batch's sequence number from 1.
    pub fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{}-{}", self.instance, self.next - 1)
    }
}

#[derive(Debug, Clone)]
struct Slot {
    range: Range<usize>,
    /// Whether the entry stands for a write (the dropped-entries notice does not).
    is_record: bool,
}

/// logship's own entry saying that writes were lost (PROTOCOL.md §4): written as text in the
/// stream, carried as a number by the batch that holds it ([`Batch::noticed_drops`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropNotice {
    /// How many writes were lost since the last notice.
    pub dropped: u64,
}

impl std::fmt::Display for DropNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{DROPPED_NOTICE_PREFIX}{} entries", self.dropped)
    }
}

/// One upload body and what it holds.
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: String,
    /// The finished body: opening, elements so far, closing (moved along as elements come).
    body: Vec<u8>,
    slots: Vec<Slot>,
    format: BodyFormat,
    /// Drops announced by the batch's [`DropNotice`] element (at most one, not a record).
    noticed_drops: u64,
}

impl Batch {
    pub fn new(id: String) -> Self {
        Self::with_format(id, BodyFormat::Logtail)
    }

    pub fn with_format(id: String, format: BodyFormat) -> Self {
        let mut body = format.opener().to_vec();
        body.extend_from_slice(format.closer());
        Batch {
            id,
            body,
            slots: Vec::new(),
            format,
            noticed_drops: 0,
        }
    }

    /// Records that the element just pushed (not a record) is `notice`.
    pub fn noticed(&mut self, notice: DropNotice) {
        self.noticed_drops += notice.dropped;
    }

    /// How many dropped writes the batch's notice announces: when the batch is lost too, those
    /// drops must be announced again.
    pub fn noticed_drops(&self) -> u64 {
        self.noticed_drops
    }

    pub fn format(&self) -> &BodyFormat {
        &self.format
    }

    /// Appends one element: an entry (ending in `\n`) for logtail, a log record for OTLP.
    pub fn push(&mut self, element: &[u8], is_record: bool) {
        self.push_with(is_record, |body| body.extend_from_slice(element));
    }

    /// Appends one element that `write` appends to the body itself (encoding straight into
    /// the body saves a copy per entry); returns it.
    pub fn push_with(&mut self, is_record: bool, write: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        let closer = self.format.closer();
        self.body.truncate(self.body.len() - closer.len());
        if !self.slots.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len();
        write(&mut self.body);
        let range = start..self.body.len();
        self.body.extend_from_slice(closer);
        self.slots.push(Slot {
            range: range.clone(),
            is_record,
        });
        &self.body[range]
    }

    /// Makes room for `additional` more bytes of body at once (a batch's body is large).
    pub fn reserve(&mut self, additional: usize) {
        self.body.reserve(additional);
    }

    /// Size of the body.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn entries(&self) -> usize {
        self.slots.len()
    }

    /// Each element and whether it stands for a write (the disk spool stores them this way).
    pub fn elements(&self) -> impl Iterator<Item = (&[u8], bool)> {
        self.slots
            .iter()
            .map(|slot| (&self.body[slot.range.clone()], slot.is_record))
    }

    /// How many of the entries stand for writes.
    pub fn records(&self) -> u64 {
        self.slots.iter().filter(|s| s.is_record).count() as u64
    }

    /// The finished body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Splits in two halves (for 413), each with a new id; `None` for a single entry.
    pub fn split(&self, ids: &mut BatchIds) -> Option<(Batch, Batch)> {
        if self.slots.len() < 2 {
            return None;
        }
        let mid = self.slots.len() / 2;
        let half = |slots: &[Slot], ids: &mut BatchIds| {
            let mut batch = Batch::with_format(ids.next_id(), self.format.clone());
            for slot in slots {
                batch.push(&self.body[slot.range.clone()], slot.is_record);
            }
            // The notice goes with the half that holds it.
            if slots.iter().any(|slot| !slot.is_record) {
                batch.noticed_drops = self.noticed_drops;
            }
            batch
        };
        Some((half(&self.slots[..mid], ids), half(&self.slots[mid..], ids)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_and_split() {
        let mut ids = BatchIds::new(0xabc);
        let mut batch = Batch::new(ids.next_id());
        assert_eq!(batch.id, "0000000000000abc-1");
        batch.push(b"{\"text\":\"notice\"}\n", false);
        batch.push(b"{\"a\":1}\n", true);
        batch.push(b"{\"b\":2}\n", true);
        assert_eq!(batch.len(), batch.body().len());
        assert_eq!(
            batch.body(),
            b"[{\"text\":\"notice\"}\n,{\"a\":1}\n,{\"b\":2}\n]"
        );
        assert_eq!(batch.records(), 2);
        let (left, right) = batch.split(&mut ids).unwrap();
        assert_eq!(left.body(), b"[{\"text\":\"notice\"}\n]");
        assert_eq!(right.body(), b"[{\"a\":1}\n,{\"b\":2}\n]");
        assert_eq!((left.records(), right.records()), (0, 2));
        assert_eq!(
            (left.id.as_str(), right.id.as_str()),
            ("0000000000000abc-2", "0000000000000abc-3")
        );
        assert!(left.split(&mut ids).is_none());
    }

    #[test]
    fn otlp_bodies_frame_records_and_split_keeps_the_frame() {
        let mut ids = BatchIds::new(1);
        let mut batch = Batch::with_format(ids.next_id(), BodyFormat::otlp("svc"));
        let empty: serde_json::Value = serde_json::from_slice(batch.body()).unwrap();
        assert_eq!(batch.len(), batch.body().len());
        assert_eq!(
            empty["resourceLogs"][0]["scopeLogs"][0]["logRecords"],
            serde_json::json!([])
        );
        batch.push(b"{\"severityNumber\":9}", true);
        batch.push(b"{\"severityNumber\":5}", true);
        assert_eq!(batch.len(), batch.body().len());
        let (left, right) = batch.split(&mut ids).unwrap();
        for (half, number) in [(left, 9), (right, 5)] {
            let body: serde_json::Value = serde_json::from_slice(half.body()).unwrap();
            let records = &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
            assert_eq!(records, &serde_json::json!([{ "severityNumber": number }]));
            assert_eq!(half.format(), batch.format());
        }
    }
}
