//! Every decision logship makes, pure and target-agnostic: no I/O, no threads, no clock reads of
//! its own. The runtimes (`native`, `web`) supply a [`traits::Transport`], [`traits::Timer`] and
//! [`traits::Clock`] and only move bytes and time.

pub mod batch;
pub mod config;
pub mod encode;
pub mod ids;
pub mod level;
pub mod queue;
pub mod retry;
pub mod ring;
pub mod shipper;
pub mod stats;
pub mod tap;
pub mod traits;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, PoisonError};

use config::Config;
use encode::{EncodeOptions, Encoder, EntryMeta};
use queue::{Limits, PushError, Queue, KIND_ENCODED, KIND_RAW};
use tap::{Subscriber, Tap};

/// Called for each text entry; a non-empty result goes on the entry as `"metrics"`.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;
/// Where the local error report goes (stderr on native, the console in browsers).
pub type ErrorReporter = Arc<dyn Fn(&str) + Send + Sync>;

/// The state a door and its shipper share.
pub struct Shared {
    pub queue: Queue,
    pub tap: Tap,
    pub encode_options: EncodeOptions,
    pub metrics: Option<MetricsSource>,
    reporter: ErrorReporter,
    errors: Mutex<ErrorLog>,
}

#[derive(Default)]
struct ErrorLog {
    last: Option<String>,
    reported_statuses: Vec<String>,
}

impl Shared {
    pub fn new(
        config: &Config,
        proc_id: u32,
        metrics: Option<MetricsSource>,
        reporter: ErrorReporter,
    ) -> Arc<Self> {
        Arc::new(Shared {
            queue: Queue::new(Limits {
                buffer_bytes: config.buffer_bytes(),
                max_batch_bytes: config.max_batch_bytes(),
                on_full: config.on_full,
            }),
            tap: Tap::default(),
            encode_options: config.encode_options(proc_id),
            metrics,
            reporter,
            errors: Mutex::default(),
        })
    }

    /// The caller's path for one write. Writes up to the text limit are copied as they are and
    /// encoded by the shipper; longer ones are encoded here, so that the queue holds at most
    /// their (truncated) entry.
    pub fn write(&self, bytes: &[u8], unix_nanos: i64) -> Result<(), PushError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if bytes.len() <= self.encode_options.text_limit {
            return self.queue.push(KIND_RAW, bytes, unix_nanos, None);
        }
        let proc_seq = self.queue.next_seq();
        let metrics = self.metrics.as_ref().map(|source| source());
        let meta = EntryMeta {
            unix_nanos,
            proc_seq,
            metrics: metrics.as_deref(),
        };
        let mut entry = Vec::new();
        Encoder::new(self.encode_options.clone()).encode(bytes, &meta, &mut entry);
        self.queue
            .push(KIND_ENCODED, &entry, unix_nanos, Some(proc_seq))
    }

    /// A new tap subscriber (replay first, then every entry).
    pub fn subscribe(&self) -> Arc<Subscriber> {
        let (subscriber, count) = self.tap.subscribe();
        self.queue.set_subscribers(count);
        subscriber
    }

    pub fn unsubscribe(&self, id: u64) {
        let count = self.tap.unsubscribe(id);
        self.queue.set_subscribers(count);
    }

    /// Records a problem for the local error report; each kind is printed once.
    pub fn report_error(&self, message: &str) {
        let mut log = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        log.last = Some(message.to_owned());
        let kind: String = message.chars().take_while(|&c| c != '(').collect();
        if !log.reported_statuses.contains(&kind) {
            log.reported_statuses.push(kind);
            (self.reporter)(message);
        }
    }

    pub fn last_error(&self) -> Option<String> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last
            .clone()
    }
}
