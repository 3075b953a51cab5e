//! The `log` and `tracing` facades end to end (features `log` and `tracing`): records and events
//! become JSON entries at the real collector, with their level riding the standard encoding.

use std::time::Duration;

use logship::{Format, Logger};
use logship_collector::{Collector, Options};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt as _;

fn collector() -> Collector {
    Collector::start(Options::default()).expect("collector starts")
}

fn logger(c: &Collector, collection: &str) -> Logger {
    Logger::builder()
        .base_url(&c.url())
        .collection(collection)
        .flush_delay_ms(20)
        .skip_client_time(true)
        .build()
        .unwrap()
}

fn entries(c: &Collector, collection: &str) -> Vec<Value> {
    c.entries(collection).into_iter().map(|e| e.entry).collect()
}

// The `log` crate has one global logger per process: this is the only test that installs it.
#[test]
fn log_records_become_entries_with_target_module_line_and_level() {
    let c = collector();
    let log = logger(&c, "facade.log");
    log.install_log(log::LevelFilter::Trace).unwrap();
    assert!(
        log.install_log(log::LevelFilter::Info).is_err(),
        "one global logger"
    );

    let error_line = line!() + 1;
    log::error!("disk {} is full", "/dev/sda1");
    log::warn!(target: "app::db", "slow query: {:?}", "SELECT \"x\"\n");
    log::info!("a [v1] prefix and a [v2] one stay text, quotes \" and \\ too");
    log::debug!("verbose [v1] still the message");
    log::trace!("most verbose");
    log::logger().flush();

    let module = module_path!();
    // The collector, in this process too, logs through `log` as well: keep this test's records.
    let mut got = entries(&c, "facade.log");
    got.retain(|e| e["module"] == module);
    assert_eq!(
        got[0],
        json!({"level": "ERROR", "target": module, "module": module, "line": error_line,
               "message": "disk /dev/sda1 is full"})
    );
    assert_eq!(got[1]["target"], "app::db");
    assert_eq!(got[1]["module"], module);
    assert_eq!(got[1]["message"], "slow query: \"SELECT \\\"x\\\"\\n\"");
    assert_eq!(
        got[2]["message"],
        "a [v1] prefix and a [v2] one stay text, quotes \" and \\ too"
    );
    assert_eq!(got[3]["message"], "verbose [v1] still the message");
    let levels: Vec<(Value, Value)> = got
        .iter()
        .map(|e| {
            (
                e["level"].clone(),
                e.get("v").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            (json!("ERROR"), Value::Null),
            (json!("WARN"), Value::Null),
            (json!("INFO"), Value::Null),
            (json!("DEBUG"), json!(1)),
            (json!("TRACE"), json!(2)),
        ]
    );
    // Other tests' threads may log through the global logger at any moment, so `written` can
    // run ahead of `uploaded` here; what was flushed was all delivered, nothing lost.
    let stats = log.stats();
    assert!(stats.uploaded >= 5, "{stats:?}");
    assert_eq!((stats.dropped, stats.rejected), (0, 0), "{stats:?}");
    let shipper_thread_records = c
        .entries("facade.log")
        .iter()
        .filter(|e| {
            e.entry["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("reqwest") || t.starts_with("hyper"))
        })
        .count();
    assert_eq!(
        shipper_thread_records, 0,
        "logship's own HTTP client is never shipped"
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
    log::info!("after shutdown: dropped quietly, no panic");
}

#[test]
fn tracing_events_become_entries_with_fields_level_and_spans() {
    let c = collector();
    let log = logger(&c, "facade.tracing");
    let subscriber = tracing_subscriber::registry().with(log.tracing_layer());
    let event_line = line!() + 5;
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", id = 7);
        let _entered = request.enter();
        tracing::debug_span!("db").in_scope(|| {
            tracing::info!(
                user = 42,
                ok = true,
                ratio = 0.25,
                big = u128::MAX,
                name = "bob \"the\" [v1] builder",
                missing = f64::NAN,
                "signed {} in",
                "alice"
            );
        });
        tracing::warn!(error = %std::io::Error::other("boom"), "a message");
        tracing::trace!(list = ?vec![1, 2], "debug [v2] value");
        tracing::error!(code = -3);
    });
    log.flush(Duration::from_secs(10)).unwrap();

    let got = entries(&c, "facade.tracing");
    assert_eq!(got.len(), 4, "{got:?}");
    let module = module_path!();
    assert_eq!(
        got[0],
        json!({
            "level": "INFO", "target": module, "module": module, "line": event_line,
            "message": "signed alice in",
            "fields": {"user": 42, "ok": true, "ratio": 0.25, "big": u128::MAX as f64,
                       "name": "bob \"the\" [v1] builder", "missing": "NaN"},
            "spans": ["request", "db"],
        })
    );
    assert_eq!(got[1]["fields"], json!({"error": "boom"}));
    assert_eq!(got[1]["spans"], json!(["request"]));
    assert_eq!(got[1]["message"], "a message");
    assert_eq!(
        (got[2]["v"].clone(), got[2]["level"].clone()),
        (json!(2), json!("TRACE"))
    );
    assert_eq!(got[2]["message"], "debug [v2] value");
    assert_eq!(got[2]["fields"], json!({"list": "[1, 2]"}));
    assert_eq!(
        (got[3]["level"].clone(), got[3]["fields"].clone()),
        (json!("ERROR"), json!({"code": -3}))
    );
    assert!(
        got[3].get("message").is_none(),
        "an event without a message has none"
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn facade_levels_become_otlp_severities() {
    let c = collector();
    let log = Logger::builder()
        .base_url(&c.url())
        .collection("facade.otlp")
        .format(Format::Otlp)
        .flush_delay_ms(20)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(log.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!("e");
        tracing::warn!("w");
        tracing::info!("i");
        tracing::debug!("d");
        tracing::trace!("t");
    });
    log.flush(Duration::from_secs(10)).unwrap();
    let severities: Vec<(Value, Value)> = entries(&c, "facade.otlp")
        .iter()
        .map(|r| (r["severityNumber"].clone(), r["severityText"].clone()))
        .collect();
    assert_eq!(
        severities,
        [
            (json!(17), json!("ERROR")),
            (json!(13), json!("WARN")),
            (json!(9), json!("INFO")),
            (json!(5), json!("DEBUG")),
            (json!(1), json!("TRACE")),
        ]
    );
    log.shutdown(Duration::from_secs(5)).unwrap();
}
