//! What one live-view viewer has yet to be sent, bounded in bytes: past the bound its oldest entries are
//! skipped, as a slow viewer skips ahead. The tail moves entries from the shared broadcast into this
//! at once, so a slow or stalled browser never holds the broadcast back and costs at most the bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::store::TailItem;

/// Entries waiting for one viewer; past this the oldest are skipped (one entry is always let through).
const TAIL_VIEWER_BYTES: usize = 1024 * 1024;

/// Entries waiting for one viewer, at most [`TAIL_VIEWER_BYTES`] of them (plus one).
#[derive(Default)]
pub(crate) struct Backlog {
    queue: Mutex<BacklogQueue>,
    ready: Notify,
}

#[derive(Default)]
struct BacklogQueue {
    items: VecDeque<Arc<TailItem>>,
    bytes: usize,
    closed: bool,
}

impl Backlog {
    pub fn push(&self, item: Arc<TailItem>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.bytes += item.json().len();
        q.items.push_back(item);
        while q.bytes > TAIL_VIEWER_BYTES && q.items.len() > 1 {
            if let Some(old) = q.items.pop_front() {
                q.bytes -= old.json().len();
            }
        }
        drop(q);
        self.ready.notify_one();
    }

    /// Ends [`Backlog::next`] once the queue is empty.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_one();
    }

    pub async fn next(&self) -> Option<Arc<TailItem>> {
        loop {
            {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(item) = q.items.pop_front() {
                    q.bytes -= item.json().len();
                    return Some(item);
                }
                if q.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }
}
