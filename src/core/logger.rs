//! The one logger behind every door: destination assembly (queues, shippers, backup addresses,
//! private and public ids, error reporters), the write fan-out and its echo, flush, shutdown,
//! stats and errors. It is generic over a small [`Runtime`] — what a target supplies: a transport
//! per destination, a timer, a clock, where reports and echoes go, how the shippers are started
//! and how a caller's wait ends at a deadline. The doors (`native`, `web`) only adapt its results
//! to their API.
//!
//! Waiting is async here, with the deadline as a future from the runtime: the browser awaits it
//! (its deadline is a `setTimeout`), the native door drives the same future on the caller's
//! thread, parking it until the deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use event_listener::Event;
use futures::future::{select, Either};

use super::config::Config;
use super::ids::PrivateId;
use super::level;
use super::queue::PushError;
use super::secret::Redactor;
use super::shipper::{Shipper, ShipperSettings};
use super::stats::{DestinationStats, Stats};
use super::traits::{Clock, Timer, Transport};
use super::{ErrorReporter, MetricsSource, Shared};
use crate::error::Error;

/// What a target supplies to the [`Logger`].
pub trait Runtime: Sized {
    /// How one destination's uploads leave.
    type Transport: Transport;
    /// The shippers' timer (flush delay, back-off, request timeouts).
    type Timer: Timer;
    /// The wall clock, for writes and for the shippers.
    type Clock: Clock + Clone;
    /// The durable stage between the queue and the shipper (the disk spool); a runtime without
    /// one says `std::convert::Infallible`.
    type Durable: Durable;

    /// The clock (read on every write).
    fn clock(&self) -> Self::Clock;
    /// A timer for one shipper.
    fn timer(&self) -> Self::Timer;
    /// Where the local error report goes (stderr, the console); `message` has no prefix yet.
    fn report(message: &str);
    /// Echoes a write's text (`stderr_level`), its level prefix already removed.
    fn echo(&self, text: &[u8]);
    /// The transport of one destination, uploading to `url` (and `backup_url` while failing over).
    fn transport(
        &mut self,
        destination: &Config,
        url: &str,
        backup_url: Option<&str>,
    ) -> Result<Self::Transport, Error>;
    /// Fills `bytes` from the system's random source (the OS's; `crypto.getRandomValues` in
    /// browsers). A logger does not start without it: ids made up from anything else could
    /// collide or be guessed.
    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), Error>;
    /// The private id of a destination configured without one; `generated` is a fresh random id.
    fn private_id(&mut self, generated: PrivateId) -> Result<PrivateId, Error> {
        Ok(generated)
    }
    /// Starts every destination's shipper (the first destination first).
    fn spawn(&mut self, destinations: Vec<Starting<Self>>) -> Result<(), Error>;
    /// A future that completes `timeout` from now, awaited by the caller of flush and shutdown.
    fn deadline(&self, timeout: Duration) -> impl Future<Output = ()>;
    /// The durable stage, if this logger has one.
    fn durable(&self) -> Option<&Self::Durable> {
        None
    }
    /// Called once every queue is stopped: returns when the shippers have ended.
    fn stopped(&self) {}
}

/// A stage that makes entries durable before they are uploaded (the native disk spool). Flush
/// then means "durable"; shutdown uploads from it what its deadline allows.
pub trait Durable {
    /// Moves what is queued into the stage now.
    fn kick(&self);
    /// Makes everything moved so far durable.
    fn sync(&self) -> std::io::Result<()>;
    /// Batches in the stage not yet delivered or rejected.
    fn unsettled_batches(&self) -> usize;
}

/// No durable stage: what a runtime without one names as its `Durable`.
impl Durable for std::convert::Infallible {
    fn kick(&self) {
        match *self {}
    }

    fn sync(&self) -> std::io::Result<()> {
        match *self {}
    }

    fn unsettled_batches(&self) -> usize {
        match *self {}
    }
}

/// The shipper of a runtime.
pub type RuntimeShipper<R> =
    Shipper<<R as Runtime>::Transport, <R as Runtime>::Timer, <R as Runtime>::Clock>;

/// One destination, assembled, for [`Runtime::spawn`] to start.
pub struct Starting<R: Runtime> {
    /// The state its queue, tap and counters live in.
    pub shared: Arc<Shared>,
    /// Its upload loop, not started yet.
    pub shipper: RuntimeShipper<R>,
    /// Its own configuration (its keys over the top-level ones).
    pub config: Config,
    /// A random seed for what the runtime adds (batch ids of a drain of its own, for example).
    pub seed: u64,
}

/// One destination of a running logger.
struct Destination {
    shared: Arc<Shared>,
    /// Its address without the private id (a write credential).
    name: String,
}

enum Shutdown {
    NotStarted,
    Running,
    /// The first shutdown's result: `Err(undelivered)` when entries were left.
    Done(Result<(), u64>),
}

/// A running logger: every destination's queue, and what flush and shutdown wait for.
pub struct Logger<R: Runtime> {
    runtime: R,
    clock: R::Clock,
    /// The first one's shipper feeds the tap; its counters are `stats()`.
    destinations: Vec<Destination>,
    public_id: String,
    stderr_level: i32,
    shutdown: Mutex<Shutdown>,
    shutdown_done: Event,
}

/// `N` bytes from the runtime's random source.
fn random<const N: usize>(runtime: &impl Runtime) -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    runtime.fill_random(&mut bytes)?;
    Ok(bytes)
}

/// What a caller's wait ends at (boxed: flush and shutdown share one `wait_settled`).
type Deadline<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The error of a flush or shutdown that left `undelivered` entries.
fn timed_out(undelivered: u64) -> Error {
    Error::Timeout { undelivered }
}

fn random_u64(runtime: &impl Runtime) -> Result<u64, Error> {
    random(runtime).map(u64::from_le_bytes)
}

/// The error reporter of a destination; with several, each report names its destination.
fn reporter<R: Runtime>(name: Option<String>) -> ErrorReporter {
    match name {
        Some(name) => Arc::new(move |message: &str| R::report(&format!("{name}: {message}"))),
        None => Arc::new(|message: &str| R::report(message)),
    }
}

impl<R: Runtime> Logger<R> {
    /// Assembles one queue and one shipper per destination of a configuration the door has
    /// validated ([`Config::validate`], which it reports in its own words) and has the runtime
    /// start the shippers.
    pub fn start(
        mut runtime: R,
        config: &Config,
        metrics: Option<MetricsSource>,
    ) -> Result<Self, Error> {
        let configs = config.destination_configs();
        let several = configs.len() > 1;
        let clock = runtime.clock();
        let proc_id = u32::from_le_bytes(random(&runtime)?);
        let mut destinations = Vec::with_capacity(configs.len());
        let mut starting = Vec::with_capacity(configs.len());
        let mut public_id = String::new();
        let mut private_ids = Vec::with_capacity(configs.len());
        for destination in &configs {
            private_ids.push(match &destination.private_id {
                Some(configured) => configured.clone(),
                None => runtime.private_id(PrivateId::from_bytes(random(&runtime)?))?,
            });
        }
        // One for all destinations: a server may echo what another destination sent it.
        let redactor = Redactor::new(configs.iter().zip(&private_ids));
        for ((i, destination), private_id) in configs.into_iter().enumerate().zip(private_ids) {
            let name = destination.display_url();
            let reporter = (
                reporter::<R>(several.then(|| name.clone())),
                redactor.clone(),
            );
            let shared = match i {
                0 => Shared::new(&destination, proc_id, metrics.clone(), reporter),
                _ => Shared::new_without_tap(&destination, proc_id, metrics.clone(), reporter),
            };
            let url = destination.upload_url(&private_id);
            let backup_url = destination.backup_upload_url(&private_id);
            let transport = runtime.transport(&destination, &url, backup_url.as_deref())?;
            let settings = ShipperSettings::from_config(&destination, url, random_u64(&runtime)?);
            let mut shipper = Shipper::new(
                shared.clone(),
                transport,
                runtime.timer(),
                clock.clone(),
                settings,
            );
            if let Some(backup_url) = backup_url {
                let probe_interval = Duration::from_millis(destination.failover_probe_ms);
                shipper = shipper.with_backup(backup_url, probe_interval);
            }
            if i == 0 {
                public_id = private_id.public_id();
            }
            destinations.push(Destination {
                shared: shared.clone(),
                name,
            });
            starting.push(Starting {
                shared,
                shipper,
                config: destination,
                seed: random_u64(&runtime)?,
            });
        }
        runtime.spawn(starting)?;
        Ok(Logger {
            runtime,
            clock,
            destinations,
            public_id,
            stderr_level: config.stderr_level,
            shutdown: Mutex::new(Shutdown::NotStarted),
            shutdown_done: Event::new(),
        })
    }

    /// The runtime this logger runs on (the browser's page-exit hooks live on it).
    #[cfg(target_arch = "wasm32")]
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// The first destination's state: its shipper feeds the tap.
    pub fn first(&self) -> &Arc<Shared> {
        &self.destinations[0].shared
    }

    /// Every destination's state, the first one first.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<Shared>> {
        self.destinations.iter().map(|d| &d.shared)
    }

    /// Queues one entry in every destination (each counts its own losses) and echoes it when
    /// its level is at most `stderr_level`. `Closed` once shut down; else `Full` when at least
    /// one destination had no room for it.
    pub fn write(&self, bytes: &[u8]) -> Result<(), PushError> {
        self.write_entry(bytes, true)
    }

    /// Like [`Logger::write`], but the tap never shows the entry: what a tap consumer writes
    /// (a C callback, a browser listener) cannot feed the stream it consumes.
    pub fn write_untapped(&self, bytes: &[u8]) -> Result<(), PushError> {
        self.write_entry(bytes, false)
    }

    fn write_entry(&self, bytes: &[u8], tapped: bool) -> Result<(), PushError> {
        if self.stderr_level >= 0 {
            self.echo(bytes);
        }
        let now = self.clock.unix_nanos();
        let mut result = Ok(());
        for destination in &self.destinations {
            match destination.shared.write(bytes, now, tapped) {
                Ok(()) => {}
                Err(PushError::Closed) => return Err(PushError::Closed),
                Err(PushError::Full) => result = Err(PushError::Full),
            }
        }
        result
    }

    fn echo(&self, bytes: &[u8]) {
        let mut scratch = Vec::new();
        let (level, text) = level::parse(bytes, &mut scratch);
        if i32::from(level) <= self.stderr_level && !text.is_empty() {
            self.runtime.echo(text);
        }
    }

    /// Uploads everything written so far without waiting for the flush delay, and waits (up to
    /// `timeout`, if given) until every destination delivered, rejected or dropped it. With a
    /// durable stage, waits until it is durable there instead.
    pub async fn flush(&self, timeout: Option<Duration>) -> Result<(), Error> {
        if self.first().queue.is_stopped() {
            return Err(Error::ShutDown);
        }
        let targets: Vec<u64> = self.shared().map(|s| s.queue.request_flush()).collect();
        let durable = self.runtime.durable();
        if let Some(durable) = durable {
            durable.kick();
        }
        let mut deadline: Deadline<'_> = match timeout {
            Some(timeout) => Box::pin(self.runtime.deadline(timeout)),
            None => Box::pin(futures::future::pending()),
        };
        if !self.wait_settled(&targets, deadline.as_mut()).await {
            return Err(timed_out(self.shared().map(|s| s.queue.unsettled()).sum()));
        }
        match durable {
            Some(durable) => durable
                .sync()
                .map_err(|e| Error::Spool(format!("cannot sync the spool: {e}"))),
            None => Ok(()),
        }
    }

    /// Refuses further writes, drains up to `timeout`, stops the shippers and closes the tap.
    /// Idempotent: later calls return the first call's result; a concurrent call waits for it
    /// up to its own `timeout`, then returns `Err(Timeout)` with what is undelivered so far.
    /// `Err(Timeout { undelivered })` says how many entries were left (and counted as dropped).
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let mut own_deadline: Option<Deadline<'_>> = None;
        loop {
            let first_call = {
                let mut state = self.shutdown.lock().unwrap_or_else(PoisonError::into_inner);
                match *state {
                    Shutdown::Done(result) => return result.map_err(timed_out),
                    // Listening under the lock: the first call sets `Done` under it, then notifies.
                    Shutdown::Running => self.shutdown_done.listen(),
                    Shutdown::NotStarted => {
                        *state = Shutdown::Running;
                        break;
                    }
                }
            };
            let deadline =
                own_deadline.get_or_insert_with(|| Box::pin(self.runtime.deadline(timeout)));
            if let Either::Right(_) = select(first_call, deadline.as_mut()).await {
                return Err(timed_out(self.shared().map(|s| s.queue.unsettled()).sum()));
            }
        }
        // Drain, then stop.
        let mut deadline: Deadline<'_> = Box::pin(self.runtime.deadline(timeout));
        let targets: Vec<u64> = self.shared().map(|s| s.queue.close()).collect();
        let durable = self.runtime.durable();
        if let Some(durable) = durable {
            durable.kick();
        }
        let drained = self.wait_settled(&targets, deadline.as_mut()).await;
        if let Some(durable) = durable {
            // Everything is in the stage now; upload what the deadline allows (if it has not
            // passed yet). What is left stays there (durable, not dropped) for the next logger.
            let _ = durable.sync();
            let queue = &self.first().queue;
            while drained && durable.unsettled_batches() > 0 {
                let listener = queue.progress.listen();
                if durable.unsettled_batches() == 0 {
                    break;
                }
                if let Either::Right(_) = select(listener, deadline.as_mut()).await {
                    break;
                }
            }
        }
        let left: u64 = self.shared().map(|s| s.queue.stop()).sum();
        self.runtime.stopped();
        self.first().tap.close();
        let result = match (drained, left) {
            (true, 0) => Ok(()),
            _ => Err(left),
        };
        *self.shutdown.lock().unwrap_or_else(PoisonError::into_inner) = Shutdown::Done(result);
        self.shutdown_done.notify(usize::MAX);
        result.map_err(timed_out)
    }

    /// Waits until each destination settled everything before its target (one per destination)
    /// or was stopped; false if the deadline came first. (One boxed future for flush and
    /// shutdown: the browser bundle holds its code once.)
    fn wait_settled<'a>(
        &'a self,
        targets: &'a [u64],
        mut deadline: Pin<&'a mut dyn Future<Output = ()>>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            for (shared, &target) in self.shared().zip(targets) {
                let queue = &shared.queue;
                loop {
                    let listener = queue.progress.listen();
                    if queue.is_settled(target) || queue.is_stopped() {
                        break;
                    }
                    if let Either::Right(_) = select(listener, deadline.as_mut()).await {
                        return false;
                    }
                }
            }
            self.shared()
                .zip(targets)
                .all(|(shared, &target)| shared.queue.is_settled(target))
        })
    }

    /// The counters of the first destination.
    pub fn stats(&self) -> Stats {
        self.first().queue.stats()
    }

    /// Each destination's name, counters and state, in configuration order.
    pub fn destination_stats(&self) -> impl Iterator<Item = DestinationStats> + '_ {
        self.destinations.iter().map(|d| DestinationStats {
            name: d.name.clone(),
            stats: d.shared.queue.stats(),
            using_backup: d.shared.using_backup(),
            last_error: d.shared.last_error(),
        })
    }

    /// The id people see for this logger's stream: SHA-256 of the first private id, in hex.
    pub fn public_id(&self) -> &str {
        &self.public_id
    }

    /// The last problem an uploader reported: the first destination's, else another's, prefixed
    /// with its name.
    pub fn last_error(&self) -> Option<String> {
        let (first, others) = self.destinations.split_first()?;
        first.shared.last_error().or_else(|| {
            others
                .iter()
                .find_map(|d| Some(format!("{}: {}", d.name, d.shared.last_error()?)))
        })
    }
}
