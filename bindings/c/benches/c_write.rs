//! What the C door costs per write, next to the Rust door, in the same run.
//!
//!     cargo bench -p logship-ffi --bench c_write
//!
//! Both doors write the same 100-byte real lines (tests/data/loghub) to one logger, started by
//! `log_init`, which ships to a local HTTP sink on loopback that answers 200 and stores nothing,
//! so neither the network nor a database competes for the CPU. `log_write` is called through a
//! C-ABI function pointer the optimizer cannot see through, as a C program calls it; the Rust
//! door is called directly, as a Rust program calls it. The writing threads live for the whole
//! run, as a program's do.
//!
//! Within each chunk of writes, every thread alternates between the doors from one timed unit to
//! the next (see `Timing`); after each chunk an untimed flush empties the queue, so every chunk
//! writes into memory the ring has already touched and nothing is dropped. Printed per door, for
//! 1 and 2 writing threads:
//! - median and p99 ns per call, from per-call timings (TSC on x86_64, whose reads step in about
//!   10 ns on some CPUs: these are that coarse);
//! - the C/Rust ratio of the times of 64 calls in a row through each door, timed back to back on
//!   one thread, median over the run: the precise comparison (each pair meets the same contention
//!   and the same load on the machine, which on two threads differ from one moment to the next).

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
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::ffi::{
        log_flush, log_init, log_shutdown, log_stats, log_write, LogshipStats, LOG_OK,
    };
    use logship::Logger;

    use super::common::{discard_server, fixed_length, loghub_lines};

    const LINE_BYTES: usize = 100;
    const CHUNK: usize = 40_000;
    /// Calls per sample in `Timing::Groups`.
    const GROUP: usize = 64;
    const WARMUP_ROUNDS: usize = 6;
    const MEASURED_ROUNDS: usize = 120;

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

    /// How a chunk's calls are timed. Within a chunk each thread alternates between the doors
    /// from one timed unit to the next (which door goes first alternates between chunks), so
    /// that both meet the same conditions: on two threads, whether the threads happen to run in
    /// step and fight over the queue's lock changes from chunk to chunk and swamps a few ns.
    #[derive(Clone, Copy)]
    enum Timing {
        /// Each call: for the distribution (median, p99), to the stopwatch's step.
        Calls,
        /// Each run of GROUP calls, divided by GROUP: a median finer than the stopwatch's step.
        Groups,
    }

    impl Timing {
        fn calls(self) -> usize {
            match self {
                Timing::Calls => 1,
                Timing::Groups => GROUP,
            }
        }
    }

    /// What the threads measured in one chunk: ns per call, per timed unit, for each door, in the
    /// order they were timed (`c[k]` and `rust[k]` back to back on one thread).
    #[derive(Default)]
    struct Samples {
        c: Vec<f64>,
        rust: Vec<f64>,
    }

    /// Writing threads that live for the whole run, as a program's threads do: a thread's first
    /// C write fills its writer cache (once per thread), which is not a cost per write.
    struct Writers {
        orders: Vec<mpsc::Sender<(Timing, Door)>>,
        results: mpsc::Receiver<Samples>,
    }

    impl Writers {
        fn start<'s, 'a: 's>(
            s: &'s std::thread::Scope<'s, '_>,
            threads: usize,
            rust: &'a Logger,
            c_write: CWrite,
            lines: &'a [Vec<u8>],
            watch: &'a Stopwatch,
        ) -> Writers {
            let per_thread = CHUNK / threads;
            let (done, results) = mpsc::channel();
            let orders = (0..threads)
                .map(|t| {
                    let (order, orders) = mpsc::channel::<(Timing, Door)>();
                    let done = done.clone();
                    s.spawn(move || {
                        for (timing, first) in orders {
                            let unit = timing.calls();
                            let mut samples = Samples::default();
                            let mut line = t * 7919;
                            for pair in 0..per_thread / (2 * unit) {
                                let second = match first {
                                    Door::C => Door::Rust,
                                    Door::Rust => Door::C,
                                };
                                let doors = if pair % 2 == 0 {
                                    [first, second]
                                } else {
                                    [second, first]
                                };
                                for door in doors {
                                    let before = ticks();
                                    for _ in 0..unit {
                                        write(door, rust, c_write, &lines[line % lines.len()]);
                                        line += 1;
                                    }
                                    let ns = watch.ns(ticks() - before) / unit as f64;
                                    match door {
                                        Door::C => samples.c.push(ns),
                                        Door::Rust => samples.rust.push(ns),
                                    }
                                }
                            }
                            done.send(samples).unwrap();
                        }
                    });
                    order
                })
                .collect();
            Writers { orders, results }
        }

        /// Writes one chunk, spread over the threads: what they measured.
        fn chunk(&self, timing: Timing, first: Door) -> Samples {
            for order in &self.orders {
                order.send((timing, first)).unwrap();
            }
            let mut all = Samples::default();
            for _ in &self.orders {
                let samples = self.results.recv().unwrap();
                all.c.extend(samples.c);
                all.rust.extend(samples.rust);
            }
            all
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
        // A chunk (about 5 MB) never fills a 16 MiB batch: the shipper stays idle while a door
        // is timed and ships at the flush after each pair, so no write meets it on the queue's
        // lock, which would swamp a difference of a few ns.
        let config = serde_json::json!({
            "base_url": sink,
            "collection": "bench",
            "flush_delay_ms": 60_000,
            "buffer_bytes": 64 << 20,
            "max_batch_bytes": 16 << 20,
        })
        .to_string();
        let c_config = CString::new(config).unwrap();
        // SAFETY: a NUL-terminated string that lives across the call.
        assert_eq!(unsafe { log_init(c_config.as_ptr()) }, LOG_OK);
        // Both doors write to this one logger, so they differ in nothing but the door: not in
        // where their queues happen to lie in memory, which moved the ratio by 10% from run to
        // run when each door had a logger of its own.
        let rust: Logger = super::ffi::state::global()
            .door()
            .unwrap_or_else(|_| unreachable!("log_init succeeded"))
            .logger
            .clone();
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
            std::thread::scope(|s| {
                let run = Writers::start(s, threads, &rust, c_write, &lines, &watch);
                let (mut c_calls, mut r_calls) = (Vec::new(), Vec::new());
                let mut ratios = Vec::new();
                for round in 0..WARMUP_ROUNDS + MEASURED_ROUNDS {
                    let first = if round % 2 == 0 { Door::C } else { Door::Rust };
                    let timing = match (round / 2) % 2 {
                        0 => Timing::Calls,
                        _ => Timing::Groups,
                    };
                    let samples = run.chunk(timing, first);
                    assert_eq!(log_flush(60_000), LOG_OK);
                    if round < WARMUP_ROUNDS {
                        continue;
                    }
                    match timing {
                        Timing::Calls => {
                            c_calls.extend(samples.c);
                            r_calls.extend(samples.rust);
                        }
                        // The k-th samples of each door are a pair timed back to back on one
                        // thread: the same contention, the same state of the machine.
                        Timing::Groups => {
                            ratios.extend(samples.c.iter().zip(&samples.rust).map(|(c, r)| c / r))
                        }
                    }
                }
                let (c_calls, r_calls, ratios) = (sorted(c_calls), sorted(r_calls), sorted(ratios));
                println!(
                    "{threads} writing thread{}:",
                    if threads == 1 { "" } else { "s" }
                );
                for (name, calls) in [("Rust write", &r_calls), ("C log_write", &c_calls)] {
                    println!(
                        "  {name:<12} median {:>5.1} ns   p99 {:>6.1} ns",
                        at(calls, 0.5),
                        at(calls, 0.99),
                    );
                }
                println!(
                    "  C / Rust, {GROUP} calls each, timed back to back: median {:+.1}% (middle half {:+.1}% .. {:+.1}%)",
                    (at(&ratios, 0.5) - 1.0) * 100.0,
                    (at(&ratios, 0.25) - 1.0) * 100.0,
                    (at(&ratios, 0.75) - 1.0) * 100.0,
                );
                // Dropping the writers' order channels ends their threads.
                drop(run);
            });
        }
        let mut c_stats = LogshipStats::default();
        // SAFETY: a valid, writable struct for the duration of the call.
        assert_eq!(unsafe { log_stats(&mut c_stats) }, LOG_OK);
        assert_eq!(
            c_stats.dropped, 0,
            "nothing may be dropped, or the doors did different work"
        );
        drop(rust);
        assert_eq!(log_shutdown(10_000), LOG_OK);
    }
}
