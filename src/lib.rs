//! logship: one logging SDK for Rust, C and the browser. A program hands it lines; logship encodes
//! them ([docs/PROTOCOL.md]), holds them in bounded memory, batches, compresses and uploads them
//! with retries, never makes the caller wait for the network, and counts every line it loses.
//!
//! ```no_run
//! use std::time::Duration;
//! let log = logship::Logger::builder()
//!     .base_url("http://127.0.0.1:8080")
//!     .collection("myapp.example.com")
//!     .build()?;
//! log.write(b"hello")?;
//! log.shutdown(Duration::from_secs(2))?;
//! # Ok::<(), logship::Error>(())
//! ```
//!
//! One API on every target, like reqwest's: on wasm32 the same crate is the browser door
//! ([`Logger`] is then a `wasm_bindgen` class, built into the npm package by bindings/npm). The
//! C door is its own crate, `logship-ffi` (bindings/c), built on this public API. The rules a
//! server applies too (ids, collection names, batch ids, the body, the dropped-entries notice)
//! are in [`protocol`]. How it is built: [docs/DESIGN.md].
//!
//! [docs/PROTOCOL.md]: https://github.com/logship/logship/blob/main/docs/PROTOCOL.md
//! [docs/DESIGN.md]: https://github.com/logship/logship/blob/main/docs/DESIGN.md
#![deny(missing_docs)]

// Every decision, pure and target-agnostic (private: the public API is the re-exports below).
// The browser build compiles it whole but uses less of it (no disk spool, no polling
// subscribers, headers preset on the page's transport); the native build keeps the dead-code
// lint for all of it, and wasm-opt drops what the browser never calls.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
mod core;
mod error;
/// `log` and `tracing` front ends for the Rust door (features `log`, `tracing`).
#[cfg(all(not(target_arch = "wasm32"), any(feature = "log", feature = "tracing")))]
mod facade;
#[cfg(not(target_arch = "wasm32"))]
mod native;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
mod web;

pub use crate::core::config::{Compression, Config, ConfigError, Destination, Format, OnFull};
pub use crate::core::ids::PrivateId;
pub use crate::core::stats::{DestinationStats, Stats};
pub use error::Error;
#[cfg(all(not(target_arch = "wasm32"), feature = "tracing"))]
pub use facade::tracing::TracingLayer;
#[cfg(all(unix, not(target_arch = "wasm32")))]
pub use native::release_spool_locks_after_fork;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{Builder, Logger, Subscription};
#[cfg(target_arch = "wasm32")]
pub use web::{LogTap, Logger};

/// The encoder, for the fuzz target (fuzz/fuzz_targets/encode.rs): cargo-fuzz builds with
/// `--cfg fuzzing`; no other build has this module.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::core::encode::{
        EncodeOptions, Encoder, EntryMeta, TEXT_LIMIT, TEXT_LIMIT_LOW_MEMORY,
    };
}

/// The shared encoding vectors (tests/vectors.json) through the encoder, with the clock and ids
/// each vector gives: only the crate itself can set those.
#[cfg(test)]
mod vectors;

/// The README's Rust snippets, compiled (and run where they do not need a server) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
