//! Upload bodies: `Content-Encoding` (none, zstd or gzip), `Orig-Content-Length`, and a hard bound on the
//! decompressed size that holds while decoding: a decompression bomb costs at most the limit in memory.

use std::io::{self, Read};

use axum::http::{HeaderMap, StatusCode};

/// Why a body was refused: the status and a short reason for the client.
pub(crate) type Reject = (StatusCode, String);

fn bad(reason: impl Into<String>) -> Reject {
    (StatusCode::BAD_REQUEST, reason.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Zstd,
    Gzip,
}

impl Encoding {
    pub fn from_headers(headers: &HeaderMap) -> Result<Encoding, Reject> {
        let Some(value) = headers.get("content-encoding") else {
            return Ok(Encoding::Identity);
        };
        match value
            .to_str()
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            Ok("" | "identity") => Ok(Encoding::Identity),
            Ok("zstd") => Ok(Encoding::Zstd),
            Ok("gzip" | "x-gzip") => Ok(Encoding::Gzip),
            _ => Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported Content-Encoding (use zstd, gzip or none)".into(),
            )),
        }
    }

    pub fn name(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Zstd => Some("zstd"),
            Encoding::Gzip => Some("gzip"),
        }
    }
}

/// The `Orig-Content-Length` header, if present.
pub(crate) fn orig_length(headers: &HeaderMap) -> Result<Option<usize>, Reject> {
    headers
        .get("orig-content-length")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| bad("Orig-Content-Length is not a number"))
        })
        .transpose()
}

fn too_large(max_body: usize) -> Reject {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body is larger than {max_body} bytes once decompressed"),
    )
}

/// Decodes `wire` into at most `max_body` bytes, checking `orig_len` when given.
pub(crate) fn decode(
    wire: &[u8],
    encoding: Encoding,
    orig_len: Option<usize>,
    max_body: usize,
) -> Result<Vec<u8>, Reject> {
    if orig_len.is_some_and(|n| n > max_body) {
        return Err(too_large(max_body));
    }
    // Read one byte past what is expected: that tells "longer than declared" from "exactly right".
    let limit = orig_len.unwrap_or(max_body);
    let body = match encoding {
        Encoding::Identity => {
            read_bounded(wire, limit, wire.len()).map_err(|e| e.context("plain"))?
        }
        Encoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(wire)
                .map_err(|e| bad(format!("invalid zstd body: {e}")))?;
            // The window is what zstd allocates up front. A frame that declares a larger one than the limit
            // needs is refused, except that 8 MiB (what zstd's own levels use when the size is not
            // known in advance) is always allowed.
            let window_log = max_body.next_power_of_two().trailing_zeros().clamp(23, 31);
            decoder
                .window_log_max(window_log)
                .map_err(|e| bad(format!("invalid zstd body: {e}")))?;
            read_bounded(decoder, limit, limit.min(wire.len().saturating_mul(8)))
                .map_err(|e| e.context("zstd"))?
        }
        Encoding::Gzip => read_bounded(
            flate2::read::GzDecoder::new(wire),
            limit,
            limit.min(wire.len().saturating_mul(8)),
        )
        .map_err(|e| e.context("gzip"))?,
    };
    match (body, orig_len) {
        (Bounded::Fits(body), Some(n)) if body.len() != n => Err(bad(format!(
            "Orig-Content-Length is {n} but the body decodes to {} bytes",
            body.len()
        ))),
        (Bounded::Fits(body), _) => Ok(body),
        (Bounded::Over, Some(n)) => Err(bad(format!(
            "Orig-Content-Length is {n} but the body decodes to more"
        ))),
        (Bounded::Over, None) => Err(too_large(max_body)),
    }
}

enum Bounded {
    Fits(Vec<u8>),
    Over,
}

struct DecodeError(io::Error);

impl DecodeError {
    fn context(self, what: &str) -> Reject {
        bad(format!("invalid {what} body: {}", self.0))
    }
}

/// Reads all of `r` if it holds at most `limit` bytes; never allocates more than `limit`.
fn read_bounded(mut r: impl Read, limit: usize, hint: usize) -> Result<Bounded, DecodeError> {
    let mut buf = vec![0; hint.clamp(1, limit.max(1)).min(limit)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len == limit {
                let mut probe = [0u8; 1];
                return match r.read(&mut probe) {
                    Ok(0) => Ok(Bounded::Fits(buf)),
                    Ok(_) => Ok(Bounded::Over),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(DecodeError(e)),
                };
            }
            buf.resize(len.saturating_mul(2).max(4096).min(limit), 0);
        }
        match r.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(Bounded::Fits(buf));
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_never_grow_past_the_limit() {
        let data = vec![7u8; 10_000];
        let Ok(Bounded::Fits(all)) = read_bounded(&data[..], 10_000, 10) else {
            panic!("fits exactly")
        };
        assert_eq!(all, data);
        assert!(matches!(
            read_bounded(&data[..], 9_999, 0),
            Ok(Bounded::Over)
        ));
        let Ok(Bounded::Fits(empty)) = read_bounded(&[][..], 0, 0) else {
            panic!("empty fits")
        };
        assert!(empty.is_empty());
    }

    #[test]
    fn zstd_bomb_is_too_large_and_orig_length_is_checked() {
        let bomb = zstd::encode_all(&vec![b'a'; 50 << 20][..], 3).unwrap();
        let err = decode(&bomb, Encoding::Zstd, None, 1 << 20).unwrap_err();
        assert_eq!(err.0, StatusCode::PAYLOAD_TOO_LARGE);
        let small = zstd::encode_all(&b"[{}]"[..], 3).unwrap();
        assert_eq!(
            decode(&small, Encoding::Zstd, Some(4), 100).unwrap(),
            b"[{}]"
        );
        assert_eq!(
            decode(&small, Encoding::Zstd, Some(3), 100).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            decode(&small, Encoding::Zstd, Some(5), 100).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        let truncated = &small[..small.len() - 2];
        assert_eq!(
            decode(truncated, Encoding::Zstd, None, 100).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
    }
}
