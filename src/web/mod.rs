//! The browser door (wasm32): the JS API of the npm package (`bindings/npm`), over the same core as
//! the native door. `new Logger(options)` takes DESIGN.md's configuration in camelCase; each
//! destination's shipper runs on `spawn_local`, uploads with `fetch` (gzip through
//! `CompressionStream`), waits for the `online` event while the browser is offline, and flushes
//! synchronously with fetch keepalive when the page is hidden or goes away (`exit`). Browser
//! plumbing is in `glue.js`.
//!
//! Rust programs compiled to wasm32 (Yew, Leptos, …) can use [`Logger`] directly.

mod exit;
mod options;
mod runtime;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::core::ids::PrivateId;
use crate::core::level;
use crate::core::queue::PushError;
use crate::core::shipper::{Shipper, ShipperSettings};
use crate::core::stats::Stats;
use crate::core::traits::Clock;
use crate::core::{ErrorReporter, Shared};
use exit::ExitDrain;
use runtime::{Net, WebClock, WebTimer, WebTransport};

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    /// The WebSocket-like tap (see glue.js).
    #[wasm_bindgen(typescript_type = "LogTap")]
    #[derive(Clone)]
    pub type LogTap;
    #[wasm_bindgen(constructor)]
    fn new(close: &Closure<dyn FnMut()>) -> LogTap;
    #[wasm_bindgen(method, js_name = _push)]
    fn push(this: &LogTap, entry: &str);
    #[wasm_bindgen(method, js_name = _end)]
    fn end(this: &LogTap);

    fn watch(on_exit: &Closure<dyn FnMut()>, on_online: &Closure<dyn FnMut()>) -> Function;
    #[wasm_bindgen(js_name = hookConsole)]
    fn hook_console(write: &Closure<dyn FnMut(String)>) -> Function;
    #[wasm_bindgen(js_name = hookErrors)]
    fn hook_errors(write: &Closure<dyn FnMut(String)>) -> Function;
    fn echo(text: &str);
    #[wasm_bindgen(catch)]
    fn stringify(value: &JsValue) -> Result<String, JsValue>;
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `new Logger(options)`: DESIGN.md's configuration, in camelCase. */
export interface LoggerOptions extends DestinationOptions {
  /** Text entries are cut at 4096 bytes instead of 16384; smaller default batch and buffer. */
  lowMemory?: boolean;
  skipClientTime?: boolean;
  includeProcId?: boolean;
  includeProcSeq?: boolean;
  /** Also print writes at or below this level with console.log (-1 = never, the default). */
  stderrLevel?: number;
  /** Several destinations, each with its own queue, retries and stats; unset keys come from the top level. */
  destinations?: DestinationOptions[];
  /** Forward console.debug/log/info/warn/error (the console still prints them). */
  captureConsole?: boolean;
  /** Forward uncaught errors and unhandled promise rejections as JSON entries. */
  captureErrors?: boolean;
}

/** What each destination may set (at the top level: the first, or only, destination). */
export interface DestinationOptions {
  /** Collector base URL, e.g. "http://127.0.0.1:8080". Required. */
  baseUrl?: string;
  /** Collection name: 1-128 of A-Z a-z 0-9 . _ - (e.g. "web.example.com"). Required. */
  collection?: string;
  /** 64 lowercase hex characters; generated when absent. A write credential: keep it private. */
  privateId?: string;
  /** "logtail" (default) or "otlp" (OTLP/HTTP JSON to {baseUrl}/v1/logs). */
  format?: "logtail" | "otlp";
  /** How long the first write waits for company before an upload (default 2000; 0 = at once). */
  flushDelayMs?: number;
  /** Upload body limit (default 262144, or 65536 with lowMemory). */
  maxBatchBytes?: number;
  /** Bounds every byte held (default 4 MiB, or 512 KiB with lowMemory). */
  bufferBytes?: number;
  /** When the buffer is full: drop the oldest entries (default) or refuse the new write. */
  onFull?: "drop_oldest" | "drop_newest";
  /** "auto" (gzip where CompressionStream exists), "gzip" or "none". */
  compression?: "auto" | "gzip" | "zstd" | "none";
  /** Extra headers on every upload (e.g. Authorization). */
  headers?: Record<string, string>;
  retryInitialMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  /** Where uploads go while baseUrl keeps failing, until it answers again (probed every failoverProbeMs). */
  backupUrl?: string;
  failoverProbeMs?: number;
}

/** Loss accounting (PROTOCOL.md §4). */
export interface LogshipStats {
  written: number;
  uploaded: number;
  dropped: number;
  rejected: number;
  retries: number;
  bytesOnWire: number;
  queuedBytes: number;
}

/** One destination's name (its address without the private id), counters and state. */
export interface DestinationStats extends LogshipStats {
  name: string;
  usingBackup: boolean;
  lastError?: string;
}

/**
 * A WebSocket-like view of the log stream: first a replay of recent entries, then every new one,
 * each as a `message` event (a MessageEvent whose `data` is the entry's JSON text, without the
 * newline). One `close` event (CloseEvent, code 1000) follows `close()` or the logger's shutdown.
 * A listener that throws never affects the logger.
 */
export interface LogTap extends EventTarget {
  readonly readyState: 0 | 1 | 2 | 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  onmessage: ((this: LogTap, ev: MessageEvent<string>) => any) | null;
  onclose: ((this: LogTap, ev: CloseEvent) => any) | null;
  addEventListener(type: "message", listener: (this: LogTap, ev: MessageEvent<string>) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: "close", listener: (this: LogTap, ev: CloseEvent) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
  close(): void;
}
"#;

/// How long `shutdown()` drains when no time is given.
const DEFAULT_SHUTDOWN_MS: f64 = 2000.0;

/// A logger for the browser. `write` only copies into the queue; uploads happen in the
/// background. Call `shutdown()` to drain and stop; until then the logger stays alive (and keeps
/// its page-exit flush) even if you drop your reference.
#[wasm_bindgen]
pub struct Logger {
    inner: Rc<Inner>,
}

struct Inner {
    /// Every destination, the first one first: its shipper feeds the tap, its counters are
    /// `stats()`.
    destinations: Vec<Destination>,
    public_id: String,
    stderr_level: i32,
    hooks: RefCell<Hooks>,
    shutdown: RefCell<Option<Promise>>,
    scratch: RefCell<Vec<u8>>,
}

/// One destination: its queue, and what its page-exit drain needs.
struct Destination {
    shared: Arc<Shared>,
    name: String,
    exit: RefCell<ExitDrain>,
}

type Callback = Closure<dyn FnMut()>;
type LineCallback = Closure<dyn FnMut(String)>;
/// A glue.js function that installs a capture calling back with each line; returns the undo.
type Capture = fn(&LineCallback) -> Function;

/// Listeners logship installed, and their undo functions. They hold the logger; `shutdown`
/// removes them.
#[derive(Default)]
struct Hooks {
    page: Option<(Function, [Callback; 2])>,
    captures: Vec<(Function, LineCallback)>,
}

impl Hooks {
    fn remove_captures(&mut self) {
        for (undo, _) in self.captures.drain(..) {
            let _ = undo.call0(&JsValue::NULL);
        }
    }

    fn remove_all(&mut self) {
        self.remove_captures();
        if let Some((undo, _)) = self.page.take() {
            let _ = undo.call0(&JsValue::NULL);
        }
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No crypto.getRandomValues: still unique enough per page.
        fastrand::Rng::with_seed(WebClock.unix_nanos() as u64).fill(&mut bytes);
    }
    bytes
}

/// A JS `Error` with logship's prefix.
fn error(message: impl AsRef<str>) -> JsValue {
    JsError::new(&format!("logship: {}", message.as_ref())).into()
}

fn set(target: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(target, &key.into(), &value.into());
}

fn stats_object(stats: &Stats) -> Object {
    let out = Object::new();
    for (name, value) in [
        ("written", stats.written),
        ("uploaded", stats.uploaded),
        ("dropped", stats.dropped),
        ("rejected", stats.rejected),
        ("retries", stats.retries),
        ("bytesOnWire", stats.bytes_on_wire),
        ("queuedBytes", stats.queued_bytes),
    ] {
        set(&out, name, value as f64);
    }
    out
}

#[wasm_bindgen]
impl Logger {
    /// Starts a logger. Throws an `Error` naming the option when an option is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "LoggerOptions")] options: JsValue,
    ) -> Result<Logger, JsValue> {
        let parsed = options::parse(&options)?;
        let config = parsed.config;
        let configs = config.destination_configs();
        let several = configs.len() > 1;
        let proc_id = u32::from_le_bytes(random());
        let mut destinations = Vec::with_capacity(configs.len());
        let mut nets = Vec::with_capacity(configs.len());
        let mut public_id = String::new();
        for (i, dest) in configs.iter().enumerate() {
            let private_id = dest
                .private_id
                .clone()
                .unwrap_or_else(|| PrivateId::from_bytes(random()));
            if i == 0 {
                public_id = private_id.public_id();
            }
            let name = dest.display_url();
            let reporter: ErrorReporter = match several {
                true => {
                    let name = name.clone();
                    Arc::new(move |message: &str| runtime::report(&format!("{name}: {message}")))
                }
                false => Arc::new(|message: &str| runtime::report(message)),
            };
            let shared = match i {
                0 => Shared::new(dest, proc_id, None, reporter),
                _ => Shared::new_without_tap(dest, proc_id, None, reporter),
            };
            let headers = Object::new();
            for (header, value) in &dest.headers {
                set(&headers, header, value);
            }
            let url = dest.upload_url(&private_id);
            let backup_url = dest.backup_upload_url(&private_id);
            let net = Net::new(url.clone(), backup_url.clone(), headers.into());
            let settings = ShipperSettings::from_config(dest, url, u64::from_le_bytes(random()));
            let transport = WebTransport { net: net.clone() };
            let mut shipper = Shipper::new(shared.clone(), transport, WebTimer, WebClock, settings);
            if let Some(backup_url) = backup_url {
                let probe = Duration::from_millis(dest.failover_probe_ms);
                shipper = shipper.with_backup(backup_url, probe);
            }
            let exit = ExitDrain::new(
                shared.clone(),
                shipper.handoff(),
                net.clone(),
                u64::from_le_bytes(random()),
                dest.max_batch_bytes(),
            );
            spawn_local(shipper.run());
            destinations.push(Destination {
                shared,
                name,
                exit: RefCell::new(exit),
            });
            nets.push(net);
        }
        let inner = Rc::new(Inner {
            destinations,
            public_id,
            stderr_level: config.stderr_level,
            hooks: RefCell::default(),
            shutdown: RefCell::default(),
            scratch: RefCell::default(),
        });
        inner.install(nets, parsed.capture_console, parsed.capture_errors);
        Ok(Logger { inner })
    }

    /// Queues one entry (a string, or bytes that need not be UTF-8). Never waits for the network.
    /// Returns false when the buffer was full and the entry was dropped (it is counted, and the
    /// next upload says so); throws once the logger is shut down.
    pub fn write(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] data: &JsValue,
    ) -> Result<bool, JsValue> {
        if let Some(text) = data.as_string() {
            return self.inner.write(text.as_bytes());
        }
        let Some(bytes) = data.dyn_ref::<Uint8Array>() else {
            return Err(error("write() takes a string or a Uint8Array"));
        };
        let Ok(mut scratch) = self.inner.scratch.try_borrow_mut() else {
            return self.inner.write(&bytes.to_vec());
        };
        scratch.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut scratch);
        self.inner.write(&scratch)
    }

    /// Writes `JSON.stringify(value)`: an object becomes a JSON entry.
    pub fn json(&self, value: &JsValue) -> Result<bool, JsValue> {
        self.inner.write(stringify(value)?.as_bytes())
    }

    /// Uploads everything written so far without waiting for the flush delay. Resolves once it is
    /// delivered (or rejected, or dropped) everywhere; with `timeoutMs`, rejects if that takes
    /// longer.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self, timeout_ms: Option<f64>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            if inner.main().queue.is_stopped() {
                return Err(error("the logger is shut down"));
            }
            let targets: Vec<u64> = inner
                .destinations
                .iter()
                .map(|d| d.shared.queue.request_flush())
                .collect();
            if inner.wait_settled(&targets, timeout_ms).await {
                return Ok(JsValue::UNDEFINED);
            }
            let left: u64 = inner
                .destinations
                .iter()
                .map(|d| d.shared.queue.unsettled())
                .sum();
            Err(error(format!(
                "flush timed out with {left} entries undelivered"
            )))
        })
    }

    /// Refuses further writes, drains for up to `timeoutMs` (default 2000), then stops. Resolves
    /// with the number of entries left undelivered (counted as dropped); 0 means everything was
    /// delivered. Later calls return the same promise.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn shutdown(&self, timeout_ms: Option<f64>) -> Promise {
        if let Some(promise) = self.inner.shutdown.borrow().as_ref() {
            return promise.clone();
        }
        let inner = self.inner.clone();
        let promise = future_to_promise(async move {
            if let Ok(mut hooks) = inner.hooks.try_borrow_mut() {
                hooks.remove_captures();
            }
            let targets: Vec<u64> = inner
                .destinations
                .iter()
                .map(|d| d.shared.queue.close())
                .collect();
            let timeout = timeout_ms.unwrap_or(DEFAULT_SHUTDOWN_MS);
            inner.wait_settled(&targets, Some(timeout)).await;
            let left: u64 = inner
                .destinations
                .iter()
                .map(|d| d.shared.queue.stop())
                .sum();
            inner.main().tap.close();
            if let Ok(mut hooks) = inner.hooks.try_borrow_mut() {
                hooks.remove_all();
            }
            Ok(JsValue::from_f64(left as f64))
        });
        *self.inner.shutdown.borrow_mut() = Some(promise.clone());
        promise
    }

    /// The counters (of the first destination): written, uploaded, dropped, rejected, retries,
    /// bytesOnWire, queuedBytes.
    #[wasm_bindgen(unchecked_return_type = "LogshipStats")]
    pub fn stats(&self) -> JsValue {
        stats_object(&self.inner.main().queue.stats()).into()
    }

    /// Each destination's name, counters and state, in configuration order.
    #[wasm_bindgen(js_name = destinationStats, unchecked_return_type = "DestinationStats[]")]
    pub fn destination_stats(&self) -> Array {
        self.inner
            .destinations
            .iter()
            .map(|d| {
                let out = stats_object(&d.shared.queue.stats());
                set(&out, "name", d.name.as_str());
                set(&out, "usingBackup", d.shared.using_backup());
                if let Some(last) = d.shared.last_error() {
                    set(&out, "lastError", last);
                }
                JsValue::from(out)
            })
            .collect()
    }

    /// The id people see for this logger's stream: SHA-256 of the private id, in hex.
    #[wasm_bindgen(getter = publicId)]
    pub fn public_id(&self) -> String {
        self.inner.public_id.clone()
    }

    /// The last problem the uploader reported (a rejected batch, for example), if any. With
    /// several destinations: the first one's, else another's, prefixed with its name.
    #[wasm_bindgen(getter = lastError)]
    pub fn last_error(&self) -> Option<String> {
        let mut all = self.inner.destinations.iter();
        let first = all.next()?.shared.last_error();
        first.or_else(|| all.find_map(|d| Some(format!("{}: {}", d.name, d.shared.last_error()?))))
    }

    /// A WebSocket-like live view of the stream (replay of recent entries, then every new one).
    pub fn tap(&self) -> LogTap {
        let shared = self.inner.main().clone();
        let subscriber = shared.subscribe();
        let id = subscriber.id();
        let unsubscribe = shared.clone();
        let close = Closure::<dyn FnMut()>::new(move || unsubscribe.unsubscribe(id));
        let tap = LogTap::new(&close);
        let events = tap.clone();
        spawn_local(async move {
            while let Some(entry) = subscriber.recv().await {
                events.push(&entry);
            }
            shared.unsubscribe(id);
            events.end();
            drop(close);
        });
        tap
    }
}

impl Inner {
    fn main(&self) -> &Arc<Shared> {
        &self.destinations[0].shared
    }

    fn write(&self, bytes: &[u8]) -> Result<bool, JsValue> {
        if self.stderr_level >= 0 {
            self.echo(bytes);
        }
        let now = WebClock.unix_nanos();
        let mut accepted = true;
        for d in &self.destinations {
            match d.shared.write(bytes, now) {
                Ok(()) => {}
                Err(PushError::Full) => accepted = false,
                Err(PushError::Closed) => return Err(error("the logger is shut down")),
            }
        }
        Ok(accepted)
    }

    fn echo(&self, bytes: &[u8]) {
        let mut scratch = Vec::new();
        let (level, payload) = level::parse(bytes, &mut scratch);
        if i32::from(level) <= self.stderr_level && !payload.is_empty() {
            echo(&String::from_utf8_lossy(payload));
        }
    }

    /// The page is hidden or going away: every destination sends what it has queued, now.
    fn drain_for_exit(&self) {
        for d in &self.destinations {
            if let Ok(mut exit) = d.exit.try_borrow_mut() {
                exit.drain();
            }
        }
    }

    /// Waits until each destination settled everything before its target; false if
    /// `timeout_ms` passed first.
    async fn wait_settled(&self, targets: &[u64], timeout_ms: Option<f64>) -> bool {
        let mut deadline =
            timeout_ms.map(|ms| runtime::sleep(Duration::from_millis(ms.max(0.0) as u64)));
        for (d, &target) in self.destinations.iter().zip(targets) {
            let queue = &d.shared.queue;
            loop {
                let listener = queue.progress.listen();
                if queue.is_settled(target) || queue.is_stopped() {
                    break;
                }
                match deadline.as_mut() {
                    None => listener.await,
                    Some(timer) => {
                        if let Either::Right(_) = select(listener, timer).await {
                            return false;
                        }
                    }
                }
            }
        }
        self.destinations
            .iter()
            .zip(targets)
            .all(|(d, &target)| d.shared.queue.is_settled(target))
    }

    fn install(self: &Rc<Self>, nets: Vec<Rc<Net>>, capture_console: bool, capture_errors: bool) {
        let inner = self.clone();
        let on_exit = Closure::<dyn FnMut()>::new(move || inner.drain_for_exit());
        let on_online = Closure::<dyn FnMut()>::new(move || {
            for net in &nets {
                net.online.notify(usize::MAX);
            }
        });
        let Ok(mut hooks) = self.hooks.try_borrow_mut() else {
            return;
        };
        hooks.page = Some((watch(&on_exit, &on_online), [on_exit, on_online]));
        let wanted: [(bool, Capture); 2] = [
            (capture_console, hook_console),
            (capture_errors, hook_errors),
        ];
        for (_, hook) in wanted.into_iter().filter(|(on, _)| *on) {
            let inner = self.clone();
            let write = Closure::<dyn FnMut(String)>::new(move |line: String| {
                let _ = inner.write(line.as_bytes());
            });
            hooks.captures.push((hook(&write), write));
        }
    }
}
