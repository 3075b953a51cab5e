//! The durable disk spool (`spool_dir`, issue 6) with real processes: SIGKILL after a flush, a
//! restart that delivers everything exactly once, a torn tail, the size bound, the lock.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fault::{random_faults, FaultServer};
use logship::{Builder, Error, Logger};
use logship_collector::{Collector, Options};

const CHILD: &str = "LOGSHIP_SPOOL_CHILD";
const COLLECTION: &str = "spool";

fn collector() -> Collector {
    Collector::start(Options::default()).expect("collector starts")
}

/// An address where nothing listens: the collector is down.
fn dead_url() -> String {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}")
}

fn spool_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("logship-spool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn logger(base_url: &str, dir: &Path) -> Builder {
    Logger::builder()
        .base_url(base_url)
        .collection(COLLECTION)
        .retry_initial_ms(20)
        .retry_max_ms(200)
        .request_timeout_ms(2000)
        .skip_client_time(true)
        .spool_dir(dir)
}

/// How many times each text arrived at the collector.
fn arrivals(c: &Collector) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in c.entries(COLLECTION) {
        let text = entry.entry["text"].as_str().unwrap_or_default().to_owned();
        *counts.entry(text).or_default() += 1;
    }
    counts
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn entry_text(i: usize) -> String {
    format!("entry {i:06} of a spooled stream")
}

/// Runs this test binary's `child_process` with `mode`, and waits for it to print `marker`.
fn spawn_child(
    mode: &str,
    dir: &Path,
    base_url: &str,
    range: (usize, usize),
    marker: &str,
) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, mode)
        .env("SPOOL_DIR", dir)
        .env("SPOOL_BASE_URL", base_url)
        .env("SPOOL_FROM", range.0.to_string())
        .env("SPOOL_TO", range.1.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.contains(marker) {
            return child;
        }
    }
    panic!("the child exited before {marker}: {:?}", child.wait());
}

fn sigkill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// Not a test of its own: the child processes that the tests below start.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let dir = PathBuf::from(var("SPOOL_DIR"));
    let log = logger(&var("SPOOL_BASE_URL"), &dir).build().unwrap();
    match mode.as_str() {
        "write" => {
            let (from, to): (usize, usize) = (
                var("SPOOL_FROM").parse().unwrap(),
                var("SPOOL_TO").parse().unwrap(),
            );
            for i in from..to {
                log.write(entry_text(i).as_bytes()).unwrap();
            }
            log.flush(Duration::from_secs(30)).unwrap();
            println!("FLUSHED");
        }
        _ => println!("READY"),
    }
    // Wait for SIGKILL: no shutdown, no drop.
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn kill_9_after_flush_then_a_restart_delivers_every_entry_exactly_once() {
    let dir = spool_dir("kill");
    // 1. The collector is down: the child spools, flushes (durable) and is killed.
    let child = spawn_child("write", &dir, &dead_url(), (0, 3000), "FLUSHED");
    sigkill(child);
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&dir), 0o700);
        for file in std::fs::read_dir(&dir).unwrap() {
            assert_eq!(mode_of(&file.unwrap().path()), 0o600);
        }
    }
    // 2. The collector is up: a second child sends the first one's spool while it writes more,
    // and is killed right after its flush, likely with batches in flight.
    let c = collector();
    let child = spawn_child("write", &dir, &c.url(), (3000, 6000), "FLUSHED");
    sigkill(child);
    // 3. A logger on the same spool delivers the rest; the collector stores each batch once.
    let log = logger(&c.url(), &dir).build().unwrap();
    wait_for("6000 entries", Duration::from_secs(60), || {
        c.entries(COLLECTION).len() >= 6000
    });
    log.shutdown(Duration::from_secs(10)).unwrap();
    let counts = arrivals(&c);
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "not exactly once: {twice:?}");
    for i in 0..6000 {
        assert_eq!(counts.get(&entry_text(i)), Some(&1), "entry {i}");
    }
    assert_eq!(counts.len(), 6000);
    drop(log);
    // Everything was settled: no segment is left.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("seg-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_tail_written_by_hand_is_skipped_with_a_count() {
    let dir = spool_dir("torn");
    let log = logger(&dead_url(), &dir).build().unwrap();
    for i in 0..100 {
        log.write(entry_text(i).as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    let _ = log.shutdown(Duration::from_millis(50));
    drop(log);
    // A record that claims 64 bytes of payload and has two: a write cut short by a crash.
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
        .collect();
    segments.sort();
    let newest = segments.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    bytes.extend_from_slice(&[64, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    std::fs::write(newest, bytes).unwrap();

    let c = collector();
    let log = logger(&c.url(), &dir).build().unwrap();
    wait_for("100 entries", Duration::from_secs(30), || {
        c.entries(COLLECTION).len() >= 100
    });
    log.shutdown(Duration::from_secs(5)).unwrap();
    let counts = arrivals(&c);
    assert_eq!(counts.len(), 100);
    assert!(counts.values().all(|&n| n == 1));
    let error = log.last_error().unwrap_or_default();
    assert!(error.contains("skipped 10 damaged bytes"), "{error}");
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `logship: dropped N entries` notices, summed.
fn noticed_drops(c: &Collector) -> u64 {
    c.entries(COLLECTION)
        .iter()
        .filter_map(|e| {
            let text = e.entry["text"].as_str()?;
            text.strip_prefix("logship: dropped ")?
                .strip_suffix(" entries")?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn a_full_spool_drops_its_oldest_segments_with_the_exact_count() {
    const N: usize = 2000;
    let dir = spool_dir("full");
    let log = logger(&dead_url(), &dir)
        .spool_max_bytes(16 * 1024)
        .max_batch_bytes(1024)
        .build()
        .unwrap();
    for i in 0..N {
        log.write(entry_text(i).as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    let dropped = log.stats().dropped;
    assert!(dropped > 0 && dropped < N as u64, "{dropped}");
    let on_disk: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_str().unwrap().starts_with("seg-"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 16 * 1024, "{on_disk} bytes on disk");
    let _ = log.shutdown(Duration::from_millis(50));
    drop(log);

    let c = collector();
    let log = logger(&c.url(), &dir).build().unwrap();
    let delivered = || {
        c.entries(COLLECTION)
            .iter()
            .filter(|e| {
                e.entry["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("entry "))
            })
            .count() as u64
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered() + noticed_drops(&c) != N as u64 {
        assert!(
            Instant::now() < deadline,
            "{} delivered + {} noticed != {N}; {dropped} dropped",
            delivered(),
            noticed_drops(&c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    log.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(noticed_drops(&c), dropped);
    let counts = arrivals(&c);
    assert_eq!(
        counts.get(&entry_text(N - 1)),
        Some(&1),
        "the newest entry survives"
    );
    let repeated: Vec<_> = counts
        .iter()
        .filter(|(text, &n)| text.starts_with("entry ") && n != 1)
        .collect();
    assert!(repeated.is_empty(), "{repeated:?}");
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_process_on_the_same_spool_gets_a_clear_error() {
    let dir = spool_dir("lock");
    let holder = spawn_child("hold", &dir, &dead_url(), (0, 0), "READY");
    let err = logger(&dead_url(), &dir).build().unwrap_err();
    match &err {
        Error::Spool(message) => assert!(message.contains("in use by another logger"), "{err}"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("spool_dir: "), "{err}");
    sigkill(holder);
    // The kernel releases the lock with the process.
    let log = logger(&dead_url(), &dir).build().unwrap();
    let _ = log.shutdown(Duration::from_millis(10));
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spool_keys_are_validated_by_name() {
    let err = logger("http://127.0.0.1:9", Path::new("/tmp/unused"))
        .spool_max_bytes(100)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("spool_max_bytes"), "{err}");
    let json = r#"{"base_url":"http://127.0.0.1:9","collection":"c","spool_dir":"/tmp/x",
        "destinations":[{"collection":"a"},{"collection":"b"}]}"#;
    let err = logship::Config::from_json(json).unwrap_err();
    assert_eq!(err.key, "spool_dir");
}

/// Item 5: a proxy that resets mid-body, stalls past the request timeout, answers 500, 429 or
/// 413, or resets after the collector stored the batch, for 30% of requests at random (seeded):
/// 100,000 lines all arrive exactly once. Run in memory mode and with the spool.
fn hundred_thousand_lines_through_faults(spooled: bool) {
    const N: usize = 100_000;
    let c = collector();
    let seed = std::env::var("LOGSHIP_FAULT_SEED").map_or(6, |s| s.parse().unwrap());
    let proxy = FaultServer::start(
        Some(c.addr()),
        random_faults(seed, 0.3, Duration::from_millis(1500)),
    );
    let dir = spool_dir(if spooled {
        "faults-spool"
    } else {
        "faults-memory"
    });
    let mut builder = Logger::builder()
        .base_url(&proxy.url())
        .collection(COLLECTION)
        .flush_delay_ms(50)
        .retry_initial_ms(10)
        .retry_max_ms(100)
        .request_timeout_ms(1000)
        // Small batches: a few hundred requests, so that every kind of fault happens.
        .max_batch_bytes(16 << 10)
        .buffer_bytes(64 << 20)
        .skip_client_time(true);
    if spooled {
        builder = builder.spool_dir(&dir);
    }
    let log = builder.build().unwrap();
    for i in 0..N {
        log.write(entry_text(i).as_bytes()).unwrap();
    }
    wait_for(
        "every line at the collector",
        Duration::from_secs(240),
        || c.entries(COLLECTION).len() >= N,
    );
    log.shutdown(Duration::from_secs(30)).unwrap();
    let stats = log.stats();
    assert_eq!((stats.dropped, stats.rejected), (0, 0), "{stats:?}");
    let counts = arrivals(&c);
    let wrong: Vec<_> = counts.iter().filter(|(_, &n)| n != 1).take(5).collect();
    assert!(wrong.is_empty(), "not exactly once: {wrong:?}");
    assert_eq!(counts.len(), N);
    let hits = proxy.hits();
    let mut kinds = BTreeMap::new();
    for hit in &hits {
        let kind = format!("{:?}", hit.fault);
        *kinds.entry(kind).or_insert(0) += 1;
    }
    let faulted = hits.len() - kinds.get("Forward").copied().unwrap_or(0);
    assert!(kinds.len() >= 5, "too few kinds of faults: {kinds:?}");
    // Resets mid-body are not in `hits` (the body never arrived): they show as retries.
    eprintln!(
        "{} requests seen whole by the proxy, {faulted} of them faulted ({kinds:?}); {} retries",
        hits.len(),
        stats.retries
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hundred_thousand_lines_through_random_faults_arrive_exactly_once() {
    hundred_thousand_lines_through_faults(false);
}

#[test]
fn a_hundred_thousand_spooled_lines_through_random_faults_arrive_exactly_once() {
    hundred_thousand_lines_through_faults(true);
}
