use crate::core::config::ConfigError;
use crate::core::queue::PushError;

/// What can go wrong, as a value with a clear message. No message ever contains the private id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has an invalid value (the error names the key).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The logger was shut down; it takes no more writes.
    #[error("the logger is shut down")]
    ShutDown,
    /// The write was refused and counted as dropped: the buffer is full and `on_full` is
    /// `drop_newest`, or the entry is larger than the free buffer.
    #[error("the buffer is full: the entry was dropped (on_full = drop_newest, or the entry is larger than the free buffer)")]
    QueueFull,
    /// A flush or shutdown deadline passed before everything was delivered.
    #[error("the deadline passed with {undelivered} entries undelivered")]
    Timeout {
        /// Entries neither uploaded, rejected nor dropped at the deadline.
        undelivered: u64,
    },
    /// The background thread (or its runtime) could not be started.
    #[error("could not start logship's background thread: {0}")]
    Runtime(String),
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
