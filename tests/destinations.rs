//! `destinations` and `backup_url` end to end, on loopback: each destination has its own queue,
//! retries and stats; a dead or hanging one never delays the others or the caller, and catches up
//! when it returns; a failing primary hands over to its backup and takes over again.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::eventually;
use common::fault::{Fault, FaultServer};
use logship::{Config, Destination, Format, Logger};
use logship_collector::{Collector, Options};

fn collector() -> Collector {
    Collector::start(Options::default()).expect("collector starts")
}

fn texts(c: &Collector, collection: &str) -> Vec<String> {
    c.entries(collection)
        .iter()
        .map(|e| e.entry["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A relay to `upstream` that hangs every request while `down` is set (a server that accepts
/// connections and never answers: the worst kind of dead).
fn switchable_relay(upstream: &Collector, down: &Arc<AtomicBool>, when_down: Fault) -> FaultServer {
    let down = down.clone();
    FaultServer::start(Some(upstream.addr()), move |_| {
        if down.load(Ordering::SeqCst) {
            when_down.clone()
        } else {
            Fault::Forward
        }
    })
}

#[test]
fn a_hanging_destination_never_delays_the_live_one_and_catches_up_when_it_returns() {
    let live = collector();
    let late = collector();
    let down = Arc::new(AtomicBool::new(true));
    let relay = switchable_relay(&late, &down, Fault::Hang);
    let private_id = "cd".repeat(32);
    let log = Logger::builder()
        .collection("fanout")
        .skip_client_time(true)
        .private_id(&private_id)
        .destination(Destination {
            base_url: Some(live.url()),
            flush_delay_ms: Some(50),
            ..Destination::default()
        })
        .destination(Destination {
            base_url: Some(relay.url()),
            flush_delay_ms: Some(50),
            request_timeout_ms: Some(300),
            retry_initial_ms: Some(20),
            retry_max_ms: Some(200),
            ..Destination::default()
        })
        .build()
        .unwrap();
    let sent: Vec<String> = (0..2000).map(|i| format!("fan-out line {i}")).collect();
    let start = Instant::now();
    for line in &sent {
        log.write(line.as_bytes()).unwrap();
    }
    // Waiting on the dead destination would cost at least its 300 ms request timeout per write
    // (10 minutes for these 2000); the bounds are loose so that a loaded machine does not flake.
    let writing = start.elapsed();
    assert!(
        writing < Duration::from_secs(5),
        "the caller never waits: {writing:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || live.entries("fanout").len()
            == sent.len()),
        "the live destination has everything while the other is dead: {} of {}",
        live.entries("fanout").len(),
        sent.len()
    );
    assert_eq!(texts(&live, "fanout"), sent);

    // The dead one keeps trying, and waits alone.
    assert!(eventually(Duration::from_secs(10), || {
        log.destination_stats()[1].stats.retries >= 2
    }));
    let stats = log.destination_stats();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0].name, format!("{}/c/fanout", live.url()));
    assert_eq!(stats[1].name, format!("{}/c/fanout", relay.url()));
    assert!(stats.iter().all(|d| !d.name.contains(&private_id)));
    assert_eq!(stats[0].stats.uploaded, sent.len() as u64);
    assert_eq!(stats[1].stats.uploaded, 0);
    assert_eq!(
        stats[1].stats.written,
        sent.len() as u64,
        "its own copy of every write"
    );
    let problem = stats[1]
        .last_error
        .clone()
        .expect("the timeouts are reported");
    assert!(problem.contains("no response"), "{problem}");
    assert!(
        log.flush(Duration::from_millis(200)).is_err(),
        "a flush waits for every destination"
    );
    assert!(late.entries("fanout").is_empty());

    // It returns: everything arrives, in order, once.
    down.store(false, Ordering::SeqCst);
    log.flush(Duration::from_secs(20)).unwrap();
    assert_eq!(texts(&late, "fanout"), sent);
    let stats = log.destination_stats();
    assert_eq!(stats[1].stats.uploaded, sent.len() as u64);
    assert_eq!(
        (stats[0].stats.dropped, stats[1].stats.dropped),
        (0, 0),
        "nothing lost on either side"
    );
    assert_eq!(
        log.stats(),
        stats[0].stats,
        "stats() is the first destination's"
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn uploads_fail_over_to_the_backup_and_return_when_the_primary_answers() {
    let primary = collector();
    let backup = collector();
    let down = Arc::new(AtomicBool::new(true));
    let relay = switchable_relay(&primary, &down, Fault::Status(503, vec![], "down"));
    let log = Logger::builder()
        .base_url(&relay.url())
        .backup_url(&backup.url())
        .failover_probe_ms(300)
        .collection("failover")
        .skip_client_time(true)
        .flush_delay_ms(20)
        .retry_initial_ms(20)
        .retry_max_ms(100)
        .build()
        .unwrap();
    let outage: Vec<String> = (0..50).map(|i| format!("during the outage {i}")).collect();
    for line in &outage {
        log.write(line.as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(texts(&backup, "failover"), outage);
    assert!(primary.entries("failover").is_empty());
    let stats = &log.destination_stats()[0];
    assert!(stats.using_backup, "{stats:?}");
    assert_eq!(stats.name, format!("{}/c/failover", relay.url()));
    let refused = relay.hits().len();
    assert!(refused >= 3, "three failures before the switch: {refused}");

    // While on the backup, the primary is probed about every 300 ms, not on every batch.
    for i in 0..5 {
        log.write(format!("still out {i}").as_bytes()).unwrap();
        log.flush(Duration::from_secs(10)).unwrap();
    }
    assert!(
        relay.hits().len() <= refused + 2,
        "{} probes",
        relay.hits().len() - refused
    );
    assert_eq!(backup.entries("failover").len(), 55);

    // The primary is back: after the next probe, uploads go there again.
    down.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(350));
    let after: Vec<String> = (0..50).map(|i| format!("after recovery {i}")).collect();
    for line in &after {
        log.write(line.as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(texts(&primary, "failover"), after);
    assert_eq!(backup.entries("failover").len(), 55);
    assert!(!log.destination_stats()[0].using_backup);
    let stats = log.stats();
    assert_eq!((stats.uploaded, stats.dropped, stats.rejected), (105, 0, 0));
    log.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn the_tap_shows_each_entry_once_however_many_destinations() {
    let c = collector();
    let log = Logger::builder()
        .collection("tap")
        .skip_client_time(true)
        .flush_delay_ms(20)
        .destination(Destination {
            base_url: Some(c.url()),
            ..Destination::default()
        })
        .destination(Destination {
            base_url: Some(c.url()),
            collection: Some("tap.copy".into()),
            ..Destination::default()
        })
        .destination(Destination {
            base_url: Some(c.url()),
            format: Some(Format::Otlp),
            collection: Some("tap.otlp".into()),
            ..Destination::default()
        })
        .build()
        .unwrap();
    let tap = log.subscribe().unwrap();
    for i in 0..3 {
        log.write(format!("seen once {i}").as_bytes()).unwrap();
    }
    log.flush(Duration::from_secs(10)).unwrap();
    let mut seen = Vec::new();
    while let Some(entry) = tap.recv_timeout(Duration::from_millis(300)) {
        seen.push(entry.to_string());
    }
    assert_eq!(
        seen,
        (0..3)
            .map(|i| format!(r#"{{"text":"seen once {i}"}}"#))
            .collect::<Vec<_>>()
    );
    assert_eq!(c.entries("tap").len(), 3);
    assert_eq!(c.entries("tap.copy").len(), 3);
    assert_eq!(c.entries("tap.otlp").len(), 3);
    log.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn destinations_in_json_configuration_as_the_c_and_js_doors_give_it() {
    let c = collector();
    let json = format!(
        r#"{{"collection":"json.app","skip_client_time":true,"flush_delay_ms":20,
            "destinations":[
              {{"base_url":"{url}"}},
              {{"base_url":"{url}","format":"otlp","collection":"json.otel"}}
            ]}}"#,
        url = c.url()
    );
    let log = Logger::from_config(Config::from_json(&json).unwrap()).unwrap();
    log.write(b"[v1] to both").unwrap();
    log.flush(Duration::from_secs(10)).unwrap();
    let logtail = c.entries("json.app");
    assert_eq!(logtail.len(), 1);
    assert_eq!(
        logtail[0].entry,
        serde_json::json!({"v": 1, "text": "to both"})
    );
    let otlp = c.entries("json.otel");
    assert_eq!(otlp.len(), 1);
    assert_eq!(otlp[0].entry["body"]["stringValue"], "to both");
    assert_eq!(otlp[0].entry["severityText"], "DEBUG");
    let names: Vec<String> = log
        .destination_stats()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(
        names,
        [
            format!("{}/c/json.app", c.url()),
            format!("{}/v1/logs", c.url())
        ]
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
}
