//! The browser runtime: what the core's logger asks of a target — Transport (fetch), Timer
//! (setTimeout), Clock (Date.now()), the console for reports and echoes, shippers on
//! `spawn_local` with a page-exit drain each — over the plumbing in `glue.js`.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use event_listener::Event;
use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::exit::ExitDrain;
use crate::core::config::Config;
use crate::core::logger::{Runtime, Starting};
use crate::core::traits::{
    Clock, Codec, Request, Response, Timer, Transport, TransportError, ERROR_BODY_PREFIX,
};
use crate::error::Error;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    pub(super) fn now() -> f64;
    #[wasm_bindgen(js_name = keepaliveRoom)]
    fn keepalive_room_of(budget: f64) -> f64;
    #[wasm_bindgen(catch)]
    pub(super) fn send(
        url: &str,
        body: &[u8],
        extra_headers: &JsValue,
        batch_id: &str,
        encoding: &str,
        orig_length: f64,
        keepalive_limit: f64,
        error_prefix: f64,
    ) -> Result<Promise, JsValue>;
    pub(super) fn beacon(url: &str, body: &[u8]) -> bool;
    #[wasm_bindgen(js_name = hasGzip)]
    pub(super) fn has_gzip() -> bool;
    #[wasm_bindgen(catch)]
    fn gzip(body: &[u8]) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = isOnline)]
    pub(super) fn is_online() -> bool;
    fn report(message: &str);
    fn echo(text: &str);
    #[wasm_bindgen(catch, js_name = fillRandom)]
    fn fill_random(bytes: &mut [u8]) -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = failure)]
    fn js_message(err: &JsValue) -> String;
    #[wasm_bindgen(js_name = copyBytes)]
    pub(super) fn copy_bytes(from: &Uint8Array, to: &mut [u8]);
}

/// The bytes of `array`. (Not `Uint8Array::to_vec`, nor `copy_to`: they assert that the lengths
/// match, and that assertion's message brings `usize`'s `Debug` into the wasm.)
pub(super) fn bytes_of(array: &Uint8Array) -> Vec<u8> {
    let mut bytes = vec![0; array.length() as usize];
    copy_bytes(array, &mut bytes);
    bytes
}

/// Browsers allow this many bytes of keepalive bodies in flight per page.
pub(super) const KEEPALIVE_BUDGET: usize = 64 * 1024;
/// Bytes of the keepalive budget logship can still use (0 where fetch keepalive is not supported).
pub(super) fn keepalive_room() -> f64 {
    keepalive_room_of(KEEPALIVE_BUDGET as f64)
}

/// Regular uploads are keepalive ones (so that an upload under way survives the page) while they
/// leave at least half of the budget to the page-exit drain.
const REGULAR_KEEPALIVE_LIMIT: usize = KEEPALIVE_BUDGET / 2;

/// What the transport and the page-exit drain share.
pub(super) struct Net {
    pub url: String,
    /// Where uploads go while the primary fails (`backupUrl`).
    pub backup_url: Option<String>,
    /// The configured extra headers, as a JS object.
    pub headers: JsValue,
    /// Whether there are any (a beacon cannot carry them).
    has_headers: bool,
    /// First attempts the page-exit drain already made, by batch id: the shipper's first send of
    /// that batch awaits this instead of sending again.
    pending: RefCell<Vec<(String, Promise)>>,
    /// Notified on the window's `online` event.
    pub online: Event,
}

impl Net {
    pub fn new(
        url: String,
        backup_url: Option<String>,
        headers: JsValue,
        has_headers: bool,
    ) -> Rc<Net> {
        Rc::new(Net {
            url,
            backup_url,
            headers,
            has_headers,
            pending: RefCell::default(),
            online: Event::new(),
        })
    }

    /// Whether uploads carry configured headers (which a beacon cannot).
    pub fn has_headers(&self) -> bool {
        self.has_headers
    }

    /// Where the page-exit drain sends: where the shipper sends now.
    pub fn exit_url(&self, using_backup: bool) -> &str {
        match (&self.backup_url, using_backup) {
            (Some(backup), true) => backup,
            _ => &self.url,
        }
    }

    /// Starts an upload of an uncompressed body to `url`, keepalive within `keepalive_limit`.
    pub fn start(
        &self,
        url: &str,
        body: &[u8],
        batch_id: &str,
        keepalive_limit: usize,
    ) -> Option<Promise> {
        send(
            url,
            body,
            &self.headers,
            batch_id,
            "",
            0.0,
            keepalive_limit as f64,
            ERROR_BODY_PREFIX as f64,
        )
        .ok()
    }

    pub fn add_pending(&self, batch_id: String, attempt: Promise) {
        self.pending.borrow_mut().push((batch_id, attempt));
    }

    fn take_pending(&self, batch_id: &str) -> Option<Promise> {
        let mut pending = self.pending.borrow_mut();
        let at = pending.iter().position(|(id, _)| id == batch_id)?;
        Some(pending.swap_remove(at).1)
    }
}

fn failed(message: String) -> TransportError {
    TransportError { message }
}

async fn response(attempt: Promise) -> Result<Response, TransportError> {
    let outcome = JsFuture::from(attempt)
        .await
        .map_err(|err| failed(js_message(&err)))?;
    // glue.js's `send` resolves with an array.
    let parts = outcome.unchecked_into::<Array>();
    let status = parts.get(0).as_f64().unwrap_or(0.0) as u16;
    let body_prefix = parts
        .get(2)
        .dyn_into::<Uint8Array>()
        .map(|prefix| bytes_of(&prefix))
        .unwrap_or_default();
    Ok(Response {
        status,
        retry_after: parts.get(1).as_string(),
        location: None,
        opaque_redirect: parts.get(3).as_bool().unwrap_or(false),
        body_prefix,
    })
}

/// The core's Transport over `fetch`.
pub(super) struct WebTransport {
    pub net: Rc<Net>,
}

impl Transport for WebTransport {
    fn send<'a>(
        &'a self,
        request: Request<'a>,
    ) -> impl Future<Output = Result<Response, TransportError>> + 'a {
        // Start the request now (not at the first poll), then await it.
        let attempt = match self.net.take_pending(request.batch_id) {
            Some(attempt) => Ok(attempt),
            None if !is_online() => Err(failed("offline (navigator.onLine is false)".into())),
            None => send(
                request.url,
                request.body,
                &self.net.headers,
                request.batch_id,
                request.content_encoding.unwrap_or(""),
                request.orig_content_length.unwrap_or(0) as f64,
                REGULAR_KEEPALIVE_LIMIT as f64,
                ERROR_BODY_PREFIX as f64,
            )
            .map_err(|err| failed(js_message(&err))),
        };
        async move { response(attempt?).await }
    }

    fn compress<'a>(
        &'a self,
        codec: Codec,
        body: &'a [u8],
    ) -> impl Future<Output = Option<Vec<u8>>> + 'a {
        let started = (codec == Codec::Gzip && has_gzip())
            .then(|| gzip(body).ok())
            .flatten();
        async move {
            let compressed = JsFuture::from(started?).await.ok()?;
            Some(bytes_of(&compressed.dyn_into::<Uint8Array>().ok()?))
        }
    }

    fn preferred_codec(&self) -> Option<Codec> {
        has_gzip().then_some(Codec::Gzip)
    }

    fn is_online(&self) -> bool {
        is_online()
    }

    fn until_online(&self) -> impl Future<Output = ()> {
        let net = self.net.clone();
        async move {
            loop {
                let listener = net.online.listen();
                if is_online() {
                    return;
                }
                listener.await;
            }
        }
    }
}

/// setTimeout, cancelled when dropped.
pub(super) struct WebTimer;

/// setTimeout counts in signed 32-bit milliseconds: longer waits would fire at once.
const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

pub(super) fn sleep(duration: Duration) -> gloo_timers::future::TimeoutFuture {
    // `Duration::as_millis` in u64, not u128: the seconds are capped before they are multiplied.
    let millis = match duration.as_secs() {
        secs if secs > MAX_TIMEOUT_MS => MAX_TIMEOUT_MS,
        secs => secs * 1000 + u64::from(duration.subsec_millis()),
    };
    gloo_timers::future::TimeoutFuture::new(millis.min(MAX_TIMEOUT_MS) as u32)
}

impl Timer for WebTimer {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        sleep(duration)
    }
}

#[derive(Clone, Copy)]
pub(super) struct WebClock;

impl Clock for WebClock {
    /// Whole milliseconds (Date.now(): glue.js says why not performance.now()).
    fn unix_nanos(&self) -> i64 {
        now() as i64 * 1_000_000
    }
}

/// What the browser supplies to the core's logger: per destination, the network state its
/// transport and its page-exit drain share, and the drain itself.
#[derive(Default)]
pub(super) struct Web {
    pub nets: Vec<Rc<Net>>,
    pub exits: Vec<RefCell<ExitDrain>>,
}

impl Runtime for Web {
    type Transport = WebTransport;
    type Timer = WebTimer;
    type Clock = WebClock;
    /// Browsers have no durable stage (the page-exit drain keeps the last lines instead).
    type Durable = std::convert::Infallible;

    fn clock(&self) -> WebClock {
        WebClock
    }

    fn timer(&self) -> WebTimer {
        WebTimer
    }

    /// crypto.getRandomValues through glue.js: getrandom's browser backend would add its Node.js
    /// detection and its table of messages to the bundle.
    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), Error> {
        fill_random(bytes).map_err(|_| Error::Random("crypto.getRandomValues failed".into()))
    }

    fn report(message: &str) {
        report(message);
    }

    fn echo(&self, text: &[u8]) {
        echo(&String::from_utf8_lossy(text));
    }

    fn transport(
        &mut self,
        destination: &Config,
        url: &str,
        backup_url: Option<&str>,
    ) -> Result<WebTransport, Error> {
        let headers = js_sys::Object::new();
        for (name, value) in &destination.headers {
            let _ = js_sys::Reflect::set(&headers, &name.into(), &value.into());
        }
        let net = Net::new(
            url.to_owned(),
            backup_url.map(str::to_owned),
            headers.into(),
            !destination.headers.is_empty(),
        );
        self.nets.push(net.clone());
        Ok(WebTransport { net })
    }

    fn spawn(&mut self, destinations: Vec<Starting<Self>>) -> Result<(), Error> {
        for (destination, net) in destinations.into_iter().zip(&self.nets) {
            let exit = ExitDrain::new(
                destination.shared,
                destination.shipper.handoff(),
                net.clone(),
                destination.seed,
                destination.config.max_batch_bytes(),
            );
            self.exits.push(RefCell::new(exit));
            spawn_local(destination.shipper.run());
        }
        Ok(())
    }

    fn deadline(&self, timeout: Duration) -> impl Future<Output = ()> {
        sleep(timeout)
    }
}
