use crate::core::config::ConfigError;
use crate::core::queue::PushError;

/// What can go wrong, as a value with a clear message. No message ever contains the private id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the logger is shut down")]
    ShutDown,
    #[error("the buffer is full: the entry was dropped (on_full = drop_newest, or the entry is larger than the free buffer)")]
    QueueFull,
    #[error("the deadline passed with {undelivered} entries undelivered")]
    Timeout { undelivered: u64 },
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
