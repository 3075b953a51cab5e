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
use std::time::{Duration, Instant};

use logship_collector::{Collector, Options};

#[path = "../../tests/common/loghub.rs"]
mod loghub;
use loghub::loghub_lines;

const PRIVATE_ID: &str = "5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e";
const BATCH_BYTES: usize = 256 * 1024;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `(zstd body, uncompressed length, entries)` batches holding `total` entries.
fn batches(lines: &[Vec<u8>], total: usize) -> Vec<(Vec<u8>, usize, usize)> {
    let mut out = Vec::new();
    let mut body = String::from("[");
    let mut count = 0;
    for i in 0..total {
        let entry = serde_json::json!({ "text": format!("{}\n", String::from_utf8_lossy(&lines[i % lines.len()])) });
        if count > 0 {
            body.push(',');
        }
        body.push_str(&entry.to_string());
        body.push('\n');
        count += 1;
        if body.len() >= BATCH_BYTES || i + 1 == total {
            body.push(']');
            out.push((
                zstd::encode_all(body.as_bytes(), 3).unwrap(),
                body.len(),
                count,
            ));
            body = String::from("[");
            count = 0;
        }
    }
    out
}

fn main() {
    let total = env("ENTRIES", 1_000_000);
    let clients = env("CLIENTS", 4);
    let lines = loghub_lines();
    let batches = Arc::new(batches(&lines, total));
    let wire: usize = batches.iter().map(|b| b.0.len()).sum();
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
                        let Some((body, len, _)) = batches.get(i) else {
                            break;
                        };
                        let res = client
                            .post(&url)
                            .header("Content-Encoding", "zstd")
                            .header("Orig-Content-Length", len.to_string())
                            .header("Logship-Batch", format!("00000000b3ac0000-{i}"))
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
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
    let stats = format!("{}/api/stats", collector.url());
    let indexed = rt.block_on(async {
        loop {
            let v: serde_json::Value =
                serde_json::from_str(&reqwest::get(&stats).await.unwrap().text().await.unwrap())
                    .unwrap();
            if v["indexed_upto"] == v["last_id"] {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    println!(
        "search index: caught up {:.2} s after the last upload ({:.0} entries/s overall)",
        (indexed - ingest).as_secs_f64(),
        total as f64 / indexed.as_secs_f64()
    );
}
