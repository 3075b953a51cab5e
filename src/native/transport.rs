//! The native runtime's Transport (reqwest with rustls) and Timer (tokio).

use std::future::Future;
use std::io::Write;
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;

use crate::core::traits::{
    Codec, Request, Response, Timer, Transport, TransportError, ERROR_BODY_PREFIX,
};

/// Response bodies up to this size are read to their end so that the connection is reused; a
/// larger one is dropped (and its connection closed) rather than downloaded.
const DRAINED_RESPONSE_BYTES: usize = 64 * 1024;
/// zstd's fastest levels keep the shipper ahead of a million lines/s; higher ones cost more CPU
/// than they save on the wire for log text (measured with benches/write.rs).
const ZSTD_LEVEL: i32 = 1;

pub struct HttpTransport {
    client: reqwest::Client,
    compressor: Compressor,
    /// The wire body of the batch being sent, by batch id: reqwest takes an owned body, and
    /// every attempt of one batch shares this one copy (released when the batch settles).
    body: Mutex<Option<(String, Bytes)>>,
}

impl HttpTransport {
    pub fn new() -> Result<Self, String> {
        // Redirects are never followed (the core rejects them: PROTOCOL.md §3), and no request
        // carries a Referer (it would show the upload URL, which holds the private id).
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|e| error_message(&e))?;
        Ok(HttpTransport {
            client,
            compressor: Compressor::start()?,
            body: Mutex::default(),
        })
    }

    /// The shared copy of a batch's wire body, made at its first attempt.
    fn body_for(&self, batch_id: &str, wire: &[u8]) -> Bytes {
        let mut kept = self.body.lock().unwrap_or_else(PoisonError::into_inner);
        match &*kept {
            Some((id, body)) if id == batch_id && body.len() == wire.len() => body.clone(),
            _ => {
                let body = Bytes::copy_from_slice(wire);
                *kept = Some((batch_id.to_owned(), body.clone()));
                body
            }
        }
    }
}

/// A body to compress, and where its result goes.
struct Job {
    codec: Codec,
    body: Vec<u8>,
    done: oneshot::Sender<Option<Vec<u8>>>,
}

/// Compresses on a thread of its own, so that the shipper encodes the next batch meanwhile.
/// The thread ends when the transport is dropped.
struct Compressor {
    jobs: mpsc::Sender<Job>,
}

impl Compressor {
    fn start() -> Result<Self, String> {
        // One zstd context for the logger's life: creating one per batch costs more than compressing.
        let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| e.to_string())?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("logship-compress".into())
            .spawn(move || {
                for job in queue {
                    let compressed = match job.codec {
                        Codec::Zstd => zstd.compress(&job.body).ok(),
                        Codec::Gzip => {
                            let mut encoder = flate2::write::GzEncoder::new(
                                Vec::new(),
                                flate2::Compression::fast(),
                            );
                            let written = encoder.write_all(&job.body);
                            written.and_then(|_| encoder.finish()).ok()
                        }
                    };
                    let _ = job.done.send(compressed);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Compressor { jobs })
    }
}

/// The error and its causes, without the URL (it holds the private id).
fn error_message(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

impl Transport for HttpTransport {
    async fn send<'a>(&'a self, request: Request<'a>) -> Result<Response, TransportError> {
        {
            let mut builder = self
                .client
                .post(request.url)
                .header("Content-Type", "application/json")
                .header(crate::core::batch::BATCH_HEADER, request.batch_id)
                .body(self.body_for(request.batch_id, request.body));
            if let (Some(encoding), Some(len)) =
                (request.content_encoding, request.orig_content_length)
            {
                builder = builder
                    .header("Content-Encoding", encoding)
                    .header("Orig-Content-Length", len);
            }
            for (name, value) in request.headers {
                builder = builder.header(name, value.expose());
            }
            let failed = |err: reqwest::Error| TransportError {
                message: error_message(&err.without_url()),
            };
            let mut response = builder.send().await.map_err(failed)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let location = match response.status().is_redirection() {
                true => response
                    .headers()
                    .get("Location")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
                false => None,
            };
            // Read every answer to its end, keeping the start of an error's: hyper closes a
            // connection whose response body was left unread, and a new connection (with a TLS
            // handshake, for a remote collector) would then cost every batch.
            let mut body_prefix = Vec::new();
            let mut body_len = 0;
            while body_len < DRAINED_RESPONSE_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        body_len += chunk.len();
                        if status >= 400 && body_prefix.len() < ERROR_BODY_PREFIX {
                            body_prefix.extend_from_slice(&chunk);
                        }
                    }
                    _ => break,
                }
            }
            body_prefix.truncate(ERROR_BODY_PREFIX);
            Ok(Response {
                status,
                retry_after,
                location,
                opaque_redirect: false,
                body_prefix,
            })
        }
    }

    /// Hands the body to the compressing thread at once; the future waits for its result.
    fn compress<'a>(
        &'a self,
        codec: Codec,
        body: &'a [u8],
    ) -> impl Future<Output = Option<Vec<u8>>> + 'a {
        let (done, result) = oneshot::channel();
        let job = Job {
            codec,
            body: body.to_vec(),
            done,
        };
        let handed = self.compressor.jobs.send(job).is_ok();
        async move {
            match handed {
                true => result.await.ok().flatten(),
                false => None,
            }
        }
    }

    fn preferred_codec(&self) -> Option<Codec> {
        Some(Codec::Zstd)
    }

    fn release_body(&self) {
        *self.body.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn compresses_in_background(&self) -> bool {
        true
    }
}

pub struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }
}
