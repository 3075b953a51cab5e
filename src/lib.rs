//! logship: one logging SDK for Rust, C and the browser. A program hands it lines; logship encodes
//! them (PROTOCOL.md), holds them in bounded memory, batches, compresses and uploads them with
//! retries, never makes the caller wait for the network, and counts every line it loses.
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
//! Layout: [`core`] makes every decision and runs on every target; `native` (everything but
//! wasm32) moves bytes with reqwest on one background thread; `web` (wasm32) is the browser door.

pub mod core;
mod error;
/// `log` and `tracing` front ends for the Rust door (features `log`, `tracing`).
#[cfg(all(not(target_arch = "wasm32"), any(feature = "log", feature = "tracing")))]
mod facade;
/// The C door (`include/logship.h`): the only module with `unsafe`.
#[cfg(not(target_arch = "wasm32"))]
pub mod ffi;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use crate::core::config::{Compression, Config, ConfigError, Destination, Format, OnFull};
pub use crate::core::ids::PrivateId;
pub use crate::core::stats::{DestinationStats, Stats};
pub use error::Error;
#[cfg(all(not(target_arch = "wasm32"), feature = "tracing"))]
pub use facade::tracing::TracingLayer;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{Builder, Logger, Subscription};
