//! The writer thread: the only connection that writes.
//!
//! Uploads that queue up while it is busy are committed together in one transaction (group commit); each
//! is answered only after its commit, then its entries go to the live tail. Between groups it runs the
//! retention (first, so the database stays bounded even under constant ingest), the indexer (when no
//! upload waits, or when far behind) and a WAL checkpoint (when idle).

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{broadcast, oneshot};

use super::indexer::Indexer;
use super::retention::Retention;
use super::{
    now_ms, Batch, Job, Limits, Location, Outcome, Row, TailItem, META_BATCHES, META_DELETED,
    META_ENTRIES, SCHEMA,
};

/// `Logship-Batch` ids are remembered this long (the contract asks for at least 24 h), whatever the
/// retention deletes: they are small, and a retry inside this window must stay a duplicate even when
/// the batch's entries are gone.
const DEDUP_KEEP_MS: i64 = 48 * 3600 * 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// One group commit takes at most this many uploads, or stops once it holds this many entries.
const GROUP_MAX_JOBS: usize = 256;
const GROUP_MAX_ENTRIES: usize = 50_000;
/// The index is filled, and the WAL checkpointed, when no upload came for this long…
const IDLE: Duration = Duration::from_millis(5);
/// …or after every group commit while it is this many entries behind.
const INDEX_BACKLOG_MAX: i64 = 1_000_000;
/// How long a checkpoint waits for readers before it leaves the rest for later.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(50);
/// The longest the thread sleeps without looking at its background work.
const TICK: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<Outcome, String>>;

pub(super) struct Writer {
    conn: Connection,
    /// `(collection, public_id)` → streams.id, for the streams committed so far.
    streams: HashMap<(String, String), i64>,
    /// The id the next entry gets. Ids are never reused, even when the retention deleted every entry.
    next_id: i64,
    /// `received_at_ms` of the last group; it never goes backwards, so ids and times have the same order.
    last_now: i64,
    indexer: Indexer,
    retention: Retention,
    /// Written since the last checkpoint. SQLite checkpoints by itself once the WAL reaches its limit;
    /// doing it when idle keeps those checkpoints out of the way of ingest.
    dirty: bool,
}

/// What a group commit adds to the kept counts.
#[derive(Default)]
struct Counts {
    entries: i64,
    batches: i64,
    /// `(stream, level)` → entries, for the group's second.
    volume: HashMap<(i64, i64), i64>,
}

impl Writer {
    pub fn open(location: &Location, limits: Limits) -> rusqlite::Result<Writer> {
        let conn = location.open(false)?;
        let retention = Retention::new(limits, location.file().map(Into::into));
        Self::prepare(&conn, &retention)?;
        let indexer = Indexer::load(&conn)?;
        let (max_id, last_now) = conn
            .query_row(
                "SELECT id, received_at_ms FROM entries ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, 0));
        let next_id = max_id.max(retention.deleted_upto(&conn)?) + 1;
        let writer = Writer {
            conn,
            streams: HashMap::new(),
            next_id,
            last_now,
            indexer,
            retention,
            dirty: false,
        };
        writer.prune_seen()?;
        Ok(writer)
    }

    /// Settings, schema, and the kept counts of a database written before they were kept.
    fn prepare(conn: &Connection, retention: &Retention) -> rusqlite::Result<()> {
        retention.enable_incremental_vacuum(conn)?;
        let wal_limit = retention.wal_limit();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = {};
             PRAGMA journal_size_limit = {wal_limit};",
            wal_limit / 4096
        ))?;
        conn.execute_batch(SCHEMA)?;
        // Deleted entries leave the index at once instead of as tombstones that only merges remove, so
        // the index shrinks with the entries.
        conn.execute_batch(
            "INSERT INTO entries_fts (entries_fts, rank) VALUES ('secure-delete', 1)",
        )?;
        // Only checkpoints ever wait (for readers on an old snapshot), and they may give up quickly.
        conn.busy_timeout(CHECKPOINT_WAIT)?;
        let counted: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?1)",
            [META_ENTRIES],
            |r| r.get(0),
        )?;
        if !counted {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(&format!(
                "INSERT INTO meta (key, value) SELECT '{META_ENTRIES}', count(*) FROM entries;
                 INSERT INTO meta (key, value) SELECT '{META_BATCHES}', count(*) FROM batches;
                 INSERT OR IGNORE INTO meta (key, value) VALUES ('{META_DELETED}', 0);
                 DELETE FROM volume;
                 INSERT INTO volume (second, stream, level, entries)
                     SELECT received_at_ms / 1000, stream, level, count(*) FROM entries GROUP BY 1, 2, 3;"
            ))?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn run(&mut self, jobs: &mpsc::Receiver<Job>, tail: &broadcast::Sender<Arc<TailItem>>) {
        let mut last_prune = Instant::now();
        loop {
            let now = Instant::now();
            let max_id = self.next_id - 1;
            let index_due = self.indexer.due(max_id, now);
            let wait = if self.retention.pending() || index_due || self.dirty {
                IDLE
            } else {
                TICK
            };
            let first = match jobs.recv_timeout(wait) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // The retention goes first: ingest slows down rather than the database outgrowing its bound.
            if self.retention.pending() {
                self.dirty = true;
                if let Some(gone) = self.retention.step(&self.conn, &mut self.indexer) {
                    self.streams.retain(|_, id| !gone.contains(id));
                }
            } else if index_due
                && (first.is_none() || self.indexer.backlog(max_id) > INDEX_BACKLOG_MAX)
            {
                self.dirty = true;
                self.indexer.step(&self.conn);
            } else if self.dirty && first.is_none() {
                self.checkpoint();
            }
            // Take whatever else is queued, up to the group limits.
            let mut writes = Vec::new();
            let mut entries = 0;
            let mut closing = false;
            let mut next = first;
            while let Some(job) = next.take() {
                match job {
                    Job::Write(batch, reply) => {
                        entries += batch.entries.len();
                        writes.push((batch, reply));
                    }
                    Job::Close => closing = true,
                }
                if !closing && writes.len() < GROUP_MAX_JOBS && entries < GROUP_MAX_ENTRIES {
                    next = jobs.try_recv().ok();
                }
            }
            if !writes.is_empty() {
                self.write_group(writes, tail);
            }
            self.retention.check(&self.conn);
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
        writes: Vec<(Batch, Reply)>,
        tail: &broadcast::Sender<Arc<TailItem>>,
    ) {
        let live = tail.receiver_count() > 0;
        let mut fresh = Vec::new();
        let batches: Vec<&Batch> = writes.iter().map(|(b, _)| b).collect();
        match self.insert_group(&batches, live.then_some(&mut fresh)) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in writes.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                for item in fresh {
                    let _ = tail.send(Arc::new(item));
                }
            }
            Err(e) => {
                eprintln!("logship-collector: storing a batch failed: {e}");
                for (_, reply) in writes {
                    let _ = reply.send(Err(format!("storage error: {e}")));
                }
            }
        }
    }

    /// Stores `batches` in one transaction; on failure nothing of them is stored. New entries go to
    /// `fresh` when given.
    pub fn insert_group(
        &mut self,
        batches: &[&Batch],
        mut fresh: Option<&mut Vec<TailItem>>,
    ) -> rusqlite::Result<Vec<Outcome>> {
        let now = now_ms().max(self.last_now);
        let first_id = self.next_id;
        self.dirty = true;
        let result = self.conn.execute_batch("BEGIN").and_then(|()| {
            let mut counts = Counts::default();
            let mut outcomes = Vec::with_capacity(batches.len());
            for batch in batches {
                outcomes.push(self.insert_batch(batch, now, &mut counts, fresh.as_deref_mut())?);
            }
            self.add_counts(&counts, now)?;
            self.conn.execute_batch("COMMIT")?;
            Ok(outcomes)
        });
        match result {
            Ok(outcomes) => {
                self.last_now = now;
                Ok(outcomes)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                // Rolled back: streams created in this transaction are gone too, and the ids are free again.
                self.streams.clear();
                self.next_id = first_id;
                if let Some(fresh) = fresh {
                    fresh.clear();
                }
                Err(e)
            }
        }
    }

    fn insert_batch(
        &mut self,
        batch: &Batch,
        now: i64,
        counts: &mut Counts,
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
        let mut per_stream = vec![0i64; batch.streams.len()];
        for key in &batch.streams {
            stream_ids.push(self.stream_id(key)?);
        }
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO entries (id, stream, received_at_ms, level, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for e in &batch.entries {
            let id = self.next_id;
            insert.execute(params![id, stream_ids[e.stream], now, e.level, e.raw])?;
            self.next_id += 1;
            per_stream[e.stream] += 1;
            *counts
                .volume
                .entry((stream_ids[e.stream], e.level))
                .or_default() += 1;
            if let Some(fresh) = fresh.as_deref_mut() {
                let (collection, public_id) = &batch.streams[e.stream];
                fresh.push(TailItem {
                    row: Row {
                        id,
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
        for (id, count) in stream_ids.iter().zip(&per_stream) {
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
        counts.entries += batch.entries.len() as i64;
        counts.batches += 1;
        Ok(Outcome::Stored(batch.entries.len()))
    }

    /// Adds a group's counts to the kept totals and to the per-second volume.
    fn add_counts(&self, counts: &Counts, now: i64) -> rusqlite::Result<()> {
        let mut add = self
            .conn
            .prepare_cached("UPDATE meta SET value = value + ?2 WHERE key = ?1")?;
        add.execute(params![META_ENTRIES, counts.entries])?;
        add.execute(params![META_BATCHES, counts.batches])?;
        let mut volume = self.conn.prepare_cached(
            "INSERT INTO volume (second, stream, level, entries) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET entries = entries + excluded.entries",
        )?;
        for ((stream, level), n) in &counts.volume {
            volume.execute(params![now / 1000, stream, level, n])?;
        }
        Ok(())
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

    /// Copies the WAL into the database; truncates it when it grew past its limit (a big transaction), so
    /// the files shrink back while idle.
    fn checkpoint(&mut self) {
        self.dirty = false;
        let mode = if self.retention.wal_bytes() > self.retention.wal_limit() {
            "TRUNCATE"
        } else {
            "PASSIVE"
        };
        if let Err(e) = self
            .conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
        {
            eprintln!("logship-collector: checkpoint failed: {e}");
        }
    }

    #[cfg(test)]
    pub fn indexer(&mut self) -> (&Connection, &mut Indexer) {
        (&self.conn, &mut self.indexer)
    }

    #[cfg(test)]
    pub fn retention(&mut self) -> (&Connection, &mut Retention, &mut Indexer) {
        (&self.conn, &mut self.retention, &mut self.indexer)
    }
}
