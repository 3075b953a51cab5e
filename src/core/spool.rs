//! The disk spool's decisions, pure and testable on byte slices: the segment and record format
//! (with checksums), what recovery keeps and skips, which segments may be deleted, and which are
//! evicted to stay under `spool_max_bytes`. The files themselves live in `native::spool`.
//!
//! A segment is a file that starts with [`SEGMENT_MAGIC`] and holds records appended one after
//! another: `len: u32 LE | crc32(payload): u32 LE | payload`. A payload is one batch: its
//! `Logship-Batch` id, how many of its entries stand for writes, and its elements (entries or
//! OTLP log records) — enough to rebuild the [`Batch`] (and split it on 413) after a restart.
//! Segments are only ever appended to; a segment is deleted once every batch in it is settled.

use std::collections::VecDeque;

use super::batch::{Batch, BodyFormat, DropNotice};

/// The first bytes of every segment (and its format version).
pub const SEGMENT_MAGIC: &[u8; 8] = b"LSPOOL01";
/// Bytes before a record's payload: its length and its checksum.
pub const RECORD_HEADER_LEN: usize = 8;
/// A payload longer than this is damage, not a batch (batches are at most 16 MiB plus framing).
pub const MAX_PAYLOAD_LEN: usize = 64 << 20;
/// The payload kind of a batch record (the only one so far).
const KIND_BATCH: u8 = 1;
/// Element flag: the element stands for a write (not a notice of logship's own).
const ELEMENT_IS_RECORD: u8 = 1;

/// How many spooled batches the uploader holds in memory at once; the rest wait on disk.
pub const IN_FLIGHT_BATCHES: usize = 2;

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE), the checksum of every record's payload.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Appends one batch as a whole record (header and payload) to `out`.
pub fn encode_batch(batch: &Batch, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    out.push(KIND_BATCH);
    let id = batch.id.as_bytes();
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(&batch.records().to_le_bytes());
    out.extend_from_slice(&batch.noticed_drops().to_le_bytes());
    out.extend_from_slice(&(batch.entries() as u32).to_le_bytes());
    for (element, is_record) in batch.elements() {
        out.push(if is_record { ELEMENT_IS_RECORD } else { 0 });
        out.extend_from_slice(&(element.len() as u32).to_le_bytes());
        out.extend_from_slice(element);
    }
    let payload_len = (out.len() - start - RECORD_HEADER_LEN) as u32;
    let crc = crc32(&out[start + RECORD_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A record's payload that does not parse (its checksum matched, so this is a bug or a format
/// from elsewhere, and it is skipped like damage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

/// The id, write count and noticed drops of a batch payload, without its elements.
pub fn batch_summary(payload: &[u8]) -> Result<(String, u64, u64), Malformed> {
    let mut r = Reader(payload);
    if r.u8()? != KIND_BATCH {
        return Err(Malformed);
    }
    let id_len = r.u16()? as usize;
    let id = std::str::from_utf8(r.take(id_len)?).map_err(|_| Malformed)?;
    Ok((id.to_owned(), r.u64()?, r.u64()?))
}

/// Rebuilds the batch a payload holds, framed as `format` (the logger's current body format).
pub fn decode_batch(payload: &[u8], format: &BodyFormat) -> Result<Batch, Malformed> {
    let mut r = Reader(payload);
    if r.u8()? != KIND_BATCH {
        return Err(Malformed);
    }
    let id_len = r.u16()? as usize;
    let id = std::str::from_utf8(r.take(id_len)?).map_err(|_| Malformed)?;
    let records = r.u64()?;
    let noticed = r.u64()?;
    let count = r.u32()?;
    let mut batch = Batch::with_format(id.to_owned(), format.clone());
    for _ in 0..count {
        let flags = r.u8()?;
        let len = r.u32()? as usize;
        batch.push(r.take(len)?, flags & ELEMENT_IS_RECORD != 0);
    }
    batch.noticed(DropNotice { dropped: noticed });
    if !r.0.is_empty() || batch.records() != records {
        return Err(Malformed);
    }
    Ok(batch)
}

/// Checks one record at the start of `bytes`: `Some(payload)` when it is whole and its checksum
/// matches, `None` for a torn or corrupt record.
pub fn read_record(bytes: &[u8]) -> Option<&[u8]> {
    let header = bytes.get(..RECORD_HEADER_LEN)?;
    let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
    if len > MAX_PAYLOAD_LEN {
        return None;
    }
    let payload = bytes.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len)?;
    (crc32(payload) == crc).then_some(payload)
}

/// One good batch record found by [`scan_segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedBatch {
    pub id: String,
    /// Where its record (header included) starts in the segment, and its whole length.
    pub offset: u64,
    pub len: u64,
    pub records: u64,
    /// Drops announced by its notice ([`Batch::noticed_drops`]).
    pub noticed: u64,
}

/// What recovery makes of one segment's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentScan {
    pub batches: Vec<ScannedBatch>,
    /// Bytes from the first torn, corrupt or malformed record to the end: skipped. Records after
    /// damage cannot be found reliably (a length may be the damage), so the rest is skipped.
    pub skipped_bytes: u64,
    /// What the skipped bytes held: see [`Lost`].
    pub lost: Lost,
}

/// The writes (and noticed drops) in damaged bytes, as far as they can be known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    pub records: u64,
    pub noticed: u64,
}

/// An element is at least its flag and length: a write count above a payload's length over
/// this is damage, not a count.
const MIN_ELEMENT_LEN: u64 = 5;

/// Counts what damaged bytes (a run of records from the first bad one to the segment's end)
/// held. Each record whose length and summary still read gives its own write count — the
/// checksum already failed, so the count is believed only when the payload could hold that
/// many elements, and its noticed drops only when its notice's text says the same number;
/// where no count reads (a torn tail, garbage), one record is counted for the rest: at least
/// one batch of unknown size was lost there.
fn lost_in(mut bytes: &[u8]) -> Lost {
    let mut lost = Lost::default();
    while !bytes.is_empty() {
        let counted = bytes.get(..RECORD_HEADER_LEN).and_then(|header| {
            let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
            let payload = bytes.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN.checked_add(len)?)?;
            let (_, records, noticed) = batch_summary(payload).ok()?;
            let notice = DropNotice { dropped: noticed }.to_string();
            let noticed = if memchr::memmem::find(payload, notice.as_bytes()).is_some() {
                noticed
            } else {
                0
            };
            (records <= payload.len() as u64 / MIN_ELEMENT_LEN).then_some((
                records,
                noticed,
                RECORD_HEADER_LEN + len,
            ))
        });
        let Some((records, noticed, len)) = counted else {
            lost.records += 1;
            break;
        };
        lost.records += records;
        lost.noticed += noticed;
        bytes = &bytes[len..];
    }
    lost
}

/// Reads a segment: every whole, checksummed batch record up to the first damage, and what the
/// damage cost. A bad segment header skips the whole file; its records are still counted.
pub fn scan_segment(bytes: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan::default();
    if bytes.get(..SEGMENT_MAGIC.len()) != Some(SEGMENT_MAGIC) {
        scan.skipped_bytes = bytes.len() as u64;
        scan.lost = bytes
            .get(SEGMENT_MAGIC.len()..)
            .map_or_else(Lost::default, lost_in);
        return scan;
    }
    let mut offset = SEGMENT_MAGIC.len();
    while offset < bytes.len() {
        let summary = read_record(&bytes[offset..]).and_then(|p| batch_summary(p).ok());
        let Some((id, records, noticed)) = summary else {
            scan.skipped_bytes = (bytes.len() - offset) as u64;
            scan.lost = lost_in(&bytes[offset..]);
            break;
        };
        let len = RECORD_HEADER_LEN as u64
            + u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as u64;
        scan.batches.push(ScannedBatch {
            id,
            offset: offset as u64,
            len,
            records,
            noticed,
        });
        offset += len as usize;
    }
    scan
}

/// How big a segment grows before the next one starts: small enough that evicting one loses
/// little, large enough that there are few files.
pub fn segment_target_bytes(max_bytes: u64) -> u64 {
    (max_bytes / 8).clamp(4 << 10, 8 << 20)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchState {
    /// On disk only, not yet given to the uploader.
    OnDisk,
    /// Being uploaded (the uploader holds it in memory).
    InFlight,
    /// Delivered or rejected: nothing more to do.
    Settled,
}

#[derive(Debug, Clone)]
struct IndexedBatch {
    id: String,
    offset: u64,
    len: u64,
    records: u64,
    noticed: u64,
    state: BatchState,
}

#[derive(Debug, Clone)]
struct IndexedSegment {
    seq: u64,
    bytes: u64,
    batches: Vec<IndexedBatch>,
    /// Batches before this one have been handed off: batches leave the disk in order, so the
    /// next one to hand off is found without a walk.
    handed_off: usize,
    /// Batches not yet settled.
    unsettled: usize,
    /// Batches in flight.
    in_flight: usize,
}

impl IndexedSegment {
    fn new(seq: u64, bytes: u64, batches: Vec<IndexedBatch>) -> Self {
        IndexedSegment {
            seq,
            bytes,
            unsettled: batches.len(),
            batches,
            handed_off: 0,
            in_flight: 0,
        }
    }

    fn settled(&self) -> bool {
        self.unsettled == 0
    }
}

/// A batch to read from disk and hand to the uploader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToHandOff {
    pub segment: u64,
    pub offset: u64,
    pub len: u64,
}

/// Segments evicted to make room, and the writes they held that are now lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eviction {
    pub segments: Vec<u64>,
    pub dropped_records: u64,
    /// Drops counted earlier whose notice was in an evicted batch: to be announced again.
    pub renoticed: u64,
    /// The current segment was among them: the next append starts a new one.
    pub current_evicted: bool,
    /// The incoming record alone is larger than the whole spool: it is not written.
    pub too_large: bool,
}

/// What the spool holds, segment by segment, oldest first; the last one is current (appended
/// to). Decides hand-off order, deletion and eviction; the caller does the file work.
#[derive(Debug, Clone)]
pub struct SpoolIndex {
    /// Oldest first, so in increasing `seq`: found by binary search.
    segments: VecDeque<IndexedSegment>,
    max_bytes: u64,
    /// The batches in flight (at most [`IN_FLIGHT_BATCHES`]): id, segment and position in it.
    in_flight: Vec<(String, u64, usize)>,
}

impl SpoolIndex {
    pub fn new(max_bytes: u64) -> Self {
        SpoolIndex {
            segments: VecDeque::new(),
            max_bytes,
            in_flight: Vec::new(),
        }
    }

    /// Adds a segment found at recovery (before any new one), with its good batches.
    /// `bytes` is what it occupies on disk (skipped damage included, until it is deleted).
    pub fn add_recovered(&mut self, seq: u64, bytes: u64, batches: &[ScannedBatch]) {
        let batches = batches
            .iter()
            .map(|b| IndexedBatch {
                id: b.id.clone(),
                offset: b.offset,
                len: b.len,
                records: b.records,
                noticed: b.noticed,
                state: BatchState::OnDisk,
            })
            .collect();
        self.segments
            .push_back(IndexedSegment::new(seq, bytes, batches));
    }

    /// Starts a new current segment of `bytes` (its header).
    pub fn start_segment(&mut self, seq: u64, bytes: u64) {
        self.segments
            .push_back(IndexedSegment::new(seq, bytes, Vec::new()));
    }

    /// The current segment's size, to decide when to start the next.
    pub fn current_bytes(&self) -> u64 {
        self.segments.back().map_or(0, |s| s.bytes)
    }

    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Evicts the oldest segments until `incoming` more bytes fit under the bound.
    pub fn make_room(&mut self, incoming: u64) -> Eviction {
        let mut eviction = Eviction::default();
        if incoming + SEGMENT_MAGIC.len() as u64 > self.max_bytes {
            eviction.too_large = true;
            return eviction;
        }
        // Segments with a batch in flight stay: the shipper may yet deliver it, and if the
        // process dies first it must still be on disk (evicting it would lose it uncounted).
        let mut i = 0;
        while self.total_bytes() + incoming > self.max_bytes && i < self.segments.len() {
            if self.segments[i].in_flight > 0 {
                i += 1;
                continue;
            }
            let segment = self.segments.remove(i).expect("in range");
            eviction.current_evicted |= i == self.segments.len();
            for batch in &segment.batches {
                if batch.state == BatchState::OnDisk {
                    eviction.dropped_records += batch.records;
                    eviction.renoticed += batch.noticed;
                }
            }
            eviction.segments.push(segment.seq);
        }
        // No room even so (in-flight segments fill the bound): the incoming batch is dropped.
        eviction.too_large = self.total_bytes() + incoming > self.max_bytes;
        eviction
    }

    /// Records a batch appended to the current segment.
    pub fn append(&mut self, id: String, offset: u64, len: u64, records: u64, noticed: u64) {
        let segment = self.segments.back_mut().expect("a current segment");
        segment.bytes += len;
        segment.unsettled += 1;
        segment.batches.push(IndexedBatch {
            id,
            offset,
            len,
            records,
            noticed,
            state: BatchState::OnDisk,
        });
    }

    fn segment_mut(&mut self, seq: u64) -> Option<&mut IndexedSegment> {
        let i = self.segments.binary_search_by_key(&seq, |s| s.seq).ok()?;
        self.segments.get_mut(i)
    }

    /// The oldest batch still only on disk, when fewer than [`IN_FLIGHT_BATCHES`] are being
    /// uploaded; it counts as in flight from now on.
    pub fn next_hand_off(&mut self) -> Option<ToHandOff> {
        if self.in_flight.len() >= IN_FLIGHT_BATCHES {
            return None;
        }
        let segment = self
            .segments
            .iter_mut()
            .find(|s| s.handed_off < s.batches.len())?;
        let at = segment.handed_off;
        let batch = &mut segment.batches[at];
        segment.handed_off += 1;
        segment.in_flight += 1;
        batch.state = BatchState::InFlight;
        let hand_off = ToHandOff {
            segment: segment.seq,
            offset: batch.offset,
            len: batch.len,
        };
        self.in_flight.push((batch.id.clone(), segment.seq, at));
        Some(hand_off)
    }

    /// Settles the in-flight batch at `slot` of `self.in_flight`; returns its write count and
    /// noticed drops.
    fn settle_in_flight(&mut self, slot: usize) -> (u64, u64) {
        let (_, seq, at) = self.in_flight.swap_remove(slot);
        // In-flight segments are never evicted nor deleted, so it is there.
        let segment = self.segment_mut(seq).expect("an in-flight segment stays");
        segment.in_flight -= 1;
        segment.unsettled -= 1;
        let batch = &mut segment.batches[at];
        batch.state = BatchState::Settled;
        (batch.records, batch.noticed)
    }

    /// A batch that could not be read back (damage after it was indexed): settled, unsent;
    /// returns its write count and noticed drops.
    pub fn abandon(&mut self, segment: u64, offset: u64) -> (u64, u64) {
        let slot = self.in_flight.iter().position(|&(_, seq, at)| {
            seq == segment
                && self
                    .segments
                    .binary_search_by_key(&seq, |s| s.seq)
                    .is_ok_and(|i| self.segments[i].batches[at].offset == offset)
        });
        slot.map_or((0, 0), |slot| self.settle_in_flight(slot))
    }

    /// The batch `id` was delivered or rejected. Returns the segments that may now be deleted:
    /// every batch in them is settled, and they are not the current one.
    pub fn settle(&mut self, id: &str) -> Vec<u64> {
        if let Some(slot) = self.in_flight.iter().position(|(i, _, _)| i == id) {
            self.settle_in_flight(slot);
        }
        self.take_deletable(false)
    }

    /// Removes and returns the settled segments; the current one too when `with_current`.
    pub fn take_deletable(&mut self, with_current: bool) -> Vec<u64> {
        let last = self.segments.len().saturating_sub(1);
        let mut deletable = Vec::new();
        let mut i = 0;
        self.segments.retain(|segment| {
            let delete = segment.settled() && (with_current || i != last);
            i += 1;
            if delete {
                deletable.push(segment.seq);
            }
            !delete
        });
        deletable
    }

    /// Batches not yet settled (on disk or in flight).
    pub fn unsettled_batches(&self) -> usize {
        self.segments.iter().map(|s| s.unsettled).sum()
    }

    /// The highest segment sequence ever seen, for naming the next one.
    pub fn last_seq(&self) -> Option<u64> {
        self.segments.iter().map(|s| s.seq).max()
    }

    /// Whether the batch at `len` bytes of record should go to a fresh segment first.
    pub fn should_rotate(&self) -> bool {
        self.current_bytes() >= segment_target_bytes(self.max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str, entries: &[&str]) -> Batch {
        let mut batch = Batch::new(id.to_owned());
        batch.push(b"{\"text\":\"logship: dropped 1 entries\"}\n", false);
        batch.noticed(DropNotice { dropped: 1 });
        for entry in entries {
            batch.push(entry.as_bytes(), true);
        }
        batch
    }

    fn segment(batches: &[Batch]) -> Vec<u8> {
        let mut bytes = SEGMENT_MAGIC.to_vec();
        for b in batches {
            encode_batch(b, &mut bytes);
        }
        bytes
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_batch_round_trips_with_its_id_counts_and_body() {
        let original = batch("00000000000000ab-7", &["{\"a\":1}\n", "{\"b\":2}\n"]);
        let mut record = Vec::new();
        encode_batch(&original, &mut record);
        let payload = read_record(&record).unwrap();
        assert_eq!(
            batch_summary(payload).unwrap(),
            ("00000000000000ab-7".to_owned(), 2, 1)
        );
        let back = decode_batch(payload, &BodyFormat::Logtail).unwrap();
        assert_eq!(back.id, original.id);
        assert_eq!(back.body(), original.body());
        assert_eq!((back.records(), back.entries()), (2, 3));
        assert_eq!(back.noticed_drops(), 1);
    }

    #[test]
    fn scan_keeps_whole_records_and_skips_a_torn_tail() {
        let batches = [
            batch("x-1", &["{\"a\":1}\n"]),
            batch("x-2", &["{\"b\":2}\n"]),
        ];
        let whole = segment(&batches);
        let scan = scan_segment(&whole);
        assert_eq!(scan.skipped_bytes, 0);
        assert_eq!(
            scan.batches
                .iter()
                .map(|b| b.id.as_str())
                .collect::<Vec<_>>(),
            ["x-1", "x-2"]
        );
        assert_eq!(
            scan.batches[1].offset + scan.batches[1].len,
            whole.len() as u64
        );
        // Every cut inside the second record keeps the first and skips the rest.
        let second = scan.batches[1].offset as usize;
        for cut in second + 1..whole.len() {
            let scan = scan_segment(&whole[..cut]);
            assert_eq!(scan.batches.len(), 1, "cut at {cut}");
            assert_eq!(scan.skipped_bytes, (cut - second) as u64);
        }
    }

    #[test]
    fn scan_skips_from_a_flipped_byte_and_never_panics_on_garbage() {
        let batches = [
            batch("x-1", &["{\"a\":1}\n"]),
            batch("x-2", &["{\"b\":2}\n"]),
        ];
        let whole = segment(&batches);
        let second = scan_segment(&whole).batches[1].offset as usize;
        for at in second..whole.len() {
            let mut damaged = whole.clone();
            damaged[at] ^= 0x40;
            let scan = scan_segment(&damaged);
            assert_eq!(scan.batches.len(), 1, "flip at {at}");
            assert_eq!(scan.skipped_bytes, (whole.len() - second) as u64);
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let mut bytes = SEGMENT_MAGIC.to_vec();
            bytes.extend((0..rng.usize(0..64)).map(|_| rng.u8(..)));
            let _ = scan_segment(&bytes);
        }
        assert_eq!(scan_segment(b"not a segment").skipped_bytes, 13);
    }

    #[test]
    fn damage_counts_the_writes_its_records_held_else_one_record() {
        let batches = [
            batch("x-1", &["{\"a\":1}\n"]),
            batch("x-2", &["{\"b\":2}\n", "{\"c\":3}\n"]),
            batch("x-3", &["{\"d\":4}\n", "{\"e\":5}\n", "{\"f\":6}\n"]),
        ];
        let whole = segment(&batches);
        let second = scan_segment(&whole).batches[1].offset as usize;
        // The segment scanned with the byte at `at` changed by `change`.
        let damaged = |at: usize, change: fn(u8) -> u8| {
            let mut bytes = whole.clone();
            bytes[at] = change(bytes[at]);
            scan_segment(&bytes)
        };
        let lost = |records, noticed| Lost { records, noticed };
        // A flipped byte in x-3's last entry: x-3 is lost, and its counts still read.
        let last = scan_segment(&whole).batches[2].offset as usize;
        assert!(whole.len() - 3 > last, "the flip is inside x-3");
        let scan = damaged(whole.len() - 3, |b| b ^ 0x40);
        assert_eq!(scan.batches.len(), 2);
        assert_eq!(scan.lost, lost(3, 1));
        // A flipped byte in x-2's notice element: its counts are not believed past the damage.
        let scan = damaged(second + RECORD_HEADER_LEN + 40, |b| b ^ 0x01);
        assert_eq!(scan.batches.len(), 1);
        assert_eq!(scan.lost, lost(5, 1));
        // Its noticed count itself (after kind, id and write count): not believed either.
        let at = second + RECORD_HEADER_LEN + 1 + 2 + 3 + 8;
        assert_eq!(damaged(at, |b| b ^ 0x10).lost, lost(5, 1));
        // A length that is the damage: nothing after it reads, one record is counted.
        assert_eq!(damaged(second + 2, |_| 0x7f).lost, lost(1, 0));
        // A broken segment header: the whole file is skipped, its records still counted.
        let scan = damaged(0, |_| b'X');
        assert!(scan.batches.is_empty());
        assert_eq!(scan.skipped_bytes, whole.len() as u64);
        assert_eq!(scan.lost, lost(6, 3));
        // A torn tail counts one record; a whole segment counts nothing.
        assert_eq!(scan_segment(&whole[..whole.len() - 1]).lost.records, 1);
        assert_eq!(scan_segment(&whole).lost, Lost::default());
    }

    #[test]
    fn a_segment_is_deleted_once_every_batch_in_it_is_settled_and_it_is_not_current() {
        let mut index = SpoolIndex::new(1 << 20);
        index.start_segment(1, 8);
        index.append("a-1".into(), 8, 100, 3, 0);
        index.append("a-2".into(), 108, 100, 2, 0);
        index.start_segment(2, 8);
        index.append("a-3".into(), 8, 100, 1, 0);
        let first = index.next_hand_off().unwrap();
        assert_eq!((first.segment, first.offset), (1, 8));
        assert_eq!(index.next_hand_off().unwrap().offset, 108);
        assert_eq!(index.next_hand_off(), None, "at most two in flight");
        assert_eq!(index.settle("a-2"), Vec::<u64>::new());
        assert_eq!(index.next_hand_off().unwrap().segment, 2);
        assert_eq!(index.settle("a-1"), vec![1]);
        assert_eq!(
            index.settle("a-3"),
            Vec::<u64>::new(),
            "segment 2 is current"
        );
        assert_eq!(index.unsettled_batches(), 0);
        assert_eq!(index.take_deletable(true), vec![2]);
    }

    #[test]
    fn eviction_drops_the_oldest_and_counts_writes_not_in_flight() {
        let mut index = SpoolIndex::new(1000);
        index.start_segment(1, 8);
        index.append("a-1".into(), 8, 300, 3, 0);
        index.append("a-2".into(), 308, 100, 4, 0);
        index.start_segment(2, 8);
        index.append("a-3".into(), 8, 300, 5, 0);
        assert_eq!(index.next_hand_off().unwrap().offset, 8); // a-1 in flight
        index.start_segment(3, 8);
        index.append("a-4".into(), 8, 100, 6, 0);
        assert_eq!(index.total_bytes(), 824);
        assert_eq!(index.make_room(100), Eviction::default());
        let eviction = index.make_room(400);
        assert_eq!(
            eviction,
            Eviction {
                segments: vec![2],
                dropped_records: 5,
                renoticed: 0,
                current_evicted: false,
                too_large: false,
            }
        );
        // Segment 1 has a batch in flight: it stays, and the current one goes.
        let eviction = index.make_room(500);
        assert_eq!(eviction.segments, vec![3]);
        assert_eq!(eviction.dropped_records, 6);
        assert!(eviction.current_evicted);
        assert!(!eviction.too_large);
        assert!(index.make_room(700).too_large, "in-flight bytes are pinned");
        assert!(index.make_room(1001).too_large);
        assert_eq!(
            index.settle("a-1"),
            Vec::<u64>::new(),
            "a-2 is still on disk"
        );
    }

    #[test]
    fn segments_rotate_at_an_eighth_of_the_bound_within_limits() {
        assert_eq!(segment_target_bytes(64 << 20), 8 << 20);
        assert_eq!(segment_target_bytes(1 << 20), 128 << 10);
        assert_eq!(segment_target_bytes(1000), 4 << 10);
    }
}
