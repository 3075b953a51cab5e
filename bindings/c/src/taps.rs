//! Tap subscriptions (log_subscribe, log_unsubscribe): each has its own delivery thread, which
//! calls the C callback one entry at a time, and stops on log_unsubscribe or drains on
//! log_shutdown. An idle delivery thread sleeps until an entry, log_unsubscribe or log_shutdown
//! wakes it: it never polls.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logship::Subscription;

use super::errors::{Failure, SHUT_DOWN};
use super::exports::{LOG_E_INVALID_ARG, LOG_E_IN_CALLBACK, LOG_E_RUNTIME, LOG_OK};
use super::state::{global, lock, Door};

/// How long an idle delivery thread sleeps at a time: entries, log_unsubscribe (which closes
/// the subscription) and log_shutdown (which closes the tap) all wake it before that.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

thread_local! {
    /// True on tap delivery threads.
    static IN_TAP_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// A C tap callback (the non-NULL `logship_tap_fn`).
pub(crate) type Callback = unsafe extern "C" fn(*const c_char, usize, *mut c_void);

/// The tap threads of a running logger.
#[derive(Default)]
pub(crate) struct Taps {
    /// Set by shutdown: no new subscriptions.
    closed: bool,
    running: Vec<TapThread>,
}

/// A subscription's delivery thread, as log_unsubscribe and log_shutdown see it.
pub(crate) struct TapThread {
    id: c_int,
    control: Arc<Mutex<TapMode>>,
    subscription: Arc<Subscription>,
    thread: JoinHandle<()>,
    /// Disconnected when the thread has ended: a join with a deadline waits on it.
    ended: mpsc::Receiver<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TapMode {
    Run,
    /// Deliver what the tap still has until it is finished or the deadline passes, then end.
    Drain(Instant),
    /// End after the current callback (log_unsubscribe; or log_shutdown, for a thread whose
    /// callback outlived the deadline).
    Stop,
}

/// The `user` pointer of a subscription.
struct UserData(*mut c_void);

// SAFETY: log_subscribe's contract makes the caller responsible for `user` being usable from the
// subscription's thread; logship itself never dereferences it.
unsafe impl Send for UserData {}

/// What a delivery thread owns.
struct Tap {
    callback: Callback,
    user: UserData,
    subscription: Arc<Subscription>,
    control: Arc<Mutex<TapMode>>,
    /// Dropped when the thread ends.
    _ended: mpsc::Sender<()>,
}

impl Tap {
    fn deliver(self) {
        IN_TAP_CALLBACK.with(|flag| flag.set(true));
        let mut line = Vec::new();
        loop {
            let mode = *lock(&self.control);
            let wait = match mode {
                TapMode::Run => IDLE_WAIT,
                TapMode::Drain(deadline) => deadline.saturating_duration_since(Instant::now()),
                TapMode::Stop => return,
            };
            if wait.is_zero() {
                return;
            }
            let waiting_since = Instant::now();
            match self.subscription.recv_timeout(wait) {
                Some(entry) => {
                    if !lock(&self.control).delivers() {
                        return;
                    }
                    line.clear();
                    line.extend_from_slice(entry.as_bytes());
                    line.push(0);
                    // SAFETY: log_subscribe's contract: `callback` may be called with `user`
                    // until the subscription ends; `line` is NUL-terminated, holds `entry.len()`
                    // bytes before the NUL and outlives the call.
                    unsafe { (self.callback)(line.as_ptr().cast(), entry.len(), self.user.0) };
                }
                // Draining: the tap is finished (logger shut down, all delivered) or the deadline
                // passed. Running: an hour without entries, or the subscription was closed.
                None if matches!(mode, TapMode::Drain(_)) => return,
                None if waiting_since.elapsed() < wait => return,
                None => {}
            }
        }
    }
}

impl TapMode {
    /// Whether an entry received now is still handed to the callback.
    fn delivers(self) -> bool {
        match self {
            TapMode::Run => true,
            TapMode::Drain(deadline) => Instant::now() < deadline,
            TapMode::Stop => false,
        }
    }
}

/// log_subscribe: starts a delivery thread calling `callback` with `user`; returns its id.
pub(crate) fn subscribe(callback: Callback, user: *mut c_void) -> Result<c_int, Failure> {
    let global = global();
    let door = global.door()?;
    let mut taps = lock(&door.taps);
    if taps.closed {
        return Err(SHUT_DOWN);
    }
    let id = (global.next_tap_id.fetch_add(1, Ordering::Relaxed) & i32::MAX as u32) as c_int;
    let subscription = Arc::new(door.logger.subscribe()?);
    let control = Arc::new(Mutex::new(TapMode::Run));
    let (ended_sender, ended) = mpsc::channel();
    let tap = Tap {
        callback,
        user: UserData(user),
        subscription: subscription.clone(),
        control: control.clone(),
        _ended: ended_sender,
    };
    let thread = std::thread::Builder::new()
        .name(format!("logship-tap-{id}"))
        .spawn(move || tap.deliver())
        .map_err(|e| Failure::owned(LOG_E_RUNTIME, format!("could not start a tap thread: {e}")))?;
    taps.running.push(TapThread {
        id,
        control,
        subscription,
        thread,
        ended,
    });
    Ok(id)
}

/// log_unsubscribe: stops subscription `id` and waits for its thread.
pub(crate) fn unsubscribe(id: c_int) -> Result<c_int, Failure> {
    let door = global().door()?;
    let tap = {
        let mut taps = lock(&door.taps);
        let index = taps
            .running
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| {
                Failure::owned(
                    LOG_E_INVALID_ARG,
                    format!("log_unsubscribe: no subscription with id {id}"),
                )
            })?;
        taps.running.swap_remove(index)
    };
    *lock(&tap.control) = TapMode::Stop;
    tap.subscription.close();
    let _ = tap.thread.join();
    Ok(LOG_OK)
}

/// Refuses new subscriptions and tells every tap thread to drain until `deadline`; returns them
/// for [`join`] once the logger (and so the tap) is shut down.
pub(crate) fn close(door: &Door, deadline: Instant) -> Vec<TapThread> {
    let running = {
        let mut taps = lock(&door.taps);
        taps.closed = true;
        std::mem::take(&mut taps.running)
    };
    for tap in &running {
        *lock(&tap.control) = TapMode::Drain(deadline);
    }
    running
}

/// Waits until `deadline` for the tap threads that [`close`] returned; returns how many were
/// left behind because their callback had not returned (each ends after that callback).
pub(crate) fn join(taps: Vec<TapThread>, deadline: Instant) -> usize {
    let mut left_behind = 0;
    for tap in taps {
        let wait = deadline.saturating_duration_since(Instant::now());
        match tap.ended.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {
                *lock(&tap.control) = TapMode::Stop;
                tap.subscription.close();
                left_behind += 1;
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => drop(tap.thread.join()),
        }
    }
    left_behind
}

/// Whether the calling thread is a tap delivery thread.
pub(crate) fn in_callback() -> bool {
    IN_TAP_CALLBACK.with(Cell::get)
}

/// Refuses a call that would wait for the calling tap callback's own thread.
pub(crate) fn refuse_in_callback(function: &'static str) -> Result<(), Failure> {
    if in_callback() {
        return Err(Failure::owned(
            LOG_E_IN_CALLBACK,
            format!("{function} cannot be called from a tap callback: it would wait for the callback's own thread"),
        ));
    }
    Ok(())
}

/// In a child after fork() (async-signal-safe: one thread-local store): a fork from inside a
/// tap callback leaves the child's thread outside any callback.
pub(crate) fn leave_callback_after_fork() {
    let _ = IN_TAP_CALLBACK.try_with(|flag| flag.set(false));
}
