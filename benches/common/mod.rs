//! What the benchmarks share: the real lines they write, timing with the clock's cost removed,
//! RSS, and an HTTP sink that acknowledges and discards.
#![allow(dead_code)] // each benchmark uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
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
    let overhead = {
        let mut t: Vec<u64> = (0..10_000)
            .map(|_| {
                let s = Instant::now();
                Instant::now().duration_since(s).as_nanos() as u64
            })
            .collect();
        t.sort_unstable();
        percentile(&t, 0.5)
    };
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        call(i);
        samples.push((start.elapsed().as_nanos() as u64).saturating_sub(overhead));
    }
    samples.sort_unstable();
    samples
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || discard_requests(stream));
        }
    });
    url
}

fn discard_requests(stream: TcpStream) {
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
        if reader.read_exact(&mut body).is_err()
            || writer
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .is_err()
        {
            return;
        }
    }
}
