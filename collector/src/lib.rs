//! logship-collector: a local collector for logship uploads.
//!
//! It accepts logtail uploads (`POST /c/{collection}/{private_id}`, plain, zstd or gzip) and OTLP/HTTP
//! logs (`POST /v1/logs`, protobuf or JSON), stores each batch exactly once in SQLite (WAL, FTS5 search),
//! and serves the live view (`www/`, embedded in the executable), a search API and a WebSocket tail.
//! See `collector/README.md`.
//!
//! ```no_run
//! let collector = logship_collector::Collector::start(Default::default()).unwrap();
//! println!("live view at {}", collector.url());
//! ```

mod assets;
mod auth;
mod backlog;
mod decode;
mod http;
mod ingest;
mod limits;
mod lock;
mod otlp;
mod search;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

/// Default for [`Options::max_body`]: 8 MiB of decompressed body per upload.
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;
/// Default for [`Options::max_pending_bytes`]: 256 MiB.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;
/// Default for [`Options::max_uploads`].
pub const DEFAULT_MAX_UPLOADS: usize = 64;
/// Default for [`Options::max_viewers`].
pub const DEFAULT_MAX_VIEWERS: usize = 16;

/// Default for [`Options::max_db_bytes`]: 1 GiB.
pub const DEFAULT_MAX_DB_BYTES: u64 = 1 << 30;

/// How the collector is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on. Default `127.0.0.1:0` (the OS picks a free port; see [`Collector::addr`]).
    pub listen: SocketAddr,
    /// SQLite database file; `None` keeps everything in memory (gone when the collector stops).
    pub db: Option<PathBuf>,
    /// When set, ingest (`/c/…` and `/v1/logs`) and reads (`/api/…`) require
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Largest upload accepted, in bytes, both on the wire and after decompression
    /// (default [`DEFAULT_MAX_BODY`], 8 MiB). Larger uploads get 413.
    pub max_body: usize,
    /// Memory that uploads being read, decoded, parsed and stored may hold together, as estimated
    /// from their headers before their bodies are read (default [`DEFAULT_MAX_PENDING_BYTES`]).
    /// An upload that does not fit gets 503 with `Retry-After`.
    pub max_pending_bytes: usize,
    /// Uploads handled at once (default [`DEFAULT_MAX_UPLOADS`]); more get 503 with `Retry-After`.
    pub max_uploads: usize,
    /// Live-view tails open at once (default [`DEFAULT_MAX_VIEWERS`]); more get 503.
    pub max_viewers: usize,
    /// Directory served at `/` instead of the pages embedded in the executable (for development:
    /// edits then show up on reload without a rebuild).
    pub www_dir: Option<PathBuf>,
    /// Bound of the database files (db + WAL; in memory: the database), default
    /// [`DEFAULT_MAX_DB_BYTES`]: the oldest entries are deleted so that they stay within 1.1 × this.
    pub max_db_bytes: u64,
    /// Entries received longer ago than this are deleted; `None` keeps them (up to `max_db_bytes`).
    pub keep: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: None,
            token: None,
            max_body: DEFAULT_MAX_BODY,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            max_uploads: DEFAULT_MAX_UPLOADS,
            max_viewers: DEFAULT_MAX_VIEWERS,
            www_dir: None,
            max_db_bytes: DEFAULT_MAX_DB_BYTES,
            keep: None,
        }
    }
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Database {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database {db} is in use by another collector (it holds the lock on {lock})")]
    InUse { db: String, lock: String },
    #[error("cannot lock database {db} with {lock}: {source}")]
    Lock {
        db: String,
        lock: String,
        source: std::io::Error,
    },
    #[error("cannot start the collector: {0}")]
    Start(std::io::Error),
}

/// The status the collector answers an upload with, decided without storing anything: the
/// headers' encoding and `Orig-Content-Length`, decompression bounded by `max_body`, UTF-8, and
/// parsing as a logtail batch (or OTLP/HTTP JSON with `otlp`). 200 means it would be stored (for OTLP:
/// at least partly).
/// Headers with invalid names or values are left out, as the HTTP server would refuse them.
/// For fuzzing (`fuzz/fuzz_targets/ingest.rs`): any input gives a status, never a panic.
pub fn check_upload(headers: &[(&str, &[u8])], body: &[u8], max_body: usize, otlp: bool) -> u16 {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    let checked = (|| {
        let encoding = decode::Encoding::from_headers(&map)?;
        let orig_len = decode::orig_length(&map)?;
        if body.len() > max_body {
            return Err((axum::http::StatusCode::PAYLOAD_TOO_LARGE, String::new()));
        }
        let decoded = decode::decode(body, encoding, orig_len, max_body)?;
        let bad = |reason| (axum::http::StatusCode::BAD_REQUEST, reason);
        let text = String::from_utf8(decoded).map_err(|_| bad(String::new()))?;
        match otlp {
            true => ingest::otlp_entries(&text).map(drop).map_err(bad),
            false => ingest::logtail_entries(&text).map(drop).map_err(bad),
        }
    })();
    match checked {
        Ok(()) => 200,
        Err((status, _)) => status.as_u16(),
    }
}

/// One stored entry, as [`Collector::entries`] returns it.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub id: i64,
    pub collection: String,
    /// Hex SHA-256 of the uploader's 32-byte private id ("" for OTLP uploads).
    pub public_id: String,
    pub received_at_ms: i64,
    /// The array element's exact text as uploaded (no surrounding whitespace).
    pub raw: String,
    pub entry: serde_json::Value,
}

/// One stored upload, as [`Collector::batches`] returns it.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    /// The `Logship-Batch` header, when the upload had one.
    pub batch_id: Option<String>,
    /// The collection (for OTLP: the distinct `service.name`s, comma-separated).
    pub collection: String,
    pub content_encoding: Option<String>,
    /// Body bytes as received.
    pub wire_bytes: usize,
    /// Body bytes after decompression.
    pub body_bytes: usize,
    pub entries: usize,
}

/// A running collector. Stops (and releases its port and database) on [`Collector::stop`] or drop.
pub struct Collector {
    addr: SocketAddr,
    store: store::Store,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    /// Released (dropped) after the store has closed the database.
    _lock: Option<lock::DbLock>,
}

/// How long a stop waits for open requests before it cuts them off.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Collector {
    /// Opens the database, binds the listener and starts serving on a thread with its own tokio runtime.
    /// Returns once the socket listens.
    pub fn start(opts: Options) -> Result<Collector, Error> {
        let db_lock = opts.db.as_deref().map(lock::DbLock::acquire).transpose()?;
        let limits = store::Limits {
            max_db_bytes: opts.max_db_bytes,
            keep: opts.keep,
        };
        let store = store::Store::open(opts.db.as_deref(), limits)?;
        let listener = std::net::TcpListener::bind(opts.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| Error::Listen {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(Error::Start)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("logship-collector")
            .enable_all()
            .build()
            .map_err(Error::Start)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let limits = limits::Limits::new(&opts);
        let app = http::router(http::AppState {
            store: store.clone(),
            token: opts.token.map(Into::into),
            max_body: opts.max_body,
            limits,
            shutdown: shutdown_rx.clone(),
            www_dir: opts.www_dir,
        });
        let server = std::thread::Builder::new()
            .name("logship-collector-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => return eprintln!("logship-collector: cannot listen: {e}"),
                    };
                    let mut stop = shutdown_rx.clone();
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    });
                    let mut stop = shutdown_rx;
                    let grace = async move {
                        let _ = stop.wait_for(|s| *s).await;
                        tokio::time::sleep(STOP_GRACE).await;
                    };
                    tokio::select! {
                        res = serve => if let Err(e) = res { eprintln!("logship-collector: {e}") },
                        () = grace => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(Error::Start)?;
        Ok(Collector {
            addr,
            store,
            shutdown,
            server: Some(server),
            _lock: db_lock,
        })
    }

    /// The address the collector listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every stored entry of `collection`, oldest first.
    pub fn entries(&self, collection: &str) -> Vec<StoredEntry> {
        let collection = collection.to_owned();
        self.store
            .read_blocking(move |db| db.entries_of(&collection))
            .unwrap_or_default()
    }

    /// Every stored batch, oldest first.
    pub fn batches(&self) -> Vec<StoredBatch> {
        self.store
            .read_blocking(|db| db.batches())
            .unwrap_or_default()
    }

    /// Stops serving (open requests get up to 5 s), then closes the database.
    pub fn stop(self) {}
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        self.store.close();
    }
}
