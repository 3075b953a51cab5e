//! Failures and the panic boundary: every exported function runs its body through [`run`], which
//! turns a [`Failure`] into its return code and the message `log_last_error()` gives, and a panic
//! into `LOG_E_PANIC`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::fmt;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use logship::Error;

use super::exports::{
    LOG_E_CONFIG, LOG_E_DROPPED, LOG_E_NOT_INITIALIZED, LOG_E_PANIC, LOG_E_RANDOM, LOG_E_RUNTIME,
    LOG_E_SHUT_DOWN, LOG_E_TIMEOUT, LOG_E_TOO_MANY_TAPS, LOG_OK,
};

thread_local! {
    /// The last failure message on this thread, NUL-terminated; empty when there was none. Its
    /// buffer is reused, so recording a failure does not allocate in the steady state.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why a call failed: a return code and the message log_last_error() will give.
pub(crate) struct Failure {
    pub(crate) code: c_int,
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
    pub(crate) const fn fixed(code: c_int, text: &'static str) -> Failure {
        Failure {
            code,
            message: Message::Static(text),
        }
    }

    pub(crate) fn owned(code: c_int, text: String) -> Failure {
        Failure {
            code,
            message: Message::Owned(text),
        }
    }
}

pub(crate) const NOT_INITIALIZED: Failure = Failure::fixed(
    LOG_E_NOT_INITIALIZED,
    "logship is not initialized: call log_init first (and again in a child after fork)",
);
pub(crate) const SHUT_DOWN: Failure = Failure::fixed(
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
            Error::Random(_) => LOG_E_RANDOM,
            Error::TooManySubscriptions { .. } => LOG_E_TOO_MANY_TAPS,
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

/// A logship result as an exported function's result.
pub(crate) fn result_code(result: Result<(), Error>) -> Result<c_int, Failure> {
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

/// The calling thread's last failure message (NUL-terminated), or NULL if none failed yet.
pub(crate) fn last_error() -> *const c_char {
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

/// Records a failure's message for log_last_error() and gives its return code. Cold: the
/// write path returns a plain code and comes here only when a write fails.
#[cold]
#[inline(never)]
pub(crate) fn fail(failure: Failure) -> c_int {
    set_last_error(&failure.message);
    failure.code
}

/// The panic boundary: runs `body`, records a failure's message for log_last_error(), and turns
/// a panic into LOG_E_PANIC.
#[inline(always)]
pub(crate) fn run(body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    // AssertUnwindSafe: after a panic, locks are recovered from poisoning and every shared
    // structure is consistent between statements, so later calls keep working.
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(code)) => code,
        Ok(Err(failure)) => fail(failure),
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

/// An invalid configuration as a failure whose message holds none of the configuration's
/// secrets.
pub(crate) fn config_failure(err: logship::ConfigError, config_json: &str) -> Failure {
    Failure::owned(
        LOG_E_CONFIG,
        redact_secrets(Error::Config(err).to_string(), config_json),
    )
}

/// Keeps every private id and header value of a configuration (top-level and each
/// `destinations[i]`) out of a message, even if some future validation echoes a value.
fn redact_secrets(message: String, config_json: &str) -> String {
    let Ok(config) = serde_json::from_str::<serde_json::Value>(config_json) else {
        return message;
    };
    let destinations = config.get("destinations").and_then(|d| d.as_array());
    let scopes = std::iter::once(&config).chain(destinations.into_iter().flatten());
    let secrets = scopes.flat_map(|scope| {
        let private_id = scope.get("private_id").into_iter();
        let headers = scope.get("headers").and_then(|h| h.as_object());
        private_id.chain(headers.into_iter().flat_map(|h| h.values()))
    });
    secrets
        .filter_map(|value| value.as_str().filter(|s| !s.is_empty()))
        .fold(message, |message, secret| {
            message.replace(secret, "<redacted>")
        })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn last_error_text() -> Option<String> {
        let message = last_error();
        // SAFETY: last_error returns NULL or a NUL-terminated string valid until the next
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
        assert!(last_error_text().unwrap().contains("boom at the boundary"));
        assert_eq!(run(|| Ok(LOG_OK)), LOG_OK);
        assert!(
            last_error_text().is_some(),
            "success leaves the last failure in place"
        );
    }

    #[test]
    fn failures_are_per_thread_and_nul_free() {
        assert_eq!(
            run(|| Err(Failure::owned(LOG_E_CONFIG, "a\0b".into()))),
            LOG_E_CONFIG
        );
        assert_eq!(last_error_text().as_deref(), Some("a?b"));
        let other = std::thread::spawn(last_error_text).join().unwrap();
        assert_eq!(other, None);
    }

    #[test]
    fn dropped_writes_do_not_allocate_their_message_twice() {
        assert_eq!(run(|| result_code(Err(Error::QueueFull))), LOG_E_DROPPED);
        let first = last_error();
        assert_eq!(run(|| result_code(Err(Error::QueueFull))), LOG_E_DROPPED);
        assert_eq!(first, last_error(), "the message buffer is reused");
    }

    #[test]
    fn a_failed_random_source_has_its_own_code_and_says_so() {
        let failed = Error::Random("getrandom: unavailable".into());
        assert_eq!(run(|| result_code(Err(failed))), LOG_E_RANDOM);
        assert_eq!(
            last_error_text().as_deref(),
            Some("the system's random source failed: getrandom: unavailable")
        );
    }

    #[test]
    fn secrets_are_redacted_from_config_messages() {
        let (id, id1) = ("ab".repeat(32), "cd".repeat(32));
        let json = format!(
            r#"{{"private_id":"{id}","headers":{{"Authorization":"Bearer top"}},
                 "destinations":[{{"private_id":"{id1}","headers":{{"X-Key":"k-one"}}}}]}}"#
        );
        assert_eq!(
            redact_secrets(format!("{id} {id1} Bearer top k-one is odd"), &json),
            "<redacted> <redacted> <redacted> <redacted> is odd"
        );
        assert_eq!(redact_secrets("fine".into(), "not json"), "fine");
    }
}
