//! The core's decisions, tested once, through the real shipper with a fake Transport, Timer and
//! Clock on virtual time.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;

use super::config::Config;
use super::queue::PushError;
use super::secret::Redactor;
use super::shipper::{Shipper, ShipperSettings};
use super::traits::{Clock, Codec, Request, Response, Timer, Transport, TransportError};
use super::Shared;

/// 2023-11-14T22:13:20Z
const BASE_NANOS: i64 = 1_700_000_000 * 1_000_000_000;

#[derive(Debug, Clone)]
enum Reply {
    Status(u16, Option<&'static str>, &'static str),
    /// A redirect with this status and `Location`.
    Redirect(u16, String),
    Fail,
    Hang,
}

#[derive(Debug, Clone)]
struct Sent {
    at: Duration,
    url: String,
    body: Vec<u8>,
    batch_id: String,
    content_encoding: Option<&'static str>,
    orig_content_length: Option<usize>,
    headers: Vec<(String, String)>,
}

impl Sent {
    fn entries(&self) -> Vec<serde_json::Value> {
        assert_eq!(self.content_encoding, None, "test bodies are plain");
        serde_json::from_slice(&self.body).expect("body is a JSON array")
    }

    fn texts(&self) -> Vec<String> {
        self.entries()
            .iter()
            .map(|e| e["text"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

#[derive(Default)]
struct World {
    now: Cell<Duration>,
    sleepers: RefCell<Vec<(Duration, Waker)>>,
    script: RefCell<VecDeque<Reply>>,
    sent: RefCell<Vec<Sent>>,
    /// URLs that fail every request (a server that is down), whatever the script says.
    down: RefCell<Vec<String>>,
    /// How long each request takes to be answered (virtual time).
    latency: Cell<Duration>,
    /// Whether the transport says it compresses on another thread.
    background: Cell<bool>,
    /// The network is down (every request fails, `is_online` says so) until this virtual time.
    offline_until: Cell<Duration>,
}

#[derive(Clone, Default)]
struct Fake(Rc<World>);

struct Sleep {
    world: Rc<World>,
    deadline: Duration,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.world.now.get() >= self.deadline {
            return Poll::Ready(());
        }
        self.world
            .sleepers
            .borrow_mut()
            .push((self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

impl Timer for Fake {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        Sleep {
            world: self.0.clone(),
            deadline: self.0.now.get() + duration,
        }
    }
}

impl Clock for Fake {
    fn unix_nanos(&self) -> i64 {
        BASE_NANOS + self.0.now.get().as_nanos() as i64
    }
}

impl Transport for Fake {
    fn send<'a>(
        &'a self,
        request: Request<'a>,
    ) -> impl Future<Output = Result<Response, TransportError>> + 'a {
        self.0.sent.borrow_mut().push(Sent {
            at: self.0.now.get(),
            url: request.url.to_owned(),
            body: request.body.to_vec(),
            batch_id: request.batch_id.to_owned(),
            content_encoding: request.content_encoding,
            orig_content_length: request.orig_content_length,
            headers: (request.headers.iter())
                .map(|(name, value)| (name.clone(), value.expose().to_owned()))
                .collect(),
        });
        let reply =
            if self.0.down.borrow().iter().any(|url| url == request.url) || !self.is_online() {
                Reply::Fail
            } else {
                self.0
                    .script
                    .borrow_mut()
                    .pop_front()
                    .unwrap_or(Reply::Status(200, None, ""))
            };
        let latency = self.sleep(self.0.latency.get());
        async move {
            latency.await;
            match reply {
                Reply::Status(status, retry_after, body) => Ok(Response {
                    status,
                    retry_after: retry_after.map(str::to_owned),
                    body_prefix: body.as_bytes().to_vec(),
                    ..Response::default()
                }),
                Reply::Redirect(status, location) => Ok(Response {
                    status,
                    location: Some(location),
                    ..Response::default()
                }),
                Reply::Fail => Err(TransportError {
                    message: "connection reset".into(),
                }),
                Reply::Hang => std::future::pending().await,
            }
        }
    }

    fn compress<'a>(
        &'a self,
        codec: Codec,
        body: &'a [u8],
    ) -> impl Future<Output = Option<Vec<u8>>> + 'a {
        // A stand-in codec: halves the body, so the size rule can be checked.
        std::future::ready((codec == Codec::Zstd).then(|| body[..body.len() / 2].to_vec()))
    }

    fn preferred_codec(&self) -> Option<Codec> {
        Some(Codec::Zstd)
    }

    fn compresses_in_background(&self) -> bool {
        self.0.background.get()
    }

    fn is_online(&self) -> bool {
        self.0.now.get() >= self.0.offline_until.get()
    }

    fn until_online(&self) -> impl Future<Output = ()> {
        self.sleep(self.0.offline_until.get().saturating_sub(self.0.now.get()))
    }
}

struct Harness {
    fake: Fake,
    pool: LocalPool,
    shared: Arc<Shared>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    /// A logger with `extra` JSON configuration members, on virtual time, compression off unless asked.
    fn new(extra: &str) -> Harness {
        let mut json: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"base_url":"http://collector.test","collection":"core.test","skip_client_time":true,"compression":"none"}"#,
        )
        .unwrap();
        json.extend(
            serde_json::from_str::<serde_json::Map<_, _>>(&format!("{{{extra}}}")).unwrap(),
        );
        let config = Config::from_json(&serde_json::Value::Object(json).to_string()).unwrap();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let shared = Shared::new(
            &config,
            42,
            None,
            (
                Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_owned())),
                Redactor::default(),
            ),
        );
        let fake = Fake::default();
        let settings =
            ShipperSettings::from_config(&config, "http://collector.test/c/core.test/id".into(), 1);
        let mut shipper = Shipper::new(
            shared.clone(),
            fake.clone(),
            fake.clone(),
            fake.clone(),
            settings,
        );
        if let Some(backup_url) = &config.backup_url {
            let probe = Duration::from_millis(config.failover_probe_ms);
            shipper = shipper.with_backup(backup_url.clone(), probe);
        }
        let pool = LocalPool::new();
        pool.spawner().spawn_local(shipper.run()).unwrap();
        let mut h = Harness {
            fake,
            pool,
            shared,
            errors,
        };
        h.pool.run_until_stalled();
        h
    }

    fn script(&self, replies: &[Reply]) {
        self.fake
            .0
            .script
            .borrow_mut()
            .extend(replies.iter().cloned());
    }

    fn write(&mut self, text: &str) -> Result<(), PushError> {
        let result = self
            .shared
            .write(text.as_bytes(), self.fake.unix_nanos(), true);
        self.pool.run_until_stalled();
        result
    }

    /// Advances virtual time by `by`, stopping at each timer deadline on the way.
    fn advance(&mut self, by: Duration) {
        let target = self.fake.0.now.get() + by;
        loop {
            self.pool.run_until_stalled();
            let next = self
                .fake
                .0
                .sleepers
                .borrow()
                .iter()
                .map(|(d, _)| *d)
                .filter(|d| *d <= target)
                .min();
            let Some(next) = next else { break };
            self.fake.0.now.set(next.max(self.fake.0.now.get()));
            let due: Vec<Waker> = {
                let mut sleepers = self.fake.0.sleepers.borrow_mut();
                let (due, rest) = sleepers.drain(..).partition(|(d, _)| *d <= next);
                *sleepers = rest;
                due.into_iter().map(|(_, w)| w).collect()
            };
            due.into_iter().for_each(Waker::wake);
        }
        self.fake.0.now.set(target);
        self.pool.run_until_stalled();
    }

    fn sent(&self) -> Vec<Sent> {
        self.fake.0.sent.borrow().clone()
    }

    fn stats_balance(&self) {
        let s = self.shared.queue.stats();
        let queued = self.shared.queue.unsettled();
        assert_eq!(
            s.written,
            s.uploaded + s.dropped + s.rejected + queued,
            "{s:?}"
        );
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_first_write_arms_the_flush_delay_and_later_writes_do_not_rearm_it() {
    let mut h = Harness::new("");
    h.write("one").unwrap();
    h.advance(ms(1500));
    h.write("two").unwrap();
    h.advance(ms(499));
    assert!(h.sent().is_empty(), "nothing before the delay");
    h.advance(ms(1));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].at, ms(2000));
    assert_eq!(sent[0].texts(), ["one", "two"]);
    assert_eq!(sent[0].body, b"[{\"text\":\"one\"}\n,{\"text\":\"two\"}\n]");
    h.advance(ms(500));
    h.write("three").unwrap();
    h.advance(ms(2000));
    assert_eq!(h.sent()[1].at, ms(4500));
    assert_eq!(h.shared.queue.stats().uploaded, 3);
}

#[test]
fn flush_delay_zero_uploads_at_once_and_flush_skips_the_delay() {
    let mut h = Harness::new(r#""flush_delay_ms":0"#);
    h.write("now").unwrap();
    assert_eq!(h.sent().len(), 1);
    assert_eq!(h.sent()[0].at, Duration::ZERO);

    let mut h = Harness::new("");
    h.write("a").unwrap();
    let target = h.shared.queue.request_flush();
    h.pool.run_until_stalled();
    assert_eq!(h.sent().len(), 1);
    assert!(h.shared.queue.is_settled(target));
}

#[test]
fn a_full_batch_goes_without_waiting_and_batches_stop_growing_at_max_batch_bytes() {
    let mut h = Harness::new(r#""max_batch_bytes":1024"#);
    let line = "x".repeat(90);
    for _ in 0..30 {
        h.write(&line).unwrap();
    }
    let sent = h.sent();
    assert!(!sent.is_empty(), "a full queue is urgent");
    for s in &sent {
        assert!(s.body.len() < 1024 + 120, "{}", s.body.len());
        assert!(s.body.len() >= 1024);
    }
    h.advance(ms(2000));
    let total: usize = h.sent().iter().map(|s| s.texts().len()).sum();
    assert_eq!(total, 30);
}

#[test]
fn retries_back_off_exponentially_with_full_jitter_and_keep_the_batch_id() {
    let mut h = Harness::new(r#""flush_delay_ms":0,"retry_initial_ms":1000,"retry_max_ms":60000"#);
    h.script(&[
        Reply::Status(500, None, ""),
        Reply::Fail,
        Reply::Status(502, None, ""),
        Reply::Status(503, None, ""),
    ]);
    h.write("retry me").unwrap();
    h.advance(Duration::from_secs(120));
    let sent = h.sent();
    assert_eq!(sent.len(), 5);
    for (i, pair) in sent.windows(2).enumerate() {
        let delay = pair[1].at - pair[0].at;
        assert!(delay <= ms(1000 << i), "attempt {i}: {delay:?}");
        assert_eq!(pair[0].batch_id, pair[1].batch_id);
        assert_eq!(pair[0].body, pair[1].body);
    }
    let s = h.shared.queue.stats();
    assert_eq!((s.retries, s.uploaded, s.rejected), (4, 1, 0));
}

#[test]
fn retry_after_is_respected_in_both_forms_and_capped() {
    let mut h = Harness::new(r#""flush_delay_ms":0"#);
    let date = "Tue, 14 Nov 2023 22:13:30 GMT"; // BASE + 10 s
    h.script(&[
        Reply::Status(503, Some("7"), ""),
        Reply::Status(429, Some(date), ""),
        Reply::Status(503, Some("99999"), ""),
    ]);
    h.write("x").unwrap();
    h.advance(Duration::from_secs(400));
    let at: Vec<Duration> = h.sent().iter().map(|s| s.at).collect();
    assert_eq!(
        at,
        [
            Duration::ZERO,
            Duration::from_secs(7),
            Duration::from_secs(10),
            Duration::from_secs(310)
        ]
    );
}

#[test]
fn a_hanging_server_times_out_each_attempt() {
    let mut h = Harness::new(
        r#""flush_delay_ms":0,"request_timeout_ms":5000,"retry_initial_ms":1,"retry_max_ms":1"#,
    );
    h.script(&[Reply::Hang]);
    h.write("x").unwrap();
    h.advance(ms(4999));
    assert_eq!(h.sent().len(), 1);
    h.advance(ms(2));
    assert_eq!(h.sent().len(), 2);
    assert_eq!(h.shared.queue.stats().uploaded, 1);
}

#[test]
fn status_413_splits_in_halves_and_a_single_entry_is_rejected() {
    let mut h = Harness::new("");
    h.script(&[
        Reply::Status(413, None, ""),
        Reply::Status(413, None, ""),
        Reply::Status(413, None, ""),
    ]);
    for text in ["a", "b", "c", "d"] {
        h.write(text).unwrap();
    }
    h.advance(ms(2000));
    let sent = h.sent();
    let texts: Vec<Vec<String>> = sent.iter().map(Sent::texts).collect();
    assert_eq!(
        texts,
        [
            vec!["a", "b", "c", "d"],
            vec!["a", "b"],
            vec!["a"],
            vec!["b"],
            vec!["c", "d"]
        ]
    );
    let ids: std::collections::HashSet<&str> = sent.iter().map(|s| s.batch_id.as_str()).collect();
    assert_eq!(ids.len(), 5, "each half is a new batch");
    let s = h.shared.queue.stats();
    assert_eq!((s.uploaded, s.rejected, s.retries), (3, 1, 0));
    h.stats_balance();
}

#[test]
fn other_4xx_rejects_the_batch_once_and_reports_it() {
    let mut h = Harness::new("");
    h.script(&[
        Reply::Status(400, None, "bad entry"),
        Reply::Status(400, None, "bad entry"),
    ]);
    h.write("poison").unwrap();
    h.advance(ms(2000));
    h.write("poison 2").unwrap();
    h.advance(ms(2000));
    h.write("fine").unwrap();
    h.advance(ms(2000));
    assert_eq!(h.sent().len(), 3, "no retry of a rejected batch");
    let s = h.shared.queue.stats();
    assert_eq!((s.uploaded, s.rejected, s.retries), (1, 2, 0));
    let errors = h.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    assert!(
        errors[0].contains("400") && errors[0].contains("bad entry"),
        "{errors:?}"
    );
    assert_eq!(h.shared.last_error().as_deref(), Some(errors[0].as_str()));
}

#[test]
fn a_redirect_rejects_the_batch_once_and_reports_it_without_the_private_id() {
    let mut h = Harness::new("");
    // A same-path redirect: its Location holds the upload URL's private id.
    let location = "https://collector.test/c/core.test/id".to_owned();
    h.script(&[
        Reply::Redirect(302, location.clone()),
        Reply::Redirect(307, location),
    ]);
    h.write("one").unwrap();
    h.advance(ms(2000));
    h.write("two").unwrap();
    h.write("three").unwrap();
    h.advance(ms(2000));
    h.write("fine").unwrap();
    h.advance(ms(2000));
    let sent = h.sent();
    assert_eq!(sent.len(), 3, "never retried, never sent elsewhere");
    assert!(sent
        .iter()
        .all(|s| s.url == "http://collector.test/c/core.test/id"));
    let s = h.shared.queue.stats();
    assert_eq!((s.uploaded, s.rejected, s.retries), (1, 3, 0));
    let errors = h.errors.lock().unwrap().clone();
    assert_eq!(
        errors,
        [
            "base_url redirects with status 302 to https://collector.test; use the final address \
          (redirects are never followed: 1 entries dropped)"
        ],
        "printed once"
    );
    let last = h.shared.last_error().unwrap();
    assert!(last.contains("status 307") && last.contains("2 entries dropped"));
    assert!(!last.contains("/id"), "{last}");
    h.stats_balance();
}

#[test]
fn drop_oldest_counts_exactly_and_the_next_upload_says_so() {
    let mut h =
        Harness::new(r#""max_batch_bytes":1024,"buffer_bytes":2048,"flush_delay_ms":60000"#);
    h.script(&[Reply::Hang]);
    h.write("first").unwrap();
    h.shared.queue.request_flush();
    h.pool.run_until_stalled();
    assert_eq!(h.sent().len(), 1, "the first batch is in flight, hanging");
    // Each 100-byte write takes 121 bytes of queue; what does not fit pushes out the oldest.
    let line = |i: usize| format!("{i:03}{}", "y".repeat(97));
    for i in 0..100 {
        h.write(&line(i)).unwrap();
    }
    let s = h.shared.queue.stats();
    assert!(s.queued_bytes <= 2048, "{s:?}");
    // Room next to the in-flight batch: its body and the HTTP client's copy of it.
    let in_flight = "[{\"text\":\"first\"}\n]".len();
    let kept = (2048 - 2 * in_flight) / 121;
    assert_eq!(s.dropped, 100 - kept as u64);
    h.advance(ms(45_000 + 60_000 + 2000));
    let sent = h.sent();
    let texts: Vec<String> = sent[2..].iter().flat_map(Sent::texts).collect();
    assert_eq!(texts[0], format!("logship: dropped {} entries", 100 - kept));
    // The next batch goes out in order; while it is in flight its compressed form and the
    // client's copy make room by pushing out the oldest of the rest (counted as dropped, and
    // noticed by the next upload).
    let expected: Vec<String> = (100 - kept..100).map(line).collect();
    let lines = &texts[1..];
    assert_eq!(lines, &expected[..lines.len()]);
    let pushed_out = (kept - lines.len()) as u64;
    assert_eq!(
        h.shared.queue.stats().dropped,
        (100 - kept) as u64 + pushed_out
    );
    h.stats_balance();
}

#[test]
fn drop_newest_refuses_the_write_and_keeps_the_oldest() {
    let mut h = Harness::new(
        r#""max_batch_bytes":1024,"buffer_bytes":2048,"on_full":"drop_newest","flush_delay_ms":60000"#,
    );
    h.script(&[Reply::Hang]);
    h.write("first").unwrap();
    h.shared.queue.request_flush();
    h.pool.run_until_stalled();
    let mut refused = 0;
    for i in 0..40 {
        if h.write(&format!("{i:03}{}", "z".repeat(97))) == Err(PushError::Full) {
            refused += 1;
        }
    }
    let s = h.shared.queue.stats();
    assert_eq!(s.dropped, refused);
    assert!(refused > 20);
    h.advance(ms(45_000 + 60_000 + 2000));
    let texts: Vec<String> = h.sent()[2..].iter().flat_map(Sent::texts).collect();
    assert_eq!(texts[0], format!("logship: dropped {refused} entries"));
    assert!(texts[1].starts_with("000"));
    assert_eq!(texts.len() as u64, 1 + 40 - refused);
    h.stats_balance();
}

#[test]
fn compression_is_used_only_above_256_bytes_when_it_saves_more_than_64() {
    let mut h = Harness::new(r#""compression":"auto","flush_delay_ms":0"#);
    h.write("short").unwrap();
    h.write(&"long ".repeat(100)).unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].content_encoding, None);
    assert_eq!(sent[1].content_encoding, Some("zstd"));
    let orig = sent[1].orig_content_length.unwrap();
    assert_eq!(sent[1].body.len(), orig / 2);
    assert_eq!(
        h.shared.queue.stats().bytes_on_wire,
        (sent[0].body.len() + sent[1].body.len()) as u64
    );
}

#[test]
fn configured_headers_go_on_every_upload() {
    let mut h = Harness::new(r#""flush_delay_ms":0,"headers":{"Authorization":"Bearer t"}"#);
    h.write("x").unwrap();
    assert_eq!(
        h.sent()[0].headers,
        [("Authorization".to_owned(), "Bearer t".to_owned())]
    );
}

/// A page-exit beacon has no answer: its entries are counted as beaconed, never as uploaded.
#[test]
fn beaconed_entries_are_counted_apart_from_uploaded_ones() {
    let h = Harness::new(r#""flush_delay_ms":600000"#);
    for text in ["a", "b", "c"] {
        h.shared.write(text.as_bytes(), 0, true).unwrap();
    }
    let (mut scratch, mut taken) = (Vec::new(), Vec::new());
    h.shared.queue.take(1 << 20, &mut scratch, &mut taken);
    h.shared.queue.settle_beaconed(taken.len() as u64);
    let stats = h.shared.queue.stats();
    assert_eq!(
        (stats.written, stats.uploaded, stats.beaconed, stats.dropped),
        (3, 0, 3, 0)
    );
}

/// Offline is not the server's failure: no retry is counted and the back-off does not grow; the
/// batch goes again the moment the network is back.
#[test]
fn offline_time_counts_no_retries_and_grows_no_back_off() {
    let mut h = Harness::new(r#""flush_delay_ms":0,"retry_initial_ms":1000,"retry_max_ms":1000"#);
    h.fake.0.offline_until.set(ms(30_000));
    h.write("while offline").unwrap();
    h.advance(ms(29_999));
    assert_eq!(
        h.sent().len(),
        1,
        "one attempt, then a wait for the network"
    );
    assert_eq!(h.shared.queue.stats().retries, 0);
    h.advance(ms(1));
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].at, ms(30_000), "at once, without a back-off");
    assert_eq!(h.shared.queue.stats().uploaded, 1);
    assert_eq!(h.shared.queue.stats().retries, 0);
}

/// What a tap consumer writes is uploaded, in order, but never shown to the tap (short writes
/// and long ones, which are encoded on the caller's thread): a consumer cannot feed itself.
#[test]
fn untapped_writes_are_uploaded_but_never_tapped() {
    let mut h = Harness::new(r#""flush_delay_ms":0"#);
    let live = h.shared.subscribe().unwrap();
    let long = "l".repeat(20_000);
    for (text, tapped) in [
        ("seen", true),
        ("from a consumer", false),
        (&long[..], false),
    ] {
        h.shared.write(text.as_bytes(), 0, tapped).unwrap();
    }
    h.write("seen too").unwrap();
    h.advance(ms(1000));
    let tapped: Vec<Arc<str>> = std::iter::from_fn(|| live.try_recv()).collect();
    assert_eq!(tapped.len(), 2, "{tapped:?}");
    assert!(tapped[0].contains("\"seen\"") && tapped[1].contains("\"seen too\""));
    let uploaded: Vec<String> = h.sent().iter().flat_map(|s| s.texts()).collect();
    assert_eq!(uploaded.len(), 4);
    assert_eq!(uploaded[1], "from a consumer");
    assert!(uploaded[2].starts_with("lll"));
}

#[test]
fn the_tap_sees_entries_before_the_upload_and_never_blocks_it() {
    let mut h = Harness::new(r#""include_proc_seq":true"#);
    h.write("before").unwrap();
    let live = h.shared.subscribe().unwrap();
    let idle = h.shared.subscribe().unwrap(); // never read
    h.pool.run_until_stalled();
    h.write("after").unwrap();
    let got: Vec<Arc<str>> = std::iter::from_fn(|| live.try_recv()).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(&*got[0], r#"{"logtail":{"proc_seq":1},"text":"before"}"#);
    assert_eq!(&*got[1], r#"{"logtail":{"proc_seq":2},"text":"after"}"#);
    assert!(h.sent().is_empty(), "still inside the flush delay");
    for i in 0..20_000 {
        h.shared
            .write(format!("line {i} {}", "p".repeat(60)).as_bytes(), 0, true)
            .unwrap();
    }
    h.advance(ms(60_000));
    let s = h.shared.queue.stats();
    assert_eq!(
        s.uploaded, 20_002,
        "a subscriber that never reads slows nothing"
    );
    assert!(idle.missed() > 0);
    let first = h.sent()[0].entries();
    assert_eq!(
        first[0].to_string(),
        r#"{"logtail":{"proc_seq":1},"text":"before"}"#
    );
    h.shared.unsubscribe(live.id());
    h.shared.unsubscribe(idle.id());
}

#[test]
fn client_time_comes_from_the_clock_at_write_time() {
    let mut h = Harness::new(r#""skip_client_time":false,"flush_delay_ms":1000"#);
    h.advance(ms(1));
    h.write("t").unwrap();
    h.advance(ms(1000));
    assert_eq!(
        h.sent()[0].entries()[0].to_string(),
        r#"{"logtail":{"client_time":"2023-11-14T22:13:20.001Z"},"text":"t"}"#
    );
}

#[test]
fn stop_counts_what_is_left_as_dropped() {
    let mut h = Harness::new("");
    h.write("a").unwrap();
    h.write("b").unwrap();
    assert_eq!(h.shared.queue.stop(), 2);
    assert_eq!(h.write("c"), Err(PushError::Closed));
    h.pool.run_until_stalled();
    let s = h.shared.queue.stats();
    assert_eq!((s.written, s.dropped, s.uploaded), (2, 2, 0));
}

const PRIMARY: &str = "http://collector.test/c/core.test/id";
const BACKUP: &str = "http://backup.test";

#[test]
fn uploads_fail_over_to_the_backup_after_three_failures_and_come_back_after_a_probe() {
    let mut h = Harness::new(
        r#""flush_delay_ms":0,"retry_initial_ms":100,"retry_max_ms":100,"backup_url":"http://backup.test","failover_probe_ms":10000"#,
    );
    h.fake.0.down.borrow_mut().push(PRIMARY.to_owned());
    h.write("a").unwrap();
    h.advance(ms(1000));
    let sent = h.sent();
    let urls: Vec<&str> = sent.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(urls, [PRIMARY, PRIMARY, PRIMARY, BACKUP]);
    assert_eq!(sent[3].at, sent[2].at, "the backup is tried at once");
    assert!(sent.iter().all(|s| s.batch_id == sent[0].batch_id));
    assert!(h.shared.using_backup());
    let s = h.shared.queue.stats();
    assert_eq!((s.uploaded, s.retries), (1, 3));
    assert!(h
        .errors
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.contains("backup_url")));

    h.write("b").unwrap();
    assert_eq!(
        h.sent().last().unwrap().url,
        BACKUP,
        "no more waiting on the primary"
    );
    assert_eq!(h.sent().len(), 5);

    // The probe is due: the next batch tries the primary, which is still down, then the backup.
    h.advance(ms(10_000));
    h.write("c").unwrap();
    let sent = h.sent();
    assert_eq!(
        (sent[5].url.as_str(), sent[6].url.as_str()),
        (PRIMARY, BACKUP)
    );
    assert_eq!(sent[5].at, sent[6].at);
    assert!(h.shared.using_backup());

    // The primary is back: the next probe finds it, and uploads stay there.
    h.fake.0.down.borrow_mut().clear();
    h.advance(ms(5_000));
    h.write("d").unwrap();
    assert_eq!(h.sent().last().unwrap().url, BACKUP, "not due yet");
    h.advance(ms(5_000));
    h.write("e").unwrap();
    h.write("f").unwrap();
    let sent = h.sent();
    let tail: Vec<(&str, Vec<String>)> = sent[8..]
        .iter()
        .map(|s| (s.url.as_str(), s.texts()))
        .collect();
    assert_eq!(
        tail,
        [
            (PRIMARY, vec!["e".to_owned()]),
            (PRIMARY, vec!["f".to_owned()])
        ]
    );
    assert!(!h.shared.using_backup());
    assert_eq!(h.shared.queue.stats().uploaded, 6);
    h.stats_balance();
}

#[test]
fn without_a_backup_a_dead_primary_is_retried_as_before() {
    let mut h = Harness::new(r#""flush_delay_ms":0,"retry_initial_ms":100,"retry_max_ms":100"#);
    h.fake.0.down.borrow_mut().push(PRIMARY.to_owned());
    h.write("a").unwrap();
    h.advance(ms(2000));
    assert!(h.sent().len() > 5);
    assert!(h.sent().iter().all(|s| s.url == PRIMARY));
    assert!(!h.shared.using_backup());
}

fn otlp_records(sent: &Sent) -> Vec<serde_json::Value> {
    let body: serde_json::Value = serde_json::from_slice(&sent.body).expect("OTLP JSON");
    let resource = &body["resourceLogs"][0];
    assert_eq!(
        resource["resource"]["attributes"][0]["value"]["stringValue"],
        "core.test"
    );
    resource["scopeLogs"][0]["logRecords"]
        .as_array()
        .expect("logRecords")
        .clone()
}

#[test]
fn otlp_batches_carry_log_records_split_on_413_and_keep_ids_on_retry() {
    let mut h = Harness::new(
        r#""format":"otlp","skip_client_time":false,"compression":"auto","include_proc_seq":true"#,
    );
    h.script(&[Reply::Status(503, None, ""), Reply::Status(413, None, "")]);
    h.write("plain text").unwrap();
    h.write("[v1] verbose").unwrap();
    h.write(r#"{"event":"click","x":1}"#).unwrap();
    h.write(&"long ".repeat(100)).unwrap();
    h.advance(ms(2000));
    h.advance(ms(60_000));
    let sent = h.sent();
    assert_eq!(sent.len(), 4, "retry, then a 413 split into two halves");
    assert_eq!(sent[0].batch_id, sent[1].batch_id);
    assert_ne!(sent[2].batch_id, sent[3].batch_id);
    assert!(
        sent.iter().all(|s| s.content_encoding != Some("zstd")),
        "auto means gzip for OTLP"
    );
    let whole = otlp_records(&sent[1]);
    assert_eq!(whole.len(), 4);
    let halves: Vec<serde_json::Value> = [&sent[2], &sent[3]]
        .into_iter()
        .flat_map(otlp_records)
        .collect();
    assert_eq!(halves, whole);
    let written = BASE_NANOS.to_string();
    assert_eq!(whole[0]["timeUnixNano"], written.as_str());
    assert_eq!(whole[0]["observedTimeUnixNano"], written.as_str());
    assert_eq!(whole[0]["body"]["stringValue"], "plain text");
    assert_eq!(
        (
            whole[0]["severityNumber"].clone(),
            whole[1]["severityText"].clone()
        ),
        (serde_json::json!(9), serde_json::json!("DEBUG"))
    );
    assert_eq!(whole[1]["attributes"][0]["key"], "logtail.proc_seq");
    assert_eq!(whole[1]["attributes"][0]["value"]["intValue"], "2");
    assert_eq!(
        whole[2]["body"]["kvlistValue"]["values"][1],
        serde_json::json!({"key": "x", "value": {"intValue": "1"}})
    );
    let s = h.shared.queue.stats();
    assert_eq!((s.uploaded, s.retries), (4, 1));
}

/// The dropped-entries notice is written as text once and carried as a number: by the batch
/// that holds it, and by the half of a 413 split that holds it.
#[test]
fn a_drop_notice_is_carried_as_a_number_by_its_batch() {
    use super::batch::{Batch, BatchIds, DropNotice};
    let notice = DropNotice { dropped: 7 };
    assert_eq!(notice.to_string(), "logship: dropped 7 entries");
    let mut batch = Batch::new("b-1".into());
    batch.push(b"{\"text\":\"notice\"}\n", false);
    batch.noticed(notice);
    for entry in ["{\"a\":1}\n", "{\"b\":2}\n", "{\"c\":3}\n"] {
        batch.push(entry.as_bytes(), true);
    }
    assert_eq!(batch.noticed_drops(), 7);
    let (left, right) = batch.split(&mut BatchIds::new(1)).unwrap();
    assert_eq!((left.noticed_drops(), right.noticed_drops()), (7, 0));
}

thread_local! {
    /// What the fake runtime's `report` received (it has no `self`).
    static REPORTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The core's one logger on the fake transport, timer and clock: shippers on the test's pool.
struct FakeRuntime {
    fake: Fake,
    spawner: futures::executor::LocalSpawner,
    echoes: Rc<RefCell<Vec<String>>>,
    stops: Rc<Cell<u32>>,
    /// Whether the random source fails (as getrandom can, e.g. before the kernel's pool is ready).
    random_fails: bool,
}

impl super::logger::Runtime for FakeRuntime {
    type Transport = Fake;
    type Timer = Fake;
    type Clock = Fake;
    type Durable = std::convert::Infallible;

    fn clock(&self) -> Fake {
        self.fake.clone()
    }

    fn timer(&self) -> Fake {
        self.fake.clone()
    }

    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), crate::error::Error> {
        match self.random_fails {
            true => Err(crate::error::Error::Random("injected failure".into())),
            false => {
                fastrand::Rng::with_seed(7).fill(bytes);
                Ok(())
            }
        }
    }

    fn report(message: &str) {
        REPORTS.with(|reports| reports.borrow_mut().push(message.to_owned()));
    }

    fn echo(&self, text: &[u8]) {
        let text = String::from_utf8_lossy(text).into_owned();
        self.echoes.borrow_mut().push(text);
    }

    fn transport(
        &mut self,
        _: &Config,
        _: &str,
        _: Option<&str>,
    ) -> Result<Fake, crate::error::Error> {
        Ok(self.fake.clone())
    }

    fn spawn(
        &mut self,
        destinations: Vec<super::logger::Starting<Self>>,
    ) -> Result<(), crate::error::Error> {
        for destination in destinations {
            self.spawner.spawn_local(destination.shipper.run()).unwrap();
        }
        Ok(())
    }

    fn deadline(&self, timeout: Duration) -> impl Future<Output = ()> {
        self.fake.sleep(timeout)
    }

    fn stopped(&self) {
        self.stops.set(self.stops.get() + 1);
    }
}

/// One logger, two destinations (the second one down): every write goes to both and is echoed
/// up to `stderr_level`; flush waits for both until its deadline; shutdown drains until its
/// deadline, stops once, and later calls return the first result.
#[test]
fn the_one_logger_fans_out_flushes_and_shuts_down_once() {
    use super::logger::Logger;
    use crate::error::Error;

    let id = "ab".repeat(32);
    let config = Config::from_json(&format!(
        r#"{{"collection":"core.test","private_id":"{id}","skip_client_time":true,
            "compression":"none","stderr_level":1,"retry_initial_ms":100,"retry_max_ms":100,
            "destinations":[{{"base_url":"http://one.test"}},{{"base_url":"http://two.test"}}]}}"#
    ))
    .unwrap();
    let mut h = Harness::new("");
    let echoes = Rc::new(RefCell::new(Vec::new()));
    let stops = Rc::new(Cell::new(0));
    let runtime = FakeRuntime {
        fake: h.fake.clone(),
        spawner: h.pool.spawner(),
        echoes: echoes.clone(),
        stops: stops.clone(),
        random_fails: false,
    };
    h.fake
        .0
        .down
        .borrow_mut()
        .push(format!("http://two.test/c/core.test/{id}"));
    let log = Rc::new(Logger::start(runtime, &config, None).unwrap());
    assert_eq!(
        log.public_id(),
        super::ids::PrivateId::parse(&id).unwrap().public_id()
    );
    log.write(b"hello").unwrap();
    log.write(b"[v2] verbose").unwrap();
    assert_eq!(*echoes.borrow(), ["hello"]);

    // Spawns a wait of the logger's on the pool; its result lands in the returned cell.
    let outcome = Rc::new(RefCell::new(None));
    let spawn_wait = |h: &mut Harness, shutdown: bool| {
        let (log, outcome) = (log.clone(), outcome.clone());
        let wait = async move {
            let result = match shutdown {
                false => log.flush(Some(ms(1000))).await,
                true => log.shutdown(ms(1000)).await,
            };
            *outcome.borrow_mut() = Some(result);
        };
        h.pool.spawner().spawn_local(wait).unwrap();
    };
    spawn_wait(&mut h, false);
    h.advance(ms(999));
    assert_eq!(*outcome.borrow(), None, "the flush waits for its deadline");
    h.advance(ms(1));
    assert_eq!(
        outcome.borrow_mut().take(),
        Some(Err(Error::Timeout { undelivered: 2 }))
    );
    let stats: Vec<_> = log.destination_stats().collect();
    assert_eq!(stats[0].name, "http://one.test/c/core.test");
    assert_eq!((stats[0].stats.written, stats[0].stats.uploaded), (2, 2));
    assert_eq!((stats[1].stats.written, stats[1].stats.uploaded), (2, 0));
    assert!(stats[1].stats.retries > 0);
    assert_eq!(log.stats(), stats[0].stats);

    spawn_wait(&mut h, true);
    h.advance(ms(1000));
    let first = outcome.borrow_mut().take();
    assert_eq!(first, Some(Err(Error::Timeout { undelivered: 2 })));
    assert_eq!(log.write(b"late"), Err(PushError::Closed));
    spawn_wait(&mut h, true);
    h.advance(ms(1));
    assert_eq!(
        outcome.borrow_mut().take(),
        first,
        "the first result, again"
    );
    assert_eq!(stops.get(), 1, "stopped once");
    spawn_wait(&mut h, false);
    h.advance(ms(1));
    assert_eq!(outcome.borrow_mut().take(), Some(Err(Error::ShutDown)));
    assert_eq!(log.destination_stats().nth(1).unwrap().stats.dropped, 2);
}

/// Two threads shutting down at once: each returns by its own deadline, the later one without
/// waiting for the first one's longer drain.
#[test]
fn concurrent_shutdowns_each_return_by_their_own_deadline() {
    use super::logger::Logger;
    use crate::error::Error;

    let id = "cd".repeat(32);
    let config = Config::from_json(&format!(
        r#"{{"base_url":"http://down.test","collection":"core.test","private_id":"{id}",
            "compression":"none","retry_initial_ms":100,"retry_max_ms":100}}"#
    ))
    .unwrap();
    let mut h = Harness::new("");
    let runtime = FakeRuntime {
        fake: h.fake.clone(),
        spawner: h.pool.spawner(),
        echoes: Rc::default(),
        stops: Rc::default(),
        random_fails: false,
    };
    let log = Rc::new(Logger::start(runtime, &config, None).unwrap());
    let url = format!("http://down.test/c/core.test/{id}");
    h.fake.0.down.borrow_mut().push(url);
    log.write(b"kept waiting").unwrap();
    type Outcome = Rc<RefCell<Option<Result<(), Error>>>>;
    let outcomes: [Outcome; 2] = Default::default();
    for (timeout, outcome) in [1000, 100].into_iter().zip(&outcomes) {
        let (log, outcome) = (log.clone(), outcome.clone());
        let shutdown = async move { *outcome.borrow_mut() = Some(log.shutdown(ms(timeout)).await) };
        h.pool.spawner().spawn_local(shutdown).unwrap();
    }
    h.advance(ms(100));
    assert_eq!(*outcomes[0].borrow(), None, "the first one drains on");
    assert_eq!(
        *outcomes[1].borrow(),
        Some(Err(Error::Timeout { undelivered: 1 })),
        "the second one's deadline"
    );
    h.advance(ms(900));
    assert_eq!(
        *outcomes[0].borrow(),
        Some(Err(Error::Timeout { undelivered: 1 }))
    );
}

/// Without the system's random source no logger starts, with or without a configured private
/// id (the logger draws its proc id and batch ids too): no id is made up from the clock.
#[test]
fn a_failed_random_source_fails_the_start() {
    use super::logger::Logger;
    use crate::error::Error;

    for private_id in [
        String::new(),
        format!(r#","private_id":"{}""#, "ab".repeat(32)),
    ] {
        let config = Config::from_json(&format!(
            r#"{{"base_url":"http://one.test","collection":"core.test"{private_id}}}"#
        ))
        .unwrap();
        let h = Harness::new("");
        let runtime = FakeRuntime {
            fake: h.fake.clone(),
            spawner: h.pool.spawner(),
            echoes: Rc::default(),
            stops: Rc::default(),
            random_fails: true,
        };
        let err = Logger::start(runtime, &config, None).err();
        assert_eq!(err, Some(Error::Random("injected failure".into())));
        assert_eq!(
            err.unwrap().to_string(),
            "the system's random source failed: injected failure"
        );
    }
}

/// `count` lines written one every millisecond (each says when: `"{ms:06} …"`, 100 bytes),
/// advancing virtual time between them.
fn write_steadily(h: &mut Harness, from_ms: u64, count: u64) {
    for t in from_ms..from_ms + count {
        h.write(&format!("{t:06}{}", "s".repeat(94))).unwrap();
        h.advance(ms(1));
    }
}

/// When the first entry of an upload was written (its text starts with the millisecond).
fn first_written(sent: &Sent) -> Duration {
    ms(sent.texts()[0][..6].parse().unwrap())
}

#[test]
fn at_a_steady_rate_batches_fill_up_instead_of_following_each_upload() {
    // Each upload takes 5 ms: before, every next upload carried the ~5 lines that came meanwhile.
    let mut h = Harness::new(r#""max_batch_bytes":4096"#);
    h.fake.0.latency.set(ms(5));
    write_steadily(&mut h, 0, 3000);
    let sent = h.sent();
    let bytes: usize = sent.iter().map(|s| s.body.len()).sum();
    // Each entry is 112 bytes of body: a full batch holds 36 or 37 of them, a few ms of writes.
    assert!(
        sent.len() <= bytes / 3500 + 1,
        "{} requests for {bytes} bytes",
        sent.len()
    );
    for s in &sent {
        assert!(s.body.len() >= 3500, "a batch goes full: {}", s.body.len());
        assert!(
            s.at - first_written(s) <= ms(2000),
            "and never later than the delay"
        );
    }
    h.stats_balance();
}

#[test]
fn a_slow_steady_rate_uploads_once_per_flush_delay_after_each_first_write() {
    let mut h = Harness::new("");
    h.fake.0.latency.set(ms(5));
    for i in 0..100 {
        h.write(&format!("{:06} slow", i * 100)).unwrap();
        h.advance(ms(100));
    }
    let sent = h.sent();
    assert_eq!(sent.len(), 5, "10 s of lines, one upload per 2 s");
    for s in &sent {
        assert_eq!(
            s.at - first_written(s),
            ms(2000),
            "the first write armed the delay"
        );
    }
    assert_eq!(sent[0].texts().len(), 20, "lines written from 0 to 1900 ms");
}

#[test]
fn flush_uploads_a_partial_batch_at_once_in_the_middle_of_a_steady_stream() {
    let mut h = Harness::new(r#""max_batch_bytes":65536"#);
    h.fake.0.latency.set(ms(5));
    write_steadily(&mut h, 0, 500);
    assert!(h.sent().is_empty(), "neither full nor due");
    let target = h.shared.queue.request_flush();
    h.advance(ms(5));
    assert!(h.shared.queue.is_settled(target));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].at, ms(500));
    assert_eq!(sent[0].texts().len(), 500);
    write_steadily(&mut h, 505, 100);
    assert_eq!(h.sent().len(), 1, "the next batch waits again");
}

#[test]
fn building_the_next_batch_during_compression_loses_reorders_and_overholds_nothing() {
    let mut h =
        Harness::new(r#""compression":"zstd","max_batch_bytes":1024,"flush_delay_ms":60000"#);
    h.fake.0.background.set(true);
    h.fake.0.latency.set(ms(5));
    // Written at once, without letting the shipper run: a queue that holds many batches.
    for i in 0..100 {
        let line = format!("{i:04}{}", "b".repeat(96));
        h.shared
            .write(line.as_bytes(), h.fake.unix_nanos(), true)
            .unwrap();
    }
    h.advance(ms(1));
    assert_eq!(h.sent().len(), 1, "the first batch is in flight");
    // Two batches of 10 records (10 × 121 bytes in the queue, a 1131-byte body each) are out
    // of the queue: the one in flight and the next, built while the first was compressed. The
    // one in flight also holds its compressed form (the fake codec halves: 565 bytes) and the
    // HTTP client's copy of it.
    assert_eq!(
        h.shared.queue.stats().queued_bytes,
        100 * 121 - 2 * (10 * 121 - 1131) + 2 * 565
    );
    h.advance(ms(1000));
    let sent = h.sent();
    let s = h.shared.queue.stats();
    assert_eq!(
        (s.uploaded, s.dropped, s.queued_bytes),
        (100, 0, 0),
        "{s:?}"
    );
    let seqs: Vec<u64> = sent
        .iter()
        .map(|s| s.batch_id.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=sent.len() as u64).collect::<Vec<_>>(),
        "batches go in the order they were built"
    );
    let bodies: usize = sent.iter().map(|s| s.orig_content_length.unwrap()).sum();
    assert!(bodies > 100 * 112, "every entry went, compressed");
    h.stats_balance();
}
