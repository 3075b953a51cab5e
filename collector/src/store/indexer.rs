//! The FTS5 index, filled behind ingest by the writer thread.
//!
//! `meta.fts_upto` records how far it got: every entry with an id up to it is in the index, none above.
//! Searches match the not-yet-indexed entries in Rust with the same rules (see `search.rs`), so answers do
//! not depend on how far it is. The index is contentless: removing an entry needs its indexed text, which
//! [`Indexer::unindex_upto`] recomputes from the entry before it goes.

use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};

use super::backoff::Backoff;
use super::{META_FTS_UPTO, SEARCH_TEXT};

/// Entries indexed per transaction; small, so a waiting upload is not held up for long.
const CHUNK: i64 = 5_000;

pub(super) struct Indexer {
    upto: i64,
    backoff: Backoff,
}

impl Indexer {
    pub fn load(conn: &Connection) -> rusqlite::Result<Indexer> {
        let upto = conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [META_FTS_UPTO],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        Ok(Indexer {
            upto,
            backoff: Backoff::new("indexing for search"),
        })
    }

    /// Every entry with an id up to this one is in the index.
    #[cfg(test)]
    pub fn upto(&self) -> i64 {
        self.upto
    }

    /// Whether there is something to index (given the newest entry id) and the step is not backing off.
    pub fn due(&self, max_id: i64, now: Instant) -> bool {
        max_id > self.upto && self.backoff.due(now)
    }

    pub fn backlog(&self, max_id: i64) -> i64 {
        max_id - self.upto
    }

    /// Indexes the next chunk; a failure is reported (sparingly) and retried later with backoff.
    pub fn step(&mut self, conn: &Connection) {
        match self.index_chunk(conn) {
            Ok(()) => self.backoff.succeeded(),
            Err(e) => {
                self.backoff.failed(Instant::now(), &e);
            }
        }
    }

    /// Adds the next few unindexed entries to the index, in one transaction.
    pub fn index_chunk(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let tx = conn.unchecked_transaction()?;
        let upto: i64 = tx.query_row(
            "SELECT coalesce(max(id), ?1) FROM (SELECT id FROM entries WHERE id > ?1 ORDER BY id LIMIT ?2)",
            params![self.upto, CHUNK],
            |r| r.get(0),
        )?;
        tx.execute(
            &format!(
                "INSERT INTO entries_fts (rowid, body) SELECT e.id, {SEARCH_TEXT} FROM entries e WHERE e.id > ?1 AND e.id <= ?2"
            ),
            params![self.upto, upto],
        )?;
        set_upto(&tx, upto)?;
        tx.commit()?;
        self.upto = upto;
        Ok(())
    }

    /// Within the caller's transaction: takes the entries up to `id` out of the index before they are
    /// deleted; the ones not indexed yet count as done.
    pub fn unindex_upto(&mut self, conn: &Connection, id: i64) -> rusqlite::Result<()> {
        conn.execute(
            &format!(
                "INSERT INTO entries_fts (entries_fts, rowid, body) SELECT 'delete', e.id, {SEARCH_TEXT} FROM entries e WHERE e.id <= ?1"
            ),
            [id.min(self.upto)],
        )?;
        if id > self.upto {
            set_upto(conn, id)?;
        }
        Ok(())
    }

    /// After the caller's transaction of [`Indexer::unindex_upto`] committed.
    pub fn unindexed_upto(&mut self, id: i64) {
        self.upto = self.upto.max(id);
    }
}

fn set_upto(conn: &Connection, upto: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![META_FTS_UPTO, upto],
    )?;
    Ok(())
}
