//! SQLite storage, owned by one database thread.
//!
//! Every access is a job on that thread's queue, so there is one connection and no lock contention (an
//! in-memory database works the same way as a file). Writes that queue up meanwhile are committed
//! together in one transaction (group commit), and each upload is answered only after its commit.
//! The FTS5 index is filled behind ingest, by the same thread whenever no write is waiting
//! (`fts_upto` records how far it got); searches match the not-yet-indexed tail in Rust with the same rules
//! (see `search.rs`), so results are complete either way.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use tokio::sync::{broadcast, oneshot};

use crate::search::Query;
use crate::{Error, StoredBatch, StoredEntry};

/// `Logship-Batch` ids are remembered this long (the contract asks for at least 24 h).
const DEDUP_KEEP_MS: i64 = 48 * 3600 * 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// One group commit takes at most this many uploads, or stops once it holds this many entries.
const GROUP_MAX_JOBS: usize = 256;
const GROUP_MAX_ENTRIES: usize = 50_000;
/// Entries indexed per FTS transaction; small, so a waiting upload is not held up for long.
const INDEX_CHUNK: i64 = 5_000;
/// The index is filled, and the WAL checkpointed, when no upload came for this long…
const IDLE: Duration = Duration::from_millis(5);
/// …or after every group commit while it is this many entries behind.
const INDEX_BACKLOG_MAX: i64 = 1_000_000;
/// Tail messages buffered per viewer before a slow one skips ahead.
const TAIL_CAPACITY: usize = 8_192;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
PRAGMA wal_autocheckpoint = 16384;
PRAGMA journal_size_limit = 67108864;
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
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5 (body, content = '', columnsize = 0);
";

/// The text that is indexed and searched: the entry's `text` member when it is a string, else the whole entry.
const SEARCH_TEXT: &str =
    "CASE WHEN json_type(e.raw, '$.text') = 'text' THEN json_extract(e.raw, '$.text') ELSE e.raw END";

/// Columns of an entry row, in the order [`Row::read`] expects.
const ROW_COLUMNS: &str = "e.id, s.collection, s.public_id, e.received_at_ms, e.raw";

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

/// Filters of `GET /api/entries`.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub collection: Option<String>,
    pub level: Option<i64>,
    pub query: Option<Query>,
    /// Only entries with a larger id (paging forward): then the oldest `limit` of them, else the newest.
    pub since: Option<i64>,
    pub limit: usize,
}

type ReadFn = Box<dyn FnOnce(&Db) + Send>;

enum Job {
    Write(Batch, oneshot::Sender<Result<Outcome, String>>),
    Read(ReadFn),
    Close,
}

/// Handle to the database thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    jobs: mpsc::Sender<Job>,
    tail: broadcast::Sender<Arc<TailItem>>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Store {
    pub fn open(path: Option<&Path>) -> Result<Store, Error> {
        let db_error = |source| Error::Database {
            path: path.map_or(":memory:".into(), |p| p.display().to_string()),
            source,
        };
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(db_error)?;
        let mut db = Db::new(conn).map_err(db_error)?;
        let (jobs, rx) = mpsc::channel();
        let (tail, _) = broadcast::channel(TAIL_CAPACITY);
        let tail_tx = tail.clone();
        let thread = std::thread::Builder::new()
            .name("logship-collector-db".into())
            .spawn(move || db.run(&rx, &tail_tx))
            .map_err(Error::Start)?;
        Ok(Store {
            jobs,
            tail,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Stores a batch; resolves once it is committed (or found to be a duplicate).
    pub async fn write(&self, batch: Batch) -> Result<Outcome, String> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Write(batch, tx))
            .map_err(|_| "collector is shutting down".to_owned())?;
        rx.await
            .map_err(|_| "collector is shutting down".to_owned())?
    }

    /// Runs `f` on the database thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        self.send_read(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await
            .map_err(|_| "collector is shutting down".to_owned())?
    }

    /// Runs `f` on the database thread and waits for it; usable from any thread, async or not.
    pub fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = mpsc::channel();
        self.send_read(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv()
            .map_err(|_| "collector is shutting down".to_owned())?
    }

    fn send_read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static,
        reply: impl FnOnce(Result<T, String>) + Send + 'static,
    ) -> Result<(), String> {
        let job = Job::Read(Box::new(move |db| reply(f(db).map_err(|e| e.to_string()))));
        self.jobs
            .send(job)
            .map_err(|_| "collector is shutting down".to_owned())
    }

    /// A receiver of every entry committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TailItem>> {
        self.tail.subscribe()
    }

    /// Finishes the queued jobs, closes the database and waits for its thread.
    pub fn close(&self) {
        let _ = self.jobs.send(Job::Close);
        let thread = self.thread.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The database thread's state.
pub(crate) struct Db {
    conn: Connection,
    /// `(collection, public_id)` → streams.id, for the streams committed so far.
    streams: HashMap<(String, String), i64>,
    /// Every entry with an id up to this one is in the FTS index.
    fts_upto: i64,
    /// Written since the last checkpoint. SQLite checkpoints by itself once the WAL reaches 64 MiB; doing it
    /// when idle keeps those (slow, fsyncing) checkpoints out of the way of ingest.
    dirty: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Db {
    fn new(conn: Connection) -> rusqlite::Result<Db> {
        conn.execute_batch(SCHEMA)?;
        let fts_upto = conn
            .query_row("SELECT value FROM meta WHERE key = 'fts_upto'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        let db = Db {
            conn,
            streams: HashMap::new(),
            fts_upto,
            dirty: false,
        };
        db.prune_seen()?;
        Ok(db)
    }

    fn run(&mut self, jobs: &mpsc::Receiver<Job>, tail: &broadcast::Sender<Arc<TailItem>>) {
        let mut last_prune = Instant::now();
        loop {
            let backlog = self.index_backlog();
            let idle_work = backlog > 0 || self.dirty;
            let wait = if idle_work { IDLE } else { PRUNE_EVERY };
            let first = match jobs.recv_timeout(wait) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Index and checkpoint when no upload came for a moment; index anyway when far behind.
            let result = if backlog > 0 && (first.is_none() || backlog > INDEX_BACKLOG_MAX) {
                self.index_chunk()
            } else if self.dirty && first.is_none() {
                self.checkpoint()
            } else {
                Ok(())
            };
            if let Err(e) = result {
                eprintln!("logship-collector: indexing or checkpointing failed: {e}");
            }
            // Take whatever else is queued, up to the group limits.
            let mut writes = Vec::new();
            let mut reads = Vec::new();
            let mut entries = 0;
            let mut closing = false;
            let mut next = first;
            while let Some(job) = next.take() {
                match job {
                    Job::Write(batch, reply) => {
                        entries += batch.entries.len();
                        writes.push((batch, reply));
                    }
                    Job::Read(f) => reads.push(f),
                    Job::Close => closing = true,
                }
                if !closing && writes.len() < GROUP_MAX_JOBS && entries < GROUP_MAX_ENTRIES {
                    next = jobs.try_recv().ok();
                }
            }
            if !writes.is_empty() {
                self.write_group(writes, tail);
            }
            for f in reads {
                f(self);
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                if let Err(e) = self.prune_seen() {
                    eprintln!("logship-collector: pruning batch ids failed: {e}");
                }
            }
            if closing {
                return;
            }
        }
    }

    /// Commits a group of uploads in one transaction, then answers each and feeds the tail.
    fn write_group(
        &mut self,
        writes: Vec<(Batch, oneshot::Sender<Result<Outcome, String>>)>,
        tail: &broadcast::Sender<Arc<TailItem>>,
    ) {
        let now = now_ms();
        let live = tail.receiver_count() > 0;
        self.dirty = true;
        let mut fresh = Vec::new();
        let result = self.conn.execute_batch("BEGIN").and_then(|()| {
            let mut outcomes = Vec::with_capacity(writes.len());
            for (batch, _) in &writes {
                outcomes.push(self.insert_batch(batch, now, live.then_some(&mut fresh))?);
            }
            self.conn.execute_batch("COMMIT")?;
            Ok(outcomes)
        });
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in writes.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                for item in fresh {
                    let _ = tail.send(Arc::new(item));
                }
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                // Rolled back: streams created in this transaction are gone too.
                self.streams.clear();
                eprintln!("logship-collector: storing a batch failed: {e}");
                for (_, reply) in writes {
                    let _ = reply.send(Err(format!("storage error: {e}")));
                }
            }
        }
    }

    fn insert_batch(
        &mut self,
        batch: &Batch,
        now: i64,
        mut fresh: Option<&mut Vec<TailItem>>,
    ) -> rusqlite::Result<Outcome> {
        if let Some((scope, id)) = &batch.dedup {
            let inserted = self
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO seen_batches (scope, batch_id, received_at_ms) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![scope, id, now])?;
            if inserted == 0 {
                return Ok(Outcome::Duplicate);
            }
        }
        let mut stream_ids = Vec::with_capacity(batch.streams.len());
        let mut counts = vec![0i64; batch.streams.len()];
        for key in &batch.streams {
            stream_ids.push(self.stream_id(key)?);
        }
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO entries (stream, received_at_ms, level, raw) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for e in &batch.entries {
            insert.execute(params![stream_ids[e.stream], now, e.level, e.raw])?;
            counts[e.stream] += 1;
            if let Some(fresh) = fresh.as_deref_mut() {
                let (collection, public_id) = &batch.streams[e.stream];
                fresh.push(TailItem {
                    row: Row {
                        id: self.conn.last_insert_rowid(),
                        collection: collection.clone(),
                        public_id: public_id.clone(),
                        received_at_ms: now,
                        raw: e.raw.clone(),
                    },
                    json: OnceLock::new(),
                });
            }
        }
        let mut bump = self.conn.prepare_cached(
            "UPDATE streams SET entries = entries + ?2, last_received_at_ms = ?3 WHERE id = ?1",
        )?;
        for (id, count) in stream_ids.iter().zip(&counts) {
            bump.execute(params![id, count, now])?;
        }
        let mut collections: Vec<&str> = batch.streams.iter().map(|(c, _)| c.as_str()).collect();
        collections.dedup();
        self.conn
            .prepare_cached(
                "INSERT INTO batches (received_at_ms, batch_id, collection, content_encoding, wire_bytes, body_bytes, entries)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                now,
                batch.dedup.as_ref().map(|(_, id)| id),
                collections.join(","),
                batch.content_encoding,
                batch.wire_bytes,
                batch.body_bytes,
                batch.entries.len()
            ])?;
        Ok(Outcome::Stored(batch.entries.len()))
    }

    fn stream_id(&mut self, key: &(String, String)) -> rusqlite::Result<i64> {
        if let Some(id) = self.streams.get(key) {
            return Ok(*id);
        }
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO streams (collection, public_id) VALUES (?1, ?2)",
            )?
            .execute(params![key.0, key.1])?;
        let id = self
            .conn
            .prepare_cached("SELECT id FROM streams WHERE collection = ?1 AND public_id = ?2")?
            .query_row(params![key.0, key.1], |r| r.get(0))?;
        self.streams.insert(key.clone(), id);
        Ok(id)
    }

    fn prune_seen(&self) -> rusqlite::Result<()> {
        self.conn.execute(
            "DELETE FROM seen_batches WHERE received_at_ms < ?1",
            [now_ms() - DEDUP_KEEP_MS],
        )?;
        Ok(())
    }

    /// `(newest entry id, entries indexed for search up to this id, stored batches)`.
    pub fn stats(&self) -> rusqlite::Result<(i64, i64, i64)> {
        let batches = self
            .conn
            .query_row("SELECT count(*) FROM batches", [], |r| r.get(0))?;
        Ok((self.max_id()?, self.fts_upto, batches))
    }

    fn max_id(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM entries", [], |r| r.get(0))
    }

    fn checkpoint(&mut self) -> rusqlite::Result<()> {
        self.dirty = false;
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
    }

    /// How many entries are not in the FTS index yet.
    fn index_backlog(&self) -> i64 {
        self.max_id().map_or(0, |max| max - self.fts_upto)
    }

    /// Adds the next few unindexed entries to the FTS index.
    fn index_chunk(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let upto: i64 = tx.query_row(
            "SELECT coalesce(max(id), ?1) FROM (SELECT id FROM entries WHERE id > ?1 ORDER BY id LIMIT ?2)",
            params![self.fts_upto, INDEX_CHUNK],
            |r| r.get(0),
        )?;
        tx.execute(
            &format!(
                "INSERT INTO entries_fts (rowid, body) SELECT e.id, {SEARCH_TEXT} FROM entries e WHERE e.id > ?1 AND e.id <= ?2"
            ),
            params![self.fts_upto, upto],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('fts_upto', ?1)",
            [upto],
        )?;
        tx.commit()?;
        self.fts_upto = upto;
        self.dirty = true;
        Ok(())
    }

    /// Entries matching `filter`, oldest first.
    pub fn search(&self, filter: &Filter) -> rusqlite::Result<Vec<Row>> {
        let forward = filter.since.is_some();
        let since = filter.since.unwrap_or(0);
        let mut conds = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if let Some(c) = &filter.collection {
            args.push(Value::Text(c.clone()));
            conds.push(format!("s.collection = ?{}", args.len()));
        }
        if let Some(level) = filter.level {
            args.push(Value::Integer(level));
            conds.push(format!("e.level = ?{}", args.len()));
        }
        let order = if forward { "ASC" } else { "DESC" };
        let mut rows = match &filter.query {
            None => self.select(
                &format!("SELECT {ROW_COLUMNS} FROM entries e JOIN streams s ON s.id = e.stream"),
                conds,
                args,
                (since, i64::MAX),
                order,
                filter.limit,
            )?,
            Some(query) => {
                // Indexed entries come from FTS5, the unindexed tail is matched here, with the same rules.
                let split = self.fts_upto.max(since);
                let mut fts_args = args.clone();
                fts_args.push(Value::Text(query.fts()));
                let mut fts_conds = conds.clone();
                fts_conds.push(format!("entries_fts MATCH ?{}", fts_args.len()));
                let from_index = |limit| {
                    self.select(
                        &format!(
                            "SELECT {ROW_COLUMNS} FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid JOIN streams s ON s.id = e.stream"
                        ),
                        fts_conds.clone(),
                        fts_args.clone(),
                        (since, split),
                        order,
                        limit,
                    )
                };
                let from_tail = |limit| {
                    self.scan(
                        query,
                        conds.clone(),
                        args.clone(),
                        (split, i64::MAX),
                        order,
                        limit,
                    )
                };
                // Oldest first when paging forward, newest first otherwise.
                let mut rows = if forward {
                    from_index(filter.limit)?
                } else {
                    from_tail(filter.limit)?
                };
                let rest = filter.limit - rows.len();
                if rest > 0 {
                    rows.extend(if forward {
                        from_tail(rest)?
                    } else {
                        from_index(rest)?
                    });
                }
                rows
            }
        };
        if !forward {
            rows.reverse();
        }
        Ok(rows)
    }

    /// Rows of `sql` (which selects [`ROW_COLUMNS`]) with `lo < e.id <= hi` and `conds`, in `order`.
    fn select(
        &self,
        sql: &str,
        mut conds: Vec<String>,
        mut args: Vec<Value>,
        range: (i64, i64),
        order: &str,
        limit: usize,
    ) -> rusqlite::Result<Vec<Row>> {
        push_id_range(&mut conds, &mut args, range);
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "{sql} WHERE {} ORDER BY e.id {order} LIMIT ?{}",
            conds.join(" AND "),
            args.len()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), Row::read)?;
        rows.collect()
    }

    /// Like [`Db::select`] over all entries, keeping those whose search text matches `query`.
    fn scan(
        &self,
        query: &Query,
        mut conds: Vec<String>,
        mut args: Vec<Value>,
        range: (i64, i64),
        order: &str,
        limit: usize,
    ) -> rusqlite::Result<Vec<Row>> {
        push_id_range(&mut conds, &mut args, range);
        let sql = format!(
            "SELECT {ROW_COLUMNS}, {SEARCH_TEXT} FROM entries e JOIN streams s ON s.id = e.stream WHERE {} ORDER BY e.id {order}",
            conds.join(" AND ")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(r) = rows.next()? else { break };
            let text: String = r.get(5)?;
            if query.matches(&text) {
                out.push(Row::read(r)?);
            }
        }
        Ok(out)
    }

    /// The newest entries for a new tail viewer, oldest first: at least `min_count`, and more while they add
    /// up to less than `min_bytes`, never more than `max_count`.
    pub fn recent(
        &self,
        min_count: usize,
        min_bytes: usize,
        max_count: usize,
    ) -> rusqlite::Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM entries e JOIN streams s ON s.id = e.stream ORDER BY e.id DESC LIMIT ?1"
        ))?;
        let mut rows = stmt.query([i64::try_from(max_count).unwrap_or(i64::MAX)])?;
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < min_count || bytes < min_bytes {
            let Some(r) = rows.next()? else { break };
            let row = Row::read(r)?;
            bytes += row.raw.len();
            out.push(row);
        }
        out.reverse();
        Ok(out)
    }

    /// `(collection, entries, last_received_at_ms)` for every collection, by name.
    pub fn collections(&self) -> rusqlite::Result<Vec<(String, i64, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT collection, sum(entries), max(last_received_at_ms) FROM streams GROUP BY collection ORDER BY collection",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    }

    pub fn entries_of(&self, collection: &str) -> rusqlite::Result<Vec<StoredEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM entries e JOIN streams s ON s.id = e.stream WHERE s.collection = ?1 ORDER BY e.id"
        ))?;
        let rows = stmt.query_map([collection], Row::read)?;
        rows.map(|row| {
            let row = row?;
            Ok(StoredEntry {
                entry: serde_json::from_str(&row.raw).unwrap_or(serde_json::Value::Null),
                id: row.id,
                collection: row.collection,
                public_id: row.public_id,
                received_at_ms: row.received_at_ms,
                raw: row.raw,
            })
        })
        .collect()
    }

    pub fn batches(&self) -> rusqlite::Result<Vec<StoredBatch>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT batch_id, collection, content_encoding, wire_bytes, body_bytes, entries FROM batches ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredBatch {
                batch_id: r.get(0)?,
                collection: r.get(1)?,
                content_encoding: r.get(2)?,
                wire_bytes: r.get(3)?,
                body_bytes: r.get(4)?,
                entries: r.get(5)?,
            })
        })?;
        rows.collect()
    }
}

/// Adds `lo < e.id <= hi` to a query's conditions and arguments.
fn push_id_range(conds: &mut Vec<String>, args: &mut Vec<Value>, (lo, hi): (i64, i64)) {
    args.push(Value::Integer(lo));
    conds.push(format!("e.id > ?{}", args.len()));
    args.push(Value::Integer(hi));
    conds.push(format!("e.id <= ?{}", args.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(collection: &str, entries: &[(i64, &str)]) -> Batch {
        Batch {
            dedup: None,
            content_encoding: None,
            wire_bytes: 0,
            body_bytes: 0,
            streams: vec![(collection.into(), "p".into())],
            entries: entries
                .iter()
                .map(|(level, raw)| NewEntry {
                    stream: 0,
                    level: *level,
                    raw: (*raw).into(),
                })
                .collect(),
        }
    }

    fn ids(rows: &[Row]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    /// Search answers the same before the index has caught up, halfway, and after.
    #[test]
    fn search_is_the_same_whether_indexed_or_not() {
        let mut db = Db::new(Connection::open_in_memory().unwrap()).unwrap();
        let lines = [
            (0, r#"{"text":"Connection refused from 10.0.0.1"}"#),
            (1, r#"{"text":"blk_38865049064139660 terminating"}"#),
            (0, r#"{"event":"click","target":"connection-button"}"#),
            (2, r#"{"text":"CONNECTION reset by peer"}"#),
            (0, r#"{"text":"unrelated"}"#),
        ];
        let n = INDEX_CHUNK + 300;
        for i in 0..n as usize {
            let (level, raw) = lines[i % lines.len()];
            let coll = if i % 2 == 0 { "even" } else { "odd" };
            db.insert_batch(&batch(coll, &[(level, raw)]), 1, None)
                .unwrap();
        }
        let filters = || {
            let q = |s: &str| Query::parse(s);
            [
                Filter {
                    query: q("conn"),
                    limit: 50,
                    ..Filter::default()
                },
                Filter {
                    query: q("connection refused"),
                    limit: 10_000,
                    ..Filter::default()
                },
                Filter {
                    query: q("blk_388"),
                    since: Some(700),
                    limit: 40,
                    ..Filter::default()
                },
                Filter {
                    query: q("conn"),
                    collection: Some("odd".into()),
                    level: Some(2),
                    limit: 500,
                    ..Filter::default()
                },
                Filter {
                    query: q("button"),
                    since: Some(3),
                    limit: 7,
                    ..Filter::default()
                },
            ]
        };
        let before: Vec<_> = filters()
            .iter()
            .map(|f| ids(&db.search(f).unwrap()))
            .collect();
        assert_eq!(db.fts_upto, 0);
        db.index_chunk().unwrap();
        assert_eq!(db.fts_upto, INDEX_CHUNK);
        let half: Vec<_> = filters()
            .iter()
            .map(|f| ids(&db.search(f).unwrap()))
            .collect();
        while db.index_backlog() > 0 {
            db.index_chunk().unwrap();
        }
        let after: Vec<_> = filters()
            .iter()
            .map(|f| ids(&db.search(f).unwrap()))
            .collect();
        assert_eq!(before, half);
        assert_eq!(before, after);
        // Sanity: the answers are what the filters say.
        assert_eq!(before[0].len(), 50);
        assert!(before[0].windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*before[0].last().unwrap(), n - 1); // newest last
        assert_eq!(before[1].len() as i64, n / 5);
        assert_eq!(before[2], (702..=897).step_by(5).collect::<Vec<_>>());
        assert!(before[3].iter().all(|id| (id - 1) % 5 == 3 && id % 2 == 0));
        assert_eq!(before[4], (8..=38).step_by(5).collect::<Vec<_>>());
    }
}
