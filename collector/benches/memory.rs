//! Peak memory of the collector under a burst of the largest uploads, and what got stored.
//!
//!     cargo bench -p logship-collector --bench memory
//!     UPLOADS=64 MAX_BODY=8388608 cargo bench -p logship-collector --bench memory
//!
//! Runs the real `logship-collector` executable as a child process (database file in a temp
//! directory) and sends it UPLOADS concurrent uploads, each a plain logtail body of MAX_BODY bytes
//! (default: the collector's `--max-body`, 8 MiB) of real loghub lines, every upload with its own
//! collection and `Logship-Batch` id. An uploader that gets 503 waits its `Retry-After` and sends the
//! same batch again, as logship clients do. Prints the collector's peak RSS (VmHWM of its
//! /proc/PID/status), first with the upload limits lifted (`--max-pending-bytes` and
//! `--max-uploads` out of the way: how it was before they existed), then with the defaults; then
//! checks that every upload that got 200 was stored exactly once and nothing else was stored.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use logship_collector::DEFAULT_MAX_BODY;

#[path = "../../tests/common/loghub.rs"]
mod loghub;
use loghub::loghub_lines;

const PRIVATE_ID: &str = "3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e";
/// Peak RSS the collector must stay under with the default limits.
const TARGET_PEAK: u64 = 512 << 20;
/// An uploader gives up after this long (it would only be refused with 503 meanwhile).
const UPLOAD_DEADLINE: Duration = Duration::from_secs(300);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Upload `k`: a JSON array of distinct `{"text":"u<k>.<i> <loghub line>"}` entries, as close to `max_body` bytes as
/// the lines allow; its entry count.
fn body(lines: &[Vec<u8>], k: usize, max_body: usize) -> (Bytes, usize) {
    let mut body = b"[".to_vec();
    let mut entries = 0;
    for line in lines.iter().cycle().skip(k * 997) {
        let text = format!("u{k}.{entries} {}", String::from_utf8_lossy(line));
        let entry = serde_json::json!({ "text": text }).to_string();
        if body.len() + entry.len() + 2 > max_body {
            break;
        }
        if entries > 0 {
            body.push(b',');
        }
        body.extend_from_slice(entry.as_bytes());
        entries += 1;
    }
    body.push(b']');
    (body.into(), entries)
}

/// The collector as a child process, killed if still running when dropped.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &Path, args: &[String]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logship-collector"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the collector starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_once("live view at ")
        .map(|(_, u)| u.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Running { child, url }
}

/// VmHWM (peak resident set) or VmRSS of a process, in bytes.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

struct Outcome {
    /// Per upload: did it get 200?
    stored: Vec<bool>,
    refusals: usize,
    errors: usize,
    elapsed: Duration,
}

async fn upload_all(url: &str, bodies: Arc<Vec<(Bytes, usize)>>) -> Outcome {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..bodies.len() {
        let (client, bodies) = (client.clone(), bodies.clone());
        let url = format!("{url}/c/mem{k}/{PRIVATE_ID}");
        tasks.push(tokio::spawn(async move {
            let (mut refusals, mut errors) = (0, 0);
            while start.elapsed() < UPLOAD_DEADLINE {
                let sent = client
                    .post(&url)
                    .header("Logship-Batch", format!("memory-bench-{k}"))
                    .body(bodies[k].0.clone())
                    .send()
                    .await;
                let wait = match sent {
                    Ok(res) if res.status() == 200 => return (true, refusals, errors),
                    Ok(res) if res.status() == 503 => {
                        refusals += 1;
                        res.headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()?.parse().ok())
                            .map_or(Duration::from_secs(1), Duration::from_secs)
                    }
                    Ok(res) => panic!("upload {k}: {}", res.status()),
                    Err(_) => {
                        errors += 1;
                        Duration::from_secs(1)
                    }
                };
                tokio::time::sleep(wait).await;
            }
            (false, refusals, errors)
        }));
    }
    let mut outcome = Outcome {
        stored: Vec::new(),
        refusals: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (stored, refusals, errors) = task.await.unwrap();
        outcome.stored.push(stored);
        outcome.refusals += refusals;
        outcome.errors += errors;
    }
    outcome.elapsed = start.elapsed();
    outcome
}

/// Per collection `mem<k>`: (entries, distinct entries) in the database.
fn stored_counts(db: &Path) -> std::collections::HashMap<String, (usize, usize)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT s.collection, count(*), count(DISTINCT e.raw)
             FROM entries e JOIN streams s ON s.id = e.stream GROUP BY s.collection",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// One run: the collector with `args`, the burst, the checks. Returns its peak RSS.
fn run(name: &str, args: &[String], bodies: &Arc<Vec<(Bytes, usize)>>) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("memory.db");
    let collector = start(&db, args);
    let pid = collector.child.id();
    let idle = proc_status(pid, "VmRSS:");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(upload_all(&collector.url, bodies.clone()));
    let peak = proc_status(pid, "VmHWM:");
    // Stop it gracefully (SIGTERM), so the database is closed before it is read.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let mut collector = collector;
    let _ = collector.child.wait();

    let counts = stored_counts(&db);
    let mut expected_entries = 0;
    for (k, got_200) in outcome.stored.iter().enumerate() {
        let (entries, distinct) = counts.get(&format!("mem{k}")).copied().unwrap_or((0, 0));
        let want = if *got_200 { bodies[k].1 } else { 0 };
        assert_eq!(entries, want, "{name}: upload {k} (200: {got_200})");
        assert_eq!(distinct, entries, "{name}: upload {k} stored twice");
        expected_entries += want;
    }
    assert_eq!(counts.len(), outcome.stored.iter().filter(|s| **s).count());
    println!(
        "{name:<34} peak RSS {:>7.1} MiB (idle {:>5.1} MiB) | {}/{} uploads stored once, {} entries, \
         nothing else | {} answered 503, {} connection errors | {:.1} s",
        mib(peak),
        mib(idle),
        outcome.stored.iter().filter(|s| **s).count(),
        outcome.stored.len(),
        expected_entries,
        outcome.refusals,
        outcome.errors,
        outcome.elapsed.as_secs_f64()
    );
    peak
}

fn main() {
    let uploads = env("UPLOADS", 64);
    let max_body = env("MAX_BODY", DEFAULT_MAX_BODY);
    let lines = loghub_lines();
    let bodies: Arc<Vec<(Bytes, usize)>> =
        Arc::new((0..uploads).map(|k| body(&lines, k, max_body)).collect());
    println!(
        "{uploads} concurrent uploads of {:.1} MiB ({} loghub entries each), --max-body {max_body}",
        mib(bodies[0].0.len() as u64),
        bodies[0].1
    );
    let max_body_arg = ["--max-body".to_owned(), max_body.to_string()];
    let mut unlimited = max_body_arg.to_vec();
    unlimited.extend([
        "--max-pending-bytes".into(),
        (1usize << 40).to_string(),
        "--max-uploads".into(),
        "100000".into(),
    ]);
    let baseline = run("limits lifted (baseline)", &unlimited, &bodies);
    let bounded = run("default limits", &max_body_arg, &bodies);
    println!(
        "peak RSS with the default limits: {:.1} MiB = {:.2} x the baseline; target < {} MiB: {}",
        mib(bounded),
        bounded as f64 / baseline as f64,
        TARGET_PEAK >> 20,
        if bounded < TARGET_PEAK {
            "met"
        } else {
            "MISSED"
        }
    );
}
