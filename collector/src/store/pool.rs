//! The read-only connections: a small pool served on tokio's blocking threads, never on the writer's (in
//! WAL mode a reader sees the last commit and neither side waits for the other). Each read runs in one
//! transaction, so it sees one state of the database, and is interrupted when it takes longer than
//! [`READ_TIME_LIMIT`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, InterruptHandle};
use tokio::sync::Semaphore;

use super::reader::Reader;
use super::{Limits, Location};

/// The longest a read may take before it is interrupted.
pub(crate) const READ_TIME_LIMIT: Duration = Duration::from_secs(5);
/// Reads that run at once; more wait for a turn (within their time limit).
const READERS: usize = 4;

/// Why a read gave no answer.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It took longer than [`READ_TIME_LIMIT`] and was stopped.
    TimedOut,
    Failed(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::TimedOut => write!(
                f,
                "the query took longer than {} s and was stopped; narrow it (collection, level, time range, longer words)",
                READ_TIME_LIMIT.as_secs()
            ),
            ReadError::Failed(e) => write!(f, "database error: {e}"),
        }
    }
}

impl From<rusqlite::Error> for ReadError {
    fn from(e: rusqlite::Error) -> ReadError {
        ReadError::Failed(e.to_string())
    }
}

pub(crate) struct Pool {
    pub(super) location: Location,
    pub(super) limits: Limits,
    idle: Mutex<Vec<Connection>>,
    turns: Arc<Semaphore>,
    closed: AtomicBool,
}

/// Interrupts the read on drop unless disarmed: when the time limit passed, or the caller went away.
struct InterruptOnDrop(Option<InterruptHandle>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.interrupt();
        }
    }
}

impl Pool {
    pub fn new(location: Location, limits: Limits) -> Pool {
        Pool {
            location,
            limits,
            idle: Mutex::new(Vec::new()),
            turns: Arc::new(Semaphore::new(READERS)),
            closed: AtomicBool::new(false),
        }
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => self.location.open(true),
        }
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if !self.closed.load(Ordering::Relaxed) && idle.len() < READERS {
                idle.push(conn);
            }
        }
    }

    /// Closes the idle connections; connections in use close when their read ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Runs `f` in one read transaction on `conn`.
    fn run<T>(
        &self,
        conn: &Connection,
        f: impl FnOnce(&Reader<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        conn.execute_batch("BEGIN")?;
        let result = f(&Reader { conn, pool: self });
        let end = conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let value = result?;
        end?;
        Ok(value)
    }

    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Reader<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ReadError> {
        let pool = self.clone();
        let read = async move {
            let turn = pool
                .turns
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ReadError::Failed("collector is shutting down".into()))?;
            let conn = pool.take()?;
            let interrupt = InterruptOnDrop(Some(conn.get_interrupt_handle()));
            let task = {
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || {
                    let result = pool.run(&conn, f);
                    pool.put(conn);
                    drop(turn);
                    result
                })
            };
            let mut interrupt = interrupt;
            let result = task
                .await
                .map_err(|e| ReadError::Failed(format!("read task failed: {e}")))?;
            interrupt.0 = None;
            Ok(result?)
        };
        tokio::time::timeout(READ_TIME_LIMIT, read)
            .await
            .unwrap_or(Err(ReadError::TimedOut))
    }

    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, ReadError> {
        let conn = self.take()?;
        let result = self.run(&conn, f);
        self.put(conn);
        Ok(result?)
    }
}
