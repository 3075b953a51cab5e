//! The process-wide state behind the C API, its life cycle (log_init, log_shutdown) and fork
//! handling.
//!
//! Fork safety: the state lives behind a pointer that a `pthread_atfork` child handler resets
//! with one atomic store. The child never touches the parent's locks (another thread may have
//! held them at fork time) nor its logger (whose thread does not exist in the child): both are
//! forgotten, never freed or joined.

use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use logship::{Config, DestinationStats, Error, Logger, Stats};

use super::errors::{config_failure, result_code, Failure, NOT_INITIALIZED, SHUT_DOWN};
use super::exports::{LOG_E_ALREADY_INITIALIZED, LOG_E_RUNTIME, LOG_E_TIMEOUT, LOG_OK};
use super::taps::{self, Taps};
use super::writer_cache;

/// Everything the C door holds. Never freed: after a fork the child forgets it (see the module
/// doc), so `&'static Global` references stay valid in both processes.
pub(crate) struct Global {
    /// Read-locked for a moment by every call (by log_write only when its thread's cache is
    /// stale); write-locked only to install or retire a logger.
    state: RwLock<State>,
    /// Serializes log_init and log_shutdown. Tap callbacks never take it (they may not call
    /// either), so shutdown can hold it while it joins the tap threads.
    lifecycle: Mutex<()>,
    /// Subscription ids are unique across loggers, so a stale id never stops a newer tap.
    pub(crate) next_tap_id: AtomicU32,
}

pub(crate) enum State {
    Uninitialized,
    Running(Arc<Door>),
    /// Keeps the first shutdown's result (returned again by later calls) and each destination's
    /// final counters.
    ShutDown {
        result: Result<(), Error>,
        /// Tap threads whose callback had not returned by the deadline.
        taps_left_behind: usize,
        destinations: Vec<DestinationStats>,
    },
}

/// A running logger and its tap threads.
pub(crate) struct Door {
    pub(crate) logger: Logger,
    pub(crate) taps: Mutex<Taps>,
}

static GLOBAL: AtomicPtr<Global> = AtomicPtr::new(ptr::null_mut());
static AT_FORK_REGISTERED: AtomicBool = AtomicBool::new(false);
/// Bumped (under the state's write lock) whenever the state changes, and by the fork handler:
/// a thread's writer cache is valid while this still has the value it was filled at.
pub(crate) static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The process's state, created on first use.
pub(crate) fn global() -> &'static Global {
    let current = GLOBAL.load(Ordering::Acquire);
    if current.is_null() {
        return install_global();
    }
    // SAFETY: a non-null GLOBAL was published by install_global from Box::into_raw, and a Global
    // is never freed (the fork handler only forgets it), so it is valid for 'static.
    unsafe { &*current }
}

/// Whether `global` is this process's current state (false for a parent's, after a fork).
pub(crate) fn is_current(global: *const Global) -> bool {
    ptr::eq(global, GLOBAL.load(Ordering::Acquire))
}

#[cold]
fn install_global() -> &'static Global {
    // Before any Global (and so any lock) exists: a fork can then never catch a lock held without
    // the handler that makes the child forget it.
    register_at_fork();
    let fresh = Box::into_raw(Box::new(Global {
        state: RwLock::new(State::Uninitialized),
        lifecycle: Mutex::new(()),
        next_tap_id: AtomicU32::new(1),
    }));
    match GLOBAL.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` came from Box::into_raw just above and is now published, never freed.
        Ok(_) => unsafe { &*fresh },
        Err(winner) => {
            // SAFETY: `fresh` came from Box::into_raw above and was never shared (the exchange
            // failed), so this is its only owner.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: `winner` is non-null (the exchange failed because GLOBAL was set), and was
            // published by another install_global; Globals are never freed.
            unsafe { &*winner }
        }
    }
}

/// Registers the fork handler; true once it is registered. Racing callers may register it twice,
/// which is harmless (the handler is idempotent) and never makes anyone wait — a wait here could
/// hang a child forked in the middle of it.
fn register_at_fork() -> bool {
    if AT_FORK_REGISTERED.load(Ordering::Acquire) {
        return true;
    }
    // SAFETY: pthread_atfork only records the function pointers; the child handler is a plain
    // `extern "C" fn` that cannot unwind and only does async-signal-safe work.
    let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_logger_in_child)) };
    if rc == 0 {
        AT_FORK_REGISTERED.store(true, Ordering::Release);
    }
    rc == 0
}

/// Runs in the child right after fork(), on its only thread. Only atomic and thread-local
/// stores: no locks (another parent thread may have held them at fork time), no allocation, no
/// destructors (the parent's logger thread does not exist here, so its logger is forgotten).
extern "C" fn forget_logger_in_child() {
    GLOBAL.store(ptr::null_mut(), Ordering::Release);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    taps::leave_callback_after_fork();
    // The forgotten logger's spool lock would stay held while this child lives.
    logship::release_spool_locks_after_fork(|fd| {
        // SAFETY: open, dup2 and close are async-signal-safe system calls; `fd` is a descriptor
        // this process owns (the spool's lock file), which now points at /dev/null instead.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if null >= 0 {
                libc::dup2(null, fd);
                libc::close(null);
            }
        }
    });
}

/// Locks a mutex, recovering it from poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent even if a panic cuts it short.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Global {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs a new state and invalidates every thread's writer cache; returns the old state,
    /// for the caller to drop outside the lock.
    fn replace_state(&self, new: State) -> State {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *state, new);
        GENERATION.fetch_add(1, Ordering::AcqRel);
        old
    }

    /// The running logger, for calls that may take a while: the read lock is released at once,
    /// so a slow flush never holds up log_init or log_shutdown (nor, through them, writers).
    pub(crate) fn door(&self) -> Result<Arc<Door>, Failure> {
        match &*self.read() {
            State::Running(door) => Ok(door.clone()),
            State::Uninitialized => Err(NOT_INITIALIZED),
            State::ShutDown { .. } => Err(SHUT_DOWN),
        }
    }
}

/// log_init: starts a logger from `json` unless one is running.
pub(crate) fn init(json: &str) -> Result<c_int, Failure> {
    if !register_at_fork() {
        return Err(Failure::fixed(
            LOG_E_RUNTIME,
            "could not register logship's fork handler",
        ));
    }
    let global = global();
    let _lifecycle = lock(&global.lifecycle);
    if matches!(*global.read(), State::Running(_)) {
        return Err(Failure::fixed(
            LOG_E_ALREADY_INITIALIZED,
            "logship is already initialized: call log_shutdown before log_init",
        ));
    }
    let config = Config::from_json(json).map_err(|e| config_failure(e, json))?;
    let logger = Logger::from_config(config)?;
    let door = Arc::new(Door {
        logger,
        taps: Mutex::default(),
    });
    drop(global.replace_state(State::Running(door)));
    Ok(LOG_OK)
}

/// log_shutdown: drains the logger and its taps until `timeout`, then retires it. Later calls
/// return the first call's result.
pub(crate) fn shutdown(timeout: Duration) -> Result<c_int, Failure> {
    let global = global();
    let _lifecycle = lock(&global.lifecycle);
    let door = match &*global.read() {
        State::Running(door) => door.clone(),
        State::Uninitialized => return Err(NOT_INITIALIZED),
        State::ShutDown {
            result,
            taps_left_behind,
            ..
        } => return shutdown_code(result, *taps_left_behind),
    };
    let deadline = Instant::now() + timeout;
    let taps = taps::close(&door, deadline);
    // Writes racing with this get LOG_E_SHUT_DOWN from the closed queue; the state lock is
    // not held while draining, so they never wait for it.
    let result = door.logger.shutdown(timeout);
    let taps_left_behind = taps::join(taps, deadline);
    let running = global.replace_state(State::ShutDown {
        result: result.clone(),
        taps_left_behind,
        destinations: door.logger.destination_stats(),
    });
    // Dropped outside the state lock: the logger's own drop is quick (already shut down),
    // but writers should not wait for it anyway.
    drop(running);
    drop(door);
    // Let go of this thread's handle now, so a program that writes and shuts down on one
    // thread frees the logger here; other threads let go at their next write or exit.
    writer_cache::refresh_this_thread(global);
    shutdown_code(&result, taps_left_behind)
}

/// log_shutdown's answer: the logger's, or LOG_E_TIMEOUT when a tap callback outlived the
/// deadline (its thread is left to end after that callback, which is the last one it makes).
fn shutdown_code(result: &Result<(), Error>, taps_left_behind: usize) -> Result<c_int, Failure> {
    if taps_left_behind == 0 {
        return result_code(result.clone());
    }
    let also = match result {
        Ok(()) => String::new(),
        Err(err) => format!("; and {err}"),
    };
    Err(Failure::owned(
        LOG_E_TIMEOUT,
        format!(
            "{taps_left_behind} tap callback(s) had not returned at the deadline: their threads \
             were left to end when the callback returns (it is the last call), so `user` must \
             stay valid until then{also}"
        ),
    ))
}

/// The counters of every destination, of the running logger or the one shut down last.
pub(crate) fn destination_stats() -> Result<Vec<DestinationStats>, Failure> {
    match &*global().read() {
        State::Running(door) => Ok(door.logger.destination_stats()),
        State::ShutDown { destinations, .. } => Ok(destinations.clone()),
        State::Uninitialized => Err(NOT_INITIALIZED),
    }
}

/// The logger's counters, of the running logger or the one shut down last.
pub(crate) fn stats() -> Result<Stats, Failure> {
    match &*global().read() {
        State::Running(door) => Ok(door.logger.stats()),
        State::ShutDown { destinations, .. } => Ok(destinations[0].stats),
        State::Uninitialized => Err(NOT_INITIALIZED),
    }
}
