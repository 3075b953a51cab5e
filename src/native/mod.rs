//! The native door: the Rust API ([`Logger`], [`Builder`], [`Subscription`]) over the core's one
//! logger ([`core::logger`](crate::core::logger)). This module only adapts: it supplies the
//! runtime — reqwest transports, tokio timers, a wall clock read from the CPU's counter
//! (`clock.rs`), every shipper on one background thread (a current-thread tokio runtime), the
//! disk spool when `spool_dir` is set (its file work on a thread of its own), stderr for reports
//! and echoes — and blocks the caller's thread where the core's flush and shutdown wait
//! (`wait.rs`). The caller's thread only copies bytes into the queue.

mod clock;
mod spool;
#[cfg(unix)]
pub use spool::release_spool_locks_after_fork;
mod transport;
mod wait;

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::config::{Compression, Config, Destination, Format, OnFull};
use crate::core::ids::PrivateId;
use crate::core::logger::{self, Runtime, Starting};
use crate::core::shipper::Shipper;
use crate::core::stats::{DestinationStats, Stats};
use crate::core::tap::Subscriber;
use crate::core::{MetricsSource, Shared};
use crate::error::Error;
use clock::WallClock;
use event_listener::Listener as _;
use transport::{HttpTransport, TokioTimer};

/// How long dropping the last handle of a logger that was not shut down waits for a drain.
const DROP_DRAIN: Duration = Duration::from_secs(1);

thread_local! {
    /// Set on logship's background threads. What runs there (reqwest, hyper) logs through `log`
    /// and `tracing`; the facades must not ship that, or every upload would log, and every such
    /// log cause another upload.
    static SHIPPER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the caller is logship's own background thread (see `SHIPPER_THREAD`).
#[cfg(any(feature = "log", feature = "tracing"))]
pub(crate) fn on_shipper_thread() -> bool {
    SHIPPER_THREAD.with(std::cell::Cell::get)
}

/// What the native target supplies to the core's logger.
struct Native {
    /// The disk spool (`spool_dir`), which then stands between the queue and the shipper, and
    /// what opening it found (reported once the first destination exists).
    spool: Option<Arc<spool::Spool>>,
    recovery: Option<spool::Recovery>,
    /// The upload thread, and the spool thread when there is a spool.
    threads: Mutex<Vec<JoinHandle<()>>>,
    clock: WallClock,
}

impl Runtime for Native {
    type Transport = HttpTransport;
    type Timer = TokioTimer;
    type Clock = WallClock;
    type Durable = spool::Spool;

    fn clock(&self) -> WallClock {
        self.clock.clone()
    }

    fn timer(&self) -> TokioTimer {
        TokioTimer
    }

    fn report(message: &str) {
        eprintln!("logship: {message}");
    }

    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), Error> {
        getrandom::getrandom(bytes).map_err(|e| Error::Random(e.to_string()))
    }

    fn echo(&self, text: &[u8]) {
        let mut err = io::stderr().lock();
        let _ = err.write_all(text);
        if !text.ends_with(b"\n") {
            let _ = err.write_all(b"\n");
        }
    }

    fn transport(&mut self, _: &Config, _: &str, _: Option<&str>) -> Result<HttpTransport, Error> {
        HttpTransport::new().map_err(Error::Runtime)
    }

    /// With a spool, the id stored there: a restarted process resumes the same stream.
    fn private_id(&mut self, generated: PrivateId) -> Result<PrivateId, Error> {
        match &self.spool {
            Some(spool) => spool.stored_private_id(generated).map_err(Error::Spool),
            None => Ok(generated),
        }
    }

    /// Every shipper on one background thread, concurrently, so that a slow or dead destination
    /// waits alone; the spool writer on another, so that a slow disk never stalls an upload.
    fn spawn(&mut self, destinations: Vec<Starting<Self>>) -> Result<(), Error> {
        let mut shippers = Vec::with_capacity(destinations.len());
        let mut writer = None;
        for (i, destination) in destinations.into_iter().enumerate() {
            let mut shipper = destination.shipper;
            if let (0, Some(opened)) = (i, &self.spool) {
                let settled = opened.clone();
                shipper = shipper.with_spool(move |id| settled.settled(id));
                let shared = destination.shared;
                let mut notice_owed = false;
                if let Some(recovery) = self.recovery.take() {
                    if recovery.skipped_bytes > 0 {
                        shared.report_error(
                            "spool damage",
                            format!(
                                "spool: skipped {} damaged bytes (torn or corrupt tails) in {} segments ({} entries lost)",
                                recovery.skipped_bytes, recovery.damaged_segments, recovery.damaged_records
                            ),
                        );
                    }
                    shared
                        .queue
                        .count_dropped(recovery.dropped_records, recovery.renoticed);
                    notice_owed = recovery.dropped_records + recovery.renoticed > 0;
                }
                writer = Some(spool::run_writer(
                    opened.clone(),
                    shared,
                    shipper.handoff(),
                    destination.config.max_batch_bytes(),
                    destination.seed,
                    notice_owed,
                ));
            }
            shippers.push(shipper);
        }
        let mut threads = vec![background("logship", async move {
            futures::future::join_all(shippers.into_iter().map(Shipper::run)).await;
        })?];
        if let Some(writer) = writer {
            threads.push(background("logship-spool", writer)?);
        }
        *self
            .threads
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = threads;
        Ok(())
    }

    fn deadline(&self, timeout: Duration) -> impl std::future::Future<Output = ()> {
        wait::Deadline::after(timeout)
    }

    fn durable(&self) -> Option<&spool::Spool> {
        self.spool.as_deref()
    }

    fn stopped(&self) {
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Runs `work` to its end on a new thread `name`, with a current-thread tokio runtime of its own.
fn background(
    name: &str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            SHIPPER_THREAD.with(|flag| flag.set(true));
            runtime.block_on(work);
        })
        .map_err(|e| Error::Runtime(e.to_string()))
}

/// A logger. Cheap to clone; every clone writes to the same queue. `write` never waits for the
/// network. Call [`Logger::shutdown`] to drain before exit; dropping the last handle drains for up
/// to one second.
#[derive(Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

struct Inner {
    core: logger::Logger<Native>,
}

impl Logger {
    /// A builder with every key at its default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts a logger from a validated configuration.
    pub fn from_config(config: Config) -> Result<Logger, Error> {
        Self::start(config, None)
    }

    fn start(config: Config, metrics: Option<MetricsSource>) -> Result<Logger, Error> {
        config.validate()?;
        // Opened first: a spool held by another logger fails the build before anything starts.
        let (spool, recovery) = match &config.spool_dir {
            Some(dir) => {
                let (opened, recovery) = spool::Spool::open(
                    std::path::Path::new(dir),
                    config.spool_max_bytes,
                    Duration::from_millis(config.spool_sync_ms),
                )
                .map_err(Error::Spool)?;
                (Some(Arc::new(opened)), Some(recovery))
            }
            None => (None, None),
        };
        let native = Native {
            spool,
            recovery,
            threads: Mutex::new(Vec::new()),
            clock: WallClock::new(),
        };
        let core = logger::Logger::start(native, &config, metrics)?;
        Ok(Logger {
            inner: Arc::new(Inner { core }),
        })
    }

    /// Queues one entry. Never waits for the network; in steady state, never allocates.
    /// Errors: [`Error::ShutDown`] after shutdown, [`Error::QueueFull`] when the entry was dropped
    /// for lack of room (it is counted, and reported to the server by the next upload).
    /// With several destinations, every one gets its copy (each counts its own losses), and the
    /// error says that at least one refused it.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.inner.core.write(bytes)?)
    }

    /// Like [`Logger::write`], but no [`Subscription`] ever receives the entry (it is uploaded
    /// like any other): for a tap consumer that logs, so that it cannot feed itself.
    pub fn write_untapped(&self, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.inner.core.write_untapped(bytes)?)
    }

    /// Uploads everything written so far without waiting for the flush delay, and waits up to
    /// `timeout` for it to be delivered (or rejected or dropped).
    /// With several destinations, waits for all of them (and a dead one makes it time out).
    ///
    /// With a disk spool (`spool_dir`), returns once everything written before it is durable in
    /// the spool (written and synced), not necessarily uploaded.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        wait::block_on(self.inner.core.flush(Some(timeout)))
    }

    /// Refuses further writes, drains up to `timeout`, stops the background thread. Idempotent:
    /// later calls return the first call's result. `Err(Timeout { undelivered })` says how many
    /// entries were left (and counted as dropped).
    pub fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        wait::block_on(self.inner.core.shutdown(timeout))
    }

    /// A live view of every entry from now on, after a replay of up to the last 16 KiB.
    /// Each subscription holds at most a sixteenth of `buffer_bytes` (1 MiB at most) of entries
    /// it has not received; [`Error::TooManySubscriptions`] past 16 at a time.
    pub fn subscribe(&self) -> Result<Subscription, Error> {
        let shared = self.inner.core.first().clone();
        Ok(Subscription {
            subscriber: shared.subscribe()?,
            shared,
        })
    }

    /// The counters of the (first) destination; see [`Logger::destination_stats`] for each one.
    pub fn stats(&self) -> Stats {
        self.inner.core.stats()
    }

    /// Each destination's name, counters and state, in configuration order.
    pub fn destination_stats(&self) -> Vec<DestinationStats> {
        self.inner.core.destination_stats().collect()
    }

    /// The id people see for this logger's stream: SHA-256 of the private id.
    pub fn public_id(&self) -> &str {
        self.inner.core.public_id()
    }

    /// The last problem reported by the uploader (a rejected batch, for example). With several
    /// destinations: the first one's, else another's, prefixed with its name.
    pub fn last_error(&self) -> Option<String> {
        self.inner.core.last_error()
    }
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("public_id", &self.public_id())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = wait::block_on(self.core.shutdown(DROP_DRAIN));
    }
}

/// Each `write` call is one entry (as logtail does). `write!`/`writeln!` format the whole line
/// first, so each macro call is one entry too. A full buffer is not an I/O error: the entry is
/// counted as dropped and reported to the server instead.
impl io::Write for &Logger {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Logger::write(self, buf) {
            Ok(()) | Err(Error::QueueFull) => Ok(buf.len()),
            Err(err) => Err(io::Error::other(err)),
        }
    }

    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        thread_local! {
            static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            std::fmt::Write::write_fmt(&mut *line, args).map_err(io::Error::other)?;
            io::Write::write(self, line.as_bytes()).map(drop)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Write for Logger {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }

    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        io::Write::write_fmt(&mut &*self, args)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A tap subscription: every entry (as JSON text, without the trailing newline). A subscriber
/// that falls behind loses its own oldest entries (see [`Subscription::missed`]) and never slows
/// the logger. Dropping it unsubscribes.
pub struct Subscription {
    subscriber: Arc<Subscriber>,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The next entry if one is waiting; never waits.
    pub fn try_recv(&self) -> Option<Arc<str>> {
        self.subscriber.try_recv()
    }

    /// Waits up to `timeout` for the next entry; `None` on timeout or once the logger is shut
    /// down and every entry was received.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Arc<str>> {
        let deadline = Instant::now() + timeout;
        loop {
            let listener = self.subscriber.listen();
            if let Some(entry) = self.subscriber.try_recv() {
                return Some(entry);
            }
            if self.subscriber.is_finished() || listener.wait_deadline(deadline).is_none() {
                return self.subscriber.try_recv();
            }
        }
    }

    /// Entries lost because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.subscriber.missed()
    }

    /// Ends the subscription from any thread: no entry arrives after this, and a thread
    /// waiting in [`Subscription::recv_timeout`] receives what is left, then `None` at once.
    pub fn close(&self) {
        self.shared.unsubscribe(self.subscriber.id());
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

/// Builds a [`Logger`]; each method is named after its configuration key (docs/CONFIGURATION.md).
#[derive(Default)]
pub struct Builder {
    config: Config,
    private_id: Option<String>,
    metrics: Option<MetricsSource>,
}

// One setter per configuration key, generated from the key table (src/core/config_keys.rs).
include!(concat!(env!("OUT_DIR"), "/builder.rs"));

impl Builder {
    /// A directory for the durable disk spool (created 0700 when missing; one logger at a time;
    /// refused if another user owns it or group or others may write it).
    pub fn spool_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.config.spool_dir = Some(dir.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Adds a destination (`destinations`); the builder's other keys are its defaults.
    pub fn destination(mut self, destination: Destination) -> Self {
        self.config.destinations.push(destination);
        self
    }

    /// 64 lowercase hex characters; generated when not given.
    pub fn private_id(mut self, hex_id: &str) -> Self {
        self.private_id = Some(hex_id.to_owned());
        self
    }

    /// Adds one header to every upload.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.config
            .headers
            .insert(name.to_owned(), value.to_owned());
        self
    }

    /// Called for each text entry; a non-empty result goes on the entry as `"metrics"`.
    pub fn metrics(mut self, source: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(source));
        self
    }

    /// Validates the configuration and starts the logger.
    pub fn build(mut self) -> Result<Logger, Error> {
        if let Some(hex_id) = &self.private_id {
            let id = PrivateId::parse(hex_id).map_err(|message| crate::ConfigError {
                key: "private_id".into(),
                message: message.into(),
            })?;
            self.config.private_id = Some(id);
        }
        Logger::start(self.config, self.metrics)
    }
}
