//! The numbers behind logship's write path and pipeline, on real lines from tests/data/loghub.
//!
//!     cargo bench --bench write              # all of it (includes a 60 s outage)
//!     OUTAGE_SECS=10 cargo bench --bench write
//!     cargo bench --bench write --features log,tracing -- fanout   # destinations and facades only
//!     cargo bench --bench write -- bursts                          # what a burst keeps, only
//!     cargo bench --bench write -- e2e                             # lines/s end to end, only
//!     cargo bench --bench write -- steady                          # requests/s and CPU by rate
//!
//! Prints: ns per `write` (median, p99; 1 and 2 threads) next to a plain `Mutex<Vec<u8>>` copy
//! measured in the same run, heap allocations per write in steady state, requests per second,
//! shipper CPU per line and shipper wake-ups at steady rates (1k to 100k lines/s), what a burst
//! keeps, how often a writer at full speed slept on the queue's lock, end-to-end lines/s to a
//! discarding sink and to the collector on loopback, bytes on the wire per line, and RSS through
//! an outage against `buffer_bytes`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logship::Logger;
use logship_collector::{Collector, Options};

mod common;

use common::{
    clock_overhead, counting_discard_server, discard_server, fixed_length, loghub_lines,
    own_sleeps, percentile, rss_kib, thread_cpu_ns, thread_sleeps, threads_named, time_calls,
};

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

/// The floor a caller's path is compared with: a copy into a `Vec` behind a `Mutex`, timed like
/// a write (the vector is emptied whenever it would grow).
struct MutexCopy(Mutex<Vec<u8>>);

impl MutexCopy {
    fn new() -> Self {
        MutexCopy(Mutex::new(Vec::with_capacity(1 << 20)))
    }

    fn write(&self, line: &[u8]) {
        let mut buf = self.0.lock().unwrap();
        if buf.len() + line.len() > buf.capacity() {
            buf.clear();
        }
        buf.extend_from_slice(line);
    }
}

/// Median and p99 of sorted samples, as printed.
fn median_p99(t: &[u64]) -> String {
    format!(
        "median {} ns, p99 {} ns",
        percentile(t, 0.5),
        percentile(t, 0.99)
    )
}

/// Calls `call(i)` `rate` times a second for `secs`, each call at its own time (sleeping while
/// ahead), and times each call (in call order).
fn paced(rate: usize, secs: f64, mut call: impl FnMut(usize)) -> Vec<u64> {
    let overhead = clock_overhead();
    let count = (rate as f64 * secs) as usize;
    let mut samples = Vec::with_capacity(count);
    let start = Instant::now();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let before = Instant::now();
        call(i);
        samples.push((before.elapsed().as_nanos() as u64).saturating_sub(overhead));
    }
    samples
}

fn sorted(mut samples: Vec<u64>) -> Vec<u64> {
    samples.sort_unstable();
    samples
}

/// A logger's background threads, by id: its shipper ("logship") and any helper it starts
/// (named "logship-…").
struct Background {
    shipper: u32,
    all: Vec<u32>,
}

impl Background {
    fn cpu_ns(&self) -> u64 {
        self.all.iter().map(|&tid| thread_cpu_ns(tid)).sum()
    }
}

/// A logger with default settings (but `extra`) to `url`, and its background threads.
fn watched_logger(
    url: &str,
    extra: impl FnOnce(logship::Builder) -> logship::Builder,
) -> (Logger, Background) {
    let mut before = threads_named("logship");
    before.extend(threads_named("logship-compress"));
    let log = extra(Logger::builder().base_url(url).collection("rates"))
        .build()
        .unwrap();
    // Threads name themselves once they run: look for a while.
    let deadline = Instant::now() + Duration::from_secs(5);
    let new = || -> Vec<u32> {
        let mut tids = threads_named("logship");
        tids.retain(|t| !before.contains(t));
        tids
    };
    while new().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the logger's thread is named logship"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    let shipper = new()[0];
    let all = new()
        .into_iter()
        .chain(threads_named("logship-compress"))
        .collect::<Vec<_>>();
    let all = all
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    (log, Background { shipper, all })
}

/// One steady-rate run: requests per second, background CPU per line, shipper wake-ups per
/// 1,000 writes and the write latency.
fn steady(
    url: &str,
    requests: &dyn Fn() -> u64,
    rate: usize,
    secs: f64,
    lines: &[Vec<u8>],
    extra: impl FnOnce(logship::Builder) -> logship::Builder,
) -> (f64, f64, f64, Vec<u64>) {
    let (log, threads) = watched_logger(url, extra);
    let (cpu0, req0, sleeps0) = (threads.cpu_ns(), requests(), thread_sleeps(threads.shipper));
    let t = sorted(paced(rate, secs, |i| {
        log.write(&lines[i % lines.len()]).unwrap()
    }));
    let sent = requests() - req0;
    let sleeps = thread_sleeps(threads.shipper) - sleeps0;
    log.flush(Duration::from_secs(60)).unwrap();
    let cpu = (threads.cpu_ns() - cpu0) as f64 / t.len() as f64;
    assert_eq!(log.stats().dropped, 0);
    log.shutdown(Duration::from_secs(10)).unwrap();
    (
        sent as f64 / secs,
        cpu,
        sleeps as f64 * 1000.0 / t.len() as f64,
        t,
    )
}

/// Section: requests per second and background CPU per line at steady rates, against full speed.
fn steady_rates(c: &Collector, lines: &[Vec<u8>], lines100: &[Vec<u8>]) {
    let (url, counter) = counting_discard_server();
    let requests = || counter.load(Ordering::Relaxed);
    let n = 500_000;
    let (log, threads) = watched_logger(&url, |b| b.buffer_bytes(256 << 20));
    let (cpu0, req0, own0) = (threads.cpu_ns(), requests(), own_sleeps());
    for i in 0..n {
        log.write(&lines[i % lines.len()]).unwrap();
    }
    // The writer sleeps only when it waits for the queue's lock (a futex wait).
    let blocked = own_sleeps() - own0;
    log.flush(Duration::from_secs(300)).unwrap();
    let full_cpu = (threads.cpu_ns() - cpu0) as f64 / n as f64;
    let sent = requests() - req0;
    println!(
        "full speed, {n} real lines: background CPU {full_cpu:.0} ns/line, {sent} requests ({:.0} lines each), the writer slept {:.3} times per 1,000 writes",
        n as f64 / sent as f64,
        blocked as f64 * 1000.0 / n as f64
    );
    log.shutdown(Duration::from_secs(10)).unwrap();
    let secs = 3.0;
    for rate in [1_000, 5_000, 20_000, 100_000] {
        let (per_s, cpu, wakeups, t) = steady(&url, &requests, rate, secs, lines, |b| b);
        println!(
            "steady {rate:>6} lines/s for {secs} s: {per_s:.1} requests/s, background CPU {cpu:.0} ns/line ({:.2}x full speed), shipper wake-ups {wakeups:.2} per 1,000 writes, write {}",
            cpu / full_cpu,
            median_p99(&t),
        );
    }
    let (per_s, cpu, _, _) = steady(&url, &requests, 20_000, secs, lines, |b| {
        b.max_batch_bytes(1 << 20)
    });
    println!(
        "steady  20000 lines/s for {secs} s with max_batch_bytes 1 MiB: {per_s:.1} requests/s, background CPU {cpu:.0} ns/line ({:.2}x full speed)",
        cpu / full_cpu
    );
    // A server slower to answer than the discarding one: each upload takes a while.
    let batches = || c.batches().len() as u64;
    let (per_s, cpu, wakeups, _) = steady(&c.url(), &batches, 20_000, secs, lines, |b| b);
    println!(
        "steady  20000 lines/s for {secs} s to the collector: {per_s:.1} requests/s, background CPU {cpu:.0} ns/line, shipper wake-ups {wakeups:.2} per 1,000 writes"
    );
    // The two alternate call by call, each at 20,000 a second: whatever the machine does
    // meanwhile (caches, other work) falls on both alike.
    let baseline = MutexCopy::new();
    let (log, _) = watched_logger(&url, |b| b);
    let t = paced(40_000, 2.0, |i| {
        let line = &lines100[(i / 2) % lines100.len()];
        match i % 2 {
            0 => baseline.write(line),
            _ => log.write(line).unwrap(),
        }
    });
    let b = sorted(t.iter().step_by(2).copied().collect());
    let w = sorted(t.iter().skip(1).step_by(2).copied().collect());
    log.shutdown(Duration::from_secs(10)).unwrap();
    println!(
        "steady 20,000 lines/s, 100-byte lines: write {} (Mutex<Vec<u8>> copy, call for call in the same run: {}; ratio of medians {:.2})",
        median_p99(&w),
        median_p99(&b),
        percentile(&w, 0.5) as f64 / percentile(&b, 0.5).max(1) as f64
    );
}

/// Section: what a burst of writes at full speed from one thread keeps, with the default
/// settings and with `low_memory`; every loss counted.
fn bursts(lines: &[Vec<u8>]) {
    let (url, _) = counting_discard_server();
    let n = 500_000;
    type Settings = fn(logship::Builder) -> logship::Builder;
    let runs: [(&str, Settings); 3] = [
        ("default settings", |b| b),
        ("buffer_bytes 4 MiB, the former default", |b| {
            b.buffer_bytes(4 << 20)
        }),
        ("low_memory", |b| b.low_memory(true)),
    ];
    for (name, settings) in runs {
        let (log, _) = watched_logger(&url, settings);
        let start = Instant::now();
        for i in 0..n {
            let _ = log.write(&lines[i % lines.len()]);
        }
        let took = start.elapsed();
        log.flush(Duration::from_secs(60)).unwrap();
        let s = log.stats();
        assert_eq!(
            s.written,
            s.uploaded + s.dropped,
            "every loss is counted: {s:?}"
        );
        println!(
            "burst of {n} real lines in {:.0} ms, {name}: kept {:.1}% ({} uploaded, {} dropped)",
            took.as_secs_f64() * 1e3,
            s.uploaded as f64 * 100.0 / n as f64,
            s.uploaded,
            s.dropped
        );
        log.shutdown(Duration::from_secs(10)).unwrap();
    }
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
    if let Ok(kind) = std::env::var("LOGSHIP_BENCH_OUTAGE") {
        return outage(&loghub_lines(), &kind);
    }
    let lines = loghub_lines();
    let lines100 = fixed_length(&lines, 100);
    let c = Collector::start(Options::default()).unwrap();
    if std::env::args().any(|a| a == "fanout") {
        return fanout(&c, &lines100);
    }
    if std::env::args().any(|a| a == "bursts") {
        return bursts(&lines);
    }
    if std::env::args().any(|a| a == "e2e") {
        return end_to_end(&lines);
    }
    if std::env::args().any(|a| a == "steady") {
        return steady_rates(&c, &lines, &lines100);
    }
    println!(
        "logship write-path benchmark ({} real lines from loghub)",
        lines.len()
    );

    // 1. ns per write, one thread, 100-byte lines, next to a mutex-and-copy.
    let baseline = MutexCopy::new();
    time_calls(200_000, |i| baseline.write(&lines100[i % lines100.len()]));
    let t = time_calls(1_000_000, |i| baseline.write(&lines100[i % lines100.len()]));
    println!(
        "Mutex<Vec<u8>> copy, 1 thread, 100-byte lines: {}",
        median_p99(&t)
    );
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
    println!("write, 2 threads, 100-byte lines: {}", median_p99(&t));
    drop(log);
    let baseline = Arc::new(MutexCopy::new());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (baseline, lines) = (baseline.clone(), lines100.clone());
            std::thread::spawn(move || {
                time_calls(500_000, |i| baseline.write(&lines[i % lines.len()]))
            })
        })
        .collect();
    let mut t: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    t.sort_unstable();
    println!(
        "Mutex<Vec<u8>> copy, 2 threads, 100-byte lines: {}",
        median_p99(&t)
    );

    steady_rates(&c, &lines, &lines100);
    bursts(&lines);

    end_to_end(&lines);

    // 5. Memory through an outage, each in a fresh process so that RSS speaks of that logger
    // only: a refused connection, then a server that accepts and never answers.
    for kind in ["refused", "hanging"] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("LOGSHIP_BENCH_OUTAGE", kind)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Sections 4a and 4b: lines/s end to end to a discarding sink and to the collector, and bytes
/// on the wire per line.
fn end_to_end(lines: &[Vec<u8>]) {
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
/// A server that accepts connections and never answers (nor reads): uploads hang until their
/// request timeout.
fn hanging_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    addr
}

/// Section 5: RSS through an outage at 10,000 lines/s. `refused`: nothing listens, 8 MiB buffer.
/// `hanging`: a server that never answers, `low_memory`, 4 taps attached and never read; RSS
/// must stay within `buffer_bytes` + 1 MiB (everything held counts against the buffer, and the
/// taps hold at most a sixteenth of it each).
fn outage(lines: &[Vec<u8>], kind: &str) {
    let secs: u64 = std::env::var("OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let hanging = kind == "hanging";
    let address = match hanging {
        true => hanging_server(),
        false => std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap(),
    };
    let rss_before = rss_kib();
    let builder = Logger::builder()
        .base_url(&format!("http://{address}"))
        .collection("outage");
    let log = match hanging {
        true => builder.low_memory(true).build().unwrap(),
        false => builder.buffer_bytes(8 << 20).build().unwrap(),
    };
    let buffer = logship::Config {
        low_memory: hanging,
        buffer_bytes: (!hanging).then_some(8 << 20),
        ..Default::default()
    }
    .buffer_bytes();
    let taps: Vec<_> = (0..if hanging { 4 } else { 0 })
        .map(|_| log.subscribe().unwrap())
        .collect();
    // Growth is measured from here: the logger's fixed cost (threads, HTTP client, zstd
    // context, the preallocated ring) is printed apart.
    let rss_started = rss_kib();
    let startup = rss_started.saturating_sub(rss_before);
    let start = Instant::now();
    let mut peak = 0;
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..1000 {
            let _ = log.write(&lines[i % lines.len()]);
            i += 1;
        }
        peak = peak.max(rss_kib());
        // 1000 lines every 100 ms: 10,000 lines/s.
        let next = start + Duration::from_millis(100 * (i / 1000) as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let stats = log.stats();
    let grew = peak.saturating_sub(rss_started);
    let bound = (buffer as u64 + (1 << 20)) / 1024;
    println!(
        "outage {secs} s at 10,000 lines/s, {kind} server, buffer_bytes {} KiB, {} taps: RSS grew {grew} KiB at peak (bound: buffer_bytes + 1 MiB = {bound} KiB{}) after {startup} KiB to start the logger, queued {} KiB, dropped {} of {}",
        buffer / 1024,
        taps.len(),
        if grew <= bound { ", within" } else { ", OVER" },
        stats.queued_bytes / 1024,
        stats.dropped,
        stats.written
    );
    let _ = log.shutdown(Duration::from_millis(100));
}
