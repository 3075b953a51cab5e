//! The C door of logship (`include/logship.h`, generated from [`exports`] by cbindgen in
//! `build.rs`): one process-wide `logship::Logger` behind `log_init` / `log_write` /
//! `log_shutdown`. It uses only logship's public Rust API; it adapts, it decides nothing.
//!
//! One file per C concept:
//! - `exports`: everything C sees (codes, types, the `extern "C"` functions), each a thin shell
//!   that checks its pointers and calls the concept that does the work;
//! - `state`: the process-wide state, the life cycle (init, shutdown) and fork handling;
//! - `writer_cache`: the lock-free `log_write` path (a per-thread handle to the running logger);
//! - `taps`: tap subscriptions and their delivery threads;
//! - `errors`: failures, `log_last_error` and the panic boundary.
//!
//! This is the only crate of logship with `unsafe`; every block says why it is sound. Every
//! exported function runs inside `catch_unwind`, so a panic becomes `LOG_E_PANIC` instead of
//! unwinding into C.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod errors;
pub mod exports;
pub(crate) mod state;
mod taps;
mod writer_cache;

pub use exports::*;
