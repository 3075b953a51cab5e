//! The store's parts together: the writer writes, the reader reads on its own connection.

use super::pool::{self, Pool};
use super::writer::Writer;
use super::*;
use crate::search::Query;

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

const UNLIMITED: Limits = Limits {
    max_db_bytes: u64::MAX,
    keep: None,
};

fn open(limits: Limits) -> (Writer, Pool) {
    let location = memory_location();
    let writer = Writer::open(&location, limits).unwrap();
    (writer, Pool::new(location, limits))
}

/// Search answers the same before the index has caught up, halfway, and after.
#[test]
fn search_is_the_same_whether_indexed_or_not() {
    let (mut db, readers) = open(UNLIMITED);
    let lines = [
        (0, r#"{"text":"Connection refused from 10.0.0.1"}"#),
        (1, r#"{"text":"blk_38865049064139660 terminating"}"#),
        (0, r#"{"event":"click","target":"connection-button"}"#),
        (2, r#"{"text":"CONNECTION reset by peer"}"#),
        (0, r#"{"text":"unrelated"}"#),
    ];
    let n = 5_300;
    for i in 0..n as usize {
        let (level, raw) = lines[i % lines.len()];
        let coll = if i % 2 == 0 { "even" } else { "odd" };
        db.insert_group(&[&batch(coll, &[(level, raw)])], None)
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
    let search = |readers: &Pool| -> Vec<Vec<i64>> {
        filters()
            .iter()
            .map(|f| ids(&readers.read_blocking(|r| r.search(f)).unwrap()))
            .collect()
    };
    let before = search(&readers);
    let (conn, indexer) = db.indexer();
    assert_eq!(indexer.upto(), 0);
    indexer.index_chunk(conn).unwrap();
    assert_eq!(indexer.upto(), 5_000);
    let half = search(&readers);
    while indexer.backlog(n) > 0 {
        indexer.index_chunk(conn).unwrap();
    }
    let after = search(&readers);
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

/// A broken index step (here: its table is gone) backs off instead of retrying at once, and the writer
/// keeps storing.
#[test]
fn a_failing_index_step_backs_off_and_ingest_goes_on() {
    let (mut db, readers) = open(UNLIMITED);
    db.insert_group(&[&batch("a", &[(0, r#"{"text":"one"}"#)])], None)
        .unwrap();
    let (conn, indexer) = db.indexer();
    conn.execute_batch("DROP TABLE entries_fts").unwrap();
    let now = std::time::Instant::now();
    assert!(indexer.due(1, now));
    indexer.step(conn);
    assert_eq!(indexer.upto(), 0);
    assert!(!indexer.due(1, std::time::Instant::now()));
    assert!(indexer.due(1, now + std::time::Duration::from_secs(1)));
    db.insert_group(&[&batch("a", &[(0, r#"{"text":"two"}"#)])], None)
        .unwrap();
    let stats = readers.read_blocking(|r| r.stats()).unwrap();
    assert_eq!(
        (stats.entries, stats.last_id, stats.indexed_upto),
        (2, 2, 0)
    );
}

/// Deleting the oldest entries takes their index rows, counts, volume and batch records with them;
/// ids are not reused and searches no longer find them.
#[test]
fn retention_deletes_the_oldest_with_everything_that_counts_them() {
    let (mut db, readers) = open(Limits {
        max_db_bytes: u64::MAX,
        keep: Some(Duration::from_millis(1)),
    });
    for i in 0..3 {
        let text = format!(r#"{{"text":"old entry {i}"}}"#);
        db.insert_group(&[&batch("old", &[(i, &text)])], None)
            .unwrap();
    }
    let (conn, indexer) = db.indexer();
    indexer.index_chunk(conn).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let (conn, retention, indexer) = db.retention();
    retention.check(conn);
    assert!(retention.pending());
    let gone = retention.step(conn, indexer).unwrap();
    assert_eq!(gone.len(), 1, "the stream of 'old' has no entries left");
    assert!(!retention.pending());
    db.insert_group(&[&batch("new", &[(1, r#"{"text":"new entry"}"#)])], None)
        .unwrap();
    let (stats, old, all, collections, volume) = readers
        .read_blocking(|r| {
            let all = Filter {
                query: Query::parse("entry"),
                limit: 100,
                ..Filter::default()
            };
            Ok((
                r.stats()?,
                r.entries_of("old")?,
                r.search(&all)?,
                r.collections()?,
                r.volume(None, None, 10, None)?,
            ))
        })
        .unwrap();
    assert!(old.is_empty());
    assert_eq!(ids(&all), [4]);
    assert_eq!(collections.len(), 1);
    assert_eq!(
        (stats.entries, stats.batches, stats.deleted_entries),
        (1, 1, 3)
    );
    let total: [i64; 3] = volume.counts.iter().fold([0; 3], |mut t, c| {
        (0..3).for_each(|i| t[i] += c[i]);
        t
    });
    assert_eq!(total, [0, 1, 0]);
}

/// A time range is an id range: binary search over received times that never go backwards.
#[test]
fn time_ranges_select_by_received_time() {
    let (mut db, readers) = open(UNLIMITED);
    let mut times = Vec::new();
    for i in 0..20 {
        let text = format!(r#"{{"text":"e{i}"}}"#);
        db.insert_group(&[&batch("t", &[(0, &text), (0, &text)])], None)
            .unwrap();
        if i % 5 == 4 {
            std::thread::sleep(Duration::from_millis(3));
        }
        times.push(now_ms());
    }
    let rows = readers
        .read_blocking(|r| {
            r.search(&Filter {
                limit: 1000,
                ..Filter::default()
            })
        })
        .unwrap();
    for (from, to) in [
        (None, None),
        (Some(rows[10].received_at_ms), None),
        (None, Some(rows[25].received_at_ms)),
        (
            Some(rows[3].received_at_ms),
            Some(rows[33].received_at_ms + 1),
        ),
        (Some(0), Some(1)),
    ] {
        let want: Vec<i64> = rows
            .iter()
            .filter(|r| {
                from.is_none_or(|f| r.received_at_ms >= f)
                    && to.is_none_or(|t| r.received_at_ms < t)
            })
            .map(|r| r.id)
            .collect();
        let got = readers
            .read_blocking(|r| {
                r.search(&Filter {
                    from_ms: from,
                    to_ms: to,
                    limit: 1000,
                    ..Filter::default()
                })
            })
            .unwrap();
        assert_eq!(ids(&got), want, "{from:?}..{to:?}");
    }
}

/// A read that runs too long is stopped with a clear error, its connection works again afterwards, and
/// uploads commit while it runs: in memory (shared cache) and in a file (WAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_times_out_and_never_stalls_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.db");
    let (memory, file) = tokio::join!(
        long_read_beside_writes(None),
        long_read_beside_writes(Some(&file))
    );
    for (taken, store) in [memory, file] {
        assert!(taken >= pool::READ_TIME_LIMIT, "{taken:?}");
        assert!(taken < pool::READ_TIME_LIMIT * 3, "{taken:?}");
        store.close();
    }
}

async fn long_read_beside_writes(path: Option<&std::path::Path>) -> (Duration, Store) {
    let store = Store::open(path, UNLIMITED).unwrap();
    let started = std::time::Instant::now();
    let endless = store.read(|r| {
        r.conn().query_row(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            [],
            |row| row.get::<_, i64>(0),
        )
    });
    let writes = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..20 {
            let text = format!(r#"{{"text":"written during a long read {i}"}}"#);
            let write = store.write(batch("w", &[(0, &text)]));
            let outcome = tokio::time::timeout(Duration::from_secs(1), write)
                .await
                .expect("a write commits within a second while a read runs");
            assert_eq!(outcome, Ok(Outcome::Stored(1)));
        }
        let stats = store.read(|r| r.stats()).await.unwrap();
        assert_eq!(stats.entries, 20);
    };
    let (result, ()) = tokio::join!(endless, writes);
    let taken = started.elapsed();
    let err = result.expect_err("an endless read is stopped");
    assert!(matches!(err, ReadError::TimedOut), "{err}");
    assert!(err.to_string().contains("took longer than 5 s"), "{err}");
    // The interrupted connection went back to the pool and reads again.
    for _ in 0..8 {
        assert_eq!(store.read(|r| r.stats()).await.unwrap().entries, 20);
    }
    (taken, store)
}
