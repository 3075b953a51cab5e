//! HTTP: ingest, the API, the WebSocket tail and the static live view.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch};
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::decode::{self, Encoding, Reject};
use crate::ingest;
use crate::search;
use crate::store::{Batch, Filter, Outcome, ReadError, Row, Store};

#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub token: Option<Arc<str>>,
    pub max_body: usize,
    pub shutdown: watch::Receiver<bool>,
    pub www_dir: PathBuf,
}

/// A new tail viewer first gets at least this many recent entries, more while they add up to < 16 KiB.
const REPLAY_MIN_ENTRIES: usize = 100;
const REPLAY_MIN_BYTES: usize = 16 * 1024;
const REPLAY_MAX_ENTRIES: usize = 2_000;
/// A viewer that cannot take a message for this long is dropped.
const TAIL_SEND_TIMEOUT: Duration = Duration::from_secs(10);
const API_DEFAULT_LIMIT: usize = 100;
const API_MAX_LIMIT: usize = 1_000;
const BATCH_ID_MAX_LEN: usize = 128;
const VOLUME_DEFAULT_BUCKETS: i64 = 120;
const VOLUME_MAX_BUCKETS: i64 = 1_000;

pub(crate) fn router(state: AppState) -> Router {
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
    let www = ServeDir::new(&state.www_dir);
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/c/{collection}/{private_id}", post(ingest_logtail))
        .route("/v1/logs", post(ingest_otlp))
        .route("/api/entries", get(api_entries))
        .route("/api/collections", get(api_collections))
        .route("/api/stats", get(api_stats))
        .route("/api/volume", get(api_volume))
        .route("/api/tail", get(api_tail))
        .fallback_service(www)
        .with_state(state)
        .layer(cors)
}

fn reject((status, reason): Reject) -> Response {
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

/// With a token configured, the request must carry `Authorization: Bearer <token>`.
fn check_token(state: &AppState, headers: &HeaderMap) -> Result<(), Reject> {
    let Some(token) = &state.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
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

/// The `Logship-Batch` header: up to 128 visible ASCII characters.
fn batch_id(headers: &HeaderMap) -> Result<Option<String>, Reject> {
    let Some(value) = headers.get("logship-batch") else {
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
    text: String,
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
    let decoded = decode::decode(&wire, encoding, orig_len, state.max_body)?;
    let text = String::from_utf8(decoded).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "body is not valid UTF-8".to_owned(),
        )
    })?;
    Ok(Upload {
        encoding,
        batch_id,
        wire_bytes: wire.len(),
        text,
    })
}

/// Stores a parsed upload and answers `{"stored":N,"duplicate":false}`.
async fn store(
    state: &AppState,
    upload: Upload,
    scope: String,
    streams: Vec<(String, String)>,
    entries: Vec<crate::store::NewEntry>,
) -> Response {
    let batch = Batch {
        dedup: upload.batch_id.map(|id| (scope, id)),
        content_encoding: upload.encoding.name().map(Into::into),
        wire_bytes: upload.wire_bytes,
        body_bytes: upload.text.len(),
        streams,
        entries,
    };
    match state.store.write(batch).await {
        Ok(Outcome::Stored(n)) => json(format!(r#"{{"stored":{n},"duplicate":false}}"#)),
        Ok(Outcome::Duplicate) => json(r#"{"stored":0,"duplicate":true}"#.into()),
        Err(e) => reject((StatusCode::SERVICE_UNAVAILABLE, e)),
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
    let upload = match read_upload(&state, &headers, body).await {
        Ok(u) => u,
        Err(e) => return reject(e),
    };
    let entries = match ingest::logtail_entries(&upload.text) {
        Ok(entries) => entries,
        Err(reason) => return bad(reason),
    };
    let scope = format!("c/{collection}/{public_id}");
    store(
        &state,
        upload,
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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if !content_type.starts_with("application/json") {
        return reject((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only OTLP/HTTP JSON (Content-Type: application/json) is accepted".into(),
        ));
    }
    let upload = match read_upload(&state, &headers, body).await {
        Ok(u) => u,
        Err(e) => return reject(e),
    };
    let (collections, entries) = match ingest::otlp_entries(&upload.text) {
        Ok(parsed) => parsed,
        Err(reason) => return reject((StatusCode::BAD_REQUEST, reason)),
    };
    let streams = collections
        .into_iter()
        .map(|c| (c, String::new()))
        .collect();
    match store(&state, upload, "otlp".into(), streams, entries).await {
        // OTLP/HTTP wants an ExportLogsServiceResponse; an empty one means full success.
        res if res.status().is_success() => json("{}".into()),
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
    ws.on_upgrade(move |socket| tail(state, socket))
}

/// Replays the recent entries, then sends every new one; a viewer that falls behind skips ahead.
async fn tail(state: AppState, mut socket: WebSocket) {
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
    let mut shutdown = state.shutdown;
    loop {
        tokio::select! {
            item = live.recv() => match item {
                Ok(item) if item.row.id > last_id => {
                    last_id = item.row.id;
                    if !send(&mut socket, item.json().to_owned()).await {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            () = stopping(&mut shutdown) => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(None))).await;
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
