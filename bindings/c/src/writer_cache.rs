//! The log_write path, which takes no lock of its own: each thread caches a handle to the
//! running logger, checked against a generation counter that every change of state bumps (one
//! atomic load per write). A read-write lock costs two atomic read-modify-writes per write, on a
//! cache line shared by every writing thread. With the cache, benches/c_write.rs puts log_write
//! at about 3 ns over the Rust write (+12..15% of its 22..25 ns).

use std::cell::RefCell;
use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::Ordering;

use logship::Logger;

use super::errors::{fail, Failure, NOT_INITIALIZED, SHUT_DOWN};
use super::exports::LOG_OK;
use super::state::{global, is_current, Global, State, GENERATION};
use super::taps;

thread_local! {
    /// This thread's view of the state, for log_write.
    static WRITER: RefCell<WriterCache> = const {
        RefCell::new(WriterCache {
            generation: 0,
            global: ptr::null(),
            target: Target::Uninitialized,
            tap_thread: false,
        })
    };
}

/// What log_write on this thread writes to, as of `generation`.
struct WriterCache {
    generation: u64,
    /// The Global it was read from. After a fork, the child's cache still holds a logger of the
    /// parent's (forgotten) Global, which must be forgotten too, never dropped.
    global: *const Global,
    target: Target,
    /// Whether this is a tap delivery thread, read at refresh: in a shared library each
    /// thread-local costs a call, so the write path reads only this cache.
    tap_thread: bool,
}

enum Target {
    Uninitialized,
    Running(Logger),
    ShutDown,
}

impl WriterCache {
    fn refresh(&mut self, global: &'static Global) {
        let (generation, target) = {
            let state = global.read();
            // Read under the lock: GENERATION changes only under the write lock, so this is the
            // generation of exactly this state.
            let generation = GENERATION.load(Ordering::Acquire);
            let target = match &*state {
                State::Running(door) => Target::Running(door.logger.clone()),
                State::Uninitialized => Target::Uninitialized,
                State::ShutDown { .. } => Target::ShutDown,
            };
            (generation, target)
        };
        let previous = std::mem::replace(&mut self.target, target);
        if ptr::eq(self.global, global) {
            // Usually not the last handle; if it is (the logger was shut down), its drop is
            // quick: the shutdown already happened.
            drop(previous);
        } else {
            std::mem::forget(previous);
        }
        self.generation = generation;
        self.global = global;
        self.tap_thread = taps::in_callback();
    }

    #[inline(always)]
    fn write(&self, bytes: &[u8]) -> c_int {
        match &self.target {
            Target::Running(logger) => write_to(logger, bytes, self.tap_thread),
            Target::Uninitialized => fail(NOT_INITIALIZED),
            Target::ShutDown => fail(SHUT_DOWN),
        }
    }
}

impl Drop for WriterCache {
    /// At thread exit: a handle from before a fork belongs to a forgotten Global; forget it too.
    fn drop(&mut self) {
        if !is_current(self.global) {
            std::mem::forget(std::mem::replace(&mut self.target, Target::Uninitialized));
        }
    }
}

/// A write from a tap callback is uploaded but never tapped: a callback that logs what it
/// receives cannot feed itself.
#[inline(always)]
fn write_to(logger: &Logger, bytes: &[u8], from_tap: bool) -> c_int {
    let written = match from_tap {
        true => logger.write_untapped(bytes),
        false => logger.write(bytes),
    };
    match written {
        Ok(()) => LOG_OK,
        Err(err) => fail(Failure::from(err)),
    }
}

/// log_write: queues `bytes` on the running logger through this thread's cache. Inlined into
/// log_write down to the logger's own write, with the rare paths out of line, and returning a
/// plain code (a failure's message is recorded on the way): each frame, and a `Result` holding
/// a `Failure` moved out through each, cost the C door a share of the Rust write's 25 ns.
#[inline(always)]
pub(crate) fn write(bytes: &[u8]) -> c_int {
    let generation = GENERATION.load(Ordering::Acquire);
    let cached = WRITER.try_with(|cache| {
        // Busy only if this thread re-entered log_write (from a signal handler): then it
        // takes the slow path below.
        let mut cache = cache.try_borrow_mut().ok()?;
        if cache.generation != generation {
            refresh(&mut cache);
        }
        Some(cache.write(bytes))
    });
    match cached {
        Ok(Some(result)) => result,
        _ => write_uncached(bytes),
    }
}

/// This thread's cache is being destroyed (a write from a TLS destructor) or busy (a write from
/// a signal handler that interrupted one): the shared state, under its lock.
#[cold]
#[inline(never)]
fn write_uncached(bytes: &[u8]) -> c_int {
    match &*global().read() {
        State::Running(door) => write_to(&door.logger, bytes, taps::in_callback()),
        State::Uninitialized => fail(NOT_INITIALIZED),
        State::ShutDown { .. } => fail(SHUT_DOWN),
    }
}

/// Out of line: once per thread and change of state.
#[cold]
#[inline(never)]
fn refresh(cache: &mut WriterCache) {
    cache.refresh(global());
}

/// Brings this thread's cache up to date now (log_shutdown: so that a program that writes and
/// shuts down on one thread frees the logger there).
pub(crate) fn refresh_this_thread(global: &'static Global) {
    let _ = WRITER.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            cache.refresh(global);
        }
    });
}
