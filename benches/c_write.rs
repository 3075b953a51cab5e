//! What the C door costs per write, next to the Rust door, in the same run.
//!
//!     cargo bench --bench c_write
//!
//! Both doors write the same 100-byte real lines (shared/data/loghub) to their own logger, each
//! shipping to a collector on loopback with a long flush delay. `log_write` is called through a
//! C-ABI function pointer the optimizer cannot see through, as a C program calls it; the Rust
//! door is called directly, as a Rust program calls it. Chunks of writes alternate between the
//! doors; after each chunk an untimed flush empties both queues, so every chunk writes into
//! memory the ring has already touched and nothing is dropped.
//!
//! Prints, per door: ns per call (median and p99 of per-call timings, clock cost subtracted) and
//! the mean from timing whole chunks (no per-call clock reads), for 1 and 2 writing threads.

use std::ffi::{c_char, c_int, CString};
use std::time::{Duration, Instant};

use logship::ffi::{log_flush, log_init, log_shutdown, log_stats, log_write, LogshipStats, LOG_OK};
use logship::Logger;
use logship_collector::{Collector, Options};

const LINE_BYTES: usize = 100;
const CHUNK: usize = 20_000;
const WARMUP_CHUNKS: usize = 6;
const MEASURED_CHUNKS: usize = 40;

type CWrite = unsafe extern "C" fn(*const c_char, usize) -> c_int;

fn loghub_lines(len: usize) -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/loghub");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).expect("shared/data/loghub beside the repo") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read(&path).unwrap();
            // Cut or padded (by repeating the line) to exactly `len` bytes.
            lines.extend(
                text.split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| l.iter().cycle().take(len).copied().collect::<Vec<u8>>()),
            );
        }
    }
    assert!(lines.len() > 10_000, "loghub lines");
    lines
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Door {
    C,
    Rust,
}

/// One write through the given door. `c_write` is opaque to the optimizer (see `main`).
#[inline(always)]
fn write(door: Door, rust: &Logger, c_write: CWrite, line: &[u8]) {
    match door {
        Door::Rust => rust.write(line).unwrap(),
        Door::C => {
            // SAFETY: `line` is a live slice of `line.len()` bytes for the whole call.
            let rc = unsafe { c_write(line.as_ptr().cast(), line.len()) };
            assert_eq!(rc, LOG_OK);
        }
    }
}

fn clock_cost() -> u64 {
    let mut t: Vec<u64> = (0..100_000)
        .map(|_| {
            let s = Instant::now();
            Instant::now().duration_since(s).as_nanos() as u64
        })
        .collect();
    t.sort_unstable();
    t[t.len() / 2]
}

/// Writes one chunk from `threads` threads; returns per-call samples (ns, clock cost
/// subtracted) when `per_call`, else the mean ns per call from timing the whole chunk.
fn chunk(
    door: Door,
    rust: &Logger,
    c_write: CWrite,
    lines: &[Vec<u8>],
    threads: usize,
    per_call: bool,
    clock: u64,
) -> (Vec<u64>, f64) {
    let per_thread = CHUNK / threads;
    let results: Vec<(Vec<u64>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut samples = Vec::with_capacity(if per_call { per_thread } else { 0 });
                    let start = Instant::now();
                    for i in 0..per_thread {
                        let line = &lines[(t * 7919 + i) % lines.len()];
                        if per_call {
                            let s = Instant::now();
                            write(door, rust, c_write, line);
                            samples.push((s.elapsed().as_nanos() as u64).saturating_sub(clock));
                        } else {
                            write(door, rust, c_write, line);
                        }
                    }
                    (samples, start.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mean = results
        .iter()
        .map(|(_, elapsed)| elapsed.as_nanos() as f64 / per_thread as f64)
        .sum::<f64>()
        / threads as f64;
    (results.into_iter().flat_map(|(s, _)| s).collect(), mean)
}

#[derive(Default)]
struct Tally {
    samples: Vec<u64>,
    means: Vec<f64>,
}

impl Tally {
    fn report(&mut self, name: &str) -> (u64, u64, f64) {
        self.samples.sort_unstable();
        let at = |p: f64| self.samples[((self.samples.len() - 1) as f64 * p) as usize];
        self.means.sort_by(f64::total_cmp);
        let mean = self.means[self.means.len() / 2];
        let (median, p99) = (at(0.5), at(0.99));
        println!(
            "  {name:<16} median {median:>4} ns   p99 {p99:>5} ns   chunk mean {mean:>6.1} ns/call   ({} timed calls)",
            self.samples.len()
        );
        (median, p99, mean)
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let lines = loghub_lines(LINE_BYTES);
    let collector = Collector::start(Options::default()).expect("collector");
    let config = |collection: &str| {
        serde_json::json!({
            "base_url": collector.url(),
            "collection": collection,
            "flush_delay_ms": 60_000,
            "buffer_bytes": 16 << 20,
        })
        .to_string()
    };
    let rust =
        Logger::from_config(logship::Config::from_json(&config("bench-rust")).unwrap()).unwrap();
    let c_config = CString::new(config("bench-c")).unwrap();
    // SAFETY: a NUL-terminated string that lives across the call.
    assert_eq!(unsafe { log_init(c_config.as_ptr()) }, LOG_OK);
    // Through a function pointer the optimizer cannot see through: a real C-ABI call, not
    // log_write inlined into this loop.
    let c_write: CWrite = std::hint::black_box(log_write as CWrite);
    let clock = clock_cost();
    println!(
        "logship write path, {LINE_BYTES}-byte loghub lines, {MEASURED_CHUNKS} chunks of {CHUNK} writes per door \
         (per-call clock cost {clock} ns, subtracted)"
    );

    for threads in [1, 2] {
        let mut c = Tally::default();
        let mut r = Tally::default();
        for round in 0..WARMUP_CHUNKS + MEASURED_CHUNKS {
            // Alternate which door goes first, and per-call vs whole-chunk timing.
            let order = if round % 2 == 0 {
                [Door::C, Door::Rust]
            } else {
                [Door::Rust, Door::C]
            };
            let per_call = (round / 2) % 2 == 0;
            for door in order {
                let (samples, mean) = chunk(door, &rust, c_write, &lines, threads, per_call, clock);
                if round >= WARMUP_CHUNKS {
                    let tally = if door == Door::C { &mut c } else { &mut r };
                    if per_call {
                        tally.samples.extend(samples);
                    } else {
                        tally.means.push(mean);
                    }
                }
            }
            rust.flush(Duration::from_secs(60)).unwrap();
            assert_eq!(log_flush(60_000), LOG_OK);
        }
        println!(
            "{threads} writing thread{}:",
            if threads == 1 { "" } else { "s" }
        );
        let (rm, rp, rmean) = r.report("Rust write");
        let (cm, cp, cmean) = c.report("C log_write");
        println!(
            "  C over Rust:     median {:+.1}%   p99 {:+.1}%   chunk mean {:+.1}%",
            pct(cm as f64, rm as f64),
            pct(cp as f64, rp as f64),
            pct(cmean, rmean)
        );
    }
    let mut c_stats = LogshipStats::default();
    // SAFETY: a valid, writable struct for the duration of the call.
    assert_eq!(unsafe { log_stats(&mut c_stats) }, LOG_OK);
    assert_eq!(
        (rust.stats().dropped, c_stats.dropped),
        (0, 0),
        "nothing may be dropped, or the doors did different work"
    );
    rust.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(log_shutdown(10_000), LOG_OK);
}

fn pct(c: f64, rust: f64) -> f64 {
    (c / rust - 1.0) * 100.0
}
