//! Bounded memory under load. An upload is admitted before its body is read, against a budget of
//! bytes estimated from its headers (what it will hold while it is read, decoded, parsed and stored),
//! and against a cap on uploads at once; one that does not fit gets 503 with `Retry-After`, which
//! every logship door honours. Live-view tails are capped too.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::decode::{self, Encoding};
use crate::http::{reject, AppState};
use crate::Options;

/// What a client is told to wait before it tries again.
const RETRY_AFTER_SECS: u32 = 1;
/// How long a refused upload's body is read (and dropped) before the 503 goes out anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// What an upload holds at its peak, per byte of decoded body, besides its wire bytes: the decoded
/// text, the parsed entries' copy of it, and their per-entry overhead (for short lines about as much
/// again). OTLP protobuf is first turned into OTLP JSON, about twice its size.
const HELD_PER_BODY_BYTE: usize = 3;
const HELD_PER_PROTOBUF_BYTE: usize = 6;

#[derive(Clone)]
pub(crate) struct Limits {
    /// The pending-upload budget, in KiB (semaphore permits are `u32`).
    pending_kib: Arc<Semaphore>,
    budget_kib: usize,
    uploads: Arc<Semaphore>,
    viewers: Arc<Semaphore>,
    max_body: usize,
}

impl Limits {
    pub fn new(opts: &Options) -> Limits {
        let budget_kib = opts
            .max_pending_bytes
            .div_ceil(1024)
            .clamp(1, u32::MAX as usize);
        Limits {
            pending_kib: Arc::new(Semaphore::new(budget_kib)),
            budget_kib,
            uploads: Arc::new(Semaphore::new(opts.max_uploads.max(1))),
            viewers: Arc::new(Semaphore::new(opts.max_viewers)),
            max_body: opts.max_body,
        }
    }

    /// The estimate, in KiB, of what an upload with these headers holds at its peak. At most the whole
    /// budget, so that an upload larger than it still goes through when it is alone.
    fn cost_kib(&self, headers: &HeaderMap) -> u32 {
        let max = self.max_body;
        let wire = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(max)
            .min(max);
        let decoded = match (
            decode::orig_length(headers),
            Encoding::from_headers(headers),
        ) {
            (Ok(Some(n)), _) => n.min(max),
            (_, Ok(Encoding::Identity)) => wire,
            _ => max,
        };
        let protobuf = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
        let per_byte = match protobuf {
            true => HELD_PER_PROTOBUF_BYTE,
            false => HELD_PER_BODY_BYTE,
        };
        let bytes = wire.saturating_add(decoded.saturating_mul(per_byte));
        bytes.div_ceil(1024).min(self.budget_kib) as u32
    }

    /// A place for one more live-view tail, if there is one.
    pub fn viewer(&self) -> Option<OwnedSemaphorePermit> {
        self.viewers.clone().try_acquire_owned().ok()
    }
}

/// Layered on the ingest routes: admits the upload or answers 503, holding its share of the budget
/// until the answer (that is, until its entries are committed).
pub(crate) async fn admit_upload(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let Ok(_slot) = limits.uploads.clone().try_acquire_owned() else {
        return busy(
            request.into_body(),
            limits.max_body,
            "too many uploads at once",
        )
        .await;
    };
    let cost = limits.cost_kib(request.headers());
    let Ok(_budget) = limits.pending_kib.clone().try_acquire_many_owned(cost) else {
        return busy(
            request.into_body(),
            limits.max_body,
            "too much upload data pending",
        )
        .await;
    };
    next.run(request).await
}

/// 503 with `Retry-After`, once the body was read and dropped: a client still sending would otherwise
/// see a reset connection instead of the answer.
async fn busy(mut body: Body, max_body: usize, reason: &str) -> Response {
    let drain = async {
        let mut read = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len());
            if read > max_body {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    unavailable(format!("{reason}; try again later"))
}

/// 503 with `Retry-After`.
pub(crate) fn unavailable(reason: String) -> Response {
    let mut res = reject((StatusCode::SERVICE_UNAVAILABLE, reason));
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_body: usize, max_pending_bytes: usize) -> Limits {
        Limits::new(&Options {
            max_body,
            max_pending_bytes,
            ..Options::default()
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn cost_follows_the_headers_and_never_exceeds_the_budget() {
        let l = limits(1 << 20, 1 << 30);
        // Plain: the wire bytes and three times as many decoded.
        assert_eq!(l.cost_kib(&headers(&[("content-length", "10240")])), 40);
        // Compressed with the decoded size declared.
        let zstd = [
            ("content-length", "1024"),
            ("content-encoding", "zstd"),
            ("orig-content-length", "102400"),
        ];
        assert_eq!(l.cost_kib(&headers(&zstd)), 1 + 300);
        // Compressed without it, or no length at all: the worst case.
        let gzip = [("content-length", "1024"), ("content-encoding", "gzip")];
        assert_eq!(l.cost_kib(&headers(&gzip)), 1 + 3 * 1024);
        assert_eq!(l.cost_kib(&headers(&[])), 4 * 1024);
        let proto = [
            ("content-length", "1024"),
            ("content-type", "application/x-protobuf"),
        ];
        assert_eq!(l.cost_kib(&headers(&proto)), 7);
        // Never more than the whole budget.
        let small = limits(1 << 20, 100 * 1024);
        assert_eq!(small.cost_kib(&headers(&[])), 100);
    }
}
