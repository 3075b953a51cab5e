//! A fixed-capacity ring of framed records: the memory behind `buffer_bytes`.

/// Record header: payload length (u32), kind (u8), unix nanos (i64), proc_seq (u64).
pub const HEADER_LEN: usize = 4 + 1 + 8 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub len: u32,
    pub kind: u8,
    pub unix_nanos: i64,
    pub proc_seq: u64,
}

impl RecordHeader {
    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4] = self.kind;
        b[5..13].copy_from_slice(&self.unix_nanos.to_le_bytes());
        b[13..21].copy_from_slice(&self.proc_seq.to_le_bytes());
        b
    }

    fn from_bytes(b: [u8; HEADER_LEN]) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        RecordHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            kind: b[4],
            unix_nanos: u64_at(5) as i64,
            proc_seq: u64_at(13),
        }
    }

    /// Bytes the record occupies in the ring.
    pub fn size(&self) -> usize {
        HEADER_LEN + self.len as usize
    }
}

/// FIFO of records in one preallocated buffer: pushing never allocates.
#[derive(Debug)]
pub struct RecordRing {
    buf: Box<[u8]>,
    head: usize,
    used: usize,
    records: usize,
}

impl RecordRing {
    pub fn with_capacity(bytes: usize) -> Self {
        RecordRing {
            buf: vec![0u8; bytes].into_boxed_slice(),
            head: 0,
            used: 0,
            records: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub fn used(&self) -> usize {
        self.used
    }

    pub fn records(&self) -> usize {
        self.records
    }

    /// Appends a record; the caller has checked that `HEADER_LEN + payload.len()` bytes are free.
    pub fn push(&mut self, header: RecordHeader, payload: &[u8]) {
        debug_assert!(self.used + header.size() <= self.capacity());
        let at = self.wrap(self.head + self.used);
        // The common case, the record in one piece: written in place, without range checks per part.
        if let Some(slot) = self.buf.get_mut(at..at + header.size()) {
            let (head, body) = slot.split_at_mut(HEADER_LEN);
            head.copy_from_slice(&header.to_bytes());
            body.copy_from_slice(payload);
        } else {
            let at = self.copy_in(at, &header.to_bytes());
            self.copy_in(at, payload);
        }
        self.used += header.size();
        self.records += 1;
    }

    /// The header of the record that starts `offset` bytes after the head.
    pub fn header_at(&self, offset: usize) -> RecordHeader {
        let mut b = [0u8; HEADER_LEN];
        self.copy_out(self.wrap(self.head + offset), &mut b);
        RecordHeader::from_bytes(b)
    }

    /// Appends the payload of the record at `offset` (after the head) to `out`.
    pub fn payload_at(&self, offset: usize, header: &RecordHeader, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + header.len as usize, 0);
        self.copy_out(
            self.wrap(self.head + offset + HEADER_LEN),
            &mut out[start..],
        );
    }

    /// Removes the oldest record and returns its header.
    pub fn pop_front(&mut self) -> Option<RecordHeader> {
        if self.records == 0 {
            return None;
        }
        let header = self.header_at(0);
        self.head = self.wrap(self.head + header.size());
        self.used -= header.size();
        self.records -= 1;
        if self.records == 0 {
            self.head = 0;
        }
        Some(header)
    }

    fn wrap(&self, at: usize) -> usize {
        if at >= self.buf.len() {
            at - self.buf.len()
        } else {
            at
        }
    }

    fn copy_in(&mut self, at: usize, src: &[u8]) -> usize {
        let first = src.len().min(self.buf.len() - at);
        self.buf[at..at + first].copy_from_slice(&src[..first]);
        self.buf[..src.len() - first].copy_from_slice(&src[first..]);
        self.wrap(at + src.len())
    }

    fn copy_out(&self, at: usize, dst: &mut [u8]) {
        let first = dst.len().min(self.buf.len() - at);
        dst[..first].copy_from_slice(&self.buf[at..at + first]);
        let rest = dst.len() - first;
        dst[first..].copy_from_slice(&self.buf[..rest]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize, seq: u64) -> RecordHeader {
        RecordHeader {
            len: len as u32,
            kind: 0,
            unix_nanos: -5,
            proc_seq: seq,
        }
    }

    #[test]
    fn wraps_around_and_keeps_order() {
        let mut ring = RecordRing::with_capacity(100);
        let mut seq = 0;
        let mut expected = std::collections::VecDeque::new();
        for round in 0..50 {
            let payload: Vec<u8> = (0..(round % 17) as u8).collect();
            while ring.used() + HEADER_LEN + payload.len() > ring.capacity() {
                let h = ring.pop_front().unwrap();
                let (s, p): (u64, Vec<u8>) = expected.pop_front().unwrap();
                assert_eq!((h.proc_seq, h.len as usize), (s, p.len()));
            }
            seq += 1;
            ring.push(header(payload.len(), seq), &payload);
            expected.push_back((seq, payload));
            let mut offset = 0;
            for (s, p) in &expected {
                let h = ring.header_at(offset);
                assert_eq!(h.proc_seq, *s);
                assert_eq!(h.unix_nanos, -5);
                let mut out = vec![9];
                ring.payload_at(offset, &h, &mut out);
                assert_eq!(&out[1..], &p[..]);
                offset += h.size();
            }
        }
    }
}
