//! Loss accounting (PROTOCOL.md §4): counters readable through every door.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a logger's counters. Every non-empty write ends up counted in exactly one of
/// `uploaded`, `dropped` or `rejected`, or is still queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Non-empty writes accepted or refused by `write` (refused ones are also in `dropped`).
    pub written: u64,
    /// Entries in batches the server acknowledged with 2xx.
    pub uploaded: u64,
    /// Entries lost for lack of buffer space, or still queued at shutdown.
    pub dropped: u64,
    /// Entries the server refused (413 for a single entry, other 4xx).
    pub rejected: u64,
    /// Upload attempts that were retried.
    pub retries: u64,
    /// Body bytes sent, compressed where compression was used, over all attempts.
    pub bytes_on_wire: u64,
    /// Bytes held right now: queued records plus the batch being uploaded.
    pub queued_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub uploaded: AtomicU64,
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
    pub retries: AtomicU64,
    pub bytes_on_wire: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// The counters, with `written` (which the queue counts under its lock, to spare the
    /// caller's path an atomic operation) and the bytes queued.
    pub fn snapshot(&self, written: u64, queued_bytes: u64) -> Stats {
        Stats {
            written,
            uploaded: self.uploaded.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            retries: self.retries.load(Relaxed),
            bytes_on_wire: self.bytes_on_wire.load(Relaxed),
            queued_bytes,
        }
    }
}

/// One destination's counters, as the doors report them per destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    /// The upload address without the private id (a write credential):
    /// `{base_url}/c/{collection}`, or `{base_url}/v1/logs` for OTLP.
    pub name: String,
    pub stats: Stats,
    /// Whether uploads go to the destination's `backup_url` right now.
    pub using_backup: bool,
    /// The last problem its uploader reported.
    pub last_error: Option<String>,
}
