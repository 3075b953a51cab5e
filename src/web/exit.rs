//! Never lose the last lines: when the page is hidden or goes away, whatever is queued leaves at
//! once, synchronously (the page may not run another task), as `fetch(…, {keepalive: true})`
//! uploads within the browsers' shared 64 KiB keepalive budget, or as `navigator.sendBeacon`
//! where keepalive is not possible (and the address has acknowledged an upload before).
//!
//! The batches are built by the core's own [`Intake`] (same encoding, same batching, same
//! dropped-entries notice) and handed to the shipper through its [`Handoff`]: if the page lives
//! on (a tab switch), the shipper settles each batch with the response of that first attempt and
//! retries it, with the same batch id, if it failed.

use std::rc::Rc;
use std::sync::Arc;

use super::runtime::{beacon, is_online, keepalive_room, Net, KEEPALIVE_BUDGET};
use crate::core::batch::{Batch, BatchIds, BodyFormat};
use crate::core::shipper::{Handoff, Intake};
use crate::core::Shared;

/// Pieces are not split below this size.
const MIN_PIECE: usize = 1024;

pub(super) struct ExitDrain {
    shared: Arc<Shared>,
    intake: Intake,
    ids: BatchIds,
    handoff: Handoff,
    net: Rc<Net>,
    max_batch_bytes: usize,
    /// Beacons carry no headers: no Content-Type of our choosing (fine for logtail uploads, not
    /// for OTLP) and none of the configured `headers` (an upload that needs them would fail).
    beacon_ok: bool,
}

impl ExitDrain {
    pub fn new(
        shared: Arc<Shared>,
        handoff: Handoff,
        net: Rc<Net>,
        instance: u64,
        max_batch_bytes: usize,
    ) -> Self {
        ExitDrain {
            intake: Intake::new(shared.clone()),
            ids: BatchIds::new(instance),
            handoff,
            beacon_ok: shared.body_format == BodyFormat::Logtail && !net.has_headers(),
            shared,
            net,
            max_batch_bytes,
        }
    }

    /// Sends everything queued now, as far as the browser lets it leave.
    pub fn drain(&mut self) {
        let shared = self.shared.clone();
        if shared.queue.is_stopped() || !is_online() {
            return;
        }
        while shared.queue.has_records() {
            let limit = self.limit().min(self.max_batch_bytes);
            let batch = self.intake.build_batch(self.ids.next_id(), limit);
            if !self.send(batch) {
                break;
            }
        }
    }

    /// How large one body may be: the keepalive room left, or (where keepalive is not possible,
    /// or its room is used up) the beacon's own limit, the same 64 KiB.
    fn limit(&self) -> usize {
        match keepalive_room() as usize {
            room if room >= MIN_PIECE => room,
            _ => KEEPALIVE_BUDGET,
        }
    }

    /// Whether a beacon may carry a piece. `sendBeacon` follows redirects and cannot be told
    /// otherwise, so it goes only to an address that acknowledged an upload before: never to one
    /// that redirects (whose batches are rejected, PROTOCOL.md §3).
    fn beacon_may_go(&self) -> bool {
        self.beacon_ok && self.shared.queue.stats().uploaded > 0
    }

    /// Sends a batch, split into pieces that fit. False once the browser takes nothing more: the
    /// rest is handed to the shipper (delivered if the page lives on).
    fn send(&mut self, batch: Batch) -> bool {
        let url = self.net.exit_url(self.shared.using_backup()).to_owned();
        let mut pieces = vec![batch];
        let mut open = true;
        while let Some(piece) = pieces.pop() {
            if open && piece.len() > self.limit() {
                if let Some((left, right)) = piece.split(&mut self.ids) {
                    pieces.extend([right, left]);
                    continue;
                }
            }
            if open && piece.len() <= keepalive_room() as usize {
                if let Some(attempt) =
                    self.net
                        .start(&url, piece.body(), &piece.id, KEEPALIVE_BUDGET)
                {
                    self.net.add_pending(piece.id.clone(), attempt);
                }
                self.handoff.push(piece);
            } else if open && self.beacon_may_go() && beacon(&url, piece.body()) {
                // The browser owns it now; there will be no answer to settle it with.
                self.shared.queue.settle_beaconed(piece.records());
            } else {
                open = false;
                self.handoff.push(piece);
            }
        }
        open
    }
}
