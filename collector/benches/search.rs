//! Search latency while ingest goes on, with real lines from tests/data/loghub.
//!
//!     cargo bench -p logship-collector --bench search
//!     ENTRIES=1000000 RATE=100000 SECONDS=10 cargo bench -p logship-collector --bench search
//!
//! Stores ENTRIES entries (loghub lines, 256 KiB zstd batches, as fast as the collector takes them) in a
//! database file and waits for the search index. Then uploads go on at RATE entries/s (batches of up to
//! 5,000 entries or 256 KiB, paced) for SECONDS while one client searches through `GET /api/entries` back to back: words that are
//! rare and frequent in the data, a collection filter, a time range, the newest page. Prints search
//! latency p50/p99 per kind, the ingest rate reached, and upload latency (acknowledged = committed) p50/p99.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logship_collector::{Collector, Options};

mod common;
use common::{env, index_caught_up, loghub_lines, percentile, post, stats, uploads, PRIVATE_ID};

const LIVE_BATCH: usize = 5_000;

/// `(kind, query string)` of the searches, in turn.
fn searches(from_ms: i64, to_ms: i64) -> Vec<(&'static str, String)> {
    let words = [
        "blk_38865049064139660",
        "PacketResponder",
        "Received block",
        "error",
        "session opened",
        "authentication failure",
        "terminating",
        "10.251",
        "zzzznothingmatches",
    ];
    let mut out: Vec<(&'static str, String)> = words
        .iter()
        .map(|w| (*w, format!("q={}&limit=100", w.replace(" ", "%20"))))
        .collect();
    out.push((
        "words+collection",
        "q=error&collection=bench.live&limit=100".into(),
    ));
    out.push(("time range", format!("from={from_ms}&to={to_ms}&limit=100")));
    out.push((
        "words+time range",
        format!("q=error&from={from_ms}&to={to_ms}&limit=100"),
    ));
    out.push(("newest page", "limit=100".into()));
    out
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn main() {
    let total = env("ENTRIES", 1_000_000);
    let rate = env("RATE", 100_000);
    let seconds = env("SECONDS", 10);
    let lines = loghub_lines();
    let stored_first = Arc::new(uploads(&lines, 0, total, usize::MAX));
    let live = uploads(&lines, total, rate * seconds, LIVE_BATCH);
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(Options {
        db: Some(dir.path().join("bench.db")),
        ..Options::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let base = collector.url();
    let loading = Instant::now();
    let load_started_ms = unix_ms();
    rt.block_on(async {
        let url = format!("{base}/c/bench.loghub/{PRIVATE_ID}");
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (client, url, uploads, next) = (
                    client.clone(),
                    url.clone(),
                    stored_first.clone(),
                    next.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(upload) = uploads.get(i) else { break };
                        post(&client, &url, upload, &format!("00000000b3ac0001-{i}")).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        index_caught_up(&collector).await;
    });
    let s = rt.block_on(stats(&collector));
    let db_file = std::fs::metadata(dir.path().join("bench.db")).map_or(0, |m| m.len());
    println!(
        "search: {} entries stored and indexed in {:.1} s; database file {:.0} MB",
        s["last_id"],
        loading.elapsed().as_secs_f64(),
        db_file as f64 / 1e6
    );
    // A time range in the middle of the stored entries.
    let (oldest, newest) = (load_started_ms, unix_ms());
    let kinds = searches(
        oldest + (newest - oldest) / 4,
        oldest + (newest - oldest) / 3,
    );

    let live = Arc::new(live);
    let done = Arc::new(AtomicBool::new(false));
    let (search_times, upload_times, ingested, window) = rt.block_on(async {
        // Ingest at RATE: one batch every LIVE_BATCH / RATE seconds, each on its own task so a slow commit
        // does not lower the offered rate.
        let ingest = {
            let (client, live, done) = (client.clone(), live.clone(), done.clone());
            let url = format!("{base}/c/bench.live/{PRIVATE_ID}");
            tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                let mut offered = 0;
                let mut tasks = Vec::new();
                for (i, upload) in live.iter().enumerate() {
                    // Each upload leaves when the entries before it have had their time at RATE.
                    let due = Duration::from_secs_f64(offered as f64 / rate as f64);
                    tokio::time::sleep_until(start + due).await;
                    offered += upload.entries;
                    let (client, url, live) = (client.clone(), url.clone(), live.clone());
                    tasks.push(tokio::spawn(async move {
                        let started = Instant::now();
                        post(&client, &url, &live[i], &format!("00000000b3ac0002-{i}")).await;
                        (started.elapsed(), live[i].entries)
                    }));
                }
                let mut times = Vec::new();
                let mut entries = 0;
                for t in tasks {
                    let (took, n) = t.await.unwrap();
                    times.push(took);
                    entries += n;
                }
                done.store(true, Ordering::Relaxed);
                (times, entries)
            })
        };
        let started = Instant::now();
        let mut search_times: Vec<(&str, Duration)> = Vec::new();
        let mut turn = 0;
        while !done.load(Ordering::Relaxed) {
            let (kind, query) = &kinds[turn % kinds.len()];
            turn += 1;
            let t = Instant::now();
            let res = client
                .get(format!("{base}/api/entries?{query}"))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert_eq!(status, 200, "{query}: {body}");
            search_times.push((kind, t.elapsed()));
        }
        let window = started.elapsed();
        let (upload_times, ingested) = ingest.await.unwrap();
        (search_times, upload_times, ingested, window)
    });
    println!(
        "search: ingest reached {:.0} entries/s ({ingested} in {:.1} s, offered {rate}/s) while {} searches ran",
        ingested as f64 / window.as_secs_f64(),
        window.as_secs_f64(),
        search_times.len()
    );
    let mut names: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
    names.dedup();
    names.push("all");
    for name in names {
        let mut times: Vec<Duration> = search_times
            .iter()
            .filter(|(k, _)| name == "all" || *k == name)
            .map(|(_, t)| *t)
            .collect();
        times.sort();
        println!(
            "search: {name:<24} p50 {:>7.1} ms  p99 {:>7.1} ms  ({} searches)",
            percentile(&times, 50.0),
            percentile(&times, 99.0),
            times.len()
        );
    }
    let mut upload_times = upload_times;
    upload_times.sort();
    println!(
        "search: {} uploads of up to {LIVE_BATCH} entries meanwhile: p50 {:.1} ms  p99 {:.1} ms",
        upload_times.len(),
        percentile(&upload_times, 50.0),
        percentile(&upload_times, 99.0)
    );
}
