//! The log_write path, which takes no lock of its own: each thread caches a handle to the
//! running logger, checked against a generation counter that every change of state bumps (one
//! atomic load per write). A read-write lock costs two atomic read-modify-writes per write, on a
//! cache line shared by every writing thread.
//!
//! The cache is split in two thread-locals. `FAST`, all a write reads, is two plain cells with
//! no destructor: reading it costs no lazy-initialization check and no borrow flag. `HOLDER`
//! owns the logger handle `FAST` points to and is touched only when `FAST` is stale (once per
//! thread and change of state). benches/c_write.rs measures what is left of the door's cost.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::Ordering;

use logship::Logger;

use super::errors::{fail, Failure, NOT_INITIALIZED, SHUT_DOWN};
use super::exports::LOG_OK;
use super::state::{global, is_current, Global, State, GENERATION};
use super::taps;

/// A generation `GENERATION` never has (it starts at 1 and only grows): `FAST` is stale.
const STALE: u64 = 0;

/// What a write on this thread reads: while `generation` equals `GENERATION`, `logger` points
/// at the running logger held by this thread's `HOLDER`.
struct FastCache {
    generation: Cell<u64>,
    logger: Cell<*const Logger>,
}

/// Owns the logger handle `FAST` points to.
struct Holder {
    /// The Global it was read from. After a fork, the child's holder still has a logger of the
    /// parent's (forgotten) Global, which must be forgotten too, never dropped.
    global: *const Global,
    logger: Option<Logger>,
}

thread_local! {
    static FAST: FastCache = const {
        FastCache {
            generation: Cell::new(STALE),
            logger: Cell::new(ptr::null()),
        }
    };
    static HOLDER: RefCell<Holder> = const {
        RefCell::new(Holder {
            global: ptr::null(),
            logger: None,
        })
    };
}

impl Holder {
    /// Takes the current state's logger, and points `FAST` at it if this thread may use the fast
    /// path. `FAST` is stale from the first statement on: a signal handler that interrupts this
    /// finds it stale and `HOLDER` borrowed, and writes uncached.
    fn refresh(&mut self, global: &'static Global) {
        FAST.with(|fast| fast.generation.set(STALE));
        let (generation, logger) = {
            let state = global.read();
            // Read under the lock: GENERATION changes only under the write lock, so this is the
            // generation of exactly this state.
            let generation = GENERATION.load(Ordering::Acquire);
            let logger = match &*state {
                State::Running(door) => Some(door.logger.clone()),
                State::Uninitialized | State::ShutDown { .. } => None,
            };
            (generation, logger)
        };
        let previous = std::mem::replace(&mut self.logger, logger);
        if ptr::eq(self.global, global) {
            // Usually not the last handle; if it is (the logger was shut down), its drop is
            // quick: the shutdown already happened.
            drop(previous);
        } else {
            std::mem::forget(previous);
        }
        self.global = global;
        // A tap delivery thread never takes the fast path: what it writes is not tapped, so a
        // callback that logs what it receives cannot feed itself (write_uncached).
        if let (Some(logger), false) = (&self.logger, taps::in_callback()) {
            FAST.with(|fast| {
                fast.logger.set(logger);
                fast.generation.set(generation);
            });
        }
    }
}

impl Drop for Holder {
    /// At thread exit. A write from a later thread-local destructor finds `FAST` stale and this
    /// holder gone, and writes uncached. A handle from before a fork belongs to a forgotten
    /// Global: forget it too.
    fn drop(&mut self) {
        FAST.with(|fast| fast.generation.set(STALE));
        if !is_current(self.global) {
            std::mem::forget(self.logger.take());
        }
    }
}

#[inline(always)]
fn write_to(logger: &Logger, bytes: &[u8], from_tap: bool) -> c_int {
    let written = match from_tap {
        true => logger.write_untapped(bytes),
        false => logger.write(bytes),
    };
    match written {
        Ok(()) => LOG_OK,
        Err(err) => write_failed(err),
    }
}

/// Out of line, so that log_write's own frame stays small.
#[cold]
#[inline(never)]
fn write_failed(err: logship::Error) -> c_int {
    fail(Failure::from(err))
}

/// log_write: queues `bytes` on the running logger through this thread's cache. Inlined into
/// log_write down to the logger's own write, with the rare paths out of line, and returning a
/// plain code (a failure's message is recorded on the way): each frame, and a `Result` holding
/// a `Failure` moved out through each, cost the C door a share of the Rust write's 25 ns.
#[inline(always)]
pub(crate) fn write(bytes: &[u8]) -> c_int {
    let Some(logger) = fast_logger() else {
        return write_stale(bytes);
    };
    // SAFETY: `logger` came from a current FAST, so it points at the handle this thread's HOLDER
    // owns (refresh sets the pointer after filling HOLDER, and marks FAST stale before HOLDER
    // changes, as HOLDER's drop does). Only this thread changes its HOLDER, never during this
    // call (a signal handler's write that interrupts a refresh finds FAST stale), so the handle
    // lives until the call returns. A Logger is meant to be used through shared references.
    write_to(unsafe { &*logger }, bytes, false)
}

/// FAST's logger while FAST is current.
#[inline(always)]
fn fast_logger() -> Option<*const Logger> {
    let generation = GENERATION.load(Ordering::Acquire);
    FAST.with(|fast| (fast.generation.get() == generation).then(|| fast.logger.get()))
}

/// This thread's FAST is stale: refresh it and write through it, or write under the state's
/// lock when the cache cannot be used (a tap thread, a write from a thread-local destructor or
/// from a signal handler that interrupted a refresh) or there is no running logger.
#[cold]
#[inline(never)]
fn write_stale(bytes: &[u8]) -> c_int {
    refresh_this_thread(global());
    match fast_logger() {
        Some(_) => write(bytes),
        None => write_uncached(bytes),
    }
}

/// The shared state, under its lock.
fn write_uncached(bytes: &[u8]) -> c_int {
    match &*global().read() {
        State::Running(door) => write_to(&door.logger, bytes, taps::in_callback()),
        State::Uninitialized => fail(NOT_INITIALIZED),
        State::ShutDown { .. } => fail(SHUT_DOWN),
    }
}

/// Brings this thread's cache up to date now: on a stale write, and at log_shutdown (so that a
/// program that writes and shuts down on one thread frees the logger there).
pub(crate) fn refresh_this_thread(global: &'static Global) {
    let _ = HOLDER.try_with(|holder| {
        if let Ok(mut holder) = holder.try_borrow_mut() {
            holder.refresh(global);
        }
    });
}
