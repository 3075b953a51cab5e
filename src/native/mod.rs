//! The native runtime: one background thread per logger running the core shipper on a
//! current-thread tokio runtime. The caller's thread only copies bytes into the queue.

mod spool;
mod transport;

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::config::{Compression, Config, Destination, Format, OnFull};
use crate::core::ids::PrivateId;
use crate::core::level;
use crate::core::shipper::{Shipper, ShipperSettings};
use crate::core::stats::{DestinationStats, Stats};
use crate::core::tap::Subscriber;
use crate::core::traits::Clock;
use crate::core::{ErrorReporter, MetricsSource, Shared};
use crate::error::Error;
use event_listener::Listener as _;
use transport::{HttpTransport, SystemClock, TokioTimer};

/// How long dropping the last handle of a logger that was not shut down waits for a drain.
const DROP_DRAIN: Duration = Duration::from_secs(1);

thread_local! {
    /// Set on logship's background thread. What runs there (reqwest, hyper) logs through `log`
    /// and `tracing`; the facades must not ship that, or every upload would log, and every such
    /// log cause another upload.
    static SHIPPER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the caller is logship's own background thread (see `SHIPPER_THREAD`).
#[cfg(any(feature = "log", feature = "tracing"))]
pub(crate) fn on_shipper_thread() -> bool {
    SHIPPER_THREAD.with(std::cell::Cell::get)
}

/// A logger. Cheap to clone; every clone writes to the same queue. `write` never waits for the
/// network. Call [`Logger::shutdown`] to drain before exit; dropping the last handle drains for up
/// to one second.
#[derive(Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

struct Inner {
    /// The first destination's state: its shipper feeds the tap, its counters are `stats()`.
    shared: Arc<Shared>,
    /// Every destination after the first (`destinations`), each with its own queue and shipper.
    others: Vec<Arc<Shared>>,
    /// Each destination's name (its address without the private id), the first one first.
    names: Vec<String>,
    public_id: String,
    stderr_level: i32,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The disk spool (`spool_dir`), which then stands between the queue and the shipper.
    spool: Option<Arc<spool::Spool>>,
    /// The result of the first shutdown, returned again by later calls.
    shutdown: Mutex<Option<Result<(), Error>>>,
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Without an OS random source the ids are still unique enough per process; never fail a logger for it.
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = SystemClock.unix_nanos().to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = nanos[i % 8] ^ (i as u8).wrapping_mul(31) ^ std::process::id() as u8;
        }
    }
    bytes
}

impl Logger {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts a logger from a validated configuration.
    pub fn from_config(config: Config) -> Result<Logger, Error> {
        Self::start(config, None)
    }

    /// One queue and one shipper per destination; every shipper runs on the one background
    /// thread, concurrently, so a slow or dead destination waits alone.
    fn start(config: Config, metrics: Option<MetricsSource>) -> Result<Logger, Error> {
        config.validate()?;
        let destinations = config.destination_configs();
        let several = destinations.len() > 1;
        let proc_id = u32::from_le_bytes(random());
        let (mut states, mut names, mut shippers) = (Vec::new(), Vec::new(), Vec::new());
        let mut public_id = String::new();
        // Opened first: a spool held by another logger fails the build before anything starts.
        let opened_spool = match &config.spool_dir {
            Some(dir) => Some(
                spool::Spool::open(
                    std::path::Path::new(dir),
                    config.spool_max_bytes,
                    Duration::from_millis(config.spool_sync_ms),
                )
                .map(|(opened, recovery)| (Arc::new(opened), recovery))
                .map_err(Error::Spool)?,
            ),
            None => None,
        };
        let mut spool_writer = None;
        for (i, destination) in destinations.iter().enumerate() {
            let private_id = match (&destination.private_id, &opened_spool) {
                (Some(configured), _) => configured.clone(),
                (None, Some((opened, _))) => opened
                    .stored_private_id(PrivateId::from_bytes(random()))
                    .map_err(Error::Spool)?,
                (None, None) => PrivateId::from_bytes(random()),
            };
            let name = destination.display_url();
            let reporter: ErrorReporter = match several {
                true => {
                    let name = name.clone();
                    Arc::new(move |message: &str| eprintln!("logship: {name}: {message}"))
                }
                false => Arc::new(|message: &str| eprintln!("logship: {message}")),
            };
            let shared = match i {
                0 => Shared::new(destination, proc_id, metrics.clone(), reporter),
                _ => Shared::new_without_tap(destination, proc_id, metrics.clone(), reporter),
            };
            let url = destination.upload_url(&private_id);
            let settings =
                ShipperSettings::from_config(destination, url, u64::from_le_bytes(random()));
            let transport = HttpTransport::new().map_err(Error::Runtime)?;
            let mut shipper =
                Shipper::new(shared.clone(), transport, TokioTimer, SystemClock, settings);
            if let Some(backup_url) = destination.backup_upload_url(&private_id) {
                let probe_interval = Duration::from_millis(destination.failover_probe_ms);
                shipper = shipper.with_backup(backup_url, probe_interval);
            }
            if i == 0 {
                public_id = private_id.public_id();
            }
            if let (0, Some((opened, recovery))) = (i, &opened_spool) {
                let opened = opened.clone();
                shipper = shipper.with_spool(move |id| opened.settled(id));
                if recovery.skipped_bytes > 0 {
                    shared.report_error(
                        "spool damage",
                        format!(
                            "spool: skipped {} damaged bytes (torn or corrupt tails) in {} segments",
                            recovery.skipped_bytes, recovery.damaged_segments
                        ),
                    );
                }
                shared
                    .queue
                    .count_dropped(recovery.dropped_records, recovery.renoticed);
            }
            if i == 0 && opened_spool.is_some() {
                spool_writer = Some((
                    shared.clone(),
                    shipper.handoff(),
                    destination.max_batch_bytes(),
                ));
            }
            states.push(shared);
            names.push(name);
            shippers.push(shipper);
        }
        let spool = opened_spool.map(|(opened, _)| opened);
        let writer = spool
            .clone()
            .zip(spool_writer)
            .map(|(spool, (shared, handoff, max))| {
                spool::run_writer(spool, shared, handoff, max, u64::from_le_bytes(random()))
            });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let thread = std::thread::Builder::new()
            .name("logship".into())
            .spawn(move || {
                SHIPPER_THREAD.with(|flag| flag.set(true));
                runtime.block_on(futures::future::join(
                    futures::future::join_all(shippers.into_iter().map(Shipper::run)),
                    async move {
                        if let Some(writer) = writer {
                            writer.await;
                        }
                    },
                ));
            })
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let shared = states.remove(0);
        Ok(Logger {
            inner: Arc::new(Inner {
                shared,
                others: states,
                names,
                public_id,
                stderr_level: config.stderr_level,
                thread: Mutex::new(Some(thread)),
                spool,
                shutdown: Mutex::new(None),
            }),
        })
    }

    /// Queues one entry. Never waits for the network; in steady state, never allocates.
    /// Errors: [`Error::ShutDown`] after shutdown, [`Error::QueueFull`] when the entry was dropped
    /// for lack of room (it is counted, and reported to the server by the next upload).
    /// With several destinations, every one gets its copy (each counts its own losses), and the
    /// error says that at least one refused it.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        if self.inner.stderr_level >= 0 {
            echo_to_stderr(bytes, self.inner.stderr_level);
        }
        let now = SystemClock.unix_nanos();
        let mut result = self.inner.shared.write(bytes, now);
        for other in &self.inner.others {
            let pushed = other.write(bytes, now);
            result = result.and(pushed);
        }
        Ok(result?)
    }

    /// Uploads everything written so far without waiting for the flush delay, and waits up to
    /// `timeout` for it to be delivered (or rejected or dropped).
    /// With several destinations, waits for all of them (and a dead one makes it time out).
    ///
    /// With a disk spool (`spool_dir`), returns once everything written before it is durable in
    /// the spool (written and synced), not necessarily uploaded.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        if self.inner.shared.queue.is_stopped() {
            return Err(Error::ShutDown);
        }
        if let Some(spool) = &self.inner.spool {
            let target = self.inner.shared.queue.request_flush();
            spool.kick();
            self.inner
                .wait_settled(&[target], Instant::now() + timeout)?;
            return spool
                .sync()
                .map_err(|e| Error::Spool(format!("cannot sync the spool: {e}")));
        }
        let targets: Vec<u64> = self
            .inner
            .destinations()
            .map(|shared| shared.queue.request_flush())
            .collect();
        self.inner.wait_settled(&targets, Instant::now() + timeout)
    }

    /// Refuses further writes, drains up to `timeout`, stops the background thread. Idempotent:
    /// later calls return the first call's result. `Err(Timeout { undelivered })` says how many
    /// entries were left (and counted as dropped).
    pub fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.shutdown(timeout)
    }

    /// A live view of every entry from now on, after a replay of up to the last 16 KiB.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            subscriber: self.inner.shared.subscribe(),
            shared: self.inner.shared.clone(),
        }
    }

    /// The counters of the (first) destination; see [`Logger::destination_stats`] for each one.
    pub fn stats(&self) -> Stats {
        self.inner.shared.queue.stats()
    }

    /// Each destination's name, counters and state, in configuration order.
    pub fn destination_stats(&self) -> Vec<DestinationStats> {
        self.inner
            .destinations()
            .zip(&self.inner.names)
            .map(|(shared, name)| DestinationStats {
                name: name.clone(),
                stats: shared.queue.stats(),
                using_backup: shared.using_backup(),
                last_error: shared.last_error(),
            })
            .collect()
    }

    /// The id people see for this logger's stream: SHA-256 of the private id.
    pub fn public_id(&self) -> &str {
        &self.inner.public_id
    }

    /// The last problem reported by the uploader (a rejected batch, for example). With several
    /// destinations: the first one's, else another's, prefixed with its name.
    pub fn last_error(&self) -> Option<String> {
        self.inner.shared.last_error().or_else(|| {
            let mut others = self.inner.others.iter().zip(&self.inner.names[1..]);
            others.find_map(|(shared, name)| Some(format!("{name}: {}", shared.last_error()?)))
        })
    }
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("public_id", &self.inner.public_id)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Every destination's state, the first one first.
    fn destinations(&self) -> impl Iterator<Item = &Arc<Shared>> {
        std::iter::once(&self.shared).chain(&self.others)
    }

    /// Waits until each destination settled everything before its target (one per destination).
    fn wait_settled(&self, targets: &[u64], deadline: Instant) -> Result<(), Error> {
        let mut timed_out = false;
        for (shared, &target) in self.destinations().zip(targets) {
            let queue = &shared.queue;
            loop {
                let listener = queue.progress.listen();
                if queue.is_settled(target) {
                    break;
                }
                if listener.wait_deadline(deadline).is_none() && !queue.is_settled(target) {
                    timed_out = true;
                    break;
                }
            }
        }
        match timed_out {
            false => Ok(()),
            true => Err(Error::Timeout {
                undelivered: self.destinations().map(|s| s.queue.unsettled()).sum(),
            }),
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let mut outcome = self.shutdown.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(result) = &*outcome {
            return result.clone();
        }
        let deadline = Instant::now() + timeout;
        let targets: Vec<u64> = self.destinations().map(|s| s.queue.close()).collect();
        if let Some(spool) = &self.spool {
            spool.kick();
        }
        let drained = self.wait_settled(&targets, deadline);
        if let Some(spool) = &self.spool {
            // Everything is in the spool now; upload what the deadline allows. What is left stays
            // there (durable, not dropped) for the next logger on this spool_dir.
            let _ = spool.sync();
            let queue = &self.shared.queue;
            while spool.unsettled_batches() > 0 {
                let listener = queue.progress.listen();
                if spool.unsettled_batches() == 0 || listener.wait_deadline(deadline).is_none() {
                    break;
                }
            }
        }
        let left: u64 = self.destinations().map(|s| s.queue.stop()).sum();
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
        self.shared.tap.close();
        let result = match drained {
            Ok(()) if left == 0 => Ok(()),
            _ => Err(Error::Timeout { undelivered: left }),
        };
        *outcome = Some(result.clone());
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown(DROP_DRAIN);
    }
}

fn echo_to_stderr(bytes: &[u8], max_level: i32) {
    let mut scratch = Vec::new();
    let (level, payload) = level::parse(bytes, &mut scratch);
    if i32::from(level) <= max_level && !payload.is_empty() {
        let mut err = io::stderr().lock();
        let _ = err.write_all(payload);
        if !payload.ends_with(b"\n") {
            let _ = err.write_all(b"\n");
        }
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
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.unsubscribe(self.subscriber.id());
    }
}

/// Builds a [`Logger`]; each method is named after its configuration key (DESIGN.md).
#[derive(Default)]
pub struct Builder {
    config: Config,
    private_id: Option<String>,
    metrics: Option<MetricsSource>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value.into();
            self
        }
    )*};
}

impl Builder {
    setters! {
        base_url: &str,
        collection: &str,
        flush_delay_ms: u64,
        max_batch_bytes: usize,
        buffer_bytes: usize,
        on_full: OnFull,
        low_memory: bool,
        compression: Compression,
        skip_client_time: bool,
        include_proc_id: bool,
        include_proc_seq: bool,
        stderr_level: i32,
        headers: BTreeMap<String, String>,
        retry_initial_ms: u64,
        retry_max_ms: u64,
        request_timeout_ms: u64,
        format: Format,
        failover_probe_ms: u64,
        spool_max_bytes: u64,
        spool_sync_ms: u64,
    }

    /// A directory for the durable disk spool (created 0700 when missing; one logger at a time).
    pub fn spool_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.config.spool_dir = Some(dir.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Where uploads go after repeated failures at `base_url`, until it answers again.
    pub fn backup_url(mut self, base_url: &str) -> Self {
        self.config.backup_url = Some(base_url.to_owned());
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
