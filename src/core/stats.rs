//! Loss accounting (PROTOCOL.md §4): counters readable through every door.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

// `Stats`, generated from the table of stats fields (src/core/config_keys.rs).
include!(concat!(env!("OUT_DIR"), "/stats.rs"));

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub uploaded: AtomicU64,
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
    pub retries: AtomicU64,
    pub bytes_on_wire: AtomicU64,
    pub beaconed: AtomicU64,
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
            beaconed: self.beaconed.load(Relaxed),
        }
    }
}

/// One destination's counters, as the doors report them per destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    /// The upload address without the private id (a write credential):
    /// `{base_url}/c/{collection}`, or `{base_url}/v1/logs` for OTLP.
    pub name: String,
    /// Its counters.
    pub stats: Stats,
    /// Whether uploads go to the destination's `backup_url` right now.
    pub using_backup: bool,
    /// The last problem its uploader reported.
    pub last_error: Option<String>,
}
