use crate::core::config::ConfigError;
use crate::core::queue::PushError;

/// [`Error::Random`]'s message, before its cause. (The browser door writes the two errors it can
/// meet from these, without `Display`: see `core_error` in src/web/mod.rs.)
pub(crate) const RANDOM_FAILED: &str = "the system's random source failed";
/// [`Error::TooManySubscriptions`]'s message, after `at most {max} `.
pub(crate) const TAP_CAP: &str = "tap subscriptions at a time";

/// What can go wrong, as a value with a clear message. No message ever contains the private id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has a bad value; the error names it.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The logger was shut down: it takes no more writes or flushes.
    #[error("the logger is shut down")]
    ShutDown,
    /// The entry did not fit in the buffer and was dropped (counted, and reported upstream).
    #[error("the buffer is full: the entry was dropped (on_full = drop_newest, or the entry is larger than the free buffer)")]
    QueueFull,
    /// A flush or shutdown deadline passed first.
    #[error("the deadline passed with {undelivered} entries undelivered")]
    Timeout {
        /// Entries not yet delivered, rejected or dropped when it passed (at shutdown: left,
        /// and counted as dropped).
        undelivered: u64,
    },
    /// The background thread (or what it needs) could not be started.
    #[error("could not start logship's background thread: {0}")]
    Runtime(String),
    /// The system's random source failed, so no private id (nor any other id) could be drawn:
    /// logship does not start without it.
    #[error("{RANDOM_FAILED}: {0}")]
    Random(String),
    /// As many tap subscriptions as a logger takes are open already; unsubscribe one first.
    #[error("at most {max} {TAP_CAP}")]
    TooManySubscriptions {
        /// The cap (each subscription holds up to a sixteenth of `buffer_bytes`, 1 MiB at most).
        max: usize,
    },
    /// The disk spool (`spool_dir`) cannot be opened, locked, written or synced.
    #[error("spool_dir: {0}")]
    Spool(String),
}

impl From<PushError> for Error {
    fn from(err: PushError) -> Self {
        match err {
            PushError::Closed => Error::ShutDown,
            PushError::Full => Error::QueueFull,
        }
    }
}
