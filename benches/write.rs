//! The numbers behind logship's write path and pipeline, on real lines from tests/data/loghub.
//!
//!     cargo bench --bench write              # all of it (includes a 60 s outage)
//!     OUTAGE_SECS=10 cargo bench --bench write
//!     cargo bench --bench write --features log,tracing -- fanout   # destinations and facades only
//!
//! Prints: ns per `write` (median, p99; 1 and 2 threads), heap allocations per write in steady
//! state, end-to-end lines/s to the collector on loopback, bytes on the wire per line, and RSS
//! through an outage against `buffer_bytes`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logship::Logger;
use logship_collector::{Collector, Options};

mod common;

use common::{discard_server, fixed_length, loghub_lines, percentile, rss_kib, time_calls};

/// Counts allocations made by the current thread.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY-free: this only forwards to the system allocator and bumps a thread-local counter.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Per-call latency with the cost of reading the clock subtracted.
fn time_writes(log: &Logger, lines: &[Vec<u8>], count: usize) -> Vec<u64> {
    time_calls(count, |i| log.write(&lines[i % lines.len()]).unwrap())
}

fn quiet_logger(c: &Collector) -> Logger {
    // A long flush delay and a big buffer: the write path, not the network, is measured.
    Logger::builder()
        .base_url(&c.url())
        .collection("bench")
        .flush_delay_ms(60_000)
        .buffer_bytes(256 << 20)
        .build()
        .unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("LOGSHIP_BENCH_OUTAGE").is_some() {
        return outage(&loghub_lines());
    }
    let lines = loghub_lines();
    let lines100 = fixed_length(&lines, 100);
    let c = Collector::start(Options::default()).unwrap();
    if std::env::args().any(|a| a == "fanout") {
        return fanout(&c, &lines100);
    }
    println!(
        "logship write-path benchmark ({} real lines from loghub)",
        lines.len()
    );

    // 1. ns per write, one thread, 100-byte lines.
    let log = quiet_logger(&c);
    time_writes(&log, &lines100, 200_000); // warm up: the ring's pages, caches
    let t = time_writes(&log, &lines100, 1_000_000);
    println!(
        "write, 1 thread, 100-byte lines:  median {} ns, p99 {} ns, p99.9 {} ns",
        percentile(&t, 0.5),
        percentile(&t, 0.99),
        percentile(&t, 0.999)
    );
    let t = time_writes(&log, &lines, 1_000_000);
    println!(
        "write, 1 thread, real lines (mean {} B): median {} ns, p99 {} ns",
        lines.iter().map(Vec::len).sum::<usize>() / lines.len(),
        percentile(&t, 0.5),
        percentile(&t, 0.99)
    );

    // 2. Allocations per write in steady state (this thread only).
    let before = ALLOCATIONS.with(Cell::get);
    for i in 0..100_000 {
        log.write(&lines100[i % lines100.len()]).unwrap();
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    println!(
        "heap allocations per write (steady state): {}",
        allocations as f64 / 100_000.0
    );
    drop(log);

    // 3. Two threads writing at once.
    let log = Arc::new(quiet_logger(&c));
    let lines100 = Arc::new(lines100);
    time_writes(&log, &lines100, 100_000);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (log, lines) = (log.clone(), lines100.clone());
            std::thread::spawn(move || time_writes(&log, &lines, 500_000))
        })
        .collect();
    let mut t: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    t.sort_unstable();
    println!(
        "write, 2 threads, 100-byte lines: median {} ns, p99 {} ns",
        percentile(&t, 0.5),
        percentile(&t, 0.99)
    );
    drop(log);

    // 4a. End to end to a sink that only reads and acknowledges: the SDK's own ceiling.
    let sink = discard_server();
    let log = Logger::builder()
        .base_url(&sink.clone())
        .collection("sink")
        .buffer_bytes(256 << 20)
        .build()
        .unwrap();
    let n = 1_000_000;
    let start = Instant::now();
    for i in 0..n {
        log.write(&lines[i % lines.len()]).unwrap();
    }
    log.flush(Duration::from_secs(300)).unwrap();
    let total = start.elapsed();
    println!(
        "end to end to a discarding HTTP sink, {n} real lines: {:.0} ms, {:.0} lines/s ({} uploaded)",
        total.as_secs_f64() * 1e3,
        n as f64 / total.as_secs_f64(),
        log.stats().uploaded
    );
    log.shutdown(Duration::from_secs(10)).unwrap();

    // 4b. End to end: lines/s into the collector on loopback (SQLite, FTS), and bytes per line.
    let e2e = Collector::start(Options::default()).unwrap();
    let log = Logger::builder()
        .base_url(&e2e.url())
        .collection("e2e")
        .buffer_bytes(256 << 20)
        .build()
        .unwrap();
    let n = 500_000;
    let start = Instant::now();
    for i in 0..n {
        log.write(&lines[i % lines.len()]).unwrap();
    }
    let written = start.elapsed();
    log.flush(Duration::from_secs(300)).unwrap();
    let total = start.elapsed();
    let stats = log.stats();
    println!(
        "end to end, {n} real lines: written in {:.0} ms ({:.0} lines/s), delivered in {:.0} ms ({:.0} lines/s)",
        written.as_secs_f64() * 1e3,
        n as f64 / written.as_secs_f64(),
        total.as_secs_f64() * 1e3,
        n as f64 / total.as_secs_f64()
    );
    let raw: usize = (0..n).map(|i| lines[i % lines.len()].len()).sum();
    println!(
        "bytes on the wire per line: {:.1} (raw line {:.1} B; zstd ratio {:.2}x over the JSON body)",
        stats.bytes_on_wire as f64 / n as f64,
        raw as f64 / n as f64,
        e2e.batches().iter().map(|b| b.body_bytes).sum::<usize>() as f64 / stats.bytes_on_wire as f64
    );
    log.shutdown(Duration::from_secs(10)).unwrap();

    // 5. Memory through an outage, in a fresh process so that RSS speaks of this logger only.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("LOGSHIP_BENCH_OUTAGE", "1")
        .status()
        .unwrap();
    assert!(status.success());
}

/// Heap allocations made by this thread while `run` runs, per call of `calls`.
fn allocations_per_call(calls: usize, run: impl FnOnce()) -> f64 {
    let before = ALLOCATIONS.with(Cell::get);
    run();
    (ALLOCATIONS.with(Cell::get) - before) as f64 / calls as f64
}

/// Section 6: what each extra destination costs the caller (each gets its own copy of every
/// write), and what one `log` record or `tracing` event costs through the facades.
fn fanout(c: &Collector, lines100: &[Vec<u8>]) {
    for destinations in 1..=3 {
        let mut builder = Logger::builder()
            .collection("bench")
            .flush_delay_ms(60_000)
            .buffer_bytes(256 << 20);
        for _ in 0..destinations {
            builder = builder.destination(logship::Destination {
                base_url: Some(c.url()),
                ..Default::default()
            });
        }
        let log = builder.build().unwrap();
        time_writes(&log, lines100, 200_000);
        let t = time_writes(&log, lines100, 1_000_000);
        let allocations = allocations_per_call(100_000, || {
            (0..100_000).for_each(|i| log.write(&lines100[i % lines100.len()]).unwrap())
        });
        println!(
            "write to {destinations} destination(s), 100-byte lines: median {} ns, p99 {} ns, p99.9 {} ns; allocations per write {:.4}",
            percentile(&t, 0.5),
            percentile(&t, 0.99),
            percentile(&t, 0.999),
            allocations,
        );
    }

    #[cfg(feature = "log")]
    {
        let log = quiet_logger(c);
        log.install_log(log::LevelFilter::Info).unwrap();
        let call = |i: usize| log::info!(target: "bench", "request {i} took {} ms", i % 100);
        time_calls(200_000, call);
        let t = time_calls(1_000_000, call);
        let allocations = allocations_per_call(100_000, || (0..100_000).for_each(call));
        println!(
            "log::info! with two arguments: median {} ns, p99 {} ns; allocations per record {:.4}",
            percentile(&t, 0.5),
            percentile(&t, 0.99),
            allocations
        );
        // The global logger is a clone that lives on: stop it before the collector goes.
        let _ = log.shutdown(Duration::from_secs(10));
    }

    #[cfg(feature = "tracing")]
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        let log = quiet_logger(c);
        let subscriber = tracing_subscriber::registry().with(log.tracing_layer());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", id = 1);
            let _entered = span.enter();
            let call = |i: usize| tracing::info!(status = 200, bytes = i, path = "/api", "served");
            time_calls(200_000, call);
            let t = time_calls(1_000_000, call);
            let allocations = allocations_per_call(100_000, || (0..100_000).for_each(call));
            println!(
                "tracing::info! with 3 fields in a span: median {} ns, p99 {} ns; allocations per event {:.4}",
                percentile(&t, 0.5),
                percentile(&t, 0.99),
                allocations
            );
        });
    }
}

/// 10,000 lines/s to a dead address: RSS against `buffer_bytes`.
fn outage(lines: &[Vec<u8>]) {
    let secs: u64 = std::env::var("OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let buffer = 8 << 20;
    let rss_before = rss_kib();
    let log = Logger::builder()
        .base_url(&format!("http://{dead}"))
        .collection("outage")
        .buffer_bytes(buffer)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut peak = 0;
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..1000 {
            log.write(&lines[i % lines.len()]).unwrap();
            i += 1;
        }
        peak = peak.max(rss_kib());
        // 1000 lines every 100 ms: 10,000 lines/s.
        let next = start + Duration::from_millis(100 * (i / 1000) as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let stats = log.stats();
    println!(
        "outage {secs} s at 10,000 lines/s, buffer_bytes {} KiB: RSS grew {} KiB at peak, queued {} KiB, dropped {} of {}",
        buffer / 1024,
        peak.saturating_sub(rss_before),
        stats.queued_bytes / 1024,
        stats.dropped,
        stats.written
    );
    let _ = log.shutdown(Duration::from_millis(100));
}
