//! The upload loop (PROTOCOL.md §2–3), generic over the runtime's Transport, Timer and Clock:
//! waits for entries, honours the flush delay, encodes and batches, compresses, sends, retries,
//! splits, rejects — and feeds the tap while it waits.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::{select, Either};

use super::batch::{Batch, BatchIds, BodyFormat, DropNotice};
use super::config::{Compression, Config};
use super::encode::{Encoder, EntryMeta};
use super::failover::{Failover, Target};
use super::otlp::RecordWriter;
use super::queue::{TakenRecord, KIND_ENCODED, KIND_UNTAPPED};
use super::retry::{self, Backoff, Verdict};
use super::secret::Secret;
use super::stats::Counters;
use super::traits::{
    Clock, Codec, Request, Response, Timer, Transport, TransportError, ERROR_BODY_PREFIX,
};
use super::Shared;

/// Bodies at or below this size are sent uncompressed.
const COMPRESS_ABOVE: usize = 256;
/// Compression is used only when it saves more than this many bytes.
const COMPRESS_MIN_SAVING: usize = 64;
/// At most this much payload is taken out of the queue under its lock at a time, so that a
/// writer never waits for more than a short copy.
const TAKE_BYTES: usize = 8 * 1024;

/// Where and how a shipper uploads.
/// Its `Debug` shows neither the URL (it holds the private id) nor header values.
#[derive(Debug, Clone)]
pub struct ShipperSettings {
    pub url: Secret,
    pub headers: Vec<(String, Secret)>,
    pub compression: Compression,
    pub flush_delay: Duration,
    pub request_timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub max_batch_bytes: usize,
    /// Random seed for the batch instance id and the back-off jitter.
    pub seed: u64,
}

impl ShipperSettings {
    /// What a configuration (of one destination) sets, uploading to `url`.
    pub fn from_config(config: &Config, url: String, seed: u64) -> Self {
        ShipperSettings {
            url: Secret::new(url),
            headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Secret::new(v.as_str())))
                .collect(),
            compression: config.compression,
            flush_delay: Duration::from_millis(config.flush_delay_ms),
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            retry_initial: Duration::from_millis(config.retry_initial_ms),
            retry_max: Duration::from_millis(config.retry_max_ms),
            max_batch_bytes: config.max_batch_bytes(),
            seed,
        }
    }
}

/// The shipper was told to stop.
struct Stopped;

enum Delivery {
    Done,
    Split,
}

/// What follows an attempt: the batch settled, or another attempt, now or after a wait.
enum Next {
    Settled(Delivery),
    /// Again now (the other address owes no wait).
    AtOnce,
    /// Again once the network is back.
    Online,
    /// Again after the back-off delay.
    After(Duration),
}

pub struct Shipper<T, Tm, C> {
    transport: T,
    timer: Tm,
    clock: C,
    settings: ShipperSettings,
    ids: BatchIds,
    rng: fastrand::Rng,
    intake: Intake,
    handoff: Handoff,
    /// Where uploads go while the primary (`settings.url`) fails; see [`Shipper::with_backup`].
    backup_url: Option<Secret>,
    failover: Failover,
    /// With a disk spool: batches come only through the handoff (the spool writer builds them),
    /// and each one is reported here, by id, once settled (see [`Shipper::with_spool`]).
    spool_settled: Option<SpoolSettled>,
    /// A batch built while the one before it was being compressed, to deliver next.
    next_batch: Option<Batch>,
}

/// Called with the id of each handed-off batch once it is settled (disk spool mode).
type SpoolSettled = Box<dyn Fn(&str) + Send>;

/// Batches built outside the upload loop, for the loop to deliver before anything else. The
/// browser door's page-exit drain builds batches synchronously (with its own [`Intake`]), fires a
/// first attempt itself (`fetch` keepalive) and hands them here, so that the loop settles them and,
/// should that attempt fail while the page lives on, retries them with the same batch id.
#[derive(Clone)]
pub struct Handoff {
    shared: Arc<Shared>,
    batches: Arc<Mutex<VecDeque<Batch>>>,
}

impl Handoff {
    pub fn push(&self, batch: Batch) {
        self.lock().push_back(batch);
        self.shared.queue.wake.notify(usize::MAX);
    }

    fn pop(&self) -> Option<Batch> {
        self.lock().pop_front()
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Batch>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes records out of the queue, encodes them, feeds the tap and fills batches. The shipper
/// owns one; a door may own another to build batches synchronously (see [`Handoff`]).
pub struct Intake {
    shared: Arc<Shared>,
    encoder: Encoder,
    scratch: Vec<u8>,
    taken: Vec<TakenRecord>,
    entry: Vec<u8>,
    /// For OTLP bodies: the entry as a log record, and the scratch that derives it.
    record: Vec<u8>,
    records: RecordWriter,
}

impl<T: Transport, Tm: Timer, C: Clock> Shipper<T, Tm, C> {
    pub fn new(
        shared: Arc<Shared>,
        transport: T,
        timer: Tm,
        clock: C,
        settings: ShipperSettings,
    ) -> Self {
        let mut rng = fastrand::Rng::with_seed(settings.seed);
        Shipper {
            transport,
            timer,
            clock,
            ids: BatchIds::new(rng.u64(..)),
            rng,
            settings,
            handoff: Handoff {
                shared: shared.clone(),
                batches: Arc::default(),
            },
            intake: Intake::new(shared),
            backup_url: None,
            failover: Failover::new(false, Duration::ZERO),
            spool_settled: None,
            next_batch: None,
        }
    }

    /// Disk spool mode: the shipper never takes from the queue itself; it delivers what the
    /// handoff brings and calls `on_settled(batch id)` once each is delivered or rejected (all
    /// its 413 halves included), so that the spool may delete it.
    pub fn with_spool(mut self, on_settled: impl Fn(&str) + Send + 'static) -> Self {
        self.spool_settled = Some(Box::new(on_settled));
        self
    }

    /// After repeated failed attempts at the primary URL, uploads go to `url` (the same path on
    /// the backup server) until the primary, tried every `probe_interval`, answers again.
    pub fn with_backup(mut self, url: String, probe_interval: Duration) -> Self {
        self.backup_url = Some(Secret::new(url));
        self.failover = Failover::new(true, probe_interval);
        self
    }

    /// Where batches built outside the loop are handed to it.
    pub fn handoff(&self) -> Handoff {
        self.handoff.clone()
    }

    /// Runs until the queue is stopped.
    pub async fn run(mut self) {
        let _ = self.run_until_stopped().await;
    }

    /// Batches wait until they are full or `flush_delay` has passed since their first entry was
    /// written (logtail's semantics); a flush, shutdown and handed-off batches go at once.
    async fn run_until_stopped(&mut self) -> Result<(), Stopped> {
        let takes_from_queue = self.spool_settled.is_none();
        loop {
            if let Some(batch) = self.next_batch.take() {
                self.deliver_with_splits(batch).await?;
                continue;
            }
            let (intake, handoff) = (&mut self.intake, &self.handoff);
            intake
                .wait(std::future::pending::<()>(), |s| {
                    (takes_from_queue && s.queue.has_records()) || !handoff.is_empty()
                })
                .await?;
            if let Some(batch) = self.handoff.pop() {
                let spooled_id = self.spool_settled.as_ref().map(|_| batch.id.clone());
                self.deliver_with_splits(batch).await?;
                if let (Some(on_settled), Some(id)) = (&self.spool_settled, spooled_id) {
                    on_settled(&id);
                }
                continue;
            }
            if !takes_from_queue {
                continue;
            }
            if let Some(wait) = self.until_due() {
                let (intake, handoff) = (&mut self.intake, &self.handoff);
                let delay = self.timer.sleep(wait);
                intake
                    .wait(delay, |s| s.queue.is_urgent() || !handoff.is_empty())
                    .await?;
                continue;
            }
            let batch = self
                .intake
                .build_batch(self.ids.next_id(), self.settings.max_batch_bytes);
            self.deliver_with_splits(batch).await?;
        }
    }

    /// How much longer the queued entries wait: `None` when a batch is due now (the queue holds
    /// a full one, a flush or shutdown asks, or `flush_delay` has passed since the oldest entry
    /// was written).
    fn until_due(&self) -> Option<Duration> {
        let queue = &self.intake.shared.queue;
        if self.settings.flush_delay.is_zero() || queue.is_urgent() {
            return None;
        }
        let written = queue.oldest_written()?;
        let age = self.clock.unix_nanos().saturating_sub(written).max(0) as u64;
        let left = self
            .settings
            .flush_delay
            .checked_sub(Duration::from_nanos(age))?;
        (!left.is_zero()).then_some(left)
    }

    /// Delivers a batch, and the halves of any the server finds too large.
    async fn deliver_with_splits(&mut self, batch: Batch) -> Result<(), Stopped> {
        let mut pending = vec![batch];
        while let Some(mut batch) = pending.pop() {
            if let Delivery::Split = self.deliver(&mut batch).await? {
                match batch.split(&mut self.ids) {
                    Some((left, right)) => pending.extend([right, left]),
                    None => self.reject(&batch, 413, b"entry too large for the server"),
                }
            }
        }
        Ok(())
    }

    /// Sends one batch until it is delivered, rejected, or must be split: compresses it, counts
    /// what it holds in flight, then attempts until `after_attempt` says it is settled.
    async fn deliver(&mut self, batch: &mut Batch) -> Result<Delivery, Stopped> {
        let body = batch.body();
        let compressed = match self.codec_for(body) {
            Some(codec) => {
                let compressing = self.transport.compress(codec, body);
                // Meanwhile, where that runs on another thread, the next batch is built if one
                // is due already: a queue that fills faster than batches go.
                if self.transport.compresses_in_background()
                    && self.next_batch.is_none()
                    && self.spool_settled.is_none()
                    && self.intake.shared.queue.has_records()
                    && self.until_due().is_none()
                {
                    let id = self.ids.next_id();
                    let max = self.settings.max_batch_bytes;
                    self.next_batch = Some(self.intake.build_batch(id, max));
                }
                // Compression is used only when it saves more than 64 bytes.
                (compressing.await)
                    .filter(|c| c.len() + COMPRESS_MIN_SAVING < body.len())
                    .map(|c| (c, codec))
            }
            None => None,
        };
        let (wire, content_encoding) = match &compressed {
            Some((compressed, codec)) => (&compressed[..], Some(codec.content_encoding())),
            None => (body, None),
        };
        // What this batch holds besides its body, counted against `buffer_bytes` while it is in
        // flight: its compressed form, and the copy the runtime's HTTP client takes of what goes
        // on the wire (once per batch: every attempt shares it).
        let in_flight = compressed.as_ref().map_or(0, |(c, _)| c.len()) + wire.len();
        let queue = &self.intake.shared.queue;
        queue.hold(in_flight);
        let orig_content_length = content_encoding.map(|_| batch.len());
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        // Until settled; a stop still releases what the batch holds.
        let delivery = loop {
            let target = self.failover.target(self.clock.unix_nanos());
            let url = match (target, &self.backup_url) {
                (Target::Backup, Some(backup_url)) => backup_url,
                _ => &self.settings.url,
            };
            let request = Request {
                url: url.expose(),
                body: wire,
                content_encoding,
                orig_content_length,
                batch_id: &batch.id,
                headers: &self.settings.headers,
            };
            Counters::add(
                &self.intake.shared.queue.counters.bytes_on_wire,
                wire.len() as u64,
            );
            // In a block of its own: an attempt that timed out is dropped (cancelled, natively)
            // before any wait that follows.
            let outcome = {
                let send = pin!(self.transport.send(request));
                let timeout = pin!(self.timer.sleep(self.settings.request_timeout));
                match self.intake.wait(select(send, timeout), |_| false).await {
                    Ok(Some(Either::Left((outcome, _)))) => Some(outcome),
                    Ok(_) => None,
                    Err(stopped) => break Err(stopped),
                }
            };
            // One wait serves both the network's return and the back-off.
            let pause = match self.after_attempt(batch, target, outcome, &mut backoff) {
                Next::Settled(delivery) => break Ok(delivery),
                Next::AtOnce => continue,
                Next::Online => Either::Left(self.transport.until_online()),
                Next::After(delay) => Either::Right(self.timer.sleep(delay)),
            };
            if let Err(stopped) = self.intake.wait(pause, |_| false).await {
                break Err(stopped);
            }
        };
        self.transport.release_body();
        self.intake.shared.queue.unhold(in_flight);
        delivery
    }

    /// Decides, synchronously, what follows an attempt at `target` (`None`: no response within
    /// `request_timeout`): counts, reports and settles as the outcome says.
    fn after_attempt(
        &mut self,
        batch: &Batch,
        target: Target,
        outcome: Option<Result<Response, TransportError>>,
        backoff: &mut Backoff,
    ) -> Next {
        let outcome = outcome.unwrap_or_else(|| {
            Err(TransportError {
                // As u64: printing a u128 costs the browser's wasm 1.3 KB of code.
                message: format!(
                    "no response within {} ms",
                    self.settings.request_timeout.as_millis() as u64
                ),
            })
        });
        if outcome.is_err() && !self.transport.is_online() {
            // Offline is no failure of the server's: no retry is counted, the back-off and
            // the failover state stay as they were, and the batch goes once it is back.
            (self.intake.shared)
                .report_error("offline", "offline: uploads wait for the network".into());
            return Next::Online;
        }
        let now = self.clock.unix_nanos();
        let verdict = retry::verdict(&outcome, now, backoff, &mut self.rng);
        let was_on_backup = self.failover.on_backup();
        let at_once = self
            .failover
            .record(target, matches!(verdict, Verdict::Retry(_)), now);
        self.intake
            .shared
            .set_using_backup(self.failover.on_backup());
        if self.failover.on_backup() && !was_on_backup {
            self.intake.shared.report_error(
                "failover",
                "the primary failed repeatedly: uploading to backup_url until it answers again"
                    .to_owned(),
            );
        }
        match verdict {
            Verdict::Delivered => {
                self.settle(batch, true);
                Next::Settled(Delivery::Done)
            }
            Verdict::Split => Next::Settled(Delivery::Split),
            Verdict::Reject | Verdict::Redirect => {
                let response = outcome.unwrap_or_default();
                if let Verdict::Reject = verdict {
                    let prefix =
                        &response.body_prefix[..response.body_prefix.len().min(ERROR_BODY_PREFIX)];
                    self.reject(batch, response.status, prefix);
                } else {
                    let key = match (target, &self.backup_url) {
                        (Target::Backup, Some(_)) => "backup_url",
                        _ => "base_url",
                    };
                    let message = retry::redirect_message(key, &response, batch.entries());
                    self.intake.shared.report_error("redirect", message);
                    self.settle(batch, false);
                }
                Next::Settled(Delivery::Done)
            }
            Verdict::Retry(delay) => {
                Counters::add(&self.intake.shared.queue.counters.retries, 1);
                let status;
                let (kind, problem) = match &outcome {
                    Ok(response) => {
                        status = format!("status {}", response.status);
                        (status.as_str(), status.as_str())
                    }
                    Err(err) => ("transport", err.message.as_str()),
                };
                self.intake.shared.report_error(
                    kind,
                    format!("upload attempt failed, will retry: {problem}"),
                );
                match at_once {
                    // Moving between primary and backup: the other address owes no wait.
                    true => Next::AtOnce,
                    false => Next::After(delay),
                }
            }
        }
    }

    /// The codec a body is compressed with: when compression is on and the body is over 256 bytes.
    fn codec_for(&self, body: &[u8]) -> Option<Codec> {
        let codec = match self.settings.compression {
            Compression::None => return None,
            // gzip is the one compression OTLP/HTTP receivers must accept.
            Compression::Auto if matches!(self.intake.shared.body_format, BodyFormat::Otlp(_)) => {
                Codec::Gzip
            }
            Compression::Auto => self.transport.preferred_codec()?,
            Compression::Zstd => Codec::Zstd,
            Compression::Gzip => Codec::Gzip,
        };
        (body.len() > COMPRESS_ABOVE).then_some(codec)
    }

    /// Drops a batch the server refused with `status`, counted as rejected, and reports it.
    fn reject(&self, batch: &Batch, status: u16, body: &[u8]) {
        self.intake.shared.report_error(
            &format!("rejected {status}"),
            format!(
                "upload rejected with status {status} ({} entries dropped): {}",
                batch.entries(),
                String::from_utf8_lossy(body)
            ),
        );
        self.settle(batch, false);
    }

    /// Counts a batch's entries as uploaded or rejected, and frees what it held.
    fn settle(&self, batch: &Batch, delivered: bool) {
        let queue = &self.intake.shared.queue;
        queue.settle(batch.records(), delivered);
        queue.unhold(batch.len());
    }
}

impl Intake {
    pub fn new(shared: Arc<Shared>) -> Self {
        Intake {
            encoder: Encoder::new(shared.encode_options.clone()),
            shared,
            scratch: Vec::new(),
            taken: Vec::new(),
            entry: Vec::new(),
            record: Vec::new(),
            records: RecordWriter::default(),
        }
    }

    /// Awaits `fut` while serving the tap. `Ok(None)` when `interrupt` became true first.
    async fn wait<F: Future>(
        &mut self,
        fut: F,
        interrupt: impl Fn(&Shared) -> bool,
    ) -> Result<Option<F::Output>, Stopped> {
        let mut fut = pin!(fut);
        loop {
            let listener = self.shared.queue.wake.listen();
            self.serve_tap();
            if self.shared.queue.is_stopped() {
                return Err(Stopped);
            }
            if interrupt(&self.shared) {
                return Ok(None);
            }
            if let Either::Left((output, _)) = select(fut.as_mut(), listener).await {
                return Ok(Some(output));
            }
        }
    }

    /// Encodes records the tap has not seen and publishes them.
    fn serve_tap(&mut self) {
        if !self.shared.queue.has_untapped() {
            return;
        }
        self.scratch.clear();
        self.taken.clear();
        self.shared
            .queue
            .take_untapped(&mut self.scratch, &mut self.taken);
        for i in 0..self.taken.len() {
            let record = self.taken[i];
            if record.header.kind & KIND_UNTAPPED != 0 {
                continue;
            }
            self.entry.clear();
            self.encode_record(&record, None);
            self.shared.tap.publish(trim_newline(&self.entry));
        }
    }

    /// Encodes one taken record, into `body` (the batch's) or else into `self.entry`.
    fn encode_record(&mut self, record: &TakenRecord, body: Option<&mut Vec<u8>>) {
        let out = body.unwrap_or(&mut self.entry);
        let payload = &self.scratch[record.start..record.start + record.header.len as usize];
        if record.header.kind & KIND_ENCODED != 0 {
            out.extend_from_slice(payload);
            return;
        }
        let metrics = self.shared.metrics.as_ref().map(|source| source());
        let meta = EntryMeta {
            unix_nanos: record.header.unix_nanos,
            proc_seq: record.header.proc_seq,
            metrics: metrics.as_deref(),
        };
        self.encoder.encode(payload, &meta, out);
    }

    /// Adds one taken record to the batch, as its body format wants it (a logtail entry is
    /// encoded straight into the body), and publishes it to the tap unless it was already.
    fn push_record(&mut self, batch: &mut Batch, record: &TakenRecord) {
        let publish =
            !record.tapped && self.shared.feeds_tap && record.header.kind & KIND_UNTAPPED == 0;
        match batch.format() {
            BodyFormat::Logtail => {
                let entry = batch.push_with(true, |out| self.encode_record(record, Some(out)));
                if publish {
                    self.shared.tap.publish(trim_newline(entry));
                }
            }
            BodyFormat::Otlp(_) => {
                self.entry.clear();
                self.encode_record(record, None);
                if publish {
                    self.shared.tap.publish(trim_newline(&self.entry));
                }
                self.push_entry(batch, true, Some(record.header.unix_nanos));
            }
        }
    }

    /// Adds `self.entry` to the batch, as its body format wants it. `written_at`: the write's
    /// time (`None` for logship's own notices).
    fn push_entry(&mut self, batch: &mut Batch, is_record: bool, written_at: Option<i64>) {
        match batch.format() {
            BodyFormat::Logtail => batch.push(&self.entry, is_record),
            BodyFormat::Otlp(_) => {
                self.record.clear();
                self.records
                    .append(&mut self.record, &self.entry, written_at);
                batch.push(&self.record, is_record);
            }
        }
    }

    /// Takes records until the body reaches `max` (it may pass it by the last entry, and by what
    /// encoding adds to raw writes), after the dropped-entries notice. Synchronous.
    pub fn build_batch(&mut self, id: String, max: usize) -> Batch {
        let mut batch = Batch::with_format(id, self.shared.body_format.clone());
        // The body passes `max` by its last entry at most; an entry is at most a text write.
        batch.reserve(max + self.encoder.options().text_limit);
        let dropped = self.shared.queue.take_dropped_unreported();
        if dropped > 0 {
            let notice = DropNotice { dropped };
            self.entry.clear();
            self.encoder
                .encode_notice(&notice.to_string(), &mut self.entry);
            self.push_entry(&mut batch, false, None);
            batch.noticed(notice);
        }
        let mut taken = 0;
        while batch.len() < max && self.shared.queue.has_records() {
            self.scratch.clear();
            self.taken.clear();
            // Entries are larger than their writes (metadata, escaping; log records more so):
            // take a fraction of what is left each round, so the batch ends close to `max`
            // without knowing sizes ahead.
            let room = ((max - batch.len()) / batch.format().growth()).min(TAKE_BYTES);
            self.shared
                .queue
                .take(room, &mut self.scratch, &mut self.taken);
            for i in 0..self.taken.len() {
                let record = self.taken[i];
                taken += record.header.size();
                self.push_record(&mut batch, &record);
            }
        }
        self.shared.queue.rehold(taken, batch.len());
        batch
    }
}

fn trim_newline(entry: &[u8]) -> &[u8] {
    entry.strip_suffix(b"\n").unwrap_or(entry)
}
