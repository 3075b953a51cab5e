//! PROTOCOL.md §2: entries become one upload body `[{…}\n,{…}\n]` with a `Logship-Batch` id.

use std::ops::Range;

/// Ids of the form `<16 hex instance id>-<decimal batch sequence>`.
#[derive(Debug, Clone)]
pub struct BatchIds {
    instance: String,
    next: u64,
}

impl BatchIds {
    pub fn new(instance: u64) -> Self {
        BatchIds {
            instance: format!("{instance:016x}"),
            next: 1,
        }
    }

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

/// One upload body and what it holds.
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: String,
    body: Vec<u8>,
    slots: Vec<Slot>,
}

impl Batch {
    pub fn new(id: String) -> Self {
        Batch {
            id,
            body: vec![b'['],
            slots: Vec::new(),
        }
    }

    /// Appends one entry (ending in `\n`).
    pub fn push(&mut self, entry: &[u8], is_record: bool) {
        if !self.slots.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len();
        self.body.extend_from_slice(entry);
        self.slots.push(Slot {
            range: start..self.body.len(),
            is_record,
        });
    }

    /// Size of the body once finished.
    pub fn len(&self) -> usize {
        self.body.len() + 1
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn entries(&self) -> usize {
        self.slots.len()
    }

    /// How many of the entries stand for writes.
    pub fn records(&self) -> u64 {
        self.slots.iter().filter(|s| s.is_record).count() as u64
    }

    /// The finished body.
    pub fn body(&mut self) -> &[u8] {
        if self.body.last() != Some(&b']') || self.body.len() == 1 {
            self.body.push(b']');
        }
        &self.body
    }

    /// Splits in two halves (for 413), each with a new id; `None` for a single entry.
    pub fn split(&self, ids: &mut BatchIds) -> Option<(Batch, Batch)> {
        if self.slots.len() < 2 {
            return None;
        }
        let mid = self.slots.len() / 2;
        let half = |slots: &[Slot], ids: &mut BatchIds| {
            let mut batch = Batch::new(ids.next_id());
            for slot in slots {
                batch.push(&self.body[slot.range.clone()], slot.is_record);
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
        let (mut left, mut right) = batch.split(&mut ids).unwrap();
        assert_eq!(left.body(), b"[{\"text\":\"notice\"}\n]");
        assert_eq!(right.body(), b"[{\"a\":1}\n,{\"b\":2}\n]");
        assert_eq!((left.records(), right.records()), (0, 2));
        assert_eq!(
            (left.id.as_str(), right.id.as_str()),
            ("0000000000000abc-2", "0000000000000abc-3")
        );
        assert!(left.split(&mut ids).is_none());
    }
}
