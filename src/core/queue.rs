//! The bounded queue between writers and the shipper (PROTOCOL.md §4): `buffer_bytes` bounds every
//! byte held (queued records and the batch being uploaded), `on_full` decides who is dropped,
//! and every loss is counted.
//!
//! Writers only copy their bytes and a timestamp in (encoding happens on the shipper), so the
//! caller's path is a lock, a memcpy and an unlock.

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};

use event_listener::Event;

use super::config::OnFull;
use super::ring::{RecordHeader, RecordRing, HEADER_LEN};
use super::stats::{Counters, Stats};

/// Record kinds: bytes as written (encoded by the shipper), or an entry already encoded by the
/// writer (writes longer than the inline limit are encoded on the caller's thread so that they
/// never occupy more than their entry in the queue).
pub const KIND_RAW: u8 = 0;
pub const KIND_ENCODED: u8 = 1;
/// A flag on either kind: uploaded like any record, never shown to the tap (a write made by a
/// tap consumer, which would otherwise feed itself).
pub const KIND_UNTAPPED: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The logger is shut down.
    Closed,
    /// No room: the write was dropped (and counted).
    Full,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub buffer_bytes: usize,
    pub max_batch_bytes: usize,
    pub on_full: OnFull,
}

/// A record taken out of the queue; its payload sits in the caller's scratch buffer.
#[derive(Debug, Clone, Copy)]
pub struct TakenRecord {
    pub header: RecordHeader,
    pub start: usize,
    /// Whether the tap has seen it already.
    pub tapped: bool,
}

#[derive(Debug)]
struct State {
    ring: RecordRing,
    next_seq: u64,
    /// Bytes held by the shipper outside the ring (the batches being built or uploaded).
    held: usize,
    /// Records at the front of the ring that the tap has already seen, and their bytes.
    tapped: usize,
    tapped_bytes: usize,
    /// Writes ever accepted or refused (`Stats::written`).
    written: u64,
    /// Records ever pushed, and ever removed from the ring (taken or dropped).
    pushed: u64,
    removed: u64,
    /// Records of the current batch not yet settled, and the index of its first record.
    in_batch: u64,
    batch_first: u64,
    /// Flushes ask that every record before this index be settled without waiting.
    flush_target: u64,
    dropped_unreported: u64,
    subscribers: usize,
    full_wake_sent: bool,
    tap_wake_sent: bool,
    closed: bool,
    stopped: bool,
}

impl State {
    /// Every record with an index below `target` is uploaded, rejected or dropped.
    fn settled(&self, target: u64) -> bool {
        self.removed >= target && (self.in_batch == 0 || self.batch_first >= target)
    }

    fn pop_front(&mut self) -> Option<(RecordHeader, bool)> {
        let header = self.ring.pop_front()?;
        self.removed += 1;
        let tapped = self.tapped > 0;
        if tapped {
            self.tapped -= 1;
            self.tapped_bytes -= header.size();
        }
        Some((header, tapped))
    }
}

pub struct Queue {
    state: Mutex<State>,
    limits: Limits,
    pub(crate) counters: Counters,
    /// Wakes the shipper and, with a disk spool, its writer: always every listener, so that
    /// neither needs to poll in case the other took a wake-up.
    pub(crate) wake: Event,
    /// Wakes whoever waits for a flush.
    pub(crate) progress: Event,
}

impl Queue {
    pub fn new(limits: Limits) -> Self {
        Queue {
            state: Mutex::new(State {
                ring: RecordRing::with_capacity(limits.buffer_bytes),
                next_seq: 1,
                held: 0,
                tapped: 0,
                tapped_bytes: 0,
                written: 0,
                pushed: 0,
                removed: 0,
                in_batch: 0,
                batch_first: 0,
                flush_target: 0,
                dropped_unreported: 0,
                subscribers: 0,
                full_wake_sent: false,
                tap_wake_sent: false,
                closed: false,
                stopped: false,
            }),
            limits,
            counters: Counters::default(),
            wake: Event::new(),
            progress: Event::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, keep logging anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next proc_seq for a write that is encoded before it is pushed.
    pub fn next_seq(&self) -> u64 {
        let mut st = self.lock();
        st.next_seq += 1;
        st.next_seq - 1
    }

    /// The caller's path: copies one write into the queue. Never blocks on anything but the
    /// queue's own short lock; never allocates.
    pub fn push(
        &self,
        kind: u8,
        payload: &[u8],
        unix_nanos: i64,
        seq: Option<u64>,
    ) -> Result<(), PushError> {
        let size = HEADER_LEN + payload.len();
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed);
        }
        st.written += 1;
        if !self.make_room(&mut st, size) {
            Counters::add(&self.counters.dropped, 1);
            st.dropped_unreported += 1;
            drop(st);
            self.progress.notify(usize::MAX);
            return Err(PushError::Full);
        }
        let proc_seq = seq.unwrap_or_else(|| {
            st.next_seq += 1;
            st.next_seq - 1
        });
        let header = RecordHeader {
            len: payload.len() as u32,
            kind,
            unix_nanos,
            proc_seq,
        };
        st.ring.push(header, payload);
        st.pushed += 1;
        let first = st.ring.records() == 1;
        let full = st.ring.used() >= self.limits.max_batch_bytes && !st.full_wake_sent;
        let tap = st.subscribers > 0 && !st.tap_wake_sent;
        st.full_wake_sent |= full;
        st.tap_wake_sent |= tap;
        drop(st);
        if first || full || tap {
            self.wake.notify(usize::MAX);
        }
        Ok(())
    }

    /// Moves the oldest records (at least one, then up to `max_bytes` of payload in all) into
    /// `scratch`, as part of the current batch.
    pub fn take(&self, max_bytes: usize, scratch: &mut Vec<u8>, taken: &mut Vec<TakenRecord>) {
        let mut st = self.lock();
        st.full_wake_sent = false;
        let mut bytes = 0;
        while st.ring.records() > 0 {
            let header = st.ring.header_at(0);
            if bytes > 0 && bytes + header.len as usize > max_bytes {
                break;
            }
            let start = scratch.len();
            st.ring.payload_at(0, &header, scratch);
            let Some((header, tapped)) = st.pop_front() else {
                break;
            };
            if st.in_batch == 0 {
                st.batch_first = st.removed - 1;
            }
            st.in_batch += 1;
            st.held += header.size();
            bytes += header.len as usize;
            taken.push(TakenRecord {
                header,
                start,
                tapped,
            });
        }
    }

    /// Records that a batch now holds `body` bytes (its encoded body) instead of the `taken`
    /// bytes of records it took.
    pub fn rehold(&self, taken: usize, body: usize) {
        let mut st = self.lock();
        st.held = st.held.saturating_sub(taken) + body;
    }

    /// A batch in flight holds `bytes` more (its compressed form, the HTTP client's copy).
    /// Room is made as for a write: with `drop_oldest` the oldest queued records are dropped
    /// (and counted); with `drop_newest` nothing queued is, and new writes are refused until
    /// everything held fits again.
    pub fn hold(&self, bytes: usize) {
        let mut st = self.lock();
        st.held += bytes;
        let removed = st.removed;
        self.make_room(&mut st, 0);
        let dropped = st.removed != removed;
        drop(st);
        if dropped {
            self.progress.notify(usize::MAX);
        }
    }

    /// Makes `needed` more bytes fit next to everything held, as `on_full` says: `drop_oldest`
    /// drops the oldest queued records (counted), `drop_newest` drops nothing queued. Whether
    /// they fit now.
    fn make_room(&self, st: &mut State, needed: usize) -> bool {
        while st.ring.used() + st.held + needed > self.limits.buffer_bytes {
            if self.limits.on_full != OnFull::DropOldest || st.pop_front().is_none() {
                return false;
            }
            Counters::add(&self.counters.dropped, 1);
            st.dropped_unreported += 1;
        }
        true
    }

    /// A settled batch of `body` bytes no longer holds room.
    pub fn unhold(&self, body: usize) {
        let mut st = self.lock();
        st.held = st.held.saturating_sub(body);
    }

    /// The current batch left the queue for the disk spool: frees its room and lets flushes
    /// waiting for it go on. The counters move when the shipper settles it ([`Queue::settle`]).
    pub fn release_to_spool(&self) {
        let mut st = self.lock();
        st.in_batch = 0;
        st.held = 0;
        drop(st);
        self.progress.notify(usize::MAX);
    }

    /// Counts writes lost outside the queue (the disk spool evicting its oldest segment), for
    /// the counters and the next dropped-entries notice; `renoticed`: drops counted before whose
    /// notice was lost too, for the notice only.
    pub fn count_dropped(&self, records: u64, renoticed: u64) {
        self.lock().dropped_unreported += records + renoticed;
        Counters::add(&self.counters.dropped, records);
    }

    /// `records` of the current batch reached their final state: uploaded, or rejected.
    pub fn settle(&self, records: u64, delivered: bool) {
        let counter = if delivered {
            &self.counters.uploaded
        } else {
            &self.counters.rejected
        };
        self.settle_as(records, counter);
    }

    /// Settles records handed to a page-exit beacon (browsers): sent, but never acknowledged.
    #[cfg(any(test, target_arch = "wasm32"))]
    pub fn settle_beaconed(&self, records: u64) {
        self.settle_as(records, &self.counters.beaconed);
    }

    fn settle_as(&self, records: u64, counter: &AtomicU64) {
        let mut st = self.lock();
        if st.stopped {
            // `stop` already counted them as dropped.
            return;
        }
        st.in_batch -= records.min(st.in_batch);
        if st.in_batch == 0 {
            st.held = 0;
        }
        Counters::add(counter, records);
        drop(st);
        self.progress.notify(usize::MAX);
    }

    /// Copies every record the tap has not seen yet into `scratch`, marking them seen.
    pub fn take_untapped(&self, scratch: &mut Vec<u8>, records: &mut Vec<TakenRecord>) {
        let mut st = self.lock();
        st.tap_wake_sent = false;
        let mut offset = st.tapped_bytes;
        while offset < st.ring.used() {
            let header = st.ring.header_at(offset);
            let start = scratch.len();
            st.ring.payload_at(offset, &header, scratch);
            records.push(TakenRecord {
                header,
                start,
                tapped: false,
            });
            offset += header.size();
        }
        st.tapped = st.ring.records();
        st.tapped_bytes = st.ring.used();
    }

    pub fn has_untapped(&self) -> bool {
        let st = self.lock();
        st.subscribers > 0 && st.tapped < st.ring.records()
    }

    pub fn set_subscribers(&self, count: usize) {
        self.lock().subscribers = count;
        self.wake.notify(usize::MAX);
    }

    /// How many entries were dropped since the last call (for the dropped-entries notice).
    pub fn take_dropped_unreported(&self) -> u64 {
        std::mem::take(&mut self.lock().dropped_unreported)
    }

    /// When the oldest queued record was written (unix nanos), if there is one.
    pub fn oldest_written(&self) -> Option<i64> {
        let st = self.lock();
        (st.ring.records() > 0).then(|| st.ring.header_at(0).unix_nanos)
    }

    pub fn has_records(&self) -> bool {
        self.lock().ring.records() > 0
    }

    /// Whether the shipper should upload now rather than wait for the flush delay.
    pub fn is_urgent(&self) -> bool {
        let st = self.lock();
        st.ring.used() >= self.limits.max_batch_bytes || !st.settled(st.flush_target) || st.closed
    }

    /// Asks for everything written so far to be uploaded at once; returns the index to wait for.
    pub fn request_flush(&self) -> u64 {
        let mut st = self.lock();
        st.flush_target = st.flush_target.max(st.pushed);
        let target = st.pushed;
        drop(st);
        self.wake.notify(usize::MAX);
        target
    }

    pub fn is_settled(&self, target: u64) -> bool {
        self.lock().settled(target)
    }

    /// Records not yet uploaded, rejected or dropped.
    pub fn unsettled(&self) -> u64 {
        let st = self.lock();
        st.ring.records() as u64 + st.in_batch
    }

    /// Refuses further writes and asks for everything to be uploaded; returns the index to wait for.
    pub fn close(&self) -> u64 {
        self.lock().closed = true;
        self.request_flush()
    }

    /// Tells the shipper to stop; what is still queued is counted as dropped and returned.
    pub fn stop(&self) -> u64 {
        let mut st = self.lock();
        let left = if st.stopped {
            0
        } else {
            st.ring.records() as u64 + st.in_batch
        };
        st.closed = true;
        st.stopped = true;
        while st.pop_front().is_some() {}
        // A stopped queue takes no more records: give its memory back now, not when the last
        // handle goes (a C thread may hold one until it next calls in).
        st.ring = RecordRing::with_capacity(0);
        st.in_batch = 0;
        st.held = 0;
        drop(st);
        Counters::add(&self.counters.dropped, left);
        self.wake.notify(usize::MAX);
        self.progress.notify(usize::MAX);
        left
    }

    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    pub fn stats(&self) -> Stats {
        let st = self.lock();
        let (written, queued) = (st.written, (st.ring.used() + st.held) as u64);
        drop(st);
        self.counters.snapshot(written, queued)
    }
}
