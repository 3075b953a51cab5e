//! The browser door (wasm32): the JS API of the npm package (`bindings/npm`), over the same core as
//! the native door. `new Logger(options)` takes DESIGN.md's configuration in camelCase; the
//! shipper runs on `spawn_local`, uploads with `fetch` (gzip through `CompressionStream`), waits
//! for the `online` event while the browser is offline, and flushes synchronously with fetch
//! keepalive when the page is hidden or goes away (`exit`). Browser plumbing is in `glue.js`.
//!
//! Rust programs compiled to wasm32 (Yew, Leptos, …) can use [`Logger`] directly.

mod exit;
mod runtime;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::core::config::{Config, ConfigError};
use crate::core::ids::PrivateId;
use crate::core::level;
use crate::core::queue::PushError;
use crate::core::shipper::{Shipper, ShipperSettings};
use crate::core::traits::Clock;
use crate::core::Shared;
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
    #[wasm_bindgen(catch, js_name = configJson)]
    fn config_json(options: &JsValue) -> Result<String, JsValue>;
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `new Logger(options)`: DESIGN.md's configuration, in camelCase. */
export interface LoggerOptions {
  /** Collector base URL, e.g. "http://127.0.0.1:8080". Required. */
  baseUrl: string;
  /** Collection name: 1-128 of A-Z a-z 0-9 . _ - (e.g. "web.example.com"). Required. */
  collection: string;
  /** 64 lowercase hex characters; generated when absent. A write credential: keep it private. */
  privateId?: string;
  /** How long the first write waits for company before an upload (default 2000; 0 = at once). */
  flushDelayMs?: number;
  /** Upload body limit (default 262144, or 65536 with lowMemory). */
  maxBatchBytes?: number;
  /** Bounds every byte held (default 4 MiB, or 512 KiB with lowMemory). */
  bufferBytes?: number;
  /** When the buffer is full: drop the oldest entries (default) or refuse the new write. */
  onFull?: "drop_oldest" | "drop_newest";
  /** Smaller limits: 4096-byte text entries, 64 KiB batches, 512 KiB buffer. */
  lowMemory?: boolean;
  /** "auto" (gzip where CompressionStream exists), "gzip" or "none". */
  compression?: "auto" | "gzip" | "zstd" | "none";
  skipClientTime?: boolean;
  includeProcId?: boolean;
  includeProcSeq?: boolean;
  /** Echo writes at or below this level to the console (-1 = never, the default). */
  stderrLevel?: number;
  /** Extra headers on every upload (e.g. Authorization). */
  headers?: Record<string, string>;
  retryInitialMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  /** Forward console.debug/log/info/warn/error (the console still prints them). */
  captureConsole?: boolean;
  /** Forward uncaught errors and unhandled promise rejections as JSON entries. */
  captureErrors?: boolean;
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

/// Configuration keys, to name them in camelCase in error messages.
const CONFIG_KEYS: &[&str] = &[
    "base_url",
    "collection",
    "private_id",
    "flush_delay_ms",
    "max_batch_bytes",
    "buffer_bytes",
    "on_full",
    "low_memory",
    "compression",
    "skip_client_time",
    "include_proc_id",
    "include_proc_seq",
    "stderr_level",
    "headers",
    "retry_initial_ms",
    "retry_max_ms",
    "request_timeout_ms",
    "spool_dir",
    "spool_max_bytes",
    "format",
    "destinations",
];

/// A logger for the browser. `write` only copies into the queue; uploads happen in the
/// background. Call `shutdown()` to drain and stop; until then the logger stays alive (and keeps
/// its page-exit flush) even if you drop your reference.
#[wasm_bindgen]
pub struct Logger {
    inner: Rc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    public_id: String,
    stderr_level: i32,
    exit: RefCell<ExitDrain>,
    hooks: RefCell<Hooks>,
    shutdown: RefCell<Option<Promise>>,
    scratch: RefCell<Vec<u8>>,
}

/// Listeners logship installed, and their undo functions. They hold the logger; `shutdown`
/// removes them.
#[derive(Default)]
struct Hooks {
    page: Option<(Function, [Closure<dyn FnMut()>; 2])>,
    captures: Vec<(Function, Closure<dyn FnMut(String)>)>,
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
        let seed = WebClock.unix_nanos().to_le_bytes();
        let mut rng = fastrand::Rng::with_seed(u64::from_le_bytes(seed));
        rng.fill(&mut bytes);
    }
    bytes
}

fn error(message: impl AsRef<str>) -> JsValue {
    JsError::new(&format!("logship: {}", message.as_ref())).into()
}

/// `flush_delay_ms` → `flushDelayMs`.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// A configuration error, with the option named as the caller spelled it (camelCase).
fn config_error(err: ConfigError) -> JsValue {
    let (head, rest) = err.key.split_once('.').unwrap_or((&err.key, ""));
    let key = if rest.is_empty() {
        camel(head)
    } else {
        format!("{}.{rest}", camel(head))
    };
    // Enum errors quote values (`drop_oldest`), which stay as they are; others quote keys.
    let quotes_values = matches!(err.key.as_str(), "on_full" | "compression" | "format");
    let mut message = String::new();
    for (i, part) in err.message.split('`').enumerate() {
        if i % 2 == 1 && !quotes_values {
            message.push('`');
            message.push_str(&camel(part));
            message.push('`');
        } else if i % 2 == 1 {
            message.push('`');
            message.push_str(part);
            message.push('`');
        } else {
            let mut text = part.to_owned();
            for k in CONFIG_KEYS.iter().filter(|k| k.contains('_')) {
                text = text.replace(k, &camel(k));
            }
            message.push_str(&text);
        }
    }
    if key.is_empty() {
        error(format!("invalid options: {message}"))
    } else {
        error(format!("invalid option `{key}`: {message}"))
    }
}

fn bool_option(options: &JsValue, name: &str) -> Result<bool, JsValue> {
    let value = Reflect::get(options, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() {
        return Ok(false);
    }
    value
        .as_bool()
        .ok_or_else(|| error(format!("invalid option `{name}`: must be true or false")))
}

#[wasm_bindgen]
impl Logger {
    /// Starts a logger. Throws an `Error` naming the option when an option is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "LoggerOptions")] options: JsValue,
    ) -> Result<Logger, JsValue> {
        let json = config_json(&options)?;
        let capture_console = bool_option(&options, "captureConsole")?;
        let capture_errors = bool_option(&options, "captureErrors")?;
        let config = Config::from_json(&json).map_err(config_error)?;
        let private_id = config
            .private_id
            .clone()
            .unwrap_or_else(|| PrivateId::from_bytes(random()));
        let reporter = Arc::new(|message: &str| runtime::report(message));
        let shared = Shared::new(&config, u32::from_le_bytes(random()), None, reporter);
        let headers = Object::new();
        for (name, value) in &config.headers {
            let _ = Reflect::set(&headers, &name.into(), &value.into());
        }
        let net = Net::new(config.upload_url(&private_id), headers.into());
        let settings = ShipperSettings {
            url: net.url.clone(),
            headers: Vec::new(), // sent by the transport, from `net.headers`
            compression: config.compression,
            flush_delay: Duration::from_millis(config.flush_delay_ms),
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            retry_initial: Duration::from_millis(config.retry_initial_ms),
            retry_max: Duration::from_millis(config.retry_max_ms),
            max_batch_bytes: config.max_batch_bytes(),
            seed: u64::from_le_bytes(random()),
        };
        let transport = WebTransport { net: net.clone() };
        let shipper = Shipper::new(shared.clone(), transport, WebTimer, WebClock, settings);
        let exit = ExitDrain::new(
            shared.clone(),
            shipper.handoff(),
            net.clone(),
            u64::from_le_bytes(random()),
            config.max_batch_bytes(),
        );
        spawn_local(shipper.run());
        let inner = Rc::new(Inner {
            shared,
            public_id: private_id.public_id(),
            stderr_level: config.stderr_level,
            exit: RefCell::new(exit),
            hooks: RefCell::default(),
            shutdown: RefCell::default(),
            scratch: RefCell::default(),
        });
        inner.install(&net, capture_console, capture_errors);
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
    /// delivered (or rejected, or dropped); with `timeoutMs`, rejects if that takes longer.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self, timeout_ms: Option<f64>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let queue = &inner.shared.queue;
            if queue.is_stopped() {
                return Err(error("the logger is shut down"));
            }
            let target = queue.request_flush();
            if wait_settled(&inner.shared, target, timeout_ms).await {
                Ok(JsValue::UNDEFINED)
            } else {
                Err(error(format!(
                    "flush timed out with {} entries undelivered",
                    queue.unsettled()
                )))
            }
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
            let target = inner.shared.queue.close();
            let timeout = timeout_ms.unwrap_or(DEFAULT_SHUTDOWN_MS);
            wait_settled(&inner.shared, target, Some(timeout)).await;
            let left = inner.shared.queue.stop();
            inner.shared.tap.close();
            if let Ok(mut hooks) = inner.hooks.try_borrow_mut() {
                hooks.remove_all();
            }
            Ok(JsValue::from_f64(left as f64))
        });
        *self.inner.shutdown.borrow_mut() = Some(promise.clone());
        promise
    }

    /// The counters: written, uploaded, dropped, rejected, retries, bytesOnWire, queuedBytes.
    #[wasm_bindgen(unchecked_return_type = "LogshipStats")]
    pub fn stats(&self) -> JsValue {
        let s = self.inner.shared.queue.stats();
        let out = Object::new();
        for (name, value) in [
            ("written", s.written),
            ("uploaded", s.uploaded),
            ("dropped", s.dropped),
            ("rejected", s.rejected),
            ("retries", s.retries),
            ("bytesOnWire", s.bytes_on_wire),
            ("queuedBytes", s.queued_bytes),
        ] {
            let _ = Reflect::set(&out, &name.into(), &(value as f64).into());
        }
        out.into()
    }

    /// The id people see for this logger's stream: SHA-256 of the private id, in hex.
    #[wasm_bindgen(getter = publicId)]
    pub fn public_id(&self) -> String {
        self.inner.public_id.clone()
    }

    /// The last problem the uploader reported (a rejected batch, for example), if any.
    #[wasm_bindgen(getter = lastError)]
    pub fn last_error(&self) -> Option<String> {
        self.inner.shared.last_error()
    }

    /// A WebSocket-like live view of the stream (replay of recent entries, then every new one).
    pub fn tap(&self) -> LogTap {
        let shared = self.inner.shared.clone();
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
    fn write(&self, bytes: &[u8]) -> Result<bool, JsValue> {
        if self.stderr_level >= 0 {
            self.echo(bytes);
        }
        match self.shared.write(bytes, WebClock.unix_nanos()) {
            Ok(()) => Ok(true),
            Err(PushError::Full) => Ok(false),
            Err(PushError::Closed) => Err(error("the logger is shut down")),
        }
    }

    fn echo(&self, bytes: &[u8]) {
        let mut scratch = Vec::new();
        let (level, payload) = level::parse(bytes, &mut scratch);
        if i32::from(level) <= self.stderr_level && !payload.is_empty() {
            echo(&String::from_utf8_lossy(payload));
        }
    }

    fn install(self: &Rc<Self>, net: &Rc<Net>, capture_console: bool, capture_errors: bool) {
        let inner = self.clone();
        let on_exit = Closure::<dyn FnMut()>::new(move || {
            if let Ok(mut exit) = inner.exit.try_borrow_mut() {
                exit.drain();
            }
        });
        let net = net.clone();
        let on_online = Closure::<dyn FnMut()>::new(move || {
            net.online.notify(usize::MAX);
        });
        let Ok(mut hooks) = self.hooks.try_borrow_mut() else {
            return;
        };
        hooks.page = Some((watch(&on_exit, &on_online), [on_exit, on_online]));
        let hooks_to_install: [(bool, fn(&Closure<dyn FnMut(String)>) -> Function); 2] = [
            (capture_console, hook_console),
            (capture_errors, hook_errors),
        ];
        for (wanted, hook) in hooks_to_install {
            if wanted {
                let inner = self.clone();
                let write = Closure::<dyn FnMut(String)>::new(move |line: String| {
                    let _ = inner.write(line.as_bytes());
                });
                hooks.captures.push((hook(&write), write));
            }
        }
    }
}

/// Waits until every record before `target` is settled; false if `timeout_ms` passed first.
async fn wait_settled(shared: &Shared, target: u64, timeout_ms: Option<f64>) -> bool {
    let mut deadline =
        timeout_ms.map(|ms| runtime::sleep(Duration::from_millis(ms.max(0.0) as u64)));
    loop {
        let listener = shared.queue.progress.listen();
        if shared.queue.is_settled(target) || shared.queue.is_stopped() {
            return shared.queue.is_settled(target);
        }
        match deadline.as_mut() {
            None => listener.await,
            Some(timer) => {
                if let Either::Right(_) = select(listener, timer).await {
                    return shared.queue.is_settled(target);
                }
            }
        }
    }
}
