//! What the C door costs per write, next to the Rust door, in the same run.
//!
//!     cargo bench -p logship-ffi --bench c_write
//!
//! Both doors write the same 100-byte real lines (tests/data/loghub) to their own logger. Each
//! logger ships to a local HTTP sink on loopback that answers 200 and stores nothing, so neither
//! the network nor a database competes for the CPU. `log_write` is called through a C-ABI
//! function pointer the optimizer cannot see through, as a C program calls it; the Rust door is
//! called directly, as a Rust program calls it.
//!
//! Chunks of writes alternate between the doors (which goes first alternates too); after each
//! pair an untimed flush empties both queues, so every chunk writes into memory the ring has
//! already touched and nothing is dropped. Printed per door, for 1 and 2 writing threads:
//! - median and p99 ns per call, from per-call timings (TSC on x86_64, whose reads step in about
//!   10 ns on some CPUs: the medians are that coarse);
//! - mean thread CPU ns per call over whole chunks (time descheduled on a busy machine does not
//!   count), and the median of the C/Rust ratio of adjacent chunks, which cancels drift in the
//!   machine's load: the most precise comparison here.

// The C door and this benchmark's clocks exist on native targets only.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    bench::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[path = "../../../benches/common/mod.rs"]
mod common;

/// The C door, compiled into this benchmark from its source: the crate is a cdylib and staticlib
/// only (no rlib to link), and compiled in, `log_write` runs exactly the code liblogship runs.
// Exported items this benchmark does not call are not dead in the library.
#[cfg(not(target_arch = "wasm32"))]
#[allow(dead_code, unused_imports)]
#[path = "../src/lib.rs"]
mod ffi;

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use std::ffi::{c_char, c_int, CString};
    use std::time::{Duration, Instant};

    use super::ffi::{
        log_flush, log_init, log_shutdown, log_stats, log_write, LogshipStats, LOG_OK,
    };
    use logship::Logger;

    use super::common::{discard_server, fixed_length, loghub_lines};

    const LINE_BYTES: usize = 100;
    const CHUNK: usize = 10_000;
    const WARMUP_ROUNDS: usize = 10;
    const MEASURED_ROUNDS: usize = 200;

    type CWrite = unsafe extern "C" fn(*const c_char, usize) -> c_int;

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

    /// A cycle counter where there is one (the x86_64 TSC), else the monotonic clock, calibrated
    /// against the monotonic clock; the cost of an empty start/stop pair is subtracted.
    struct Stopwatch {
        ticks_per_ns: f64,
        overhead: u64,
    }

    #[cfg(target_arch = "x86_64")]
    fn ticks() -> u64 {
        // SAFETY: RDTSC has no preconditions; every x86_64 CPU has it.
        unsafe { std::arch::x86_64::_rdtsc() }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn ticks() -> u64 {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    impl Stopwatch {
        fn calibrate() -> Stopwatch {
            let (t0, i0) = (ticks(), Instant::now());
            std::thread::sleep(Duration::from_millis(200));
            let (t1, i1) = (ticks(), Instant::now());
            let ticks_per_ns = (t1 - t0) as f64 / (i1 - i0).as_nanos() as f64;
            let mut empty: Vec<u64> = (0..100_000)
                .map(|_| {
                    let start = ticks();
                    ticks() - start
                })
                .collect();
            empty.sort_unstable();
            Stopwatch {
                ticks_per_ns,
                overhead: empty[empty.len() / 2],
            }
        }

        fn ns(&self, ticks: u64) -> f64 {
            ticks.saturating_sub(self.overhead) as f64 / self.ticks_per_ns
        }
    }

    /// CPU time of the calling thread.
    fn thread_cpu_time() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    struct Run<'a> {
        rust: &'a Logger,
        c_write: CWrite,
        lines: &'a [Vec<u8>],
        watch: &'a Stopwatch,
        threads: usize,
    }

    impl Run<'_> {
        /// Writes one chunk from `threads` threads. Returns per-call samples (ns) when `per_call`,
        /// and the mean thread CPU ns per call.
        fn chunk(&self, door: Door, per_call: bool) -> (Vec<f64>, f64) {
            let per_thread = CHUNK / self.threads;
            let results: Vec<(Vec<f64>, Duration)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..self.threads)
                    .map(|t| {
                        s.spawn(move || {
                            let mut samples =
                                Vec::with_capacity(if per_call { per_thread } else { 0 });
                            let start = thread_cpu_time();
                            for i in 0..per_thread {
                                let line = &self.lines[(t * 7919 + i) % self.lines.len()];
                                if per_call {
                                    let before = ticks();
                                    write(door, self.rust, self.c_write, line);
                                    samples.push(self.watch.ns(ticks() - before));
                                } else {
                                    write(door, self.rust, self.c_write, line);
                                }
                            }
                            (samples, thread_cpu_time() - start)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mean = results
                .iter()
                .map(|(_, cpu)| cpu.as_nanos() as f64 / per_thread as f64)
                .sum::<f64>()
                / self.threads as f64;
            (results.into_iter().flat_map(|(s, _)| s).collect(), mean)
        }
    }

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    fn at(sorted: &[f64], p: f64) -> f64 {
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }

    pub fn main() {
        if std::env::args().any(|a| a == "--list") {
            return;
        }
        let lines = fixed_length(&loghub_lines(), LINE_BYTES);
        let sink = discard_server();
        // A chunk (about 1.2 MB) never fills a 4 MiB batch: the shippers stay idle while a door
        // is timed and ship at the flush between pairs, so neither door meets the other's (or its
        // own) shipper on the queue's lock, which would swamp a difference of a few ns.
        let config = |collection: &str| {
            serde_json::json!({
                "base_url": sink,
                "collection": collection,
                "flush_delay_ms": 60_000,
                "buffer_bytes": 16 << 20,
                "max_batch_bytes": 4 << 20,
            })
            .to_string()
        };
        let rust = Logger::from_config(logship::Config::from_json(&config("bench-rust")).unwrap())
            .unwrap();
        let c_config = CString::new(config("bench-c")).unwrap();
        // SAFETY: a NUL-terminated string that lives across the call.
        assert_eq!(unsafe { log_init(c_config.as_ptr()) }, LOG_OK);
        // Through a function pointer the optimizer cannot see through: a real C-ABI call, not
        // log_write inlined into this loop.
        let c_write: CWrite = std::hint::black_box(log_write as CWrite);
        let watch = Stopwatch::calibrate();
        println!(
        "logship write path: {LINE_BYTES}-byte loghub lines, {MEASURED_ROUNDS} rounds of {CHUNK} writes per door \
         ({:.2} ticks/ns, {:.1} ns stopwatch overhead subtracted)",
        watch.ticks_per_ns,
        watch.overhead as f64 / watch.ticks_per_ns
    );

        for threads in [1, 2] {
            let run = Run {
                rust: &rust,
                c_write,
                lines: &lines,
                watch: &watch,
                threads,
            };
            let (mut c_calls, mut r_calls) = (Vec::new(), Vec::new());
            let (mut c_means, mut r_means, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..WARMUP_ROUNDS + MEASURED_ROUNDS {
                let order = if round % 2 == 0 {
                    [Door::C, Door::Rust]
                } else {
                    [Door::Rust, Door::C]
                };
                let per_call = (round / 2) % 2 == 0;
                let (mut c_mean, mut r_mean) = (0.0, 0.0);
                for door in order {
                    let (samples, mean) = run.chunk(door, per_call);
                    let (door_mean, door_calls) = match door {
                        Door::C => (&mut c_mean, &mut c_calls),
                        Door::Rust => (&mut r_mean, &mut r_calls),
                    };
                    *door_mean = mean;
                    door_calls.extend(samples);
                }
                rust.flush(Duration::from_secs(60)).unwrap();
                assert_eq!(log_flush(60_000), LOG_OK);
                if round < WARMUP_ROUNDS {
                    c_calls.clear();
                    r_calls.clear();
                } else if !per_call {
                    c_means.push(c_mean);
                    r_means.push(r_mean);
                    ratios.push(c_mean / r_mean);
                }
            }
            let (c_calls, r_calls) = (sorted(c_calls), sorted(r_calls));
            let (c_means, r_means, ratios) = (sorted(c_means), sorted(r_means), sorted(ratios));
            println!(
                "{threads} writing thread{}:",
                if threads == 1 { "" } else { "s" }
            );
            for (name, calls, means) in [
                ("Rust write", &r_calls, &r_means),
                ("C log_write", &c_calls, &c_means),
            ] {
                println!(
                    "  {name:<12} median {:>5.1} ns   p99 {:>6.1} ns   CPU mean {:>5.1} ns/call",
                    at(calls, 0.5),
                    at(calls, 0.99),
                    at(means, 0.5),
                );
            }
            println!(
                "  C / Rust, adjacent chunks: median {:+.1}% (middle half {:+.1}% .. {:+.1}%)",
                (at(&ratios, 0.5) - 1.0) * 100.0,
                (at(&ratios, 0.25) - 1.0) * 100.0,
                (at(&ratios, 0.75) - 1.0) * 100.0,
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
}
