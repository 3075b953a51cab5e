//! What a runtime provides to the core: a way to send a request, to sleep, and to read the clock.

use std::future::Future;
use std::time::Duration;

use super::secret::Secret;

/// Compression codecs a runtime may offer (PROTOCOL.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zstd,
    Gzip,
}

impl Codec {
    pub fn content_encoding(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Gzip => "gzip",
        }
    }
}

/// One upload attempt (not `Debug`: its URL holds the private id).
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    pub content_encoding: Option<&'static str>,
    /// The uncompressed size, sent as `Orig-Content-Length` when compressed.
    pub orig_content_length: Option<usize>,
    pub batch_id: &'a str,
    pub headers: &'a [(String, Secret)],
}

/// How much of an error response's body a transport keeps: the report quotes at most this.
pub const ERROR_BODY_PREFIX: usize = 1024;

#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The HTTP status (0 for an opaque redirect).
    pub status: u16,
    pub retry_after: Option<String>,
    /// A redirect's `Location`, as sent. Runtimes never follow it (PROTOCOL.md §3).
    pub location: Option<String>,
    /// A redirect the runtime was not allowed to read (a browser's `opaqueredirect` answer to
    /// `redirect: "manual"`: no status, no headers).
    pub opaque_redirect: bool,
    /// At most the first [`ERROR_BODY_PREFIX`] bytes of the response body, for the error report.
    pub body_prefix: Vec<u8>,
}

/// A failed attempt. The message never contains the URL (which holds the private id).
#[derive(Debug, Clone)]
pub struct TransportError {
    pub message: String,
}

pub trait Transport {
    fn send<'a>(
        &'a self,
        request: Request<'a>,
    ) -> impl Future<Output = Result<Response, TransportError>> + 'a;

    /// Compresses a body, or `None` if this runtime cannot use `codec`.
    fn compress<'a>(
        &'a self,
        codec: Codec,
        body: &'a [u8],
    ) -> impl Future<Output = Option<Vec<u8>>> + 'a;

    /// The codec `compression: "auto"` means on this runtime.
    fn preferred_codec(&self) -> Option<Codec>;

    /// Whether `compress` works on another thread once called, so that the shipper may build
    /// the next batch meanwhile (elsewhere it keeps one batch out of the queue at a time, which
    /// a page's exit drain can still send).
    fn compresses_in_background(&self) -> bool {
        false
    }

    /// The batch being sent is settled: a copy of its wire body kept for its retries can go.
    fn release_body(&self) {}

    /// Whether the network is known to be up (browsers know; elsewhere assume it is).
    fn is_online(&self) -> bool {
        true
    }

    /// Resolves once the network is back.
    fn until_online(&self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

pub trait Timer {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

pub trait Clock {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    fn unix_nanos(&self) -> i64;
}
