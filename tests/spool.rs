//! The durable disk spool (`spool_dir`, issue 6) with real processes: SIGKILL after a flush, a
//! restart that delivers everything exactly once, a torn tail, the size bound, the lock.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fault::{random_faults, Fault, FaultServer};
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
        .stdin(Stdio::piped())
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
        "idle" => {
            // One entry all the way to the collector first: idle after work, not only at start.
            log.write(b"one entry").unwrap();
            log.flush(Duration::from_secs(10)).unwrap();
            while log.stats().uploaded == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
            println!("READY");
            // Block without waking (a sleep loop would wake this thread) until the parent
            // closes stdin or kills this process.
            let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0]);
            return;
        }
        #[cfg(target_os = "linux")]
        "io" => {
            // The first upload failed: from now on the upload thread only retries (connection
            // attempts to a dead address, no writes) and reports that once.
            log.write(b"first").unwrap();
            while log.stats().retries == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
            let pid = std::process::id();
            let on_disk = || -> u64 {
                segments(&dir)
                    .iter()
                    .map(|p| std::fs::metadata(p).unwrap().len())
                    .sum()
            };
            let (before, disk_before) = (bytes_written(pid), on_disk());
            for i in 0..20_000 {
                log.write(entry_text(i).as_bytes()).unwrap();
            }
            log.flush(Duration::from_secs(30)).unwrap();
            let (after, spooled) = (bytes_written(pid), on_disk() - disk_before);
            let delta = |name: &str| {
                let bytes = |m: &BTreeMap<(u32, String), u64>| {
                    m.iter().find(|((_, n), _)| n == name).map(|(_, &b)| b)
                };
                bytes(&after).unwrap() - bytes(&before).unwrap()
            };
            let (upload, spool) = (delta("logship"), delta("logship-spool"));
            // The spool thread wrote every segment byte; the upload thread only wake-ups (8-byte
            // eventfd writes), far less than one page.
            assert!(
                spool >= spooled,
                "{spool} bytes written by the spool thread, {spooled} spooled"
            );
            assert!(
                upload < 4096,
                "the upload thread wrote {upload} bytes ({spooled} spooled)"
            );
            println!("DONE");
        }
        #[cfg(unix)]
        "children" => {
            // An exec'd child: the lock is opened close-on-exec. (A fork child of the C door
            // lets go of its copy: bindings/c/tests/c/spool_fork.c.)
            let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
            let _ = log.shutdown(Duration::from_millis(10));
            drop(log);
            // The child lives on; the spool is free.
            let again = logger(&var("SPOOL_BASE_URL"), &dir).build().unwrap();
            let _ = again.shutdown(Duration::from_millis(10));
            sleeper.kill().unwrap();
            sleeper.wait().unwrap();
            println!("DONE");
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
    assert_eq!(counts.len(), 101, "100 entries and the notice");
    assert!(counts.values().all(|&n| n == 1));
    let error = log.last_error().unwrap_or_default();
    assert!(error.contains("skipped 10 damaged bytes"), "{error}");
    // No count can be read from a torn record: one record (a batch of unknown size) is counted.
    assert_eq!(log.stats().dropped, 1);
    assert_eq!(noticed_drops(&c), 1);
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

/// The segment files in `dir`, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("seg-") && name.ends_with(".log")
        })
        .collect();
    segments.sort();
    segments
}

/// Entries that arrived, logship's notices aside.
fn delivered_entries(c: &Collector) -> u64 {
    arrivals(c)
        .iter()
        .filter(|(text, _)| text.starts_with("entry "))
        .map(|(_, &n)| n as u64)
        .sum()
}

/// A logger spools `count` entries in batches (records) of at most 1 KiB while the collector is
/// down, and shuts down, leaving them on disk.
fn spool_while_down(dir: &Path, count: u64) {
    let log = logger(&dead_url(), dir)
        .max_batch_bytes(1024)
        .build()
        .unwrap();
    for i in 0..count as usize {
        log.write(entry_text(i).as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    let _ = log.shutdown(Duration::from_millis(50));
}

/// A first logger spools `N` entries in several batches (records) while the collector is down;
/// `damage` then changes the segment on disk; a second logger sends what is left. Returns the
/// collector and the second logger's stats, once every entry is delivered or noticed as dropped.
fn damaged_between_two_loggers(name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> (Collector, u64) {
    const N: u64 = 200;
    let dir = spool_dir(name);
    spool_while_down(&dir, N);
    let segments = segments(&dir);
    assert_eq!(segments.len(), 1, "{segments:?}");
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    damage(&mut bytes);
    std::fs::write(&segments[0], bytes).unwrap();

    let c = collector();
    let log = logger(&c.url(), &dir).build().unwrap();
    wait_for(
        "every entry delivered or noticed",
        Duration::from_secs(30),
        || delivered_entries(&c) + noticed_drops(&c) >= N,
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
    let dropped = log.stats().dropped;
    assert_eq!(delivered_entries(&c) + dropped, N, "{:?}", arrivals(&c));
    assert_eq!(noticed_drops(&c), dropped, "the notice tells the server");
    assert!(arrivals(&c).values().all(|&n| n == 1));
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    (c, dropped)
}

/// Where each record of a segment starts (the format: an 8-byte header, then records of
/// `len: u32 LE | crc32: u32 LE | payload`).
fn record_offsets(segment: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 8;
    while at < segment.len() {
        offsets.push(at);
        at += 8 + u32::from_le_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
    }
    offsets
}

#[test]
fn a_corrupt_record_is_counted_in_dropped_and_noticed_to_the_server() {
    let (c, dropped) = damaged_between_two_loggers("corrupt-record", |bytes| {
        let offsets = record_offsets(bytes);
        assert!(offsets.len() >= 4, "{} records", offsets.len());
        // A byte of the second record's last entry: it and every record after it are lost.
        let end = offsets[2];
        bytes[end - 3] ^= 0x20;
    });
    // The first record arrived whole; the lost ones are exactly what did not.
    let first = delivered_entries(&c);
    assert!(
        first > 0 && dropped > 0,
        "{first} delivered, {dropped} dropped"
    );
}

#[test]
fn a_corrupt_segment_header_counts_every_entry_in_it() {
    let (c, dropped) = damaged_between_two_loggers("corrupt-header", |bytes| bytes[3] ^= 0x01);
    assert_eq!(dropped, 200);
    assert_eq!(delivered_entries(&c), 0);
}

#[test]
fn a_record_damaged_after_open_is_counted_when_read_back_and_noticed() {
    const N: u64 = 200;
    let dir = spool_dir("damaged-later");
    spool_while_down(&dir, N);
    // The second logger opens the spool while the collector answers 503: it indexes every
    // record and holds the first two in flight.
    let c = collector();
    let down = Arc::new(AtomicBool::new(true));
    let proxy = FaultServer::start(Some(c.addr()), {
        let down = down.clone();
        move |_| {
            if down.load(Ordering::SeqCst) {
                Fault::Status(503, Vec::new(), "down")
            } else {
                Fault::Forward
            }
        }
    });
    let log = logger(&proxy.url(), &dir).build().unwrap();
    wait_for("a first attempt", Duration::from_secs(10), || {
        !proxy.hits().is_empty()
    });
    // Then the last record is damaged on disk, and the collector comes back.
    let segment = segments(&dir)[0].clone();
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = *record_offsets(&bytes).last().unwrap();
    bytes[last + 30] ^= 0x20;
    std::fs::write(&segment, bytes).unwrap();
    down.store(false, Ordering::SeqCst);
    wait_for(
        "every entry delivered or noticed",
        Duration::from_secs(30),
        || delivered_entries(&c) + noticed_drops(&c) >= N,
    );
    let dropped = log.stats().dropped;
    assert!(dropped > 0);
    assert_eq!(delivered_entries(&c) + dropped, N);
    assert_eq!(noticed_drops(&c), dropped, "the notice tells the server");
    let error = log.last_error().unwrap_or_default();
    assert!(error.contains("could not be read back"), "{error}");
    log.shutdown(Duration::from_secs(5)).unwrap();
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_leftover_temporary_segment_is_removed_not_counted() {
    let dir = spool_dir("temp");
    let log = logger(&dead_url(), &dir).build().unwrap();
    log.write(b"before the crash").unwrap();
    log.flush(Duration::from_secs(10)).unwrap();
    let _ = log.shutdown(Duration::from_millis(50));
    drop(log);
    // A crash between creating a segment and renaming it into place leaves this behind.
    let temp = dir.join("seg-00000000000000000099.tmp");
    std::fs::write(&temp, b"LSPO").unwrap();
    let c = collector();
    let log = logger(&c.url(), &dir).build().unwrap();
    wait_for("the entry", Duration::from_secs(30), || {
        !c.entries(COLLECTION).is_empty()
    });
    log.shutdown(Duration::from_secs(5)).unwrap();
    assert!(!temp.exists());
    assert_eq!(log.stats().dropped, 0);
    assert_eq!(log.last_error(), None);
    assert_eq!(
        arrivals(&c).keys().collect::<Vec<_>>(),
        ["before the crash"]
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_spool_dir_others_may_write_is_refused_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = spool_dir("mode");
    std::fs::create_dir_all(&dir).unwrap();
    let chmod = |mode| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
    for mode in [0o777, 0o770, 0o702] {
        chmod(mode).unwrap();
        let err = logger(&dead_url(), &dir).build().unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("spool_dir: "), "{message}");
        assert!(message.contains("writable by group or others"), "{message}");
        assert!(message.contains(&format!("mode {mode:o}")), "{message}");
    }
    // Nothing was created in it.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // A symbolic link in its place is refused, not followed.
    let link = spool_dir("mode-link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    chmod(0o700).unwrap();
    let err = logger(&dead_url(), &link).build().unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    std::fs::remove_file(&link).unwrap();
    for mode in [0o700, 0o755] {
        chmod(mode).unwrap();
        let log = logger(&dead_url(), &dir).build().unwrap();
        let _ = log.shutdown(Duration::from_millis(10));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14, item 5c: an exec'd child does not keep the spool locked; in a child process of its own, as
/// other tests' threads fork and exec too (a process between the two holds every descriptor).
#[cfg(unix)]
#[test]
fn children_do_not_keep_the_spool_locked() {
    let dir = spool_dir("children");
    // The child prints DONE only once its checks passed.
    sigkill(spawn_child("children", &dir, &dead_url(), (0, 0), "DONE"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// For each thread of process `pid` (by id and name), the sum of `fields` in its
/// `/proc/<pid>/task/<tid>/<file>`.
#[cfg(target_os = "linux")]
fn per_thread(pid: u32, file: &str, fields: &[&str]) -> BTreeMap<(u32, String), u64> {
    let mut threads = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let tid: u32 = task.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let (Ok(text), Ok(name)) = (
            std::fs::read_to_string(task.join(file)),
            std::fs::read_to_string(task.join("comm")),
        ) else {
            continue;
        };
        let sum = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(key, _)| fields.contains(key))
            .map(|(_, value)| value.trim().parse::<u64>().unwrap())
            .sum();
        threads.insert((tid, name.trim().to_owned()), sum);
    }
    threads
}

/// Each thread's context switches (voluntary and not): how often it slept and woke.
#[cfg(target_os = "linux")]
fn context_switches(pid: u32) -> BTreeMap<(u32, String), u64> {
    let fields = ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"];
    per_thread(pid, "status", &fields)
}

/// Each thread's bytes passed to write system calls (files, pipes, eventfds).
#[cfg(target_os = "linux")]
fn bytes_written(pid: u32) -> BTreeMap<(u32, String), u64> {
    per_thread(pid, "io", &["wchar"])
}

/// Issue 14, item 6: a logger with a spool, once its one entry is delivered and synced, has no
/// thread that wakes over 5 idle seconds (context switches read from /proc, in a child process
/// so that only its threads count).
#[cfg(target_os = "linux")]
#[test]
fn an_idle_spooled_logger_never_wakes() {
    let dir = spool_dir("idle");
    let c = collector();
    let child = spawn_child("idle", &dir, &c.url(), (0, 0), "READY");
    let pid = child.id();
    // Settle: whatever starting up does is over.
    std::thread::sleep(Duration::from_secs(1));
    // The child's main thread and libtest's (named after the test) wait on stdin and the test;
    // every other thread is logship's.
    let logship_threads = || {
        let mut threads = context_switches(pid);
        threads.retain(|(tid, name), _| *tid != pid && name != "child_process");
        threads
    };
    let before = logship_threads();
    std::thread::sleep(Duration::from_secs(5));
    let after = logship_threads();
    sigkill(child);
    assert!(!before.is_empty(), "no logship thread found");
    assert_eq!(before, after, "logship threads woke while idle");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14, item 5f: spool writes happen on the spool's own thread; the upload thread (here
/// retrying a dead address) writes no segment bytes while 20,000 entries are spooled and flushed
/// (the child measures its own threads, from /proc).
#[cfg(target_os = "linux")]
#[test]
fn spool_writes_run_off_the_upload_thread() {
    let dir = spool_dir("io");
    // The child prints DONE only once its checks passed.
    sigkill(spawn_child("io", &dir, &dead_url(), (0, 0), "DONE"));
    let _ = std::fs::remove_dir_all(&dir);
}
