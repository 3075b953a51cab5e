//! Collector ingest throughput on loopback, with real lines from tests/data/loghub.
//!
//!     cargo bench -p logship-collector --bench ingest
//!     ENTRIES=2000000 CLIENTS=4 MEMORY=1 cargo bench -p logship-collector --bench ingest
//!
//! Each loghub line becomes a `{"text":"…"}` entry; entries are packed into 256 KiB batches and
//! zstd-compressed the way logship clients upload them (done before timing). CLIENTS concurrent
//! uploaders POST them with distinct `Logship-Batch` ids to a collector with a database file in a temp
//! directory (MEMORY=1: in memory). Prints entries/s until every upload was acknowledged (stored and
//! committed), then how long the search index took to catch up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use logship_collector::{Collector, Options};

mod common;
use common::{env, index_caught_up, loghub_lines, post, uploads, PRIVATE_ID};

fn main() {
    let total = env("ENTRIES", 1_000_000);
    let clients = env("CLIENTS", 4);
    let lines = loghub_lines();
    let batches = Arc::new(uploads(&lines, 0, total, usize::MAX));
    let wire: usize = batches.iter().map(|b| b.body.len()).sum();
    let dir = tempfile::tempdir().unwrap();
    let db = (env("MEMORY", 0) == 0).then(|| dir.path().join("bench.db"));
    println!(
        "ingest: {total} entries from {} loghub lines in {} zstd batches ({:.1} MB on the wire), {clients} clients, db {}",
        lines.len(),
        batches.len(),
        wire as f64 / 1e6,
        db.as_ref().map_or("in memory".into(), |p| p.display().to_string()),
    );
    let collector = Collector::start(Options {
        db,
        ..Options::default()
    })
    .unwrap();
    let url = format!("{}/c/bench.loghub/{PRIVATE_ID}", collector.url());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (client, url, batches, next) =
                    (client.clone(), url.clone(), batches.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(upload) = batches.get(i) else {
                            break;
                        };
                        post(&client, &url, upload, &format!("00000000b3ac0000-{i}")).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let ingest = started.elapsed();
    let stored = collector.batches().iter().map(|b| b.entries).sum::<usize>();
    assert_eq!(stored, total);
    println!(
        "ingest: {:.0} entries/s ({total} in {:.2} s, acknowledged = committed)",
        total as f64 / ingest.as_secs_f64(),
        ingest.as_secs_f64()
    );
    rt.block_on(index_caught_up(&collector));
    let indexed = started.elapsed();
    println!(
        "search index: caught up {:.2} s after the last upload ({:.0} entries/s overall)",
        (indexed - ingest).as_secs_f64(),
        total as f64 / indexed.as_secs_f64()
    );
}
