//! The C door (`include/logship.h`, generated from this file by cbindgen in `build.rs`): one
//! process-wide [`Logger`] behind `log_init` / `log_write` / `log_shutdown`.
//!
//! This is the only module with `unsafe`; every block says why it is sound. Every exported
//! function runs inside `catch_unwind`, so a panic becomes `LOG_E_PANIC` instead of unwinding
//! into C. The doc comments on the exported items are the header's documentation.
//!
//! The write path takes no lock of its own: each thread caches a handle to the running logger,
//! checked against a generation counter that every change of state bumps (one atomic load per
//! write). A read-write lock costs two atomic read-modify-writes per write, on a cache line
//! shared by every writing thread: with it, benches/c_write.rs put the C door at about +10% over
//! the Rust door; with the cache, at about +5%.
//!
//! Fork safety: the state lives behind a pointer that a `pthread_atfork` child handler resets
//! with one atomic store. The child never touches the parent's locks (another thread may have
//! held them at fork time) nor its logger (whose thread does not exist in the child): both are
//! forgotten, never freed or joined.
#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Config, DestinationStats, Error, Logger, Stats, Subscription};

/// Success.
pub const LOG_OK: c_int = 0;
/// A required pointer was NULL, a length was impossible, or a subscription id is unknown.
pub const LOG_E_INVALID_ARG: c_int = -1;
/// The configuration JSON is malformed or invalid; log_last_error() names the key.
pub const LOG_E_CONFIG: c_int = -2;
/// log_init has not succeeded yet (or this is a child process after fork()).
pub const LOG_E_NOT_INITIALIZED: c_int = -3;
/// log_init was called while a logger is running.
pub const LOG_E_ALREADY_INITIALIZED: c_int = -4;
/// The logger is shut down (or shutting down); call log_init to start a new one.
pub const LOG_E_SHUT_DOWN: c_int = -5;
/// The deadline passed before everything was delivered; log_last_error() says how many entries
/// were left.
pub const LOG_E_TIMEOUT: c_int = -6;
/// logship panicked inside the call (a bug: please report it with log_last_error()). The
/// process is intact and later calls still work.
pub const LOG_E_PANIC: c_int = -7;
/// The buffer is full and this entry was not queued (`on_full` is `drop_newest`, or the entry is
/// larger than the free buffer). It is counted in `dropped` and the loss is reported to the
/// server by the next upload.
pub const LOG_E_DROPPED: c_int = -8;
/// log_init, log_shutdown or log_unsubscribe was called from inside a tap callback, where it
/// would wait for the callback's own thread.
pub const LOG_E_IN_CALLBACK: c_int = -9;
/// The operating system refused a resource logship needs (a thread, a fork handler).
pub const LOG_E_RUNTIME: c_int = -10;

/// A logger's counters (PROTOCOL.md section 4). Every non-empty write ends up counted in exactly
/// one of `uploaded`, `dropped` or `rejected`, or is still queued.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogshipStats {
    /// Non-empty writes accepted or refused by log_write (refused ones are also in `dropped`).
    pub written: u64,
    /// Entries in batches the server acknowledged.
    pub uploaded: u64,
    /// Entries lost for lack of buffer space, or still queued at shutdown.
    pub dropped: u64,
    /// Entries the server refused.
    pub rejected: u64,
    /// Upload attempts that were retried.
    pub retries: u64,
    /// Body bytes sent (compressed where compression was used), over all attempts.
    pub bytes_on_wire: u64,
    /// Bytes held right now: queued entries plus the batch being uploaded.
    pub queued_bytes: u64,
}

impl From<Stats> for LogshipStats {
    fn from(s: Stats) -> Self {
        LogshipStats {
            written: s.written,
            uploaded: s.uploaded,
            dropped: s.dropped,
            rejected: s.rejected,
            retries: s.retries,
            bytes_on_wire: s.bytes_on_wire,
            queued_bytes: s.queued_bytes,
        }
    }
}

/// A tap callback: receives one entry, a NUL-terminated UTF-8 JSON object without the trailing
/// newline (`len` bytes, not counting the NUL). `entry` is valid only during the call; copy what
/// you keep. Called on the subscription's own thread, one entry at a time, in order. It must
/// return normally (no longjmp, no C++ exception).
pub type LogshipTapFn =
    Option<unsafe extern "C" fn(entry: *const c_char, len: usize, user: *mut c_void)>;

// ---------------------------------------------------------------------------------------------
// Process-wide state

/// Everything the C door holds. Never freed: after a fork the child forgets it (see the module
/// doc), so `&'static Global` references stay valid in both processes.
struct Global {
    /// Read-locked for a moment by every call (by log_write only when its thread's cache is
    /// stale); write-locked only to install or retire a logger.
    state: RwLock<State>,
    /// Serializes log_init and log_shutdown. Tap callbacks never take it (they may not call
    /// either), so shutdown can hold it while it joins the tap threads.
    lifecycle: Mutex<()>,
    /// Subscription ids are unique across loggers, so a stale id never stops a newer tap.
    next_tap_id: AtomicU32,
}

enum State {
    Uninitialized,
    Running(Arc<Door>),
    /// Keeps the first shutdown's result (returned again by later calls) and each destination's
    /// final counters.
    ShutDown {
        result: Result<(), Error>,
        destinations: Vec<DestinationStats>,
    },
}

/// A running logger and its tap threads.
struct Door {
    logger: Logger,
    taps: Mutex<Taps>,
}

#[derive(Default)]
struct Taps {
    /// Set by shutdown: no new subscriptions.
    closed: bool,
    running: Vec<TapThread>,
}

struct TapThread {
    id: c_int,
    control: Arc<Mutex<TapMode>>,
    thread: JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TapMode {
    Run,
    /// Deliver what the tap still has until it is finished or the deadline passes, then end.
    Drain(Instant),
    /// End after the current callback (log_unsubscribe).
    Stop,
}

static GLOBAL: AtomicPtr<Global> = AtomicPtr::new(ptr::null_mut());
static AT_FORK_REGISTERED: AtomicBool = AtomicBool::new(false);
/// Bumped (under the state's write lock) whenever the state changes, and by the fork handler:
/// a thread's [`WriterCache`] is valid while this still has the value it was filled at.
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The last failure message on this thread, NUL-terminated; empty when there was none. Its
    /// buffer is reused, so recording a failure does not allocate in the steady state.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// True on tap delivery threads.
    static IN_TAP_CALLBACK: Cell<bool> = const { Cell::new(false) };
    /// This thread's view of the state, for log_write.
    static WRITER: RefCell<WriterCache> = const {
        RefCell::new(WriterCache {
            generation: 0,
            global: ptr::null(),
            target: Target::Uninitialized,
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
    }

    fn write(&self, bytes: &[u8]) -> Result<c_int, Failure> {
        match &self.target {
            Target::Running(logger) => result_code(logger.write(bytes)),
            Target::Uninitialized => Err(NOT_INITIALIZED),
            Target::ShutDown => Err(SHUT_DOWN),
        }
    }
}

impl Drop for WriterCache {
    /// At thread exit: a handle from before a fork belongs to a forgotten Global; forget it too.
    fn drop(&mut self) {
        if !ptr::eq(self.global, GLOBAL.load(Ordering::Acquire)) {
            std::mem::forget(std::mem::replace(&mut self.target, Target::Uninitialized));
        }
    }
}

fn global() -> &'static Global {
    let current = GLOBAL.load(Ordering::Acquire);
    if current.is_null() {
        return install_global();
    }
    // SAFETY: a non-null GLOBAL was published by install_global from Box::into_raw, and a Global
    // is never freed (the fork handler only forgets it), so it is valid for 'static.
    unsafe { &*current }
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
    // A fork from inside a tap callback leaves the child's thread outside any callback.
    let _ = IN_TAP_CALLBACK.try_with(|flag| flag.set(false));
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent even if a panic cuts it short.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Global {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs a new state and invalidates every thread's [`WriterCache`]; returns the old
    /// state, for the caller to drop outside the lock.
    fn replace_state(&self, new: State) -> State {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *state, new);
        GENERATION.fetch_add(1, Ordering::AcqRel);
        old
    }

    /// The running logger, for calls that may take a while: the read lock is released at once,
    /// so a slow flush never holds up log_init or log_shutdown (nor, through them, writers).
    fn door(&self) -> Result<Arc<Door>, Failure> {
        match &*self.read() {
            State::Running(door) => Ok(door.clone()),
            State::Uninitialized => Err(NOT_INITIALIZED),
            State::ShutDown { .. } => Err(SHUT_DOWN),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failures and the panic boundary

/// Why a call failed: a return code and the message log_last_error() will give.
struct Failure {
    code: c_int,
    message: Message,
}

enum Message {
    Static(&'static str),
    Owned(String),
    Logship(Error),
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Static(text) => f.write_str(text),
            Message::Owned(text) => f.write_str(text),
            Message::Logship(err) => write!(f, "{err}"),
        }
    }
}

impl Failure {
    const fn fixed(code: c_int, text: &'static str) -> Failure {
        Failure {
            code,
            message: Message::Static(text),
        }
    }

    fn owned(code: c_int, text: String) -> Failure {
        Failure {
            code,
            message: Message::Owned(text),
        }
    }
}

const NOT_INITIALIZED: Failure = Failure::fixed(
    LOG_E_NOT_INITIALIZED,
    "logship is not initialized: call log_init first (and again in a child after fork)",
);
const SHUT_DOWN: Failure = Failure::fixed(
    LOG_E_SHUT_DOWN,
    "the logger is shut down: call log_init to start a new one",
);

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let code = match &err {
            Error::Config(_) => LOG_E_CONFIG,
            Error::ShutDown => LOG_E_SHUT_DOWN,
            Error::QueueFull => LOG_E_DROPPED,
            Error::Timeout { .. } => LOG_E_TIMEOUT,
            _ => LOG_E_RUNTIME,
        };
        // Unit and small variants are formatted straight into the thread's message buffer, so a
        // full queue under drop_newest costs no allocation per refused write.
        Failure {
            code,
            message: Message::Logship(err),
        }
    }
}

fn result_code(result: Result<(), Error>) -> Result<c_int, Failure> {
    result.map(|()| LOG_OK).map_err(Failure::from)
}

fn set_last_error(message: &dyn fmt::Display) {
    // Outside the panic boundary, so nothing here may panic: a re-entrant call (a signal
    // handler) or a thread being torn down just leaves the message unset.
    let _ = LAST_ERROR.try_with(|buffer| {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return;
        };
        buffer.clear();
        let _ = write!(buffer, "{message}");
        // A C string ends at the first NUL; keep the whole message visible.
        buffer
            .iter_mut()
            .filter(|b| **b == 0)
            .for_each(|b| *b = b'?');
        buffer.push(0);
    });
}

/// The panic boundary: runs `body`, records a failure's message for log_last_error(), and turns
/// a panic into LOG_E_PANIC.
fn run(body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    // AssertUnwindSafe: after a panic, locks are recovered from poisoning and every shared
    // structure is consistent between statements, so later calls keep working.
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(code)) => code,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("unknown panic");
            set_last_error(&format_args!(
                "logship panicked (a bug; please report it): {what}"
            ));
            LOG_E_PANIC
        }
    }
}

fn in_tap_callback(function: &'static str) -> Result<(), Failure> {
    if IN_TAP_CALLBACK.with(Cell::get) {
        return Err(Failure::owned(
            LOG_E_IN_CALLBACK,
            format!("{function} cannot be called from a tap callback: it would wait for the callback's own thread"),
        ));
    }
    Ok(())
}

/// Keeps the private id out of a message even if some future validation echoes the value.
fn redact_private_id(message: String, config_json: &str) -> String {
    let id = serde_json::from_str::<serde_json::Value>(config_json)
        .ok()
        .and_then(|v| v.get("private_id")?.as_str().map(str::to_owned));
    match id {
        Some(id) if !id.is_empty() && message.contains(&id) => message.replace(&id, "<redacted>"),
        _ => message,
    }
}

// ---------------------------------------------------------------------------------------------
// The C API

/// Starts the process-wide logger from a JSON configuration (DESIGN.md "Configuration"), e.g.
/// `{"base_url":"http://127.0.0.1:8080","collection":"myapp.example.com"}`.
///
/// `config_json` is a NUL-terminated UTF-8 string, only read during the call (the caller keeps
/// ownership). Thread-safe.
///
/// Returns LOG_OK; LOG_E_INVALID_ARG if `config_json` is NULL; LOG_E_CONFIG if the JSON is
/// malformed or a value is invalid (log_last_error() names the key, e.g.
/// `flush_delay_ms: invalid type: ...`); LOG_E_ALREADY_INITIALIZED if a logger is running;
/// LOG_E_IN_CALLBACK from a tap callback; LOG_E_RUNTIME if no thread could be started.
/// After log_shutdown, and in a child process after fork(), log_init may be called again.
///
/// # Safety
/// `config_json` is NULL or points to a NUL-terminated string that stays valid during the call.
#[no_mangle]
pub unsafe extern "C" fn log_init(config_json: *const c_char) -> c_int {
    run(|| {
        in_tap_callback("log_init")?;
        if config_json.is_null() {
            return Err(Failure::fixed(
                LOG_E_INVALID_ARG,
                "log_init: config_json is NULL",
            ));
        }
        // SAFETY: non-null, and the caller guarantees a NUL-terminated string that stays valid
        // during the call.
        let json = unsafe { CStr::from_ptr(config_json) }
            .to_str()
            .map_err(|e| {
                Failure::owned(
                    LOG_E_CONFIG,
                    format!("invalid configuration: config_json is not UTF-8 ({e})"),
                )
            })?;
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
        let config = Config::from_json(json).map_err(|e| {
            Failure::owned(
                LOG_E_CONFIG,
                redact_private_id(Error::Config(e).to_string(), json),
            )
        })?;
        let logger = Logger::from_config(config)?;
        let door = Arc::new(Door {
            logger,
            taps: Mutex::default(),
        });
        drop(global.replace_state(State::Running(door)));
        Ok(LOG_OK)
    })
}

/// Queues one write of `len` bytes (any bytes; one write = one entry, PROTOCOL.md section 1).
/// Copies the bytes and returns: never waits for the network or the disk. The caller keeps
/// ownership of `buf`. Thread-safe: any number of threads may write at once.
///
/// A zero-length write is a no-op that returns LOG_OK (`buf` may then be NULL).
/// Returns LOG_OK; LOG_E_INVALID_ARG if `buf` is NULL and `len` > 0; LOG_E_DROPPED if the
/// buffer is full and `on_full` is `drop_newest` (the entry is counted as dropped);
/// LOG_E_NOT_INITIALIZED before log_init (and in a child after fork()); LOG_E_SHUT_DOWN
/// after log_shutdown.
///
/// # Safety
/// `buf` is NULL or points to `len` readable bytes that stay valid during the call.
#[no_mangle]
pub unsafe extern "C" fn log_write(buf: *const c_char, len: usize) -> c_int {
    if len == 0 {
        return LOG_OK;
    }
    run(|| {
        if buf.is_null() {
            return Err(Failure::fixed(
                LOG_E_INVALID_ARG,
                "log_write: buf is NULL but len is not 0",
            ));
        }
        if len > isize::MAX as usize {
            return Err(Failure::fixed(
                LOG_E_INVALID_ARG,
                "log_write: len is larger than any buffer",
            ));
        }
        // SAFETY: non-null, len <= isize::MAX, and the caller guarantees `len` readable bytes that
        // stay valid (and are not written by others) during the call; the slice does not
        // outlive it.
        let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
        let generation = GENERATION.load(Ordering::Acquire);
        let cached = WRITER.try_with(|cache| {
            // Busy only if this thread re-entered log_write (from a signal handler): then it
            // takes the slow path below.
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.generation != generation {
                cache.refresh(global());
            }
            Some(cache.write(bytes))
        });
        match cached {
            Ok(Some(result)) => result,
            // This thread's cache is being destroyed (a write from a TLS destructor) or busy.
            _ => match &*global().read() {
                State::Running(door) => result_code(door.logger.write(bytes)),
                State::Uninitialized => Err(NOT_INITIALIZED),
                State::ShutDown { .. } => Err(SHUT_DOWN),
            },
        }
    })
}

/// Uploads everything written so far without waiting for the flush delay, and waits up to
/// `timeout_ms` for it to be delivered (or rejected, or dropped). Thread-safe.
///
/// Returns LOG_OK; LOG_E_TIMEOUT if entries were still undelivered at the deadline (they stay
/// queued and keep being retried); LOG_E_NOT_INITIALIZED; LOG_E_SHUT_DOWN.
#[no_mangle]
pub extern "C" fn log_flush(timeout_ms: u32) -> c_int {
    run(|| {
        let door = global().door()?;
        result_code(door.logger.flush(Duration::from_millis(timeout_ms.into())))
    })
}

/// Stops the logger: refuses further writes, uploads what is queued for up to `timeout_ms`, then
/// stops the background thread and every tap (each tap callback first receives the entries
/// published before the deadline; a callback already running is waited for). Thread-safe.
///
/// Idempotent: later calls return the first call's result. After it returns, log_init may be
/// called again. Call it before the process exits, or queued entries are lost. The stopped
/// logger's memory is freed once every other thread that wrote has made another logship call
/// or exited.
///
/// Returns LOG_OK; LOG_E_TIMEOUT if entries were left at the deadline (they are counted as
/// dropped, and log_last_error() says how many); LOG_E_NOT_INITIALIZED if log_init never
/// succeeded; LOG_E_IN_CALLBACK from a tap callback.
#[no_mangle]
pub extern "C" fn log_shutdown(timeout_ms: u32) -> c_int {
    run(|| {
        in_tap_callback("log_shutdown")?;
        let global = global();
        let _lifecycle = lock(&global.lifecycle);
        let door = match &*global.read() {
            State::Running(door) => door.clone(),
            State::Uninitialized => return Err(NOT_INITIALIZED),
            State::ShutDown { result, .. } => return result_code(result.clone()),
        };
        let timeout = Duration::from_millis(timeout_ms.into());
        let deadline = Instant::now() + timeout;
        let taps = door.close_taps(deadline);
        // Writes racing with this get LOG_E_SHUT_DOWN from the closed queue; the state lock is
        // not held while draining, so they never wait for it.
        let result = door.logger.shutdown(timeout);
        for tap in taps {
            let _ = tap.thread.join();
        }
        let running = global.replace_state(State::ShutDown {
            result: result.clone(),
            destinations: door.logger.destination_stats(),
        });
        // Dropped outside the state lock: the logger's own drop is quick (already shut down),
        // but writers should not wait for it anyway.
        drop(running);
        drop(door);
        // Let go of this thread's handle now, so a program that writes and shuts down on one
        // thread frees the logger here; other threads let go at their next write or exit.
        let _ = WRITER.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                cache.refresh(global);
            }
        });
        result_code(result)
    })
}

/// The message of the last failed logship call on the calling thread, or NULL if none failed
/// yet. The string is owned by logship and stays valid until the next failing call on this
/// thread (or the thread's exit); copy it to keep it. Successful calls leave it unchanged.
/// Messages never contain the private id.
#[no_mangle]
pub extern "C" fn log_last_error() -> *const c_char {
    panic::catch_unwind(|| {
        LAST_ERROR
            .try_with(|buffer| {
                let buffer = buffer.borrow();
                match buffer.is_empty() {
                    true => ptr::null(),
                    false => buffer.as_ptr().cast::<c_char>(),
                }
            })
            .unwrap_or(ptr::null())
    })
    .unwrap_or(ptr::null())
}

/// Copies the logger's counters into `*out`. After log_shutdown, gives the final counters of the
/// logger that was shut down. Thread-safe.
///
/// Returns LOG_OK; LOG_E_INVALID_ARG if `out` is NULL; LOG_E_NOT_INITIALIZED.
///
/// # Safety
/// `out` is NULL or points to a writable `struct logship_stats`.
#[no_mangle]
pub unsafe extern "C" fn log_stats(out: *mut LogshipStats) -> c_int {
    run(|| {
        if out.is_null() {
            return Err(Failure::fixed(LOG_E_INVALID_ARG, "log_stats: out is NULL"));
        }
        let stats = match &*global().read() {
            State::Running(door) => door.logger.stats(),
            State::ShutDown { destinations, .. } => destinations[0].stats,
            State::Uninitialized => return Err(NOT_INITIALIZED),
        };
        // SAFETY: non-null, and the caller guarantees it points to a writable, aligned
        // `struct logship_stats` (plain integers: no previous value needs dropping).
        unsafe { out.write(stats.into()) };
        Ok(LOG_OK)
    })
}

/// Copies the counters of destination `index` into `*out`: destinations are numbered from 0 in
/// the order of the configuration's `destinations` (a configuration without it has the one
/// destination 0, whose counters log_stats also gives). If `using_backup` is not NULL, sets
/// `*using_backup` to 1 while that destination's uploads go to its `backup_url`, else 0. After
/// log_shutdown, gives the final values of the logger that was shut down. Thread-safe.
///
/// Returns the number of destinations (>= 1), so that `log_destination_stats(0, &s, NULL)` also
/// tells how many there are; LOG_E_INVALID_ARG if `out` is NULL or `index` is not below that
/// number; LOG_E_NOT_INITIALIZED.
///
/// # Safety
/// `out` is NULL or points to a writable `struct logship_stats`; `using_backup` is NULL or points
/// to a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn log_destination_stats(
    index: u32,
    out: *mut LogshipStats,
    using_backup: *mut c_int,
) -> c_int {
    run(|| {
        if out.is_null() {
            return Err(Failure::fixed(
                LOG_E_INVALID_ARG,
                "log_destination_stats: out is NULL",
            ));
        }
        let destinations = match &*global().read() {
            State::Running(door) => door.logger.destination_stats(),
            State::ShutDown { destinations, .. } => destinations.clone(),
            State::Uninitialized => return Err(NOT_INITIALIZED),
        };
        let count = destinations.len();
        let Some(destination) = destinations.get(index as usize) else {
            return Err(Failure::owned(
                LOG_E_INVALID_ARG,
                format!("log_destination_stats: no destination {index}; there are {count}"),
            ));
        };
        // SAFETY: non-null, and the caller guarantees it points to a writable, aligned
        // `struct logship_stats` (plain integers: no previous value needs dropping).
        unsafe { out.write(destination.stats.into()) };
        if !using_backup.is_null() {
            // SAFETY: non-null, and the caller guarantees it points to a writable `int`.
            unsafe { using_backup.write(c_int::from(destination.using_backup)) };
        }
        Ok(count as c_int)
    })
}

/// Subscribes to the tap: `fn(entry, len, user)` is called for every entry from now on, after a
/// replay of the most recent ones (up to 16 KiB). Each subscription has its own thread and its
/// own bounded queue (1 MiB): a slow callback never slows log_write or other subscriptions; if it
/// falls that far behind, it misses its own oldest entries. Thread-safe.
///
/// `user` is passed through untouched; it must stay valid until log_unsubscribe or log_shutdown
/// returns. From inside a callback you may call log_write, log_flush, log_stats, log_subscribe
/// and log_last_error, but not log_unsubscribe, log_shutdown or log_init (LOG_E_IN_CALLBACK).
///
/// Returns a subscription id (>= 0; later subscriptions get other ids), or LOG_E_INVALID_ARG if
/// `fn` is NULL, LOG_E_NOT_INITIALIZED, LOG_E_SHUT_DOWN, or LOG_E_RUNTIME if no thread could be
/// started.
///
/// # Safety
/// `fn` is NULL or a function that may be called, from another thread, with `user` until the
/// subscription ends.
#[no_mangle]
pub unsafe extern "C" fn log_subscribe(r#fn: LogshipTapFn, user: *mut c_void) -> c_int {
    run(|| {
        let Some(callback) = r#fn else {
            return Err(Failure::fixed(
                LOG_E_INVALID_ARG,
                "log_subscribe: fn is NULL",
            ));
        };
        let global = global();
        let door = global.door()?;
        let mut taps = lock(&door.taps);
        if taps.closed {
            return Err(SHUT_DOWN);
        }
        let id = (global.next_tap_id.fetch_add(1, Ordering::Relaxed) & i32::MAX as u32) as c_int;
        let subscription = door.logger.subscribe();
        let control = Arc::new(Mutex::new(TapMode::Run));
        let tap = Tap {
            callback,
            user: UserData(user),
            subscription,
            control: control.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("logship-tap-{id}"))
            .spawn(move || tap.deliver())
            .map_err(|e| {
                Failure::owned(LOG_E_RUNTIME, format!("could not start a tap thread: {e}"))
            })?;
        taps.running.push(TapThread {
            id,
            control,
            thread,
        });
        Ok(id)
    })
}

/// Ends a subscription: after this returns, its callback is never called again (entries not yet
/// delivered to it are discarded) and `user` may be freed. Waits for a callback in progress.
/// Thread-safe, but must not be called from inside a tap callback (LOG_E_IN_CALLBACK).
///
/// Returns LOG_OK; LOG_E_INVALID_ARG if `id` is not a live subscription; LOG_E_NOT_INITIALIZED;
/// LOG_E_SHUT_DOWN (log_shutdown already ended every subscription).
#[no_mangle]
pub extern "C" fn log_unsubscribe(id: c_int) -> c_int {
    run(|| {
        in_tap_callback("log_unsubscribe")?;
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
        let _ = tap.thread.join();
        Ok(LOG_OK)
    })
}

// ---------------------------------------------------------------------------------------------
// Tap delivery threads

/// How often an idle tap thread looks for log_unsubscribe; bounds how long log_unsubscribe waits.
/// (A `Subscription` can only be woken by an entry or by the logger's shutdown.)
const TAP_POLL: Duration = Duration::from_millis(100);

/// The `user` pointer of a subscription.
struct UserData(*mut c_void);

// SAFETY: log_subscribe's contract makes the caller responsible for `user` being usable from the
// subscription's thread; logship itself never dereferences it.
unsafe impl Send for UserData {}

struct Tap {
    callback: unsafe extern "C" fn(*const c_char, usize, *mut c_void),
    user: UserData,
    subscription: Subscription,
    control: Arc<Mutex<TapMode>>,
}

impl Tap {
    fn deliver(self) {
        IN_TAP_CALLBACK.with(|flag| flag.set(true));
        let mut line = Vec::new();
        loop {
            let mode = *lock(&self.control);
            let wait = match mode {
                TapMode::Run => TAP_POLL,
                TapMode::Drain(deadline) => deadline.saturating_duration_since(Instant::now()),
                TapMode::Stop => return,
            };
            match self.subscription.recv_timeout(wait) {
                Some(entry) => {
                    if *lock(&self.control) == TapMode::Stop {
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
                // passed. Running: just a poll interval without entries.
                None if matches!(mode, TapMode::Drain(_)) => return,
                None => {}
            }
        }
    }
}

impl Door {
    /// Refuses new subscriptions and tells every tap thread to drain until `deadline`; returns
    /// them for joining once the logger (and so the tap) is shut down.
    fn close_taps(&self, deadline: Instant) -> Vec<TapThread> {
        let running = {
            let mut taps = lock(&self.taps);
            taps.closed = true;
            std::mem::take(&mut taps.running)
        };
        for tap in &running {
            *lock(&tap.control) = TapMode::Drain(deadline);
        }
        running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> Option<String> {
        let message = log_last_error();
        // SAFETY: log_last_error returns NULL or a NUL-terminated string valid until the next
        // failing call on this thread.
        (!message.is_null()).then(|| {
            unsafe { CStr::from_ptr(message) }
                .to_string_lossy()
                .into_owned()
        })
    }

    #[test]
    fn a_panic_becomes_log_e_panic_with_its_message() {
        assert_eq!(run(|| panic!("boom at the boundary")), LOG_E_PANIC);
        assert!(last_error().unwrap().contains("boom at the boundary"));
        assert_eq!(run(|| Ok(LOG_OK)), LOG_OK);
        assert!(
            last_error().is_some(),
            "success leaves the last failure in place"
        );
    }

    #[test]
    fn failures_are_per_thread_and_nul_free() {
        assert_eq!(
            run(|| Err(Failure::owned(LOG_E_CONFIG, "a\0b".into()))),
            LOG_E_CONFIG
        );
        assert_eq!(last_error().as_deref(), Some("a?b"));
        let other = std::thread::spawn(last_error).join().unwrap();
        assert_eq!(other, None);
    }

    #[test]
    fn dropped_writes_do_not_allocate_their_message_twice() {
        assert_eq!(run(|| result_code(Err(Error::QueueFull))), LOG_E_DROPPED);
        let first = log_last_error();
        assert_eq!(run(|| result_code(Err(Error::QueueFull))), LOG_E_DROPPED);
        assert_eq!(first, log_last_error(), "the message buffer is reused");
    }

    #[test]
    fn private_ids_are_redacted_from_config_messages() {
        let id = "ab".repeat(32);
        let json = format!(r#"{{"private_id":"{id}"}}"#);
        assert_eq!(
            redact_private_id(format!("base_url: {id} is odd"), &json),
            "base_url: <redacted> is odd"
        );
        assert_eq!(redact_private_id("fine".into(), "not json"), "fine");
    }
}
