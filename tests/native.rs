//! The native Rust door end to end: real loopback sockets, the real collector, real faults.

mod common;

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::eventually;
use common::fault::{Fault, FaultServer};
use common::loghub::loghub_lines;
use logship::{Builder, Error, Logger};
use logship_collector::{Collector, Options};

fn collector() -> Collector {
    Collector::start(Options::default()).expect("collector starts")
}

fn logger(base_url: &str, collection: &str) -> Builder {
    Logger::builder()
        .base_url(base_url)
        .collection(collection)
        .flush_delay_ms(50)
        .retry_initial_ms(20)
        .retry_max_ms(200)
        .skip_client_time(true)
}

fn texts(c: &Collector, collection: &str) -> Vec<String> {
    c.entries(collection)
        .iter()
        .map(|e| e.entry["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn free_addr() -> std::net::SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn a_hundred_thousand_real_lines_arrive_in_order_and_complete() {
    let c = collector();
    let log = logger(&c.url(), "bulk")
        .buffer_bytes(64 << 20)
        .build()
        .unwrap();
    let lines = loghub_lines();
    let sent: Vec<String> = (0..100_000)
        .map(|i| format!("{i} {}", String::from_utf8_lossy(&lines[i % lines.len()])))
        .collect();
    for line in &sent {
        log.write(line.as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(60)).unwrap();
    let stats = log.stats();
    assert_eq!(
        (stats.written, stats.uploaded, stats.dropped, stats.rejected),
        (100_000, 100_000, 0, 0)
    );
    let stored = c.entries("bulk");
    assert_eq!(stored.len(), 100_000);
    for (got, want) in stored.iter().zip(&sent) {
        assert_eq!(got.entry["text"].as_str(), Some(want.as_str()));
        assert_eq!(got.public_id, log.public_id());
    }
    let batches = c.batches();
    // A batch of one or two lines (the flush timer can fire while a loaded machine holds the
    // writer back) may be too small to pay for compression (PROTOCOL.md §2): bodies up to 256
    // bytes must go plain, and every batch of some size must be zstd.
    for b in &batches {
        let encoding = b.content_encoding.as_deref();
        if b.body_bytes <= 256 {
            assert_eq!(encoding, None, "{} bytes go plain", b.body_bytes);
        } else if b.body_bytes > 4096 {
            assert_eq!(encoding, Some("zstd"), "real logs compress");
        }
    }
    assert!(batches.iter().any(|b| b.body_bytes > 4096));
    let wire: usize = batches.iter().map(|b| b.wire_bytes).sum();
    let body: usize = batches.iter().map(|b| b.body_bytes).sum();
    assert!(wire * 3 < body, "zstd saves: {wire} on the wire for {body}");
    assert_eq!(stats.bytes_on_wire as usize, wire);
    assert!(
        batches
            .iter()
            .all(|b| b.body_bytes < 512 * 1024 + 17 * 1024),
        "batches stop at max_batch_bytes"
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn everything_arrives_after_the_collector_was_down_for_a_while() {
    let addr = free_addr();
    let private_id = "ab".repeat(32);
    let log = logger(&format!("http://{addr}"), "outage")
        .private_id(&private_id)
        .build()
        .unwrap();
    for i in 0..1000 {
        log.write(format!("during outage {i}").as_bytes()).unwrap();
    }
    assert!(
        eventually(Duration::from_secs(10), || log.stats().retries >= 2),
        "{:?}",
        log.stats()
    );
    let problem = log.last_error().expect("the failed attempts are reported");
    assert!(problem.contains("retry"), "{problem}");
    assert!(
        !problem.contains(&private_id),
        "the private id leaked: {problem}"
    );
    assert!(matches!(
        log.flush(Duration::from_millis(100)),
        Err(Error::Timeout { undelivered: 1000 })
    ));

    let c = Collector::start(Options {
        listen: addr,
        ..Options::default()
    })
    .unwrap();
    log.flush(Duration::from_secs(20)).unwrap();
    let expected: Vec<String> = (0..1000).map(|i| format!("during outage {i}")).collect();
    assert_eq!(texts(&c, "outage"), expected);
    assert_eq!(log.stats().uploaded, 1000);
}

#[test]
fn a_503_storm_with_retry_after_is_respected_and_the_batch_stored_once() {
    let c = collector();
    let fault = FaultServer::start(Some(c.addr()), |n| match n {
        0..=2 => Fault::Status(503, vec![("Retry-After", "1".into())], "busy"),
        _ => Fault::Forward,
    });
    let log = logger(&fault.url(), "storm")
        .flush_delay_ms(0)
        .build()
        .unwrap();
    log.write(b"through the storm").unwrap();
    log.flush(Duration::from_secs(20)).unwrap();
    let hits = fault.hits();
    assert_eq!(hits.len(), 4);
    for pair in hits.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "Retry-After: 1 not respected: {gap:?}"
        );
        assert_eq!(
            pair[0].header("Logship-Batch"),
            pair[1].header("Logship-Batch"),
            "same batch id on retry"
        );
    }
    assert_eq!(texts(&c, "storm"), ["through the storm"]);
    assert_eq!(log.stats().retries, 3);
}

#[test]
fn a_400_rejects_the_batch_once_and_later_lines_still_arrive() {
    let c = collector();
    let fault = FaultServer::start(Some(c.addr()), |n| match n {
        0 => Fault::Status(400, vec![], "no such thing"),
        _ => Fault::Forward,
    });
    let log = logger(&fault.url(), "reject").build().unwrap();
    log.write(b"poison").unwrap();
    log.flush(Duration::from_secs(10)).unwrap();
    log.write(b"fine").unwrap();
    log.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(fault.hits().len(), 2, "a rejected batch is not retried");
    let stats = log.stats();
    assert_eq!((stats.rejected, stats.uploaded, stats.retries), (1, 1, 0));
    let report = log.last_error().unwrap();
    assert!(
        report.contains("400") && report.contains("no such thing"),
        "{report}"
    );
    assert_eq!(texts(&c, "reject"), ["fine"]);
}

#[test]
fn batches_share_one_connection_when_answers_have_a_body() {
    // Servers answer with a body (a status page, an error's reason); a client that leaves it
    // unread loses the connection and pays a new one (a TLS handshake, remotely) for every batch.
    let page: &'static str = "<p>accepted</p>".repeat(2000).leak();
    let fault = FaultServer::start(None, move |n| {
        if n % 2 == 0 {
            Fault::Status(500, vec![], page)
        } else {
            Fault::Status(200, vec![], page)
        }
    });
    let log = logger(&fault.url(), "reuse").build().unwrap();
    for i in 0..5 {
        log.write(format!("line {i}").as_bytes()).unwrap();
        log.flush(Duration::from_secs(10)).unwrap();
    }
    let stats = log.stats();
    assert_eq!((stats.uploaded, stats.retries), (5, 5));
    assert_eq!(fault.hits().len(), 10);
    assert_eq!(
        fault.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "every attempt on the one kept-alive connection"
    );
}

#[test]
fn a_413_splits_the_batch_in_halves() {
    let c = collector();
    let fault = FaultServer::start(Some(c.addr()), |n| {
        if n == 0 {
            Fault::Status(413, vec![], "")
        } else {
            Fault::Forward
        }
    });
    let log = logger(&fault.url(), "split")
        .flush_delay_ms(60_000)
        .build()
        .unwrap();
    for line in ["a", "b", "c", "d"] {
        log.write(line.as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    let ids: Vec<String> = fault
        .hits()
        .iter()
        .map(|h| h.header("Logship-Batch").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    assert_eq!(texts(&c, "split"), ["a", "b", "c", "d"]);
}

#[test]
fn connection_resets_are_retried_and_nothing_is_stored_twice() {
    let c = collector();
    let fault = FaultServer::start(Some(c.addr()), |n| {
        if n % 2 == 0 {
            Fault::Reset
        } else {
            Fault::Forward
        }
    });
    let log = logger(&fault.url(), "reset")
        .max_batch_bytes(2048)
        .build()
        .unwrap();
    for i in 0..300 {
        log.write(format!("line {i:03} {}", "r".repeat(40)).as_bytes())
            .unwrap();
    }
    log.flush(Duration::from_secs(30)).unwrap();
    let got = texts(&c, "reset");
    assert_eq!(got.len(), 300);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, t)| t.starts_with(&format!("line {i:03} "))));
    assert!(log.stats().retries >= 5);
}

#[test]
fn a_hanging_server_never_blocks_the_caller() {
    let fault = FaultServer::start(None, |_| Fault::Hang);
    let log = logger(&fault.url(), "hang")
        .request_timeout_ms(300)
        .buffer_bytes(1 << 20)
        .build()
        .unwrap();
    for i in 0..50_000 {
        log.write(format!("while hanging {i}").as_bytes()).unwrap();
    }
    match log.flush(Duration::from_millis(200)) {
        Err(Error::Timeout { undelivered }) => assert!(undelivered > 0),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        eventually(Duration::from_secs(10), || log.stats().retries >= 1),
        "timed-out attempts are retried"
    );
    let stats = log.stats();
    assert!(
        stats.queued_bytes <= 1 << 20,
        "memory stays within buffer_bytes: {stats:?}"
    );
    let started = Instant::now();
    let result = log.shutdown(Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(5));
    let Err(Error::Timeout { undelivered }) = result else {
        panic!("{result:?}")
    };
    let stats = log.stats();
    assert_eq!(
        stats.written,
        stats.dropped + stats.uploaded + stats.rejected,
        "{stats:?}"
    );
    assert!(undelivered > 0);
}

#[test]
fn memory_stays_within_buffer_bytes_and_losses_are_counted_and_reported() {
    let addr = free_addr();
    let log = logger(&format!("http://{addr}"), "bounded")
        .buffer_bytes(256 * 1024)
        .max_batch_bytes(64 * 1024)
        .build()
        .unwrap();
    for i in 0..20_000 {
        log.write(format!("{i:05} {}", "m".repeat(90)).as_bytes())
            .unwrap();
        assert!(log.stats().queued_bytes <= 256 * 1024);
    }
    let dropped = log.stats().dropped;
    assert!(dropped > 15_000, "{:?}", log.stats());
    let c = Collector::start(Options {
        listen: addr,
        ..Options::default()
    })
    .unwrap();
    log.flush(Duration::from_secs(20)).unwrap();
    let got = texts(&c, "bounded");
    // Each upload reports the drops since the previous notice: together they count every one.
    let reported: u64 = got
        .iter()
        .filter_map(|t| {
            t.strip_prefix("logship: dropped ")?
                .strip_suffix(" entries")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(reported, dropped);
    assert_eq!(
        got.last().unwrap(),
        &format!("19999 {}", "m".repeat(90)),
        "drop_oldest keeps the newest"
    );
    let stats = log.stats();
    assert_eq!(stats.uploaded + stats.dropped, 20_000);
}

#[test]
fn huge_lines_invalid_utf8_and_writes_after_shutdown() {
    let c = collector();
    let log = logger(&c.url(), "edges").build().unwrap();
    let huge = vec![b'x'; 10 << 20];
    log.write(&huge).unwrap();
    log.write(b"bad \xff\xfe bytes").unwrap();
    log.write(b"").unwrap();
    log.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(log.write(b"late"), Err(Error::ShutDown));
    assert_eq!(log.flush(Duration::from_secs(1)), Err(Error::ShutDown));
    assert_eq!(log.shutdown(Duration::from_secs(1)), Ok(()), "idempotent");
    let got = texts(&c, "edges");
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        format!("{}…+{}", "x".repeat(16384), (10 << 20) - 16384)
    );
    assert_eq!(got[1], "bad \u{FFFD}\u{FFFD} bytes");
    assert_eq!(log.stats().written, 2);
}

#[test]
fn the_shared_vectors_arrive_byte_for_byte() {
    let c = collector();
    for low_memory in [false, true] {
        let collection = if low_memory { "vectors-low" } else { "vectors" };
        let vectors: Vec<_> = common::shared_vectors::vectors()
            .into_iter()
            .filter(|v| v.door_compatible() && v.low_memory() == low_memory)
            .collect();
        let log = logger(&c.url(), collection)
            .low_memory(low_memory)
            .buffer_bytes(8 << 20)
            .build()
            .unwrap();
        for v in &vectors {
            log.write(&v.input).unwrap();
        }
        log.shutdown(Duration::from_secs(20)).unwrap();
        let expected: Vec<&common::shared_vectors::Vector> =
            vectors.iter().filter(|v| !v.expected.is_empty()).collect();
        let stored = c.entries(collection);
        assert_eq!(stored.len(), expected.len());
        for (entry, v) in stored.iter().zip(expected) {
            assert_eq!(
                format!("{}\n", entry.raw).as_bytes(),
                &v.expected[..],
                "vector {:?}",
                v.name
            );
        }
    }
}

#[test]
fn subscriptions_are_capped_at_16() {
    let c = collector();
    let log = logger(&c.url(), "tap-cap").build().unwrap();
    let mut taps: Vec<_> = (0..16).map(|_| log.subscribe().unwrap()).collect();
    assert_eq!(
        log.subscribe().err(),
        Some(Error::TooManySubscriptions { max: 16 })
    );
    taps.pop();
    assert!(log.subscribe().is_ok(), "room again once one is dropped");
}

#[test]
fn the_tap_sees_every_entry_with_a_replay_first() {
    let c = collector();
    let log = logger(&c.url(), "tap").build().unwrap();
    log.write(b"before subscribing").unwrap();
    log.flush(Duration::from_secs(5)).unwrap();
    let tap = log.subscribe().unwrap();
    for i in 0..100 {
        log.write(format!("live {i}").as_bytes()).unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 101 {
        seen.push(
            tap.recv_timeout(Duration::from_secs(5))
                .expect("an entry")
                .to_string(),
        );
    }
    assert_eq!(seen[0], r#"{"text":"before subscribing"}"#);
    assert_eq!(seen[100], r#"{"text":"live 99"}"#);
    log.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        tap.recv_timeout(Duration::from_secs(1)),
        None,
        "the tap ends at shutdown"
    );
    let raw: Vec<String> = c.entries("tap").into_iter().map(|e| e.raw).collect();
    assert_eq!(raw, seen, "the tap shows exactly what the collector stored");
}

#[test]
fn io_write_and_write_macros_make_one_entry_per_call() {
    let c = collector();
    let mut log = logger(&c.url(), "io").build().unwrap();
    writeln!(log, "formatted {} and {}", 1, 2 + 2).unwrap();
    log.write_all(b"raw bytes").unwrap();
    log.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(texts(&c, "io"), ["formatted 1 and 4\n", "raw bytes"]);
}

#[test]
fn bad_configuration_is_refused_with_the_key_named_and_no_secret() {
    let err = logger("not a url", "x").build().unwrap_err().to_string();
    assert!(err.contains("base_url"), "{err}");
    let err = logger("http://127.0.0.1:1", "x")
        .private_id("nothex")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("private_id"), "{err}");
    let err = logger("http://127.0.0.1:1", "x")
        .buffer_bytes(10)
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("buffer_bytes"), "{err}");
    let secret = "cd".repeat(32);
    let config = logship::Config::from_json(&format!(
        r#"{{"base_url":"http://h","collection":"c","private_id":"{secret}"}}"#
    ))
    .unwrap();
    assert!(!format!("{config:?}").contains(&secret));
}

/// The C door reads its configuration with `Config::from_json`: an unknown choice is an error
/// naming the key there, at the top level and in a destination, and nothing starts.
#[test]
fn an_unknown_choice_is_an_error_naming_the_key() {
    for (json, key, value) in [
        (r#""on_full":"drop_middle""#, "on_full", "drop_middle"),
        (r#""compression":"brotli""#, "compression", "brotli"),
        (r#""format":"protobuf""#, "format", "protobuf"),
        (
            r#""destinations":[{},{"on_full":"drop_middle"}]"#,
            "destinations[1].on_full",
            "drop_middle",
        ),
    ] {
        let json = format!(r#"{{"base_url":"http://127.0.0.1:1","collection":"c",{json}}}"#);
        let err = logship::Config::from_json(&json).unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{key}: unknown variant `{value}`")),
            "{err}"
        );
    }
}

#[test]
fn stderr_level_echoes_writes_at_or_below_it() {
    if std::env::var_os("LOGSHIP_STDERR_CHILD").is_some() {
        // The child: echo levels 0 and 1, not 2; the collector is irrelevant here.
        let log = logger("http://127.0.0.1:9", "echo")
            .stderr_level(1)
            .build()
            .unwrap();
        for line in ["plain line", "[v1] verbose line", "[v2] debug line"] {
            log.write(line.as_bytes()).unwrap();
        }
        let _ = log.shutdown(Duration::from_millis(10));
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stderr_level_echoes_writes_at_or_below_it",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LOGSHIP_STDERR_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plain line\n"), "{stderr}");
    assert!(stderr.contains("verbose line\n"), "{stderr}");
    assert!(!stderr.contains("debug line"), "{stderr}");
    assert!(
        !stderr.contains("[v1]"),
        "the level prefix is not echoed: {stderr}"
    );
}

/// A redirect is never followed, by any status, to the same server or another: the batch is
/// rejected (not uploaded), `last_error` names the redirect without the private id, nothing
/// reaches the `Location`, and no request carries a Referer.
#[test]
fn redirects_are_never_followed_and_reject_the_batch() {
    let private_id = "cd".repeat(32);
    for status in [301, 302, 303, 307, 308] {
        for other_host in [false, true] {
            let elsewhere = FaultServer::start(None, |_| Fault::Status(200, vec![], ""));
            let redirect_to = Arc::new(Mutex::new(String::new()));
            let location = redirect_to.clone();
            let server = FaultServer::start(None, move |_| {
                let location = location.lock().unwrap().clone();
                Fault::Status(status, vec![("Location", location)], "moved")
            });
            let (target, origin) = match other_host {
                true => (&elsewhere, elsewhere.url()),
                false => (&server, server.url()),
            };
            // A same-path redirect (its Location holds the private id) or another path.
            *redirect_to.lock().unwrap() =
                format!("{}/moved/c/redirects/{private_id}", target.url());
            let log = logger(&server.url(), "redirects")
                .private_id(&private_id)
                .build()
                .unwrap();
            log.write(b"one").unwrap();
            log.write(b"two").unwrap();
            log.flush(Duration::from_secs(20)).unwrap();
            let case = format!("{status} to the {}", ["same", "other"][other_host as usize]);
            let stats = log.stats();
            assert_eq!(
                (stats.uploaded, stats.rejected, stats.retries),
                (0, 2, 0),
                "{case}"
            );
            let problem = log.last_error().expect("the redirect is reported");
            assert_eq!(
                problem,
                format!(
                    "base_url redirects with status {status} to {origin}; use the final address \
                     (redirects are never followed: 2 entries dropped)"
                ),
                "{case}"
            );
            assert!(!problem.contains(&private_id), "{case}");
            let hits = server.hits();
            assert_eq!(hits.len(), 1, "{case}: not followed to the same server");
            assert_eq!(hits[0].path, format!("/c/redirects/{private_id}"), "{case}");
            assert!(hits.iter().all(|h| h.header("Referer").is_none()), "{case}");
            assert!(
                elsewhere.hits().is_empty(),
                "{case}: nothing sent elsewhere"
            );
            assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0, "{case}");
            log.shutdown(Duration::from_secs(5)).unwrap();
        }
    }
}
