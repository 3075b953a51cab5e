//! `--max-db-bytes` and `--keep`: the oldest entries go, the files stay bounded, exactly-once holds.

use std::path::Path;
use std::time::{Duration, Instant};

use logship_collector::{Collector, Options};
use serde_json::Value;

use crate::loghub::loghub_lines;
use crate::{body, client, get_json, post, ship, start_with, upload_url};

/// Bytes of the database files as the file system sees them: db + WAL.
fn files_bytes(db: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    len(db) + len(&db.with_extension("db-wal"))
}

async fn stats(c: &Collector) -> Value {
    get_json(&format!("{}/api/stats", c.url())).await
}

async fn search(c: &Collector, q: &str) -> usize {
    let v = get_json(&format!("{}/api/entries?q={q}&limit=1000", c.url())).await;
    v["entries"].as_array().unwrap().len()
}

/// Polls `f` every 100 ms until it holds, for at most 60 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "not within 60 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stays_within_its_bound_while_ingest_goes_on() {
    const MAX: u64 = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logship.db");
    let c = start_with(Options {
        db: Some(db.clone()),
        max_db_bytes: MAX,
        ..Options::default()
    });
    let url = upload_url(&c, "loghub");
    // The first batch holds a word no other line has, so searches can tell whether it is still stored.
    let first = body(&[r#"{"text":"zzfirstbatchmarker is the oldest line"}"#]);
    let first_batch = [("Logship-Batch", "00000000000000aa-first")];
    assert_eq!(post(&url, &first_batch, first.clone()).await.0, 200);
    assert_eq!(search(&c, "zzfirstbatchmarker").await, 1);

    // About 8 MB of real log lines (twice the bound, and the search index on top), in batches of 1,000.
    let lines = loghub_lines();
    let mut shipped = 1;
    let mut largest = 0;
    let mut cleaned = false;
    let shipping = Instant::now();
    for (i, chunk) in lines.chunks(1_000).cycle().take(50).enumerate() {
        let entries: Vec<String> = chunk
            .iter()
            .map(|l| serde_json::json!({ "text": String::from_utf8_lossy(l) }).to_string())
            .collect();
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let id = format!("00000000000000aa-{i}");
        let (status, text) = post(&url, &[("Logship-Batch", &id)], body(&refs)).await;
        assert_eq!(status, 200, "{text}");
        shipped += chunk.len() as i64;
        // Once the first cleanup has run, the bound holds while ingest goes on.
        if cleaned || stats(&c).await["deleted_entries"].as_i64() > Some(0) {
            cleaned = true;
            largest = largest.max(files_bytes(&db));
        }
    }
    let shipping = shipping.elapsed();
    // Once the index has caught up and the cleanup is over (the count stays the same for a while: a burst
    // deletes every few ms)…
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let s = stats(&c).await;
        if s["indexed_upto"] == s["last_id"] && s["entries"] == last["entries"] {
            break;
        }
        assert!(Instant::now() < deadline, "the cleanup did not end: {s}");
        last = s;
    }
    // …the files are within 1.1 × the bound (measured on disk, and in the stats).
    eventually("files within 1.1 × --max-db-bytes", || async {
        files_bytes(&db) as f64 <= MAX as f64 * 1.1
    })
    .await;
    let s = stats(&c).await;
    assert_eq!(s["max_db_bytes"], MAX);
    assert!(
        s["db_bytes"].as_u64().unwrap() as f64 <= MAX as f64 * 1.1,
        "{s}"
    );
    let kept = s["entries"].as_i64().unwrap();
    let deleted = s["deleted_entries"].as_i64().unwrap();
    assert_eq!(kept + deleted, shipped, "{s}");
    assert!(deleted > shipped / 2, "most entries had to go: {s}");
    println!(
        "retention: {shipped} entries shipped in {shipping:?}, {kept} kept; files {} bytes now, at most {largest} while shipping after the first cleanup (bound {MAX})",
        files_bytes(&db)
    );
    assert!(cleaned);
    assert!(
        largest as f64 <= MAX as f64 * 1.1,
        "{largest} bytes while ingest went on"
    );

    // The oldest went first, and are gone from search, the entries and the batch records.
    assert_eq!(search(&c, "zzfirstbatchmarker").await, 0);
    let stored = c.entries("loghub");
    assert_eq!(stored.len() as i64, kept);
    assert_eq!(stored.last().unwrap().id, shipped);
    assert_eq!(stored[0].id, shipped - kept + 1, "the oldest went first");
    let batches = c.batches();
    assert!(batches.len() < 50, "batch records went too");
    assert_eq!(s["batches"], batches.len());
    let collections = get_json(&format!("{}/api/collections", c.url())).await;
    assert_eq!(collections["collections"][0]["entries"], kept);

    // Exactly once still: a retry of the deleted first batch is a duplicate, not stored again.
    assert_eq!(
        post(&url, &first_batch, first).await,
        (200, r#"{"stored":0,"duplicate":true}"#.into())
    );
    assert_eq!(search(&c, "zzfirstbatchmarker").await, 0);
    // Ids go on from the newest, even after deletions.
    ship(&c, "loghub", &[r#"{"text":"after the cleanup"}"#]).await;
    assert_eq!(c.entries("loghub").last().unwrap().id, shipped + 1);
}

#[tokio::test]
async fn entries_older_than_keep_are_deleted() {
    let c = start_with(Options {
        keep: Some(Duration::from_secs(1)),
        ..Options::default()
    });
    ship(
        &c,
        "old",
        &[
            r#"{"text":"zzexpiring one"}"#,
            r#"{"v":1,"text":"zzexpiring two"}"#,
        ],
    )
    .await;
    assert_eq!(search(&c, "zzexpiring").await, 2);
    assert_eq!(stats(&c).await["keep_ms"], 1000);
    eventually("entries past --keep are deleted", || async {
        stats(&c).await["entries"] == 0
    })
    .await;
    ship(&c, "new", &[r#"{"text":"zzfresh"}"#]).await;
    assert_eq!(search(&c, "zzexpiring").await, 0);
    assert_eq!(search(&c, "zzfresh").await, 1);
    assert!(c.entries("old").is_empty());
    let collections = get_json(&format!("{}/api/collections", c.url())).await;
    assert_eq!(collections["collections"].as_array().unwrap().len(), 1);
    let volume = get_json(&format!("{}/api/volume", c.url())).await;
    let total: i64 = volume["counts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b.as_array().unwrap().iter().map(|n| n.as_i64().unwrap()))
        .sum();
    assert_eq!(
        total, 1,
        "the volume chart lost the deleted entries: {volume}"
    );
    // Listing the newest entries (what the live view starts from) no longer has them either.
    let res = client()
        .get(format!("{}/api/entries", c.url()))
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
}

/// A database written before counts were kept and before it could shrink: opened, it is rebuilt once
/// (`auto_vacuum`), its counts and volume are computed, and its batch ids still count.
#[tokio::test]
async fn an_older_database_is_converted_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE streams (id INTEGER PRIMARY KEY, collection TEXT NOT NULL, public_id TEXT NOT NULL,
                 entries INTEGER NOT NULL DEFAULT 0, last_received_at_ms INTEGER NOT NULL DEFAULT 0,
                 UNIQUE (collection, public_id));
             CREATE TABLE entries (id INTEGER PRIMARY KEY, stream INTEGER NOT NULL REFERENCES streams (id),
                 received_at_ms INTEGER NOT NULL, level INTEGER NOT NULL, raw TEXT NOT NULL);
             CREATE TABLE batches (id INTEGER PRIMARY KEY, received_at_ms INTEGER NOT NULL, batch_id TEXT,
                 collection TEXT NOT NULL, content_encoding TEXT, wire_bytes INTEGER NOT NULL,
                 body_bytes INTEGER NOT NULL, entries INTEGER NOT NULL);
             CREATE TABLE seen_batches (scope TEXT NOT NULL, batch_id TEXT NOT NULL,
                 received_at_ms INTEGER NOT NULL, PRIMARY KEY (scope, batch_id)) WITHOUT ROWID;
             CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
             CREATE VIRTUAL TABLE entries_fts USING fts5 (body, content = '', columnsize = 0);
             INSERT INTO streams VALUES (1, 'old.app', '{public}', 3, 1000);
             INSERT INTO entries VALUES (1, 1, 1000, 0, '{{\"text\":\"zzold one\"}}'),
                 (2, 1, 1000, 1, '{{\"text\":\"zzold two\"}}'), (3, 1, 2000, 0, '{{\"text\":\"zzold three\"}}');
             INSERT INTO batches VALUES (1, 1000, 'b-1', 'old.app', NULL, 10, 10, 3);
             INSERT INTO seen_batches VALUES ('c/old.app/{public}', 'b-1', {now});",
            public = crate::public_id(),
            now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        ))
        .unwrap();
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 0);
    }
    let c = start_with(Options {
        db: Some(db.clone()),
        ..Options::default()
    });
    let s = stats(&c).await;
    assert_eq!(
        (s["entries"].as_i64(), s["batches"].as_i64()),
        (Some(3), Some(1)),
        "{s}"
    );
    assert_eq!(search(&c, "zzold").await, 3);
    let volume = get_json(&format!(
        "{}/api/volume?from=0&to=60000&buckets=60",
        c.url()
    ))
    .await;
    assert_eq!(volume["step"], 1000);
    assert_eq!(
        volume["counts"].as_array().unwrap()[..3],
        serde_json::json!([[0, 0, 0], [1, 1, 0], [1, 0, 0]])
            .as_array()
            .unwrap()[..]
    );
    let (status, text) = post(
        &upload_url(&c, "old.app"),
        &[("Logship-Batch", "b-1")],
        body(&[r#"{"text":"again"}"#]),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"stored":0,"duplicate":true}"#)
    );
    ship(&c, "old.app", &[r#"{"text":"zzold four"}"#]).await;
    assert_eq!(c.entries("old.app").last().unwrap().id, 4);
    drop(c);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "auto_vacuum is INCREMENTAL now");
}
