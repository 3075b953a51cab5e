//! Reads: searches, stats, collections, volume and the tail replay, each within one read transaction of a
//! read-only connection (see `pool.rs`).

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde::Serialize;

use super::pool::Pool;
use super::retention::Size;
use super::{
    Row, META_BATCHES, META_DELETED, META_ENTRIES, META_FTS_UPTO, ROW_COLUMNS, SEARCH_TEXT,
};
use crate::search::Query;
use crate::StoredBatch;
use crate::StoredEntry;

/// Filters of `GET /api/entries`.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub collection: Option<String>,
    pub level: Option<i64>,
    pub query: Option<Query>,
    /// Only entries with a larger id (paging forward): then the oldest `limit` of them, else the newest.
    pub since: Option<i64>,
    /// Only entries received at or after this time (ms since the epoch)…
    pub from_ms: Option<i64>,
    /// …and before this one.
    pub to_ms: Option<i64>,
    pub limit: usize,
}

/// `GET /api/stats`.
#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    pub last_id: i64,
    pub indexed_upto: i64,
    pub entries: i64,
    pub batches: i64,
    pub deleted_entries: i64,
    pub oldest_received_at: Option<i64>,
    pub db_bytes: u64,
    pub max_db_bytes: u64,
    pub keep_ms: Option<u64>,
}

/// Entries per time bucket and level (0, 1, 2 and above), for the live view's chart.
#[derive(Debug, Serialize)]
pub(crate) struct Volume {
    pub from: i64,
    pub to: i64,
    pub step: i64,
    /// One `[v0, v1, v2+]` per bucket, oldest first.
    pub counts: Vec<[i64; 3]>,
}

/// A read transaction.
pub(crate) struct Reader<'a> {
    pub(super) conn: &'a Connection,
    pub(super) pool: &'a Pool,
}

impl Reader<'_> {
    #[cfg(test)]
    pub fn conn(&self) -> &Connection {
        self.conn
    }

    fn meta(&self, key: &str) -> rusqlite::Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn max_id(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM entries", [], |r| r.get(0))
    }

    pub fn stats(&self) -> rusqlite::Result<Stats> {
        let size = Size::measure(self.conn, self.pool.location.file())?;
        let oldest = self
            .conn
            .query_row(
                "SELECT received_at_ms FROM entries ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Stats {
            last_id: self.max_id()?,
            indexed_upto: self.meta(META_FTS_UPTO)?,
            entries: self.meta(META_ENTRIES)?,
            batches: self.meta(META_BATCHES)?,
            deleted_entries: self.meta(META_DELETED)?,
            oldest_received_at: oldest,
            db_bytes: size.files,
            max_db_bytes: self.pool.limits.max_db_bytes,
            keep_ms: self
                .pool
                .limits
                .keep
                .map(|k| u64::try_from(k.as_millis()).unwrap_or(u64::MAX)),
        })
    }

    /// The smallest id of an entry received at or after `t` (or one past the newest). Received times
    /// never go backwards as ids grow, so this is a binary search over the id.
    fn first_id_at(&self, t: i64) -> rusqlite::Result<i64> {
        let mut probe = self.conn.prepare_cached(
            "SELECT id, received_at_ms FROM entries WHERE id >= ?1 ORDER BY id LIMIT 1",
        )?;
        let (mut lo, mut hi) = (0, self.max_id()? + 1);
        // Invariant: every entry with id < lo is older than t; the entry at hi (if any) is not.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match probe
                .query_row([mid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .optional()?
            {
                Some((id, at)) if at < t => lo = id + 1,
                // No entry in [mid, id), so mid bounds an id range the same way id does.
                _ => hi = mid,
            }
        }
        Ok(hi)
    }

    /// The id range `(lo, hi]` of a filter's `since` and time range.
    fn id_range(&self, filter: &Filter) -> rusqlite::Result<(i64, i64)> {
        let mut lo = filter.since.unwrap_or(0);
        let mut hi = i64::MAX;
        if let Some(from) = filter.from_ms {
            lo = lo.max(self.first_id_at(from)? - 1);
        }
        if let Some(to) = filter.to_ms {
            hi = self.first_id_at(to)? - 1;
        }
        Ok((lo, hi))
    }

    /// Entries matching `filter`, oldest first.
    pub fn search(&self, filter: &Filter) -> rusqlite::Result<Vec<Row>> {
        let forward = filter.since.is_some();
        let (lo, hi) = self.id_range(filter)?;
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
                (lo, hi),
                order,
                filter.limit,
            )?,
            Some(query) => {
                // Indexed entries come from FTS5, the unindexed tail is matched here, with the same rules.
                let split = self.meta(META_FTS_UPTO)?.clamp(lo, hi.max(lo));
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
                        (lo, split),
                        order,
                        limit,
                    )
                };
                let from_tail = |limit| {
                    self.scan(
                        query,
                        conds.clone(),
                        args.clone(),
                        (split, hi),
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

    /// Like [`Reader::select`] over all entries, keeping those whose search text matches `query`.
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

    /// Entries received in `[from, to)` (ms), in `buckets` equal steps of whole seconds, by level; from the
    /// kept per-second counts, not the entries. Without `from`, the range starts at the oldest entry
    /// (at most a day back); without `to`, it ends now.
    pub fn volume(
        &self,
        from: Option<i64>,
        to: Option<i64>,
        buckets: i64,
        collection: Option<&str>,
    ) -> rusqlite::Result<Volume> {
        let to = to.unwrap_or_else(|| super::now_ms() + 1);
        let from = match from {
            Some(from) => from,
            None => {
                let oldest: Option<i64> =
                    self.conn
                        .query_row("SELECT min(second) FROM volume", [], |r| r.get(0))?;
                oldest.map_or(to, |s| s * 1000).max(to - 86_400_000)
            }
        };
        // At least a minute in view, in buckets of whole seconds that start on a multiple of their length.
        let from = from.min(to - 60_000);
        let step = ((to - from + buckets * 1000 - 1) / (buckets * 1000)).max(1) * 1000;
        let from = from.div_euclid(step) * step;
        let buckets = (to - from + step - 1) / step;
        let mut counts = vec![[0i64; 3]; usize::try_from(buckets).unwrap_or(0)];
        let mut stmt = self.conn.prepare_cached(
            "SELECT v.second, v.level, sum(v.entries) FROM volume v JOIN streams s ON s.id = v.stream
             WHERE v.second >= ?1 AND v.second < ?2 AND (?3 IS NULL OR s.collection = ?3)
             GROUP BY v.second, v.level",
        )?;
        let mut rows = stmt.query(params![
            from.div_euclid(1000),
            (to + 999).div_euclid(1000),
            collection
        ])?;
        while let Some(r) = rows.next()? {
            let (second, level, n): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let bucket = (second * 1000 - from)
                .div_euclid(step)
                .clamp(0, buckets - 1);
            counts[bucket as usize][level.clamp(0, 2) as usize] += n;
        }
        Ok(Volume {
            from,
            to: from + buckets * step,
            step,
            counts,
        })
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
