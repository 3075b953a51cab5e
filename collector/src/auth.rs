//! Who may upload and who may read.
//!
//! Uploads come from anywhere (browsers included, hence CORS on the ingest routes); with a token they
//! need `Authorization: Bearer <token>`. Reads (`/api/…`) are private: a browser page from another
//! origin is refused (and gets no CORS grant), and with a token they need it too. A browser cannot set
//! headers on a WebSocket, so the tail also takes the token as the subprotocol
//! `logship.token.<hex of the token's UTF-8>` next to `logship` (`www/auth.js`): a header, never a URL
//! that ends up in logs.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::decode::Reject;
use crate::http::{reject, AppState};

/// The subprotocol the tail answers with; the browser offers it next to the token's.
pub(crate) const TAIL_PROTOCOL: &str = "logship";
const TOKEN_PROTOCOL_PREFIX: &str = "logship.token.";

/// With a token configured, the request must carry it.
pub(crate) fn check_token(state: &AppState, headers: &HeaderMap) -> Result<(), Reject> {
    let Some(token) = &state.token else {
        return Ok(());
    };
    let given = bearer(headers)
        .or_else(|| protocol_token(headers))
        .unwrap_or_default();
    // Compare digests, so the time taken says nothing about the token.
    if Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes()) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "missing or wrong Authorization: Bearer token".into(),
        ))
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

/// The token offered as a WebSocket subprotocol.
fn protocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(TOKEN_PROTOCOL_PREFIX))
        .and_then(|hex_token| String::from_utf8(hex::decode(hex_token).ok()?).ok())
}

/// Layered on `/api/…`: refuses other origins, then checks the token.
pub(crate) async fn private_reads(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !same_origin(request.headers(), request.uri()) {
        return reject((
            StatusCode::FORBIDDEN,
            "reads are only for the collector's own pages (Origin differs from Host)".into(),
        ));
    }
    if let Err(e) = check_token(&state, request.headers()) {
        return reject(e);
    }
    next.run(request).await
}

/// True without an `Origin` (not a browser, or a same-origin GET) or when it names the host the
/// request came to. Browsers always send `Origin` on WebSockets and cross-origin requests.
fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some((scheme, origin_host)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return false; // "null" (sandboxed frames, files) and anything odd
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let with_port = |authority: &str| {
        let authority = authority.to_ascii_lowercase();
        // A port follows the last ':' unless that ':' is inside an IPv6 literal.
        match authority.rsplit_once(':') {
            Some((_, port)) if !port.contains(']') => authority,
            _ => format!("{authority}:{default_port}"),
        }
    };
    with_port(origin_host) == with_port(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Uri};

    fn check(origin: Option<&str>, host: &str) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(o) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        same_origin(&headers, &Uri::from_static("/api/tail"))
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        assert!(check(None, "127.0.0.1:8080"));
        assert!(check(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"));
        assert!(check(Some("http://LOCALHOST:8080"), "localhost:8080"));
        assert!(check(Some("http://logs.example"), "logs.example"));
        assert!(check(Some("https://logs.example"), "logs.example:443"));
        assert!(check(Some("http://[::1]:8080"), "[::1]:8080"));
        assert!(!check(Some("http://[::1]"), "[::1]:8080"));
        assert!(!check(Some("http://evil.example"), "127.0.0.1:8080"));
        assert!(!check(Some("http://127.0.0.1:9999"), "127.0.0.1:8080"));
        assert!(!check(
            Some("http://127.0.0.1.evil.example:8080"),
            "127.0.0.1:8080"
        ));
        assert!(!check(Some("null"), "127.0.0.1:8080"));
        assert!(!check(Some("file://"), "127.0.0.1:8080"));
    }

    #[test]
    fn the_token_can_come_as_a_subprotocol() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("logship, logship.token.73c3a963726574"),
        );
        assert_eq!(protocol_token(&headers).as_deref(), Some("sécret"));
    }
}
