//! The durable spool's numbers (issue 6, item 7), on real lines from tests/data/loghub:
//!
//!     cargo bench --bench spool                   # includes a 600 s outage at 10,000 lines/s
//!     OUTAGE_SECS=60 cargo bench --bench spool
//!
//! Prints: ns per `write` with the spool on against memory mode (the caller's path is the same;
//! the spool writer runs on a thread of its own), spool throughput (MB/s of segment bytes
//! written and made durable), and peak RSS and disk use through an outage against
//! `buffer_bytes` and `spool_max_bytes`.

/// Native only: the spool is the native door's.
mod common;

#[cfg(not(target_arch = "wasm32"))]
mod spool_bench {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use logship::Logger;

    use super::common::{fixed_length, loghub_lines, percentile, rss_kib, time_calls};

    /// Bytes of spool segments in `dir`.
    fn disk_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// An address where nothing listens: the collector is down for the whole run.
    fn dead_url() -> String {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        format!("http://{addr}")
    }

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("logship-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn logger(spool: Option<&Path>, spool_max_bytes: u64) -> Logger {
        let mut builder = Logger::builder()
            .base_url(&dead_url())
            .collection("bench")
            .flush_delay_ms(60_000)
            .buffer_bytes(256 << 20)
            .spool_max_bytes(spool_max_bytes);
        if let Some(dir) = spool {
            builder = builder.spool_dir(dir);
        }
        builder.build().unwrap()
    }

    fn time_writes(log: &Logger, lines: &[Vec<u8>], count: usize) -> Vec<u64> {
        time_calls(count, |i| log.write(&lines[i % lines.len()]).unwrap())
    }
    fn write_latency(lines: &[Vec<u8>]) {
        const COUNT: usize = 500_000;
        println!("write, 100-byte lines, {COUNT} writes, collector down (nothing uploads):");
        for round in 0..2 {
            for spooled in [false, true] {
                let dir = fresh_dir("latency");
                let log = logger(spooled.then_some(dir.as_path()), 1 << 30);
                let samples = time_writes(&log, lines, COUNT);
                let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
                if round == 1 {
                    println!(
                        "  {:<14} median {:>4} ns  p99 {:>5} ns  mean {:>6.1} ns",
                        if spooled { "spool on" } else { "memory mode" },
                        percentile(&samples, 0.5),
                        percentile(&samples, 0.99),
                        mean
                    );
                }
                let _ = log.shutdown(Duration::from_millis(10));
                drop(log);
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }

    fn throughput(lines: &[Vec<u8>]) {
        const COUNT: usize = 1_000_000;
        let dir = fresh_dir("throughput");
        let log = logger(Some(&dir), 1 << 30);
        let start = Instant::now();
        for i in 0..COUNT {
            log.write(&lines[i % lines.len()]).unwrap();
        }
        log.flush(Duration::from_secs(600)).unwrap();
        let elapsed = start.elapsed();
        let bytes = disk_bytes(&dir);
        println!(
            "spool throughput: {COUNT} lines -> {:.1} MB of segments, durable in {:.2} s: {:.1} MB/s, {:.0} lines/s",
            bytes as f64 / 1e6,
            elapsed.as_secs_f64(),
            bytes as f64 / 1e6 / elapsed.as_secs_f64(),
            COUNT as f64 / elapsed.as_secs_f64()
        );
        let _ = log.shutdown(Duration::from_millis(10));
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn outage(lines: &[Vec<u8>]) {
        let secs: u64 = std::env::var("OUTAGE_SECS").map_or(600, |s| s.parse().unwrap());
        const PER_SECOND: usize = 10_000;
        const SPOOL_MAX: u64 = 64 << 20;
        const BUFFER: usize = 4 << 20;
        let dir = fresh_dir("outage");
        let log = Logger::builder()
            .base_url(&dead_url())
            .collection("bench")
            .buffer_bytes(BUFFER)
            .spool_dir(&dir)
            .spool_max_bytes(SPOOL_MAX)
            .build()
            .unwrap();
        let rss_before = rss_kib();
        let (mut peak_rss, mut peak_disk) = (rss_before, 0);
        let start = Instant::now();
        let mut written = 0usize;
        while start.elapsed() < Duration::from_secs(secs) {
            // 100 lines every 10 ms.
            for _ in 0..PER_SECOND / 100 {
                log.write(&lines[written % lines.len()]).unwrap();
                written += 1;
            }
            let due = start + Duration::from_millis(10 * (written / (PER_SECOND / 100)) as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if written.is_multiple_of(PER_SECOND) {
                peak_rss = peak_rss.max(rss_kib());
                peak_disk = peak_disk.max(disk_bytes(&dir));
            }
        }
        let stats = log.stats();
        println!(
            "outage of {secs} s at {PER_SECOND} lines/s ({written} lines, collector down): \
             peak RSS {} KiB (+{} KiB; buffer_bytes {} KiB), peak spool on disk {:.1} MiB \
             (spool_max_bytes {} MiB), {} dropped (oldest segments), {} bytes queued in memory",
            peak_rss,
            peak_rss - rss_before,
            BUFFER >> 10,
            peak_disk as f64 / (1 << 20) as f64,
            SPOOL_MAX >> 20,
            stats.dropped,
            stats.queued_bytes
        );
        let _ = log.shutdown(Duration::from_millis(10));
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    pub fn run() {
        if std::env::args().any(|a| a == "--list") {
            return;
        }
        let lines = fixed_length(&loghub_lines(), 100);
        write_latency(&lines);
        throughput(&lines);
        outage(&lines);
    }
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    spool_bench::run();
}
