//! Everything C sees, in the order of `include/logship.h` (cbindgen reads this file): the return
//! codes, the types and the `extern "C"` functions. Each function checks its pointers, then calls
//! the concept that does the work inside the panic boundary (`errors.rs`). The doc
//! comments here are the header's documentation.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::time::Duration;

use logship::Stats;

use super::errors::{self, result_code, run, Failure};
use super::{state, taps, writer_cache};

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
/// log_init: the operating system's random source failed, so no id could be drawn; logship does
/// not make ids up from anything else. log_last_error() says why.
pub const LOG_E_RANDOM: c_int = -11;
/// log_subscribe: 16 subscriptions are open already (each holds up to a sixteenth of
/// `buffer_bytes` of undelivered entries, 1 MiB at most); end one with log_unsubscribe first.
pub const LOG_E_TOO_MANY_TAPS: c_int = -12;

/// A logger's counters (docs/PROTOCOL.md §4). Every non-empty write ends up counted in exactly
/// one of `uploaded`, `dropped`, `rejected` or `beaconed` (always 0 here), or is still queued.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogshipStats {
    /// Non-empty writes accepted or refused by log_write (refused ones are also in `dropped`).
    pub written: u64,
    /// Entries in batches the server acknowledged.
    pub uploaded: u64,
    /// Entries lost for lack of buffer space, or still queued at shutdown.
    pub dropped: u64,
    /// Entries the server refused, or that a redirect (never followed) turned away.
    pub rejected: u64,
    /// Upload attempts that were retried.
    pub retries: u64,
    /// Body bytes sent (compressed where compression was used), over all attempts.
    pub bytes_on_wire: u64,
    /// Bytes held right now: queued entries plus the batch being uploaded.
    pub queued_bytes: u64,
    /// Entries handed to a browser's `sendBeacon` at page exit: always 0 in C.
    pub beaconed: u64,
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
            beaconed: s.beaconed,
        }
    }
}

/// A tap callback: receives one entry, a NUL-terminated UTF-8 JSON object without the trailing
/// newline (`len` bytes, not counting the NUL). `entry` is valid only during the call; copy what
/// you keep. Called on the subscription's own thread, one entry at a time, in order. It must
/// return normally (no longjmp, no C++ exception).
pub type LogshipTapFn =
    Option<unsafe extern "C" fn(entry: *const c_char, len: usize, user: *mut c_void)>;

/// Starts the process-wide logger from a JSON configuration (docs/CONFIGURATION.md), e.g.
/// `{"base_url":"http://127.0.0.1:8080","collection":"myapp.example.com"}`.
///
/// `config_json` is a NUL-terminated UTF-8 string, only read during the call (the caller keeps
/// ownership). Thread-safe.
///
/// Returns LOG_OK; LOG_E_INVALID_ARG if `config_json` is NULL; LOG_E_CONFIG if the JSON is
/// malformed or a value is invalid (log_last_error() names the key, e.g.
/// `flush_delay_ms: invalid type: ...`); LOG_E_ALREADY_INITIALIZED if a logger is running;
/// LOG_E_IN_CALLBACK from a tap callback; LOG_E_RUNTIME if no thread could be started;
/// LOG_E_RANDOM if the system's random source failed.
/// After log_shutdown, and in a child process after fork(), log_init may be called again.
///
/// # Safety
/// `config_json` is NULL or points to a NUL-terminated string that stays valid during the call.
#[no_mangle]
pub unsafe extern "C" fn log_init(config_json: *const c_char) -> c_int {
    run(|| {
        taps::refuse_in_callback("log_init")?;
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
        state::init(json)
    })
}

/// Queues one write of `len` bytes (any bytes; one write = one entry, docs/PROTOCOL.md §1).
/// Copies the bytes and returns: never waits for the network or the disk. The caller keeps
/// ownership of `buf`. Thread-safe: any number of threads may write at once.
///
/// A zero-length write is a no-op that returns LOG_OK (`buf` may then be NULL). A write from
/// inside a tap callback is uploaded like any other but never delivered to a tap, so a callback
/// that logs what it receives cannot feed itself.
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
        Ok(writer_cache::write(bytes))
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
        let door = state::global().door()?;
        result_code(door.logger.flush(Duration::from_millis(timeout_ms.into())))
    })
}

/// Stops the logger: refuses further writes, uploads what is queued for up to `timeout_ms`, then
/// stops the background thread and every tap (each tap callback first receives the entries
/// published before the deadline; a callback still running is waited for until the deadline).
/// Returns by the deadline even if a tap callback never returns: that subscription's thread is
/// left behind, makes no further call once its callback returns, and its `user` must stay valid
/// until then. Thread-safe. Not async-signal-safe (no logship function is).
///
/// Idempotent: later calls return the first call's result. After it returns, log_init may be
/// called again. Call it before the process exits, or queued entries are lost. The stopped
/// logger's memory is freed once every other thread that wrote has made another logship call
/// or exited.
///
/// Returns LOG_OK; LOG_E_TIMEOUT if entries were left at the deadline (they are counted as
/// dropped, and log_last_error() says how many) or a tap callback had not returned by then
/// (log_last_error() says so); LOG_E_NOT_INITIALIZED if log_init never succeeded;
/// LOG_E_IN_CALLBACK from a tap callback.
#[no_mangle]
pub extern "C" fn log_shutdown(timeout_ms: u32) -> c_int {
    run(|| {
        taps::refuse_in_callback("log_shutdown")?;
        state::shutdown(Duration::from_millis(timeout_ms.into()))
    })
}

/// The message of the last failed logship call on the calling thread, or NULL if none failed
/// yet. The string is owned by logship and stays valid until the next failing call on this
/// thread (or the thread's exit); copy it to keep it. Successful calls leave it unchanged.
/// Messages never contain the private id.
#[no_mangle]
pub extern "C" fn log_last_error() -> *const c_char {
    errors::last_error()
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
        let stats = state::stats()?;
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
        let destinations = state::destination_stats()?;
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
/// replay of the most recent ones (up to 16 KiB). At most 16 subscriptions at a time; each has
/// its own thread, which sleeps until an entry arrives (it never polls), and its own bounded
/// queue (a sixteenth of `buffer_bytes`, 1 MiB at most): a slow callback never slows log_write or
/// other subscriptions; if it falls that far behind, it misses its own oldest entries.
/// Thread-safe.
///
/// `user` is passed through untouched; it must stay valid until log_unsubscribe returns, or
/// log_shutdown returns LOG_OK (after a LOG_E_TIMEOUT from log_shutdown: until the callback then
/// running returns). From inside a callback you may call log_write, log_flush, log_stats,
/// log_subscribe and log_last_error, but not log_unsubscribe, log_shutdown or log_init
/// (LOG_E_IN_CALLBACK).
///
/// Returns a subscription id (>= 0; later subscriptions get other ids), or LOG_E_INVALID_ARG if
/// `fn` is NULL, LOG_E_NOT_INITIALIZED, LOG_E_SHUT_DOWN, LOG_E_TOO_MANY_TAPS past 16, or
/// LOG_E_RUNTIME if no thread could be started.
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
        taps::subscribe(callback, user)
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
        taps::refuse_in_callback("log_unsubscribe")?;
        taps::unsubscribe(id)
    })
}
