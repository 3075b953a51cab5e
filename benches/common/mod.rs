//! What the benchmarks share: the real lines they write, timing with the clock's cost removed,
//! RSS, and an HTTP sink that acknowledges and discards.
#![allow(dead_code)] // each benchmark uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[path = "../../tests/common/loghub.rs"]
mod loghub;
pub use loghub::loghub_lines;

/// Real lines cut or padded (by repeating themselves) to exactly `len` bytes.
pub fn fixed_length(lines: &[Vec<u8>], len: usize) -> Vec<Vec<u8>> {
    lines
        .iter()
        .map(|l| l.iter().cycle().take(len).copied().collect())
        .collect()
}

pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

/// Latency of `call(i)` for i in 0..count, sorted, with the cost of reading the clock subtracted.
pub fn time_calls(count: usize, mut call: impl FnMut(usize)) -> Vec<u64> {
    let overhead = clock_overhead();
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        call(i);
        samples.push((start.elapsed().as_nanos() as u64).saturating_sub(overhead));
    }
    samples.sort_unstable();
    samples
}

/// What timing an empty call costs (two clock reads), in ns.
pub fn clock_overhead() -> u64 {
    let mut t: Vec<u64> = (0..10_000)
        .map(|_| {
            let s = Instant::now();
            Instant::now().duration_since(s).as_nanos() as u64
        })
        .collect();
    t.sort_unstable();
    percentile(&t, 0.5)
}

pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// An HTTP/1.1 server on loopback that reads each request and answers 200, storing nothing;
/// returns its base URL.
pub fn discard_server() -> String {
    counting_discard_server().0
}

/// [`discard_server`], with the number of requests it answered so far.
pub fn counting_discard_server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || discard_requests(stream, &counter));
        }
    });
    (url, requests)
}

/// CPU time (ns) the thread `tid` of this process has run so far (from its schedstat).
pub fn thread_cpu_ns(tid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The ids of this process's threads named `name`.
pub fn threads_named(name: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == name).then(|| task.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

/// How many times the thread `tid` went to sleep so far (its voluntary context switches): each
/// time it was then woken, by a futex wake from another thread, a timer or a socket.
pub fn thread_sleeps(tid: u32) -> u64 {
    voluntary_switches(&format!("/proc/self/task/{tid}/status"))
}

/// [`thread_sleeps`] of the calling thread.
pub fn own_sleeps() -> u64 {
    voluntary_switches("/proc/thread-self/status")
}

fn voluntary_switches(status: &str) -> u64 {
    let status = std::fs::read_to_string(status).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn discard_requests(stream: TcpStream, requests: &AtomicU64) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; content_length];
        requests.fetch_add(1, Ordering::Relaxed);
        if reader.read_exact(&mut body).is_err()
            || writer
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .is_err()
        {
            return;
        }
    }
}
