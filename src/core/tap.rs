//! The tap: every entry, live, to any number of subscribers, each with its own bounded queue, plus a
//! replay of the most recent entries. Publishing never waits for a subscriber: a slow one loses its
//! own oldest events (and can see how many), never slowing the writer or the others.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_listener::{Event, EventListener};

/// A new subscriber first receives up to this many bytes of the most recent entries.
pub const REPLAY_BYTES: usize = 16 * 1024;
/// Each subscriber holds at most this many bytes of undelivered entries, or a sixteenth of
/// `buffer_bytes` if that is less ([`subscriber_bytes`]).
pub const SUBSCRIBER_QUEUE_BYTES: usize = 1024 * 1024;
/// At most this many subscribers at a time: together they hold at most `buffer_bytes` more.
pub const MAX_SUBSCRIBERS: usize = 16;

/// What one subscriber may hold with a buffer of `buffer_bytes`.
pub fn subscriber_bytes(buffer_bytes: usize) -> usize {
    SUBSCRIBER_QUEUE_BYTES.min(buffer_bytes / MAX_SUBSCRIBERS)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Replay {
    bytes: VecDeque<u8>,
    lens: VecDeque<usize>,
}

impl Replay {
    fn push(&mut self, entry: &[u8]) {
        if entry.len() > REPLAY_BYTES {
            return;
        }
        while self.bytes.len() + entry.len() > REPLAY_BYTES {
            let len = self.lens.pop_front().unwrap_or(self.bytes.len());
            self.bytes.drain(..len);
        }
        self.bytes.extend(entry);
        self.lens.push_back(entry.len());
    }

    fn entries(&self) -> impl Iterator<Item = Arc<str>> + '_ {
        let (mut start, bytes) = (0, self.bytes.range(..).copied().collect::<Vec<u8>>());
        self.lens.iter().map(move |&len| {
            let entry = String::from_utf8_lossy(&bytes[start..start + len]).into();
            start += len;
            entry
        })
    }
}

#[derive(Default)]
struct Inbox {
    entries: VecDeque<Arc<str>>,
    bytes: usize,
    missed: u64,
    closed: bool,
}

/// One subscriber's bounded queue.
pub struct Subscriber {
    id: u64,
    /// Bytes of undelivered entries it may hold.
    limit: usize,
    inbox: Mutex<Inbox>,
    event: Event,
}

impl Subscriber {
    fn deliver(&self, entry: &Arc<str>) {
        let mut inbox = lock(&self.inbox);
        if inbox.closed {
            return;
        }
        while inbox.bytes + entry.len() > self.limit {
            let Some(old) = inbox.entries.pop_front() else {
                break;
            };
            inbox.bytes -= old.len();
            inbox.missed += 1;
        }
        inbox.bytes += entry.len();
        inbox.entries.push_back(entry.clone());
        drop(inbox);
        self.event.notify(usize::MAX);
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next entry, if one is waiting.
    pub fn try_recv(&self) -> Option<Arc<str>> {
        let mut inbox = lock(&self.inbox);
        let entry = inbox.entries.pop_front()?;
        inbox.bytes -= entry.len();
        Some(entry)
    }

    /// True once the tap is closed and every entry was received.
    pub fn is_finished(&self) -> bool {
        let inbox = lock(&self.inbox);
        inbox.closed && inbox.entries.is_empty()
    }

    /// Entries this subscriber lost because it fell behind.
    pub fn missed(&self) -> u64 {
        lock(&self.inbox).missed
    }

    /// A listener to create before `try_recv` and wait on when it returned nothing.
    pub fn listen(&self) -> EventListener {
        self.event.listen()
    }

    /// Waits for the next entry; `None` once the tap is closed and drained (the browser's tap
    /// callback runs on it; native subscribers poll `try_recv` from their own thread).
    #[cfg(any(test, target_arch = "wasm32"))]
    pub async fn recv(&self) -> Option<Arc<str>> {
        loop {
            let listener = self.listen();
            if let Some(entry) = self.try_recv() {
                return Some(entry);
            }
            if self.is_finished() {
                return None;
            }
            listener.await;
        }
    }

    fn close(&self) {
        lock(&self.inbox).closed = true;
        self.event.notify(usize::MAX);
    }
}

#[derive(Default)]
struct TapState {
    replay: Replay,
    subscribers: Vec<Arc<Subscriber>>,
    next_id: u64,
    closed: bool,
}

pub struct Tap {
    state: Mutex<TapState>,
    /// What each subscriber may hold ([`subscriber_bytes`]).
    subscriber_bytes: usize,
}

impl Tap {
    pub fn new(subscriber_bytes: usize) -> Self {
        Tap {
            state: Mutex::default(),
            subscriber_bytes,
        }
    }

    /// Publishes one entry (without its trailing newline).
    pub fn publish(&self, entry: &[u8]) {
        let mut st = lock(&self.state);
        st.replay.push(entry);
        if st.subscribers.is_empty() {
            return;
        }
        let entry: Arc<str> = String::from_utf8_lossy(entry).into();
        for subscriber in &st.subscribers {
            subscriber.deliver(&entry);
        }
    }

    /// Adds a subscriber, which starts with the replay; returns it and the new subscriber count,
    /// or `None` when [`MAX_SUBSCRIBERS`] are subscribed already.
    pub fn subscribe(&self) -> Option<(Arc<Subscriber>, usize)> {
        let mut st = lock(&self.state);
        if st.subscribers.len() >= MAX_SUBSCRIBERS {
            return None;
        }
        st.next_id += 1;
        let subscriber = Arc::new(Subscriber {
            id: st.next_id,
            limit: self.subscriber_bytes,
            inbox: Mutex::default(),
            event: Event::new(),
        });
        for entry in st.replay.entries() {
            subscriber.deliver(&entry);
        }
        if st.closed {
            subscriber.close();
        } else {
            st.subscribers.push(subscriber.clone());
        }
        Some((subscriber, st.subscribers.len()))
    }

    /// Removes a subscriber; returns the new subscriber count.
    pub fn unsubscribe(&self, id: u64) -> usize {
        let mut st = lock(&self.state);
        if let Some(i) = st.subscribers.iter().position(|s| s.id == id) {
            st.subscribers.swap_remove(i).close();
        }
        st.subscribers.len()
    }

    /// Closes every subscription (at shutdown): receivers drain what they have, then end.
    pub fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        for subscriber in st.subscribers.drain(..) {
            subscriber.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_the_last_16_kib() {
        let tap = Tap::new(SUBSCRIBER_QUEUE_BYTES);
        for i in 0..1000 {
            tap.publish(format!("{{\"text\":\"entry {i:04}\"}}").as_bytes());
        }
        let (sub, _) = tap.subscribe().unwrap();
        let replayed: Vec<Arc<str>> = std::iter::from_fn(|| sub.try_recv()).collect();
        let total: usize = replayed.iter().map(|e| e.len()).sum();
        assert!(
            total <= REPLAY_BYTES && total > REPLAY_BYTES - 30,
            "{total}"
        );
        assert_eq!(&*replayed[replayed.len() - 1], "{\"text\":\"entry 0999\"}");
        tap.publish(b"{\"text\":\"live\"}");
        assert_eq!(sub.try_recv().as_deref(), Some("{\"text\":\"live\"}"));
    }

    #[test]
    fn a_slow_subscriber_loses_only_its_own_oldest() {
        let tap = Tap::new(SUBSCRIBER_QUEUE_BYTES);
        let (slow, _) = tap.subscribe().unwrap();
        let (fast, _) = tap.subscribe().unwrap();
        let entry = vec![b'x'; 1000];
        let n = 3 * SUBSCRIBER_QUEUE_BYTES / 1000;
        let mut fast_got = 0;
        for _ in 0..n {
            tap.publish(&entry);
            while fast.try_recv().is_some() {
                fast_got += 1;
            }
        }
        assert_eq!(fast_got, n);
        assert_eq!(fast.missed(), 0);
        let kept = std::iter::from_fn(|| slow.try_recv()).count();
        assert_eq!(kept, SUBSCRIBER_QUEUE_BYTES / 1000);
        assert_eq!(slow.missed() as usize, n - kept);
    }

    #[test]
    fn subscribers_are_capped_and_bounded_by_a_share_of_the_buffer() {
        assert_eq!(subscriber_bytes(64 << 20), SUBSCRIBER_QUEUE_BYTES);
        assert_eq!(subscriber_bytes(1 << 20), 64 * 1024);
        let tap = Tap::new(subscriber_bytes(1 << 20));
        let subscribers: Vec<_> = (0..MAX_SUBSCRIBERS)
            .map(|_| tap.subscribe().unwrap())
            .collect();
        assert!(tap.subscribe().is_none(), "one more than the cap");
        tap.publish(&[b'x'; 1000].repeat(100));
        for _ in 0..100 {
            tap.publish(&[b'x'; 1000]);
        }
        let (first, _) = &subscribers[0];
        let held: usize = std::iter::from_fn(|| first.try_recv())
            .map(|e| e.len())
            .sum();
        assert!(held <= 64 * 1024 && held > 60 * 1024, "{held}");
        tap.unsubscribe(first.id());
        assert!(tap.subscribe().is_some(), "room again");
    }

    #[test]
    fn close_ends_receivers_after_draining() {
        let tap = Tap::new(SUBSCRIBER_QUEUE_BYTES);
        let (sub, count) = tap.subscribe().unwrap();
        assert_eq!(count, 1);
        tap.publish(b"a");
        tap.close();
        assert!(!sub.is_finished());
        assert_eq!(
            futures::executor::block_on(sub.recv()).as_deref(),
            Some("a")
        );
        assert_eq!(futures::executor::block_on(sub.recv()), None);
        assert_eq!(tap.unsubscribe(sub.id()), 0);
    }
}
