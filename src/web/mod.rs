//! The browser door (wasm32): the JS API of the npm package (`bindings/npm`) over the core's one
//! logger ([`core::logger`](crate::core::logger)), which assembles, writes, flushes, shuts down
//! and counts. This module only adapts: JS values in and out (`options.rs` reads the options),
//! promises for the core's waits, console and error capture, the tap as an event target. The
//! runtime (`runtime.rs`) runs each destination's shipper on `spawn_local`, uploads with `fetch`
//! (gzip through `CompressionStream`), waits for the `online` event while the browser is offline,
//! and flushes synchronously with fetch keepalive when the page is hidden or goes away
//! (`exit.rs`). Browser plumbing is in `glue.js`.
//!
//! Rust programs compiled to wasm32 (Yew, Leptos, …) can use [`Logger`] directly.

mod exit;
mod options;
mod runtime;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::core::logger;
use crate::core::queue::PushError;
use crate::core::stats::Stats;
use crate::error::{Error, RANDOM_FAILED, TAP_CAP};
use runtime::Web;

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

    fn watch(
        on_hidden: &Closure<dyn FnMut()>,
        on_page_hide: &Closure<dyn FnMut()>,
        on_online: &Closure<dyn FnMut()>,
    ) -> Function;
    #[wasm_bindgen(js_name = hookConsole)]
    fn hook_console(write: &Closure<dyn FnMut(String)>) -> Function;
    #[wasm_bindgen(js_name = hookErrors)]
    fn hook_errors(write: &Closure<dyn FnMut(String)>) -> Function;
    #[wasm_bindgen(catch)]
    fn stringify(value: &JsValue) -> Result<String, JsValue>;
}

/// The npm package's allocator (feature `wasm-allocator`): smaller than the standard dlmalloc.
#[cfg(feature = "wasm-allocator")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// `LoggerOptions`, `DestinationOptions` and `LogshipStats`, generated from the key table.
#[wasm_bindgen(typescript_custom_section)]
const GENERATED_TYPES: &str = include_str!(concat!(env!("OUT_DIR"), "/logship.d.ts"));

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/**
 * The level methods and child loggers (JS: glue.js `addLevelMethods`). Each writes
 * `{"level":"INFO","message":…,"fields":{…}}`, the entry of the Rust `log`/`tracing` facades
 * (PROTOCOL.md §1.6); `trace` is logtail level 2, `debug` level 1, the others 0. `context`'s own
 * members go under `fields`, after the bound ones. Returns false when the buffer was full and the
 * entry was dropped; throws once the logger is shut down.
 */
export interface Logger {
  trace(message: string, context?: object): boolean;
  debug(message: string, context?: object): boolean;
  info(message: string, context?: object): boolean;
  warn(message: string, context?: object): boolean;
  error(message: string, context?: object): boolean;
  /** The same logger (same queue, same methods) whose entries also carry `context` in `fields`. */
  child(context: object): Logger;
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
const DEFAULT_SHUTDOWN: Duration = Duration::from_millis(2000);

/// A logger for the browser. `write` only copies into the queue; uploads happen in the
/// background. Call `shutdown()` to drain and stop; until then the logger stays alive (and keeps
/// its page-exit flush) even if you drop your reference.
#[wasm_bindgen]
pub struct Logger {
    inner: Rc<Inner>,
}

struct Inner {
    core: logger::Logger<Web>,
    hooks: RefCell<Hooks>,
    shutdown: RefCell<Option<Promise>>,
    scratch: RefCell<Vec<u8>>,
}

thread_local! {
    /// True while tap listeners run: what they write is uploaded but not tapped, so a listener
    /// that logs what it receives cannot feed itself.
    static IN_TAP_LISTENER: Cell<bool> = const { Cell::new(false) };
}

type Callback = Closure<dyn FnMut()>;
type LineCallback = Closure<dyn FnMut(String)>;
/// A glue.js function that installs a capture calling back with each line; returns the undo.
type Capture = fn(&LineCallback) -> Function;

/// Listeners logship installed, and their undo functions. They hold the logger; `shutdown`
/// removes them.
#[derive(Default)]
struct Hooks {
    page: Option<(Function, [Callback; 3])>,
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

/// A JS `Error` with logship's prefix.
fn error(message: impl AsRef<str>) -> JsValue {
    JsError::new(&("logship: ".to_owned() + message.as_ref())).into()
}

/// A core error as a JS `Error`. Written out here, not through `Error`'s `Display`, which would
/// bring every variant's message and formatting into the bundle (about 200 B gzipped): a browser
/// meets the random source's failure (`new Logger`) and the tap cap (`tap()`).
fn core_error(err: Error) -> JsValue {
    match err {
        Error::Random(why) => error(RANDOM_FAILED.to_owned() + ": " + &why),
        Error::TooManySubscriptions { max } => error(format!("at most {max} {TAP_CAP}")),
        Error::ShutDown => shut_down(),
        // Not met in browsers: the options are validated first, and there are no threads or spool.
        Error::Config(_)
        | Error::QueueFull
        | Error::Timeout { .. }
        | Error::Runtime(_)
        | Error::Spool(_) => error("could not start"),
    }
}

/// What writes and flushes after shutdown throw.
fn shut_down() -> JsValue {
    error("the logger is shut down")
}

fn set(target: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(target, &key.into(), &value.into());
}

fn stats_object(stats: &Stats) -> Object {
    let out = Object::new();
    for (name, value) in stats.js_fields() {
        set(&out, name, value as f64);
    }
    out
}

/// A promise of `future`, boxed: one copy of wasm-bindgen-futures' promise glue (some 2 KB of
/// wasm) serves every method, not one per future type.
fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let future: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(future);
    future_to_promise(future)
}

fn millis(ms: f64) -> Duration {
    Duration::from_millis(ms.max(0.0) as u64)
}

#[wasm_bindgen]
impl Logger {
    /// Starts a logger. Throws an `Error` naming the option when an option is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "LoggerOptions")] options: JsValue,
    ) -> Result<Logger, JsValue> {
        let parsed = options::parse(&options)?;
        // Without threads or files, what can fail is the random source (crypto.getRandomValues).
        let core =
            logger::Logger::start(Web::default(), &parsed.config, None).map_err(core_error)?;
        let inner = Rc::new(Inner {
            core,
            hooks: RefCell::default(),
            shutdown: RefCell::default(),
            scratch: RefCell::default(),
        });
        inner.install(&parsed.browser);
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
            return self.inner.write(&runtime::bytes_of(bytes));
        };
        scratch.resize(bytes.length() as usize, 0);
        runtime::copy_bytes(bytes, &mut scratch);
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
        promise(async move {
            match inner.core.flush(timeout_ms.map(millis)).await {
                Ok(()) => Ok(JsValue::UNDEFINED),
                Err(Error::Timeout { undelivered }) => Err(error(format!(
                    "flush timed out with {undelivered} entries undelivered"
                ))),
                Err(_) => Err(shut_down()),
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
        let promise = promise(async move {
            if let Ok(mut hooks) = inner.hooks.try_borrow_mut() {
                hooks.remove_captures();
            }
            let timeout = timeout_ms.map_or(DEFAULT_SHUTDOWN, millis);
            let left = match inner.core.shutdown(timeout).await {
                Err(Error::Timeout { undelivered }) => undelivered,
                _ => 0,
            };
            if let Ok(mut hooks) = inner.hooks.try_borrow_mut() {
                hooks.remove_all();
            }
            Ok(JsValue::from_f64(left as f64))
        });
        *self.inner.shutdown.borrow_mut() = Some(promise.clone());
        promise
    }

    /// The counters (of the first destination): written, uploaded, dropped, rejected, beaconed, retries,
    /// bytesOnWire, queuedBytes.
    #[wasm_bindgen(unchecked_return_type = "LogshipStats")]
    pub fn stats(&self) -> JsValue {
        stats_object(&self.inner.core.stats()).into()
    }

    /// Each destination's name, counters and state, in configuration order.
    #[wasm_bindgen(js_name = destinationStats, unchecked_return_type = "DestinationStats[]")]
    pub fn destination_stats(&self) -> Array {
        self.inner
            .core
            .destination_stats()
            .map(|d| {
                let out = stats_object(&d.stats);
                set(&out, "name", d.name);
                set(&out, "usingBackup", d.using_backup);
                if let Some(last) = d.last_error {
                    set(&out, "lastError", last);
                }
                JsValue::from(out)
            })
            .collect()
    }

    /// The id people see for this logger's stream: SHA-256 of the private id, in hex.
    #[wasm_bindgen(getter = publicId)]
    pub fn public_id(&self) -> String {
        self.inner.core.public_id().to_owned()
    }

    /// The last problem the uploader reported (a rejected batch, for example), if any. With
    /// several destinations: the first one's, else another's, prefixed with its name.
    #[wasm_bindgen(getter = lastError)]
    pub fn last_error(&self) -> Option<String> {
        self.inner.core.last_error()
    }

    /// A WebSocket-like live view of the stream (replay of recent entries, then every new one).
    /// Throws past 16 open taps (each holds at most a sixteenth of `bufferBytes` of entries its
    /// listeners have not received yet, 1 MiB at most).
    pub fn tap(&self) -> Result<LogTap, JsValue> {
        let shared = self.inner.core.first().clone();
        let subscriber = shared.subscribe().map_err(core_error)?;
        let id = subscriber.id();
        let unsubscribe = shared.clone();
        let close = Closure::<dyn FnMut()>::new(move || unsubscribe.unsubscribe(id));
        let tap = LogTap::new(&close);
        let events = tap.clone();
        spawn_local(async move {
            while let Some(entry) = subscriber.recv().await {
                IN_TAP_LISTENER.with(|flag| flag.set(true));
                events.push(&entry);
                IN_TAP_LISTENER.with(|flag| flag.set(false));
            }
            shared.unsubscribe(id);
            events.end();
            drop(close);
        });
        Ok(tap)
    }
}

impl Inner {
    fn write(&self, bytes: &[u8]) -> Result<bool, JsValue> {
        let written = match IN_TAP_LISTENER.with(Cell::get) {
            true => self.core.write_untapped(bytes),
            false => self.core.write(bytes),
        };
        match written {
            Ok(()) => Ok(true),
            Err(PushError::Full) => Ok(false),
            Err(PushError::Closed) => Err(shut_down()),
        }
    }

    /// The page is hidden or going away: every destination sends what it has queued, now.
    fn drain_for_exit(&self) {
        for exit in &self.core.runtime().exits {
            if let Ok(mut exit) = exit.try_borrow_mut() {
                exit.drain();
            }
        }
    }

    fn install(self: &Rc<Self>, browser: &options::BrowserOptions) {
        // A closure per event: Firefox may cut the script of a closing tab at its first event
        // (visibilitychange), which leaves that closure unusable; pagehide then drains instead.
        let on_exit = || {
            let inner = self.clone();
            Closure::<dyn FnMut()>::new(move || inner.drain_for_exit())
        };
        let (on_hidden, on_page_hide) = (on_exit(), on_exit());
        let inner = self.clone();
        let on_online = Closure::<dyn FnMut()>::new(move || {
            for net in &inner.core.runtime().nets {
                net.online.notify(usize::MAX);
            }
        });
        let Ok(mut hooks) = self.hooks.try_borrow_mut() else {
            return;
        };
        let unwatch = watch(&on_hidden, &on_page_hide, &on_online);
        hooks.page = Some((unwatch, [on_hidden, on_page_hide, on_online]));
        let wanted: [(bool, Capture); 2] = [
            (browser.capture_console, hook_console),
            (browser.capture_errors, hook_errors),
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
