//! The upload loop (PROTOCOL.md §2–3), generic over the runtime's Transport, Timer and Clock:
//! waits for entries, honours the flush delay, encodes and batches, compresses, sends, retries,
//! splits, rejects — and feeds the tap while it waits.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};

use super::batch::{Batch, BatchIds};
use super::config::Compression;
use super::encode::{Encoder, EntryMeta};
use super::queue::{TakenRecord, KIND_ENCODED};
use super::retry::{self, Backoff, Verdict};
use super::stats::Counters;
use super::traits::{Clock, Codec, Request, Response, Timer, Transport, TransportError};
use super::Shared;

/// Bodies at or below this size are sent uncompressed.
const COMPRESS_ABOVE: usize = 256;
/// Compression is used only when it saves more than this many bytes.
const COMPRESS_MIN_SAVING: usize = 64;
/// How much of a rejecting response's body goes into the error report.
const ERROR_BODY_PREFIX: usize = 1024;

/// Where and how a shipper uploads.
#[derive(Debug, Clone)]
pub struct ShipperSettings {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub compression: Compression,
    pub flush_delay: Duration,
    pub request_timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub max_batch_bytes: usize,
    /// Random seed for the batch instance id and the back-off jitter.
    pub seed: u64,
}

/// The shipper was told to stop.
struct Stopped;

enum Delivery {
    Done,
    Split,
}

pub struct Shipper<T, Tm, C> {
    transport: T,
    timer: Tm,
    clock: C,
    settings: ShipperSettings,
    ids: BatchIds,
    rng: fastrand::Rng,
    intake: Intake,
}

/// Takes records out of the queue, encodes them, feeds the tap and fills batches.
struct Intake {
    shared: Arc<Shared>,
    encoder: Encoder,
    scratch: Vec<u8>,
    taken: Vec<TakenRecord>,
    entry: Vec<u8>,
}

impl<T: Transport, Tm: Timer, C: Clock> Shipper<T, Tm, C> {
    pub fn new(
        shared: Arc<Shared>,
        transport: T,
        timer: Tm,
        clock: C,
        settings: ShipperSettings,
    ) -> Self {
        let encoder = Encoder::new(shared.encode_options.clone());
        let mut rng = fastrand::Rng::with_seed(settings.seed);
        Shipper {
            transport,
            timer,
            clock,
            ids: BatchIds::new(rng.u64(..)),
            rng,
            settings,
            intake: Intake {
                shared,
                encoder,
                scratch: Vec::new(),
                taken: Vec::new(),
                entry: Vec::new(),
            },
        }
    }

    /// Runs until the queue is stopped.
    pub async fn run(mut self) {
        let _ = self.run_until_stopped().await;
    }

    async fn run_until_stopped(&mut self) -> Result<(), Stopped> {
        loop {
            let intake = &mut self.intake;
            intake
                .wait(std::future::pending::<()>(), |s| s.queue.has_records())
                .await?;
            if !self.settings.flush_delay.is_zero() {
                let delay = self.timer.sleep(self.settings.flush_delay);
                intake.wait(delay, |s| s.queue.is_urgent()).await?;
            }
            while self.intake.shared.queue.has_records() {
                let batch = self
                    .intake
                    .build_batch(self.ids.next_id(), self.settings.max_batch_bytes);
                self.deliver_with_splits(batch).await?;
            }
        }
    }

    async fn deliver_with_splits(&mut self, batch: Batch) -> Result<(), Stopped> {
        let mut pending = vec![batch];
        while let Some(mut batch) = pending.pop() {
            if let Delivery::Split = self.deliver(&mut batch).await? {
                match batch.split(&mut self.ids) {
                    Some((left, right)) => pending.extend([right, left]),
                    None => self.settle(
                        &batch,
                        false,
                        Some((413, b"entry too large for the server")),
                    ),
                }
            }
        }
        Ok(())
    }

    /// Sends one batch until it is delivered, rejected, or must be split.
    async fn deliver(&mut self, batch: &mut Batch) -> Result<Delivery, Stopped> {
        let body = batch.body().to_vec();
        let (wire, content_encoding) = match self.compress(&body).await {
            Some((compressed, codec)) => (compressed, Some(codec.content_encoding())),
            None => (body, None),
        };
        let orig_content_length = content_encoding.map(|_| batch.len());
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        loop {
            let request = Request {
                url: &self.settings.url,
                body: &wire,
                content_encoding,
                orig_content_length,
                batch_id: &batch.id,
                headers: &self.settings.headers,
            };
            Counters::add(
                &self.intake.shared.queue.counters.bytes_on_wire,
                wire.len() as u64,
            );
            let send = pin!(self.transport.send(request));
            let timeout = pin!(self.timer.sleep(self.settings.request_timeout));
            let outcome: Result<Response, TransportError> =
                match self.intake.wait(select(send, timeout), |_| false).await? {
                    Some(Either::Left((outcome, _))) => outcome,
                    _ => Err(TransportError {
                        timed_out: true,
                        message: format!(
                            "no response within {} ms",
                            self.settings.request_timeout.as_millis()
                        ),
                    }),
                };
            match retry::verdict(
                &outcome,
                self.clock.unix_nanos(),
                &mut backoff,
                &mut self.rng,
            ) {
                Verdict::Delivered => {
                    self.settle(batch, true, None);
                    return Ok(Delivery::Done);
                }
                Verdict::Split => return Ok(Delivery::Split),
                Verdict::Reject => {
                    let response = outcome.unwrap_or_default();
                    let prefix =
                        &response.body_prefix[..response.body_prefix.len().min(ERROR_BODY_PREFIX)];
                    self.settle(batch, false, Some((response.status, prefix)));
                    return Ok(Delivery::Done);
                }
                Verdict::Retry(delay) => {
                    Counters::add(&self.intake.shared.queue.counters.retries, 1);
                    if outcome.is_err() && !self.transport.is_online() {
                        self.intake
                            .wait(self.transport.until_online(), |_| false)
                            .await?;
                    } else {
                        self.intake.wait(self.timer.sleep(delay), |_| false).await?;
                    }
                }
            }
        }
    }

    /// Compresses when the body is over 256 bytes and that saves more than 64.
    async fn compress(&self, body: &[u8]) -> Option<(Vec<u8>, Codec)> {
        let codec = match self.settings.compression {
            Compression::None => return None,
            Compression::Auto => self.transport.preferred_codec()?,
            Compression::Zstd => Codec::Zstd,
            Compression::Gzip => Codec::Gzip,
        };
        if body.len() <= COMPRESS_ABOVE {
            return None;
        }
        let compressed = self.transport.compress(codec, body).await?;
        (compressed.len() + COMPRESS_MIN_SAVING < body.len()).then_some((compressed, codec))
    }

    fn settle(&self, batch: &Batch, delivered: bool, rejection: Option<(u16, &[u8])>) {
        let records = batch.records();
        if let Some((status, body)) = rejection {
            self.intake.shared.report_error(&format!(
                "upload rejected with status {status} ({} entries dropped): {}",
                batch.entries(),
                String::from_utf8_lossy(body)
            ));
        }
        self.intake.shared.queue.settle(records, delivered);
    }
}

impl Intake {
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
            self.encode_record(&record);
            self.shared.tap.publish(trim_newline(&self.entry));
        }
    }

    /// Encodes one taken record into `self.entry`.
    fn encode_record(&mut self, record: &TakenRecord) {
        self.entry.clear();
        let payload = &self.scratch[record.start..record.start + record.header.len as usize];
        if record.header.kind == KIND_ENCODED {
            self.entry.extend_from_slice(payload);
            return;
        }
        let metrics = self.shared.metrics.as_ref().map(|source| source());
        let meta = EntryMeta {
            unix_nanos: record.header.unix_nanos,
            proc_seq: record.header.proc_seq,
            metrics: metrics.as_deref(),
        };
        self.encoder.encode(payload, &meta, &mut self.entry);
    }

    /// Takes records until the body reaches `max_batch_bytes`, after the dropped-entries notice.
    fn build_batch(&mut self, id: String, max: usize) -> Batch {
        let mut batch = Batch::new(id);
        let dropped = self.shared.queue.take_dropped_unreported();
        if dropped > 0 {
            self.entry.clear();
            self.encoder.encode_notice(
                &format!("logship: dropped {dropped} entries"),
                &mut self.entry,
            );
            batch.push(&self.entry, false);
        }
        while batch.len() < max && self.shared.queue.has_records() {
            self.scratch.clear();
            self.taken.clear();
            self.shared
                .queue
                .take(max - batch.len(), &mut self.scratch, &mut self.taken);
            for i in 0..self.taken.len() {
                let record = self.taken[i];
                self.encode_record(&record);
                if !record.tapped {
                    self.shared.tap.publish(trim_newline(&self.entry));
                }
                batch.push(&self.entry, true);
            }
        }
        self.shared.queue.set_held(batch.len());
        batch
    }
}

fn trim_newline(entry: &[u8]) -> &[u8] {
    entry.strip_suffix(b"\n").unwrap_or(entry)
}
