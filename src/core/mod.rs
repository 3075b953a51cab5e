//! Every decision logship makes, pure and target-agnostic: no I/O, no threads, no clock reads of
//! its own. The runtimes (`native`, `web`) supply a [`traits::Transport`], [`traits::Timer`] and
//! [`traits::Clock`] and only move bytes and time.

pub mod batch;
pub mod config;
pub mod encode;
pub mod failover;
pub mod ids;
pub mod level;
pub mod logger;
pub mod otlp;
pub mod queue;
pub mod retry;
pub mod ring;
pub mod secret;
pub mod shipper;
pub mod spool;
pub mod stats;
pub mod tap;
pub mod traits;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use batch::BodyFormat;
use config::Config;
use encode::{EncodeOptions, Encoder, EntryMeta};
use queue::{Limits, PushError, Queue, KIND_ENCODED, KIND_RAW, KIND_UNTAPPED};
use secret::Redactor;
use tap::{Subscriber, Tap};

/// Where `needle` (not empty) first occurs in `haystack`: a memchr for its first byte, then a
/// comparison. Quick for the short markers logship looks for, with no searcher set up per call,
/// and small: the browser's wasm carries no general substring search.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memchr_iter(needle[0], haystack).find(|&at| haystack[at..].starts_with(needle))
}

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
    /// How batch bodies are framed (logtail or OTLP), fixed by the configuration.
    pub body_format: BodyFormat,
    /// Whether this state's shipper publishes entries to its tap. With several destinations
    /// only the first one's does, so that the tap shows each entry once.
    pub feeds_tap: bool,
    /// Whether uploads currently go to the backup address (set by the shipper).
    using_backup: AtomicBool,
    reporter: ErrorReporter,
    /// Every reported message passes through it: no secret is printed or kept.
    redactor: Redactor,
    errors: Mutex<ErrorLog>,
}

#[derive(Default)]
struct ErrorLog {
    last: Option<String>,
    reported_kinds: Vec<String>,
}

impl Shared {
    pub fn new(
        config: &Config,
        proc_id: u32,
        metrics: Option<MetricsSource>,
        reporter: (ErrorReporter, Redactor),
    ) -> Arc<Self> {
        Self::build(config, proc_id, metrics, reporter, true)
    }

    /// The state of a destination after the first, whose shipper never publishes to the tap
    /// (the first destination's does): otherwise like [`Shared::new`].
    pub fn new_without_tap(
        config: &Config,
        proc_id: u32,
        metrics: Option<MetricsSource>,
        reporter: (ErrorReporter, Redactor),
    ) -> Arc<Self> {
        Self::build(config, proc_id, metrics, reporter, false)
    }

    fn build(
        config: &Config,
        proc_id: u32,
        metrics: Option<MetricsSource>,
        (reporter, redactor): (ErrorReporter, Redactor),
        feeds_tap: bool,
    ) -> Arc<Self> {
        Arc::new(Shared {
            queue: Queue::new(Limits {
                buffer_bytes: config.buffer_bytes(),
                max_batch_bytes: config.max_batch_bytes(),
                on_full: config.on_full,
            }),
            tap: Tap::new(tap::subscriber_bytes(config.buffer_bytes())),
            encode_options: config.encode_options(proc_id),
            metrics,
            body_format: config.body_format(),
            feeds_tap,
            using_backup: AtomicBool::new(false),
            reporter,
            redactor,
            errors: Mutex::default(),
        })
    }

    pub fn using_backup(&self) -> bool {
        self.using_backup.load(Ordering::Relaxed)
    }

    pub(crate) fn set_using_backup(&self, on_backup: bool) {
        self.using_backup.store(on_backup, Ordering::Relaxed);
    }

    /// The caller's path for one write. Writes up to the text limit are copied as they are and
    /// encoded by the shipper; longer ones are encoded here, so that the queue holds at most
    /// their (truncated) entry.
    /// `tapped`: false for a write the tap must not show (see [`KIND_UNTAPPED`]).
    pub fn write(&self, bytes: &[u8], unix_nanos: i64, tapped: bool) -> Result<(), PushError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let flags = if tapped { 0 } else { KIND_UNTAPPED };
        if bytes.len() <= self.encode_options.text_limit {
            return self.queue.push(KIND_RAW | flags, bytes, unix_nanos, None);
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
            .push(KIND_ENCODED | flags, &entry, unix_nanos, Some(proc_seq))
    }

    /// A new tap subscriber (replay first, then every entry), unless [`tap::MAX_SUBSCRIBERS`]
    /// are subscribed already.
    pub fn subscribe(&self) -> Result<Arc<Subscriber>, crate::error::Error> {
        let (subscriber, count) =
            (self.tap.subscribe()).ok_or(crate::error::Error::TooManySubscriptions {
                max: tap::MAX_SUBSCRIBERS,
            })?;
        self.queue.set_subscribers(count);
        Ok(subscriber)
    }

    pub fn unsubscribe(&self, id: u64) {
        let count = self.tap.unsubscribe(id);
        self.queue.set_subscribers(count);
    }

    /// Records a problem for the local error report; the first of each kind is also printed.
    pub fn report_error(&self, kind: &str, message: String) {
        let message = self.redactor.redact(message);
        let mut log = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        if !log.reported_kinds.iter().any(|k| k == kind) {
            log.reported_kinds.push(kind.to_owned());
            (self.reporter)(&message);
        }
        log.last = Some(message);
    }

    pub fn last_error(&self) -> Option<String> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last
            .clone()
    }
}
