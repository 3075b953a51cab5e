//! HTTP: ingest, the API, the WebSocket tail and the live view.
//!
//! Ingest routes (`/c/…`, `/v1/logs`) take uploads from any origin (CORS) within the upload limits
//! (`limits.rs`); the read routes (`/api/…`) are private (`auth.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit};
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::auth::{self, check_token};
use crate::backlog::Backlog;
use crate::decode::{self, Encoding, Reject};
use crate::limits::{self, Limits};
use crate::otlp::{self, Format};
use crate::search;
use crate::store::{Batch, Filter, Outcome, ReadError, Row, Store};
use crate::{assets, ingest};

#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub token: Option<Arc<str>>,
    pub max_body: usize,
    pub limits: Limits,
    pub shutdown: watch::Receiver<bool>,
    /// Serve the pages from here instead of the embedded ones.
    pub www_dir: Option<PathBuf>,
}

/// A new tail viewer first gets at least this many recent entries, more while they add up to < 16 KiB.
const REPLAY_MIN_ENTRIES: usize = 100;
const REPLAY_MIN_BYTES: usize = 16 * 1024;
const REPLAY_MAX_ENTRIES: usize = 2_000;
/// A viewer that cannot take a message for this long is dropped.
const TAIL_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Viewers never need to send anything: their messages and frames are capped at this.
const TAIL_CLIENT_MESSAGE_MAX: usize = 4 * 1024;
const API_DEFAULT_LIMIT: usize = 100;
const API_MAX_LIMIT: usize = 1_000;
const BATCH_ID_MAX_LEN: usize = 128;
const VOLUME_DEFAULT_BUCKETS: i64 = 120;
const VOLUME_MAX_BUCKETS: i64 = 1_000;

pub(crate) fn router(state: AppState) -> Router {
    // Browsers upload from any page; reads get no CORS grant (see auth.rs).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::AUTHORIZATION,
            HeaderName::from_static("orig-content-length"),
            HeaderName::from_static("logship-batch"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(86_400));
    let admit = middleware::from_fn_with_state(state.clone(), limits::admit_upload);
    let ingest = Router::new()
        .route("/c/{collection}/{private_id}", post(ingest_logtail))
        .route_layer(admit.clone())
        .merge(
            Router::new()
                .route("/v1/logs", post(ingest_otlp))
                .route_layer(admit)
                .route_layer(middleware::from_fn(otlp::status_bodies)),
        )
        .layer(cors);
    let api = Router::new()
        .route("/api/entries", get(api_entries))
        .route("/api/collections", get(api_collections))
        .route("/api/stats", get(api_stats))
        .route("/api/volume", get(api_volume))
        .route("/api/tail", get(api_tail))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::private_reads,
        ));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(ingest)
        .merge(api);
    let router = match &state.www_dir {
        Some(dir) => router.fallback_service(ServeDir::new(dir)),
        None => router.fallback(assets::serve),
    };
    router.with_state(state)
}

pub(crate) fn reject((status, reason): Reject) -> Response {
    let mut res = (status, format!("{reason}\n")).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `Logship-Batch` header: up to 128 visible ASCII characters.
fn batch_id(headers: &HeaderMap) -> Result<Option<String>, Reject> {
    let Some(value) = headers.get(logship::protocol::BATCH_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(id)
            if !id.is_empty()
                && id.len() <= BATCH_ID_MAX_LEN
                && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(id.to_owned()))
        }
        _ => Err((
            StatusCode::BAD_REQUEST,
            "invalid Logship-Batch: use 1-128 visible ASCII characters".into(),
        )),
    }
}

/// An upload, read and decoded: what every ingest route does before it parses the body.
struct Upload {
    encoding: Encoding,
    batch_id: Option<String>,
    wire_bytes: usize,
    body: Vec<u8>,
}

async fn read_upload(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Upload, Reject> {
    let encoding = Encoding::from_headers(headers)?;
    let orig_len = decode::orig_length(headers)?;
    let batch_id = batch_id(headers)?;
    let wire = to_bytes(body, state.max_body).await.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body is larger than {} bytes", state.max_body),
            )
        } else {
            (StatusCode::BAD_REQUEST, "could not read the body".into())
        }
    })?;
    let body = decode::decode(&wire, encoding, orig_len, state.max_body)?;
    Ok(Upload {
        encoding,
        batch_id,
        wire_bytes: wire.len(),
        body,
    })
}

fn utf8(body: Vec<u8>) -> Result<String, Reject> {
    String::from_utf8(body).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "body is not valid UTF-8".to_owned(),
        )
    })
}

/// What is kept of an upload once its body is parsed (the body itself is dropped by then).
struct Parsed {
    encoding: Encoding,
    batch_id: Option<String>,
    wire_bytes: usize,
    body_bytes: usize,
}

impl Upload {
    fn parsed(&self) -> Parsed {
        Parsed {
            encoding: self.encoding,
            batch_id: self.batch_id.clone(),
            wire_bytes: self.wire_bytes,
            body_bytes: self.body.len(),
        }
    }
}

/// Stores a parsed upload and answers `{"stored":N,"duplicate":false}`.
async fn store(
    state: &AppState,
    upload: Parsed,
    scope: String,
    streams: Vec<(String, String)>,
    entries: Vec<crate::store::NewEntry>,
) -> Response {
    let batch = Batch {
        dedup: upload.batch_id.map(|id| (scope, id)),
        content_encoding: upload.encoding.name().map(Into::into),
        wire_bytes: upload.wire_bytes,
        body_bytes: upload.body_bytes,
        streams,
        entries,
    };
    match state.store.write(batch).await {
        Ok(Outcome::Stored(n)) => json(format!(r#"{{"stored":{n},"duplicate":false}}"#)),
        Ok(Outcome::Duplicate) => json(r#"{"stored":0,"duplicate":true}"#.into()),
        Err(e) => limits::unavailable(e),
    }
}

async fn ingest_logtail(
    State(state): State<AppState>,
    Path((collection, private_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bad = |reason| reject((StatusCode::BAD_REQUEST, reason));
    if let Err(e) = check_token(&state, &headers) {
        return reject(e);
    }
    if let Err(reason) = ingest::check_collection(&collection) {
        return bad(reason);
    }
    let public_id = match ingest::public_id(&private_id) {
        Ok(id) => id,
        Err(reason) => return bad(reason),
    };
    let (parsed, text) = match read_upload(&state, &headers, body).await {
        Ok(u) => (u.parsed(), utf8(u.body)),
        Err(e) => return reject(e),
    };
    let entries = match text.map(|text| ingest::logtail_entries(&text)) {
        Ok(Ok(entries)) => entries,
        Ok(Err(reason)) => return bad(reason),
        Err(e) => return reject(e),
    };
    let scope = format!("c/{collection}/{public_id}");
    store(
        &state,
        parsed,
        scope,
        vec![(collection, public_id)],
        entries,
    )
    .await
}

async fn ingest_otlp(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = check_token(&state, &headers) {
        return reject(e);
    }
    let format = match Format::of(&headers) {
        Ok(f) => f,
        Err(e) => return reject(e),
    };
    let (parsed, body) = match read_upload(&state, &headers, body).await {
        Ok(u) => (u.parsed(), u.body),
        Err(e) => return reject(e),
    };
    let text = match format {
        Format::Json => utf8(body),
        Format::Protobuf => {
            otlp::protobuf_to_json(&body).map_err(|reason| (StatusCode::BAD_REQUEST, reason))
        }
    };
    let logs = match text.map(|text| ingest::otlp_entries(&text)) {
        Ok(Ok(logs)) => logs,
        Ok(Err(reason)) => return reject((StatusCode::BAD_REQUEST, reason)),
        Err(e) => return reject(e),
    };
    let streams = logs
        .collections
        .into_iter()
        .map(|c| (c, String::new()))
        .collect();
    match store(&state, parsed, "otlp".into(), streams, logs.entries).await {
        res if res.status().is_success() => otlp::success(format, logs.rejected, logs.rejection),
        res => res,
    }
}

#[derive(Deserialize)]
struct EntriesParams {
    collection: Option<String>,
    q: Option<String>,
    level: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// An optional query parameter: absent or empty means "not given".
fn param<T: std::str::FromStr>(value: Option<&str>, name: &str) -> Result<Option<T>, Reject> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                format!("{name} must be an integer"),
            )
        }),
    }
}

async fn api_entries(State(state): State<AppState>, Query(p): Query<EntriesParams>) -> Response {
    let filter = (|| {
        Ok::<_, Reject>(Filter {
            collection: p.collection.filter(|c| !c.is_empty()),
            level: param(p.level.as_deref(), "level")?,
            query: p.q.as_deref().and_then(search::Query::parse),
            since: param(p.since.as_deref(), "since")?,
            from_ms: param(p.from.as_deref(), "from")?,
            to_ms: param(p.to.as_deref(), "to")?,
            limit: param(p.limit.as_deref(), "limit")?
                .unwrap_or(API_DEFAULT_LIMIT)
                .clamp(1, API_MAX_LIMIT),
        })
    })();
    let filter = match filter {
        Ok(f) => f,
        Err(e) => return reject(e),
    };
    match state.store.read(move |db| db.search(&filter)).await {
        Ok(rows) => json(format!(r#"{{"entries":[{}]}}"#, join_rows(&rows))),
        Err(e) => read_failed(e),
    }
}

/// A read that timed out is worth retrying (503), another failure is not (500).
fn read_failed(e: ReadError) -> Response {
    let status = match e {
        ReadError::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
        ReadError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reject((status, e.to_string()))
}

fn join_rows(rows: &[Row]) -> String {
    rows.iter().map(Row::to_json).collect::<Vec<_>>().join(",")
}

async fn api_collections(State(state): State<AppState>) -> Response {
    match state.store.read(|db| db.collections()).await {
        Ok(list) => {
            let items: Vec<_> = list
                .into_iter()
                .map(|(collection, entries, last)| {
                    serde_json::json!({"collection": collection, "entries": entries, "last_received_at": last})
                })
                .collect();
            json(serde_json::json!({ "collections": items }).to_string())
        }
        Err(e) => read_failed(e),
    }
}

async fn api_stats(State(state): State<AppState>) -> Response {
    match state.store.read(|db| db.stats()).await {
        Ok(stats) => json(serde_json::to_string(&stats).unwrap_or_default()),
        Err(e) => read_failed(e),
    }
}

#[derive(Deserialize)]
struct VolumeParams {
    from: Option<String>,
    to: Option<String>,
    buckets: Option<String>,
    collection: Option<String>,
}

/// Entries per time bucket and level, for the live view's chart.
async fn api_volume(State(state): State<AppState>, Query(p): Query<VolumeParams>) -> Response {
    let params = (|| {
        Ok::<_, Reject>((
            param::<i64>(p.from.as_deref(), "from")?,
            param::<i64>(p.to.as_deref(), "to")?,
            param::<i64>(p.buckets.as_deref(), "buckets")?
                .unwrap_or(VOLUME_DEFAULT_BUCKETS)
                .clamp(1, VOLUME_MAX_BUCKETS),
        ))
    })();
    let (from, to, buckets) = match params {
        Ok(p) => p,
        Err(e) => return reject(e),
    };
    let collection = p.collection.filter(|c| !c.is_empty());
    match state
        .store
        .read(move |db| db.volume(from, to, buckets, collection.as_deref()))
        .await
    {
        Ok(volume) => json(serde_json::to_string(&volume).unwrap_or_default()),
        Err(e) => read_failed(e),
    }
}

async fn api_tail(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let Some(viewer) = state.limits.viewer() else {
        return limits::unavailable("too many live-view viewers".into());
    };
    ws.protocols([auth::TAIL_PROTOCOL])
        .max_message_size(TAIL_CLIENT_MESSAGE_MAX)
        .max_frame_size(TAIL_CLIENT_MESSAGE_MAX)
        .on_upgrade(move |socket| tail(state, socket, viewer))
}

/// Replays the recent entries, then sends every new one; a viewer that falls behind skips ahead.
async fn tail(state: AppState, mut socket: WebSocket, _viewer: OwnedSemaphorePermit) {
    // Subscribe before reading the replay, so nothing committed in between is missed.
    let mut live = state.store.subscribe();
    let replay = state
        .store
        .read(|db| db.recent(REPLAY_MIN_ENTRIES, REPLAY_MIN_BYTES, REPLAY_MAX_ENTRIES))
        .await
        .unwrap_or_default();
    let mut last_id = 0;
    for row in replay {
        last_id = row.id;
        if !send(&mut socket, row.to_json()).await {
            return;
        }
    }
    // New entries go through a backlog bounded in bytes, emptied by a task of their own, so a slow
    // viewer neither holds the shared broadcast back nor piles up entries.
    let backlog = Arc::new(Backlog::default());
    let (mut sink, mut incoming) = socket.split();
    let mut sender = tokio::spawn({
        let backlog = backlog.clone();
        async move {
            while let Some(item) = backlog.next().await {
                let message = Message::Text(item.json().to_owned().into());
                match tokio::time::timeout(TAIL_SEND_TIMEOUT, sink.send(message)).await {
                    Ok(Ok(())) => {}
                    _ => return None,
                }
            }
            Some(sink)
        }
    });
    let mut shutdown = state.shutdown;
    loop {
        tokio::select! {
            item = live.recv() => match item {
                Ok(item) if item.row.id > last_id => {
                    last_id = item.row.id;
                    backlog.push(item);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = &mut sender => return, // the viewer stopped taking messages
            () = stopping(&mut shutdown) => break,
        }
    }
    backlog.close();
    if let Ok(Some(mut sink)) = sender.await {
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
    }
}

async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    matches!(
        tokio::time::timeout(TAIL_SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}
