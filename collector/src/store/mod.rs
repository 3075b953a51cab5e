//! SQLite storage: one writer thread, read-only connections for everything else.
//!
//! - [`writer`]: the only connection that writes. Uploads that queue up are committed together in one
//!   transaction (group commit), each answered only after its commit; between groups it runs the
//!   indexer, the retention and checkpoints.
//! - [`indexer`]: fills the FTS5 index behind ingest (`meta.fts_upto` says how far), backing off when a step
//!   fails.
//! - [`retention`]: deletes the oldest entries (with their index rows, counts and batch records) to keep the
//!   database files within `--max-db-bytes` and entries within `--keep`.
//! - [`reader`]: searches, stats, collections, volume and the tail replay, each on a read-only connection of
//!   a small pool ([`pool`]; WAL: readers and the writer never wait for each other) and with a time limit.
//!
//! Counts (entries, batches, entries per stream and per second) are kept by the writer, so no read scans.

mod backoff;
mod indexer;
mod pool;
mod reader;
mod retention;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, oneshot};

pub(crate) use pool::ReadError;
pub(crate) use reader::{Filter, Reader};

use crate::Error;

/// Tail messages buffered per viewer before a slow one skips ahead.
const TAIL_CAPACITY: usize = 8_192;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    public_id TEXT NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0,
    last_received_at_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (collection, public_id)
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    stream INTEGER NOT NULL REFERENCES streams (id),
    received_at_ms INTEGER NOT NULL,
    level INTEGER NOT NULL,
    raw TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    batch_id TEXT,
    collection TEXT NOT NULL,
    content_encoding TEXT,
    wire_bytes INTEGER NOT NULL,
    body_bytes INTEGER NOT NULL,
    entries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_batches (
    scope TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, batch_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS volume (
    second INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    level INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    PRIMARY KEY (second, stream, level)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5 (body, content = '', columnsize = 0);
";

/// The text that is indexed and searched: the entry's `text` member when it is a string, else the whole entry.
const SEARCH_TEXT: &str =
    "CASE WHEN json_type(e.raw, '$.text') = 'text' THEN json_extract(e.raw, '$.text') ELSE e.raw END";

/// Columns of an entry row, in the order [`Row::read`] expects.
const ROW_COLUMNS: &str = "e.id, s.collection, s.public_id, e.received_at_ms, e.raw";

/// Keys of the kept counts in `meta`.
const META_ENTRIES: &str = "entries";
const META_BATCHES: &str = "batches";
const META_DELETED: &str = "deleted_entries";
const META_FTS_UPTO: &str = "fts_upto";

/// How much the database may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Database files (db + WAL) stay within 1.1 × this once a cleanup has run.
    pub max_db_bytes: u64,
    /// Entries received longer ago than this are deleted.
    pub keep: Option<Duration>,
}

/// A validated upload, ready to store.
pub(crate) struct Batch {
    /// `(scope, Logship-Batch)`: a batch with the same pair was stored already → not stored again.
    pub dedup: Option<(String, String)>,
    pub content_encoding: Option<String>,
    pub wire_bytes: usize,
    pub body_bytes: usize,
    /// `(collection, public_id)` of the entries, indexed by [`NewEntry::stream`].
    pub streams: Vec<(String, String)>,
    pub entries: Vec<NewEntry>,
}

pub(crate) struct NewEntry {
    pub stream: usize,
    pub level: i64,
    pub raw: String,
}

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Stored(usize),
    Duplicate,
}

/// One entry as shown by the API and the tail.
pub(crate) struct Row {
    pub id: i64,
    pub collection: String,
    pub public_id: String,
    pub received_at_ms: i64,
    pub raw: String,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            collection: r.get(1)?,
            public_id: r.get(2)?,
            received_at_ms: r.get(3)?,
            raw: r.get(4)?,
        })
    }

    /// The JSON object the API and the tail send: `{"id","collection","public_id","received_at","entry"}`.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"id":{},"collection":{},"public_id":{},"received_at":{},"entry":{}}}"#,
            self.id,
            serde_json::Value::from(self.collection.as_str()),
            serde_json::Value::from(self.public_id.as_str()),
            self.received_at_ms,
            self.raw
        )
    }
}

/// A new entry for the live tail. Its JSON message is built by the first viewer that sends it, not by the
/// database thread.
pub(crate) struct TailItem {
    pub row: Row,
    json: OnceLock<String>,
}

impl TailItem {
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| self.row.to_json())
    }
}

/// Where the database lives; every connection is opened from it.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A shared-cache in-memory database, named uniquely in this process: it lives while the writer's
    /// connection is open, and readers see it with `read_uncommitted` (shared cache has no WAL).
    Memory(String),
}

impl Location {
    fn open(&self, read_only: bool) -> rusqlite::Result<Connection> {
        let mode = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
        let flags = mode | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        match self {
            Location::File(path) => Connection::open_with_flags(path, flags),
            Location::Memory(uri) => {
                let conn =
                    Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_SHARED_CACHE)?;
                if read_only {
                    conn.execute_batch("PRAGMA read_uncommitted = 1")?;
                }
                Ok(conn)
            }
        }
    }

    fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Memory(_) => None,
        }
    }
}

fn memory_location() -> Location {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Location::Memory(format!(
        "file:logship-collector-{}-{n}?mode=memory&cache=shared",
        std::process::id()
    ))
}

enum Job {
    Write(Batch, oneshot::Sender<Result<Outcome, String>>),
    Close,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    jobs: mpsc::Sender<Job>,
    tail: broadcast::Sender<Arc<TailItem>>,
    readers: Arc<pool::Pool>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

const CLOSED: &str = "collector is shutting down";

impl Store {
    pub fn open(path: Option<&Path>, limits: Limits) -> Result<Store, Error> {
        let location = path.map_or_else(memory_location, |p| Location::File(p.to_owned()));
        let db_error = |source| Error::Database {
            path: path.map_or(":memory:".into(), |p| p.display().to_string()),
            source,
        };
        let mut writer = writer::Writer::open(&location, limits).map_err(db_error)?;
        let readers = Arc::new(pool::Pool::new(location, limits));
        let (jobs, rx) = mpsc::channel();
        let (tail, _) = broadcast::channel(TAIL_CAPACITY);
        let tail_tx = tail.clone();
        let thread = std::thread::Builder::new()
            .name("logship-collector-db".into())
            .spawn(move || writer.run(&rx, &tail_tx))
            .map_err(Error::Start)?;
        Ok(Store {
            jobs,
            tail,
            readers,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Stores a batch; resolves once it is committed (or found to be a duplicate).
    pub async fn write(&self, batch: Batch) -> Result<Outcome, String> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Write(batch, tx))
            .map_err(|_| CLOSED.to_owned())?;
        rx.await.map_err(|_| CLOSED.to_owned())?
    }

    /// Runs `f` on a read-only connection, within the read time limit.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ReadError> {
        self.readers.read(f).await
    }

    /// Runs `f` on a read-only connection on this thread, without a time limit (for [`crate::Collector`]'s
    /// own accessors).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, ReadError> {
        self.readers.read_blocking(f)
    }

    /// A receiver of every entry committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TailItem>> {
        self.tail.subscribe()
    }

    /// Closes the readers, finishes the queued writes, closes the database and waits for its thread. The
    /// writer closes last, so that SQLite checkpoints and removes the WAL file.
    pub fn close(&self) {
        self.readers.close();
        let _ = self.jobs.send(Job::Close);
        let thread = self.thread.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
