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
#[cfg(not(target_arch = "wasm32"))]
mod native;

pub use crate::core::config::{Compression, Config, ConfigError, OnFull};
pub use crate::core::ids::PrivateId;
pub use crate::core::stats::Stats;
pub use error::Error;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{Builder, Logger, Subscription};
