//! Bounded disk: the oldest entries go when the database outgrows `--max-db-bytes` or entries outlive
//! `--keep`.
//!
//! The writer asks [`Retention::check`] after its groups (at most every 50 ms); while something is to be
//! deleted, it runs one [`Retention::step`] before each group: a small transaction that deletes the oldest
//! entries, their index rows, their share of the kept counts and the batch records whose entries are all
//! gone. Freed pages are reused by new entries; when the file itself is over budget (a lowered bound, or a
//! database that grew before), `PRAGMA incremental_vacuum` gives pages back to the file system.
//!
//! Budget: the WAL may grow to `wal_limit` (1/16 of the bound, 1–64 MiB) before SQLite checkpoints it, and
//! past it by the transaction that crosses it, so it gets twice that and the database file the rest. Deletion starts when the pages in use reach 95 % of that and goes on
//! down to 85 %, so it runs in bursts rather than after every upload.
//!
//! Batch ids (`seen_batches`, for exactly-once) are not deleted here: they are small and kept 48 hours
//! whatever happens to their entries, so a retry inside that window is still answered as a duplicate.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use super::backoff::Backoff;
use super::indexer::Indexer;
use super::{now_ms, Limits, META_BATCHES, META_DELETED, META_ENTRIES};

/// Entries deleted per transaction.
const CHUNK: i64 = 2_000;
/// Batch records looked at per transaction.
const BATCH_CHUNK: i64 = 10_000;
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// Pages given back to the file system per step.
const VACUUM_PAGES: i64 = 2_048;
const META_DELETED_UPTO: &str = "deleted_upto";

pub(super) struct Retention {
    limits: Limits,
    file: Option<PathBuf>,
    /// Deleting until below the low mark.
    pending: bool,
    next_check: Instant,
    backoff: Backoff,
}

/// The database's size as SQLite and the file system see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size {
    /// Bytes of the database files (db + WAL), or of the in-memory database.
    pub files: u64,
    /// The database file alone.
    pub db_file: u64,
    /// Pages in use (not on the free list), in bytes.
    pub used: u64,
}

impl Size {
    pub fn measure(conn: &Connection, file: Option<&Path>) -> rusqlite::Result<Size> {
        let pragma =
            |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
        let page_size = pragma("page_size")?;
        let pages = pragma("page_count")?;
        let free = pragma("freelist_count")?;
        let db_pages = u64::try_from(pages * page_size).unwrap_or(0);
        let used = u64::try_from((pages - free) * page_size).unwrap_or(0);
        let (files, db_file) = match file {
            Some(path) => {
                let db = len(path);
                (db + len(&wal_path(path)), db)
            }
            None => (db_pages, db_pages),
        };
        Ok(Size {
            files,
            db_file,
            used,
        })
    }
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

impl Retention {
    pub fn new(limits: Limits, file: Option<PathBuf>) -> Retention {
        Retention {
            limits,
            file,
            pending: false,
            next_check: Instant::now(),
            backoff: Backoff::new("deleting old entries"),
        }
    }

    /// How big the WAL may grow before SQLite checkpoints it.
    pub fn wal_limit(&self) -> u64 {
        (self.limits.max_db_bytes / 16).clamp(1 << 20, 64 << 20)
    }

    /// The WAL file's size (0 in memory).
    pub fn wal_bytes(&self) -> u64 {
        self.file.as_deref().map_or(0, |db| len(&wal_path(db)))
    }

    /// The bytes the database file may use: the WAL gets twice its limit, as it grows past the limit by
    /// the transaction that crosses it before a checkpoint resets it.
    fn db_budget(&self) -> u64 {
        self.limits
            .max_db_bytes
            .saturating_sub(2 * self.wal_limit())
    }

    /// Makes the database able to give pages back (`auto_vacuum = INCREMENTAL`): set before the first table
    /// of a new database; an existing database without it is rebuilt once (`VACUUM`).
    pub fn enable_incremental_vacuum(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
        if mode == 2 {
            return Ok(());
        }
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if tables > 0 {
            eprintln!(
                "logship-collector: rebuilding the database once so that it can shrink (VACUUM)"
            );
            conn.execute_batch("VACUUM")?;
        }
        Ok(())
    }

    /// The id up to which entries were deleted (ids are never reused).
    pub fn deleted_upto(&self, conn: &Connection) -> rusqlite::Result<i64> {
        Ok(conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [META_DELETED_UPTO],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Whether entries are to be deleted before the next group.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Measures the database (at most every 250 ms) and decides whether deleting starts.
    pub fn check(&mut self, conn: &Connection) {
        let now = Instant::now();
        if self.pending || now < self.next_check || !self.backoff.due(now) {
            return;
        }
        self.next_check = now + CHECK_EVERY;
        match self.needed(conn, 0.95) {
            Ok(needed) => self.pending = needed,
            Err(e) => {
                self.backoff.failed(now, &e);
            }
        }
    }

    /// Whether the database is over `mark` × its budget, its file over the budget, or the oldest entry
    /// older than `--keep`.
    fn needed(&self, conn: &Connection, mark: f64) -> rusqlite::Result<bool> {
        let size = Size::measure(conn, self.file.as_deref())?;
        let budget = self.db_budget();
        if size.used as f64 > budget as f64 * mark || size.db_file > budget {
            return Ok(true);
        }
        let Some(cutoff) = self.cutoff() else {
            return Ok(false);
        };
        let oldest: Option<i64> = conn
            .query_row(
                "SELECT received_at_ms FROM entries ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(oldest.is_some_and(|t| t < cutoff))
    }

    /// Entries received before this are past `--keep`.
    fn cutoff(&self) -> Option<i64> {
        let keep = i64::try_from(self.limits.keep?.as_millis()).unwrap_or(i64::MAX);
        Some(now_ms().saturating_sub(keep))
    }

    /// Deletes one chunk of the oldest entries, or gives free pages back. Returns the streams that no
    /// longer have entries (and were deleted), or `None` when the step failed (reported, retried later).
    pub fn step(&mut self, conn: &Connection, indexer: &mut Indexer) -> Option<Vec<i64>> {
        let now = Instant::now();
        if !self.backoff.due(now) {
            return None;
        }
        match self.delete_chunk(conn, indexer) {
            Ok(gone) => {
                self.backoff.succeeded();
                Some(gone)
            }
            Err(e) => {
                self.pending = false;
                self.backoff.failed(now, &e);
                None
            }
        }
    }

    fn delete_chunk(
        &mut self,
        conn: &Connection,
        indexer: &mut Indexer,
    ) -> rusqlite::Result<Vec<i64>> {
        let size = Size::measure(conn, self.file.as_deref())?;
        let budget = self.db_budget();
        let over_size = size.used as f64 > budget as f64 * 0.85;
        let cutoff = self.cutoff().unwrap_or(i64::MIN);
        let (upto, n): (Option<i64>, i64) = conn.query_row(
            "SELECT max(id), count(*) FROM (SELECT id, received_at_ms FROM entries ORDER BY id LIMIT ?1)
             WHERE ?2 OR received_at_ms < ?3",
            params![CHUNK, over_size, cutoff],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let gone = match upto {
            Some(upto) => self.delete_upto(conn, indexer, upto, n)?,
            None => Vec::new(),
        };
        if upto.is_none() && size.db_file > budget {
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            if free > 0 {
                conn.execute_batch(&format!(
                    "PRAGMA incremental_vacuum({})",
                    free.min(VACUUM_PAGES)
                ))?;
            }
        }
        // Done when there is nothing left to delete and no free page to give back.
        if upto.is_none() {
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            let size = Size::measure(conn, self.file.as_deref())?;
            self.pending = size.db_file > budget && free > 0;
        }
        Ok(gone)
    }

    /// Deletes the `n` entries with ids up to `upto`, in one transaction.
    fn delete_upto(
        &mut self,
        conn: &Connection,
        indexer: &mut Indexer,
        upto: i64,
        n: i64,
    ) -> rusqlite::Result<Vec<i64>> {
        let tx = conn.unchecked_transaction()?;
        // The kept counts lose what goes: per stream, and per second and level.
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS doomed (stream INTEGER, second INTEGER, level INTEGER, entries INTEGER);
             DELETE FROM temp.doomed;",
        )?;
        tx.execute(
            "INSERT INTO temp.doomed SELECT stream, received_at_ms / 1000, level, count(*) FROM entries WHERE id <= ?1 GROUP BY 1, 2, 3",
            [upto],
        )?;
        tx.execute_batch(
            "UPDATE streams SET entries = entries - d.n FROM (SELECT stream, sum(entries) AS n FROM temp.doomed GROUP BY stream) AS d
                 WHERE streams.id = d.stream;
             UPDATE volume SET entries = volume.entries - d.entries FROM temp.doomed AS d
                 WHERE volume.second = d.second AND volume.stream = d.stream AND volume.level = d.level;
             DELETE FROM volume WHERE second <= (SELECT max(second) FROM temp.doomed) AND entries <= 0;",
        )?;
        indexer.unindex_upto(&tx, upto)?;
        tx.execute("DELETE FROM entries WHERE id <= ?1", [upto])?;
        let gone: Vec<i64> = tx
            .prepare("DELETE FROM streams WHERE entries <= 0 RETURNING id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        // A batch record goes once all its entries have: entries and batches of a group share their time.
        let oldest_left: i64 = tx
            .query_row(
                "SELECT received_at_ms FROM entries ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(i64::MAX);
        let batches = tx.execute(
            "DELETE FROM batches WHERE id <= (SELECT coalesce(max(id), 0) FROM
                 (SELECT id, received_at_ms FROM batches ORDER BY id LIMIT ?1) WHERE received_at_ms < ?2)",
            params![BATCH_CHUNK, oldest_left],
        )?;
        let mut add = tx.prepare_cached("UPDATE meta SET value = value + ?2 WHERE key = ?1")?;
        add.execute(params![META_ENTRIES, -n])?;
        add.execute(params![META_BATCHES, -(batches as i64)])?;
        add.execute(params![META_DELETED, n])?;
        drop(add);
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![META_DELETED_UPTO, upto],
        )?;
        tx.commit()?;
        indexer.unindexed_upto(upto);
        // Below the low mark (and within --keep): this burst is over.
        self.pending = self.needed(conn, 0.85)?;
        Ok(gone)
    }
}
