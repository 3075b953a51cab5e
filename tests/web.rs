//! The browser door in real headless Chromium (wasm-bindgen-test, `run_in_browser`), against the
//! collector on loopback. Driven by `bindings/npm/test/run.mjs` (`npm test`), which starts the
//! collector and a small fault-injecting proxy in front of it and passes their URLs at compile time:
//! LOGSHIP_COLLECTOR_URL and LOGSHIP_FAULT_URL. Without them every test fails.
//!
//! The proxy (`{fault}/{mode}/c/…`) forwards uploads to the collector and records each attempt;
//! `mode` is `ok`, `retry-N` (the first N attempts of each batch get 503 with `Retry-After: 1`) or
//! `fail` (always 503). `GET {fault}/log?collection=C` lists the attempts for collection C, and
//! `GET {fault}/api/…` is the collector's read API for this page.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, Uint8Array, JSON};
use logship::{LogTap, Logger};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const COLLECTOR_URL: Option<&str> = option_env!("LOGSHIP_COLLECTOR_URL");
const FAULT_URL: Option<&str> = option_env!("LOGSHIP_FAULT_URL");

fn collector() -> &'static str {
    COLLECTOR_URL.expect(
        "LOGSHIP_COLLECTOR_URL was not set when this test was compiled: run the browser tests \
         with `npm test` in bindings/npm (test/run.mjs starts the collector)",
    )
}

fn fault() -> &'static str {
    FAULT_URL.expect(
        "LOGSHIP_FAULT_URL was not set when this test was compiled: run the browser tests with \
         `npm test` in bindings/npm",
    )
}

#[wasm_bindgen(inline_js = r#"
export async function getText(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return await response.text();
}
export function setOnline(online) {
  Object.defineProperty(navigator, "onLine", { configurable: true, get: () => online });
  window.dispatchEvent(new Event(online ? "online" : "offline"));
}
export function resetOnline() {
  delete navigator.onLine;
}
export function firePageHide() {
  window.dispatchEvent(new Event("pagehide"));
}
export function collect(tap) {
  const seen = { listener: [], handler: [], closes: 0, allMessageEvents: true };
  tap.addEventListener("message", () => { throw new Error("a throwing tap listener"); });
  tap.addEventListener("message", (ev) => {
    seen.allMessageEvents &&= ev instanceof MessageEvent;
    seen.listener.push(ev.data);
  });
  tap.onmessage = (ev) => seen.handler.push(ev.data);
  tap.addEventListener("close", (ev) => { seen.closes++; seen.code = ev.code; });
  return seen;
}
export function watchReports() {
  const seen = [];
  const original = console.error;
  console.error = function (...args) {
    seen.push(String(args[0]));
    return original.apply(this, args);
  };
  return { seen, stop: () => { console.error = original; } };
}
export function hideCompressionStream() {
  const original = globalThis.CompressionStream;
  delete globalThis.CompressionStream;
  return () => { globalThis.CompressionStream = original; };
}
export function recordBeacons() {
  const original = navigator.sendBeacon;
  const seen = { calls: 0 };
  // The browser's own sendBeacon shares the keepalive budget and may refuse: this one takes every
  // body (and sends nothing), so that what logship does with beacons can be counted.
  navigator.sendBeacon = () => { seen.calls++; return true; };
  seen.restore = () => { navigator.sendBeacon = original; };
  return seen;
}
export function breakRandom() {
  const original = crypto.getRandomValues;
  crypto.getRandomValues = () => { throw new Error("no entropy here"); };
  return () => { crypto.getRandomValues = original; };
}
export function consoleFns() {
  return [console.debug, console.log, console.info, console.warn, console.error];
}
export function useConsole() {
  console.log("hello %s, %d times", "world", 3);
  console.debug("details", { a: 1 });
  console.info("info line");
  console.warn("careful");
  console.error(new Error("bad thing"));
}
export function raiseErrors() {
  const error = new Error("boom");
  window.dispatchEvent(new ErrorEvent("error", {
    message: "Uncaught Error: boom", filename: "http://app.test/app.js", lineno: 12, colno: 34, error,
  }));
  const promise = Promise.resolve();
  window.dispatchEvent(new PromiseRejectionEvent("unhandledrejection", {
    promise, reason: new TypeError("nope"),
  }));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = getText, catch)]
    async fn get_text(url: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = setOnline)]
    fn set_online(online: bool);
    #[wasm_bindgen(js_name = resetOnline)]
    fn reset_online();
    #[wasm_bindgen(js_name = firePageHide)]
    fn fire_page_hide();
    fn collect(tap: &LogTap) -> JsValue;
    #[wasm_bindgen(js_name = watchReports)]
    fn watch_reports() -> JsValue;
    #[wasm_bindgen(js_name = recordBeacons)]
    fn record_beacons() -> JsValue;
    #[wasm_bindgen(js_name = breakRandom)]
    fn break_random() -> Function;
    #[wasm_bindgen(js_name = hideCompressionStream)]
    fn hide_compression_stream() -> Function;
    #[wasm_bindgen(js_name = consoleFns)]
    fn console_fns() -> js_sys::Array;
    #[wasm_bindgen(js_name = useConsole)]
    fn use_console();
    #[wasm_bindgen(js_name = raiseErrors)]
    fn raise_errors();
}

// --- helpers ------------------------------------------------------------------------------------

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Math.random, not fastrand: without an entropy source in wasm, fastrand's fixed seed repeats the
/// names in every engine, and the engines share one collector.
fn unique(prefix: &str) -> String {
    let bits = js_sys::Math::random() * (1u64 << 52) as f64;
    format!("{prefix}-{:013x}", bits as u64)
}

fn options(json: Value) -> JsValue {
    JSON::parse(&json.to_string()).unwrap()
}

fn logger(json: Value) -> Logger {
    Logger::new(options(json)).unwrap_or_else(|e| panic!("new Logger: {e:?}"))
}

async fn promise(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).unwrap()
}

/// Ends a [`watch_reports`]; what logship printed with console.error meanwhile.
fn stop_watching(reports: &JsValue) -> Vec<String> {
    let _ = get(reports, "stop")
        .unchecked_into::<Function>()
        .call0(&JsValue::NULL);
    js_sys::Array::from(&get(reports, "seen"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect()
}

fn stat(log: &Logger, name: &str) -> u64 {
    get(&log.stats(), name).as_f64().unwrap() as u64
}

fn error_message(err: &JsValue) -> String {
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "not an Error: {err:?}"
    );
    String::from(err.unchecked_ref::<js_sys::Error>().message())
}

/// The raw entries (exact text as uploaded, no trailing newline) the collector stored for
/// `collection`, oldest first.
async fn stored(collection: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        entries: Vec<Row<'a>>,
    }
    #[derive(Deserialize)]
    struct Row<'a> {
        id: i64,
        #[serde(borrow)]
        entry: &'a RawValue,
    }
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        // Through the proxy: the collector refuses reads from other origins, this page's included.
        let url = format!(
            "{}/api/entries?collection={collection}&since={since}&limit=1000",
            fault()
        );
        let text = get_text(&url).await.unwrap().as_string().unwrap();
        let page: Page = serde_json::from_str(&text).unwrap();
        let Some(last) = page.entries.last() else {
            return all;
        };
        since = last.id;
        all.extend(page.entries.iter().map(|r| r.entry.get().to_owned()));
    }
}

/// Waits up to `ms` for the collector to hold `n` entries of `collection`.
async fn stored_at_least(collection: &str, n: usize, ms: u32) -> Vec<String> {
    let mut waited = 0;
    loop {
        let entries = stored(collection).await;
        if entries.len() >= n || waited >= ms {
            return entries;
        }
        sleep(100).await;
        waited += 100;
    }
}

#[derive(Debug, Deserialize)]
struct Attempt {
    batch: Option<String>,
    encoding: Option<String>,
    orig_length: Option<u64>,
    body_bytes: u64,
    status: u16,
    at_ms: f64,
    mode: String,
    method: String,
    referer: Option<String>,
}

async fn attempts(collection: &str) -> Vec<Attempt> {
    let text = get_text(&format!("{}/log?collection={collection}", fault()))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn text_entry(text: &str) -> String {
    serde_json::json!({ "text": text }).to_string()
}

// --- the shared encoding vectors ----------------------------------------------------------------

#[path = "common/shared_vectors.rs"]
mod shared_vectors;
use shared_vectors::Vector;

/// The vectors a door reproduces through its options alone (`skip_client_time`, `low_memory`).
fn door_vectors() -> Vec<Vector> {
    shared_vectors::vectors()
        .into_iter()
        .filter(Vector::door_compatible)
        .collect()
}

#[wasm_bindgen_test]
async fn shared_vectors_arrive_byte_for_byte() {
    let vectors = door_vectors();
    assert!(vectors.len() >= 60, "only {} door vectors", vectors.len());
    for low_memory in [false, true] {
        let collection = unique("web-vectors");
        let log = logger(serde_json::json!({
            "baseUrl": collector(), "collection": collection, "skipClientTime": true,
            "lowMemory": low_memory, "flushDelayMs": 60000,
        }));
        let mine: Vec<&Vector> = vectors
            .iter()
            .filter(|v| v.low_memory() == low_memory)
            .collect();
        for v in &mine {
            // Bytes, not strings: several inputs are not UTF-8.
            let bytes = Uint8Array::from(v.input.as_slice());
            assert!(log.write(&bytes).unwrap(), "{}: dropped", v.name);
        }
        promise(log.flush(Some(20_000.0))).await.unwrap();
        let expected: Vec<(&str, String)> = mine
            .iter()
            .filter(|v| !v.expected.is_empty())
            .map(|v| {
                let entry = String::from_utf8(v.expected.clone()).unwrap();
                let entry = entry
                    .strip_suffix('\n')
                    .expect("trailing newline")
                    .to_owned();
                (v.name.as_str(), entry)
            })
            .collect();
        let got = stored(&collection).await;
        assert_eq!(
            got.len(),
            expected.len(),
            "entries stored (low_memory {low_memory})"
        );
        for ((name, want), got) in expected.iter().zip(&got) {
            assert_eq!(got, want, "vector {name:?} (low_memory {low_memory})");
        }
        assert_eq!(
            stat(&log, "uploaded") as usize,
            mine.iter().filter(|v| !v.input.is_empty()).count()
        );
        assert_eq!(promise(log.shutdown(None)).await.unwrap(), 0.0);
    }
}

// --- uploads ------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn bodies_are_gzipped_and_accepted() {
    let collection = unique("web-gzip");
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/ok", fault()), "collection": collection,
        "skipClientTime": true, "flushDelayMs": 60000,
    }));
    let lines: Vec<String> = (0..200)
        .map(|i| format!("line {i:04} of a compressible log"))
        .collect();
    for line in &lines {
        log.write(&JsValue::from_str(line)).unwrap();
    }
    promise(log.flush(Some(20_000.0))).await.unwrap();
    let tried = attempts(&collection).await;
    assert_eq!(tried.len(), 1, "{tried:?}");
    let attempt = &tried[0];
    assert_eq!(attempt.encoding.as_deref(), Some("gzip"));
    assert_eq!(attempt.status, 200);
    let plain = attempt.orig_length.expect("Orig-Content-Length");
    assert!(
        attempt.body_bytes * 4 < plain,
        "{} of {plain} bytes",
        attempt.body_bytes
    );
    assert_eq!(stat(&log, "bytesOnWire"), attempt.body_bytes);
    let want: Vec<String> = lines.iter().map(|l| text_entry(l)).collect();
    assert_eq!(stored(&collection).await, want);
}

#[wasm_bindgen_test]
async fn small_bodies_are_not_compressed() {
    let collection = unique("web-small");
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/ok", fault()), "collection": collection, "flushDelayMs": 0,
    }));
    log.write(&"short".into()).unwrap();
    promise(log.flush(Some(10_000.0))).await.unwrap();
    let tried = attempts(&collection).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].encoding, None);
    assert!(tried[0]
        .batch
        .as_deref()
        .is_some_and(|b| b.len() > 17 && b.contains('-')));
}

#[wasm_bindgen_test]
async fn retries_honour_retry_after_with_the_same_batch_id() {
    let collection = unique("web-retry");
    // Without Retry-After, back-off would wait a random 0-30 s: the test would see it.
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/retry-2", fault()), "collection": collection,
        "skipClientTime": true, "flushDelayMs": 0, "retryInitialMs": 30000, "retryMaxMs": 60000,
    }));
    log.write(&"try, try again".into()).unwrap();
    promise(log.flush(Some(15_000.0))).await.unwrap();
    let tried = attempts(&collection).await;
    assert_eq!(
        tried.iter().map(|a| a.status).collect::<Vec<_>>(),
        [503, 503, 200]
    );
    assert!(tried.iter().all(|a| a.batch == tried[0].batch), "{tried:?}");
    for pair in tried.windows(2) {
        let gap = pair[1].at_ms - pair[0].at_ms;
        assert!(
            (900.0..5000.0).contains(&gap),
            "waited {gap} ms between attempts"
        );
    }
    assert_eq!(stat(&log, "retries"), 2);
    assert_eq!(stat(&log, "uploaded"), 1);
    assert_eq!(stored(&collection).await, [text_entry("try, try again")]);
}

#[wasm_bindgen_test]
async fn shutdown_reports_what_it_could_not_deliver() {
    let collection = unique("web-fail");
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/fail", fault()), "collection": collection, "flushDelayMs": 0,
        "retryInitialMs": 50, "retryMaxMs": 100,
    }));
    log.write(&"one".into()).unwrap();
    log.write(&"two".into()).unwrap();
    let flush = promise(log.flush(Some(300.0))).await.unwrap_err();
    assert!(error_message(&flush).contains("timed out"), "{flush:?}");
    let left = promise(log.shutdown(Some(300.0))).await.unwrap();
    assert_eq!(left, 2.0);
    assert_eq!(
        promise(log.shutdown(Some(300.0))).await.unwrap(),
        2.0,
        "idempotent"
    );
    assert_eq!(stat(&log, "dropped"), 2);
    assert!(stat(&log, "retries") >= 1);
    let after = log.write(&"three".into()).unwrap_err();
    assert!(error_message(&after).contains("shut down"));
    assert!(
        log.last_error().is_some_and(|e| e.contains("503")),
        "{:?}",
        log.last_error()
    );
}

// --- offline, page exit -------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn offline_waits_for_the_online_event() {
    let collection = unique("web-offline");
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/ok", fault()), "collection": collection,
        "skipClientTime": true, "flushDelayMs": 0, "retryInitialMs": 10, "retryMaxMs": 20,
    }));
    set_online(false);
    for line in ["a", "b", "c"] {
        log.write(&line.into()).unwrap();
    }
    sleep(1500).await;
    let waiting_retries = stat(&log, "retries");
    let tried_offline = attempts(&collection).await.len();
    set_online(true);
    let got = stored_at_least(&collection, 3, 10_000).await;
    reset_online();
    assert_eq!(tried_offline, 0, "nothing is sent while offline");
    assert_eq!(waiting_retries, 0, "retries counted while offline");
    assert_eq!(got, ["a", "b", "c"].map(text_entry));
    assert_eq!(attempts(&collection).await.len(), 1);
    assert_eq!(stat(&log, "uploaded"), 3);
}

#[wasm_bindgen_test]
async fn page_exit_sends_the_queue_at_once_and_exactly_once() {
    let collection = unique("web-exit");
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/ok", fault()), "collection": collection,
        "skipClientTime": true, "flushDelayMs": 600000,
    }));
    // About 150 KiB of entries: more than one keepalive budget.
    let lines: Vec<String> = (0..1500)
        .map(|i| format!("{i:05} {}", "x".repeat(90)))
        .collect();
    for line in &lines {
        log.write(&line.as_str().into()).unwrap();
    }
    fire_page_hide();
    // Whatever fit in the keepalive budget left synchronously, without waiting for the delay.
    let early = stored_at_least(&collection, 1, 5000).await;
    assert!(!early.is_empty(), "nothing sent on pagehide");
    promise(log.flush(Some(20_000.0))).await.unwrap();
    let mut got = stored(&collection).await;
    let mut want: Vec<String> = lines.iter().map(|l| text_entry(l)).collect();
    assert_eq!(got.len(), want.len());
    // The exit uploads leave together and may land in any order.
    got.sort();
    want.sort();
    assert!(got == want, "every line, once");
    let tried = attempts(&collection).await;
    let mut per_batch: HashMap<&str, usize> = HashMap::new();
    for a in &tried {
        *per_batch.entry(a.batch.as_deref().unwrap()).or_default() += 1;
        assert_eq!(a.status, 200);
    }
    assert!(
        per_batch.values().all(|&n| n == 1),
        "a batch was sent twice: {per_batch:?}"
    );
    let exit_bodies: Vec<u64> = tried
        .iter()
        .filter(|a| a.encoding.is_none())
        .map(|a| a.body_bytes)
        .collect();
    assert!(
        exit_bodies.iter().all(|&b| b <= 64 * 1024),
        "{exit_bodies:?}"
    );
    assert_eq!(stat(&log, "uploaded"), 1500);
    // Sending all 150 KiB as keepalive requests would have the browser refuse at least two of
    // them. One refusal can still happen without a fault of ours: the browser frees a request's
    // budget a moment after its response, out of the page's sight (it costs a retry, not a line).
    let retries = stat(&log, "retries");
    assert!(retries <= 1, "{retries} keepalive requests refused");
}

/// A beacon has no answer: what it carries is counted as beaconed, never as uploaded; and an
/// upload that needs headers never goes as a beacon (it cannot carry them).
#[wasm_bindgen_test]
async fn beacons_are_counted_apart_and_never_carry_an_upload_that_needs_headers() {
    for with_headers in [false, true] {
        let collection = unique("web-beacon");
        let mut options = serde_json::json!({
            "baseUrl": format!("{}/ok", fault()), "collection": collection,
            "skipClientTime": true, "flushDelayMs": 600000,
        });
        if with_headers {
            options["headers"] = serde_json::json!({"X-Logship-Test": "yes"});
        }
        let log = logger(options);
        // Beacons go only to an address that acknowledged an upload before.
        log.write(&"first".into()).unwrap();
        promise(log.flush(Some(10_000.0))).await.unwrap();
        let beacons = record_beacons();
        for i in 0..1500 {
            let line = format!("{i:05} {}", "x".repeat(90));
            log.write(&line.into()).unwrap();
        }
        fire_page_hide();
        let calls = get(&beacons, "calls").as_f64().unwrap();
        Function::from(get(&beacons, "restore"))
            .call0(&JsValue::NULL)
            .unwrap();
        promise(log.flush(Some(20_000.0))).await.unwrap();
        let (uploaded, beaconed) = (stat(&log, "uploaded"), stat(&log, "beaconed"));
        if with_headers {
            assert_eq!((calls, beaconed, uploaded), (0.0, 0, 1501));
        } else {
            assert!(
                calls > 0.0 && beaconed > 0,
                "{calls} beacons, {beaconed} beaconed"
            );
            assert_eq!(uploaded + beaconed, 1501, "each entry counted once");
            assert!(
                uploaded < 1501,
                "beaconed entries are not counted as uploaded"
            );
        }
        promise(log.shutdown(None)).await.unwrap();
    }
}

/// A redirect is never followed (`redirect: "manual"`), to the same server or another: each
/// batch is one attempt, rejected (not uploaded), reported once, with no Referer.
#[wasm_bindgen_test]
async fn redirects_are_never_followed_and_reject_the_batch() {
    let reports = watch_reports();
    for status in [301, 302, 303, 307, 308] {
        for to in ["same", "other"] {
            let case = format!("{status} to the {to} server");
            let collection = unique("web-redirect");
            let log = logger(serde_json::json!({
                "baseUrl": format!("{}/redirect-{status}-{to}", fault()), "collection": collection,
                "flushDelayMs": 0, "privateId": "cd".repeat(32),
            }));
            log.write(&"one".into()).unwrap();
            promise(log.flush(Some(10_000.0))).await.unwrap();
            log.write(&"two".into()).unwrap();
            promise(log.flush(Some(10_000.0))).await.unwrap();
            assert_eq!(
                (
                    stat(&log, "uploaded"),
                    stat(&log, "rejected"),
                    stat(&log, "retries")
                ),
                (0, 2, 0),
                "{case}"
            );
            let problem = log.last_error().unwrap_or_default();
            assert_eq!(
                problem,
                "base_url redirects (the browser does not say where); use the final address \
                 (redirects are never followed: 1 entries dropped)",
                "{case}"
            );
            let tried = attempts(&collection).await;
            assert_eq!(tried.len(), 2, "{case}: followed: {tried:?}");
            assert!(
                tried
                    .iter()
                    .all(|a| a.method == "POST" && a.mode.starts_with("redirect-")),
                "{case}: {tried:?}"
            );
            assert!(
                tried.iter().all(|a| a.referer.is_none()),
                "{case}: {tried:?}"
            );
            assert!(stored(&collection).await.is_empty(), "{case}");
            let _ = promise(log.shutdown(Some(0.0))).await;
        }
    }
    let elsewhere = get_text(&format!("{}/elsewhere", fault())).await.unwrap();
    assert_eq!(
        elsewhere.as_string().unwrap(),
        "[]",
        "nothing reached the other server"
    );
    let seen: Vec<String> = stop_watching(&reports)
        .into_iter()
        .filter(|m| m.contains("redirects"))
        .collect();
    assert_eq!(seen.len(), 10, "printed once per logger: {seen:?}");
    assert!(
        seen.iter().all(|m| !m.contains(&"cd".repeat(32))),
        "{seen:?}"
    );
}

/// Nothing the browser door says shows a secret: fetch refuses a URL with userinfo with a
/// message that quotes it (private id and password included), and the server may echo anything;
/// `lastError` and the console show neither those nor a header value.
#[wasm_bindgen_test]
async fn no_report_or_last_error_shows_a_secret() {
    let reports = watch_reports();
    let private_id = "ef".repeat(32);
    let secrets = [private_id.as_str(), "pw-secret-9", "Bearer tok-secret-9"];
    let log = logger(serde_json::json!({
        "baseUrl": format!("{}/ok", fault()).replace("http://", "http://user:pw-secret-9@"),
        "collection": unique("web-secrets"), "flushDelayMs": 0, "privateId": private_id,
        "headers": {"Authorization": "Bearer tok-secret-9"}, "retryInitialMs": 50,
    }));
    log.write(&"one".into()).unwrap();
    let mut waited = 0;
    while log.last_error().is_none() && waited < 10_000 {
        sleep(50).await;
        waited += 50;
    }
    let last_error = log.last_error().expect("the refused request is reported");
    let _ = promise(log.shutdown(Some(0.0))).await;
    let seen = stop_watching(&reports);
    assert!(!seen.is_empty());
    // Chromium and Firefox quote the URL in their message (redacted here); WebKit quotes none.
    assert!(
        last_error.contains("<redacted>") || !last_error.contains("://"),
        "the browser's message quoted the URL, and kept its secrets: {last_error}"
    );
    for text in seen.iter().chain([&last_error]) {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} shown: {text}");
        }
    }
}

/// Without the system's random source (crypto.getRandomValues) `new Logger` fails and says why.
#[wasm_bindgen_test]
fn a_failed_random_source_fails_new_logger() {
    let restore = break_random();
    let result = Logger::new(options(serde_json::json!({
        "baseUrl": "http://127.0.0.1:9", "collection": "a", "privateId": "0".repeat(64),
    })));
    restore.call0(&JsValue::NULL).unwrap();
    let message = error_message(&result.err().expect("new Logger failed"));
    assert!(
        message.starts_with("logship: the system's random source failed"),
        "{message}"
    );
    let log = logger(serde_json::json!({"baseUrl": "http://127.0.0.1:9", "collection": "a"}));
    let _ = log.shutdown(Some(0.0));
}

// --- tap ----------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn tap_is_websocket_like_and_survives_throwing_listeners() {
    let collection = unique("web-tap");
    let log = logger(serde_json::json!({
        "baseUrl": collector(), "collection": collection, "skipClientTime": true,
        "flushDelayMs": 0,
    }));
    let tap = log.tap().unwrap();
    let tap_js: &JsValue = tap.as_ref();
    assert_eq!(get(tap_js, "readyState"), 1);
    assert_eq!(get(tap_js, "OPEN"), 1);
    assert_eq!(get(tap_js, "CLOSED"), 3);
    let seen = collect(&tap);
    log.write(&"one".into()).unwrap();
    log.json(&options(serde_json::json!({"event": "click", "x": 1})))
        .unwrap();
    // Delivery is asynchronous: nothing from inside write().
    assert_eq!(js_sys::Array::from(&get(&seen, "listener")).length(), 0);
    log.write(&"[v1] three".into()).unwrap();
    promise(log.flush(Some(10_000.0))).await.unwrap();
    sleep(50).await;
    let listener: Vec<String> = js_sys::Array::from(&get(&seen, "listener"))
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    let handler: Vec<String> = js_sys::Array::from(&get(&seen, "handler"))
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    let want = [
        text_entry("one"),
        r#"{"event":"click","x":1}"#.to_owned(),
        r#"{"v":1,"text":"three"}"#.to_owned(),
    ];
    assert_eq!(listener, want);
    assert_eq!(handler, want);
    assert_eq!(get(&seen, "allMessageEvents"), true);
    assert_eq!(
        stored(&collection).await,
        want,
        "the throwing listener broke nothing"
    );
    let close: Function = get(tap_js, "close").dyn_into().unwrap();
    close.call0(tap_js).unwrap();
    assert_eq!(get(tap_js, "readyState"), 2);
    log.write(&"after close".into()).unwrap();
    promise(log.flush(Some(10_000.0))).await.unwrap();
    sleep(50).await;
    assert_eq!(get(tap_js, "readyState"), 3);
    assert_eq!(get(&seen, "closes"), 1);
    assert_eq!(get(&seen, "code"), 1000);
    assert_eq!(js_sys::Array::from(&get(&seen, "listener")).length(), 3);

    // A new tap starts with a replay of recent entries; shutdown closes it.
    let replayed = log.tap().unwrap();
    let seen = collect(&replayed);
    sleep(50).await;
    assert_eq!(js_sys::Array::from(&get(&seen, "listener")).length(), 4);
    promise(log.shutdown(None)).await.unwrap();
    sleep(50).await;
    assert_eq!(get(&seen, "closes"), 1);
}

/// A listener that logs every entry it receives: each original is echoed once (uploaded), and
/// the echoes never reach the tap, so the stream does not feed itself.
#[wasm_bindgen_test]
async fn a_tap_listener_that_logs_cannot_feed_itself() {
    let collection = unique("web-tap-echo");
    let log = Rc::new(logger(serde_json::json!({
        "baseUrl": collector(), "collection": collection, "skipClientTime": true,
        "flushDelayMs": 0,
    })));
    let tap = log.tap().unwrap();
    let heard = Rc::new(Cell::new(0));
    let (echo_log, echo_heard) = (log.clone(), heard.clone());
    let echo = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        echo_heard.set(echo_heard.get() + 1);
        let entry = get(&event, "data").as_string().unwrap();
        echo_log.write(&format!("heard {entry}").into()).unwrap();
    });
    let add: Function = get(tap.as_ref(), "addEventListener").into();
    add.call2(tap.as_ref(), &"message".into(), echo.as_ref())
        .unwrap();
    for i in 0..3 {
        log.write(&format!("line {i}").into()).unwrap();
    }
    stored_at_least(&collection, 6, 10_000).await;
    // Time for echoes of echoes, if there were any, to be written and uploaded.
    sleep(200).await;
    promise(log.flush(Some(10_000.0))).await.unwrap();
    assert_eq!(heard.get(), 3, "the listener heard only the originals");
    let all = stored(&collection).await;
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.contains(&text_entry(&format!("heard {}", text_entry("line 2")))));
    promise(log.shutdown(None)).await.unwrap();
}

// --- options, capture ---------------------------------------------------------------------------

#[wasm_bindgen_test]
fn invalid_options_throw_errors_naming_the_option() {
    let fails = |json: Value, needle: &str| {
        let err = Logger::new(options(json.clone()))
            .err()
            .unwrap_or_else(|| panic!("{json} was accepted"));
        let message = error_message(&err);
        assert!(
            message.contains(needle),
            "{json}: {message:?} does not name {needle:?}"
        );
    };
    fails(
        serde_json::json!({"baseUrl": "ftp://x", "collection": "a"}),
        "`baseUrl`",
    );
    fails(serde_json::json!({"collection": "a"}), "`baseUrl`");
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a/b"}),
        "`collection`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "flushDelayMs": "soon"}),
        "`flushDelayMs`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "flushDelay": 1}),
        "unknown option `flushDelay`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "spoolDir": "/tmp/x"}),
        "`spoolDir` is native only",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "onFull": "drop_all"}),
        "invalid option `onFull`: must be \"drop_oldest\" or \"drop_newest\", not \"drop_all\"",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "onFull": "drop_middle"}),
        "invalid option `onFull`: must be \"drop_oldest\" or \"drop_newest\", not \"drop_middle\"",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "compression": "brotli"}),
        "invalid option `compression`: must be \"auto\" or \"zstd\" or \"gzip\" or \"none\", not \"brotli\"",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a",
            "destinations": [{}, {"format": "protobuf"}]}),
        "invalid option `destinations[1].format`: must be \"logtail\" or \"otlp\"",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "bufferBytes": 1000}),
        "maxBatchBytes",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "privateId": "xyz"}),
        "`privateId`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "headers": {"Content-Encoding": "x"}}),
        "`headers.Content-Encoding`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "captureConsole": "yes"}),
        "`captureConsole`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "flush_delay_ms": 1}),
        "unknown option `flush_delay_ms` (options are camelCase: `flushDelayMs`)",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "retryInitialMs": 5000, "retryMaxMs": 10}),
        "invalid option `retryInitialMs`: must be at least 1 and at most retryMaxMs",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "maxBatchBytes": 1.5}),
        "invalid option `maxBatchBytes`: must be a whole number, 0 or more, not 1.5",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a",
            "destinations": [{}, {"collection": "b", "lowMemory": true}]}),
        "unknown option `destinations[1].lowMemory`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a",
            "destinations": [{}, {"baseUrl": "nope"}]}),
        "invalid option `destinations[1].baseUrl`",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "headers": {"X_Y": "a\u{1}"}}),
        "invalid option `headers.X_Y`: value must not contain control characters",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "bufferBytes": 2_000_000_000u64}),
        "invalid option `bufferBytes`: must be at most 1 GiB in browsers",
    );
    // An option value the browser cannot honour is refused, not quietly replaced.
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "compression": "zstd"}),
        "invalid option `compression`: \"zstd\" is not available in browsers",
    );
    fails(
        serde_json::json!({"baseUrl": "http://x", "collection": "a",
            "destinations": [{}, {"compression": "zstd"}]}),
        "invalid option `destinations[1].compression`: \"zstd\" is not available in browsers",
    );
    let restore = hide_compression_stream();
    let without_gzip = Logger::new(options(
        serde_json::json!({"baseUrl": "http://x", "collection": "a", "compression": "gzip"}),
    ));
    restore.call0(&JsValue::NULL).unwrap();
    assert!(
        error_message(&without_gzip.err().expect("gzip without CompressionStream"))
            .contains("invalid option `compression`: \"gzip\" needs CompressionStream")
    );
    let err = Logger::new(JsValue::from_str("http://x")).err().unwrap();
    assert!(error_message(&err).contains("options object"));
    let log = logger(serde_json::json!({"baseUrl": "http://127.0.0.1:9", "collection": "a"}));
    assert_eq!(log.public_id().len(), 64);
    let err = log.write(&JsValue::from_f64(5.0)).unwrap_err();
    assert!(error_message(&err).contains("string or a Uint8Array"));
    let _ = log.shutdown(Some(0.0));
}

#[wasm_bindgen_test]
async fn private_id_gives_the_public_id() {
    let log = logger(serde_json::json!({
        "baseUrl": "http://127.0.0.1:9", "collection": "a", "privateId": "0".repeat(64),
    }));
    assert_eq!(
        log.public_id(),
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    );
    promise(log.shutdown(Some(0.0))).await.unwrap();
}

#[wasm_bindgen_test]
async fn console_and_errors_are_captured() {
    let collection = unique("web-capture");
    let before = console_fns();
    let log = logger(serde_json::json!({
        "baseUrl": collector(), "collection": collection, "skipClientTime": true,
        "flushDelayMs": 60000, "captureConsole": true, "captureErrors": true,
    }));
    use_console();
    raise_errors();
    promise(log.flush(Some(10_000.0))).await.unwrap();
    let got = stored(&collection).await;
    assert_eq!(got.len(), 7, "{got:#?}");
    assert_eq!(got[0], text_entry("hello world, 3 times"));
    assert_eq!(got[1], r#"{"v":2,"text":"details {\"a\":1}"}"#);
    assert_eq!(got[2], text_entry("info line"));
    assert_eq!(got[3], text_entry("warn: careful"));
    assert!(
        got[4].starts_with(r#"{"text":"error: Error: bad thing\n"#),
        "{}",
        got[4]
    );
    let error: Value = serde_json::from_str(&got[5]).unwrap();
    assert_eq!(error["event"], "error");
    assert_eq!(error["message"], "Uncaught Error: boom");
    assert_eq!(error["source"], "http://app.test/app.js");
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(12), Some(34))
    );
    assert!(error["stack"].as_str().is_some_and(|s| s.contains("boom")));
    let rejection: Value = serde_json::from_str(&got[6]).unwrap();
    assert_eq!(rejection["event"], "unhandledrejection");
    assert_eq!(rejection["message"], "TypeError: nope");
    assert!(rejection["stack"].is_string());
    promise(log.shutdown(None)).await.unwrap();
    let after = console_fns();
    for i in 0..5 {
        assert!(
            js_sys::Object::is(&before.get(i), &after.get(i)),
            "console restored"
        );
    }
}

#[wasm_bindgen_test]
async fn a_full_buffer_drops_and_says_so() {
    let collection = unique("web-full");
    let log = logger(serde_json::json!({
        "baseUrl": collector(), "collection": collection, "skipClientTime": true,
        "flushDelayMs": 600000, "maxBatchBytes": 1024, "bufferBytes": 2048, "onFull": "drop_newest",
    }));
    let line = "y".repeat(100);
    let accepted = (0..40)
        .filter(|_| log.write(&line.as_str().into()).unwrap())
        .count();
    assert!(accepted < 40 && accepted > 5, "{accepted}");
    assert_eq!(stat(&log, "dropped") as usize, 40 - accepted);
    promise(log.flush(Some(10_000.0))).await.unwrap();
    let got = stored(&collection).await;
    assert_eq!(
        got[0],
        text_entry(&format!("logship: dropped {} entries", 40 - accepted))
    );
    assert_eq!(got.len(), accepted + 1);
}

#[wasm_bindgen_test]
async fn several_destinations_each_get_every_entry() {
    let first = unique("web-dest-a");
    let second = unique("web-dest-b");
    let log = logger(serde_json::json!({
        "baseUrl": collector(), "collection": first, "skipClientTime": true, "flushDelayMs": 0,
        "destinations": [{}, {"collection": second, "format": "otlp"}],
    }));
    log.write(&"to both".into()).unwrap();
    log.json(&options(serde_json::json!({"event": "both"})))
        .unwrap();
    promise(log.flush(Some(10_000.0))).await.unwrap();
    assert_eq!(
        stored(&first).await,
        [text_entry("to both"), r#"{"event":"both"}"#.to_owned()]
    );
    let otlp = stored(&second).await;
    assert_eq!(otlp.len(), 2, "{otlp:?}");
    assert!(otlp[0].contains("to both"), "{otlp:?}");
    let each = log.destination_stats();
    assert_eq!(each.length(), 2);
    let names: Vec<String> = each
        .iter()
        .map(|d| get(&d, "name").as_string().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("{}/c/{first}", collector()),
            format!("{}/v1/logs", collector())
        ]
    );
    for d in each.iter() {
        assert_eq!(get(&d, "uploaded"), 2);
        assert_eq!(get(&d, "usingBackup"), false);
    }
    assert_eq!(promise(log.shutdown(None)).await.unwrap(), 0.0);
}
