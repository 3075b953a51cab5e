//! Bounded memory: pending uploads within a byte budget and a count (past them 503 with `Retry-After`,
//! which the logship SDK waits out), viewers capped, viewers' messages capped, a stalled viewer's
//! backlog bounded.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use logship_collector::{Collector, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::{body, client, start_with, upload_url, PRIVATE_ID};

/// Polls `check` until it returns `Some`, for up to 30 s.
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An upload whose body is still on its way, so it holds its share of the limits until finished.
struct HeldUpload {
    stream: TcpStream,
    rest: Vec<u8>,
}

async fn hold_upload(c: &Collector, collection: &str, body: &str) -> HeldUpload {
    let mut stream = TcpStream::connect(c.addr()).await.unwrap();
    let head = format!(
        "POST /c/{collection}/{PRIVATE_ID} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        c.addr(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..1]).await.unwrap();
    HeldUpload {
        stream,
        rest: body.as_bytes()[1..].to_vec(),
    }
}

impl HeldUpload {
    /// Whether the collector answered already: it refused this upload (a probe took the only
    /// place first) instead of holding it.
    fn was_answered(&self) -> bool {
        let mut byte = [0u8; 1];
        self.stream.try_read(&mut byte).is_ok()
    }

    /// Sends the rest of the body; the raw response.
    async fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).await.unwrap();
        let mut response = String::new();
        self.stream.read_to_string(&mut response).await.unwrap();
        response
    }
}

/// Uploads one entry; the status and `Retry-After`.
async fn try_upload(c: &Collector, text: &str) -> (u16, Option<String>) {
    let res = client()
        .post(upload_url(c, "probe"))
        .header("Origin", "http://some.page.example")
        .body(body(&[&format!(r#"{{"text":"{text}"}}"#)]))
        .send()
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    if res.status() == 503 {
        // Browsers can read the answer too.
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(res
            .headers()
            .get("access-control-expose-headers")
            .is_some_and(|v| v
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("retry-after")));
    }
    (res.status().as_u16(), retry_after)
}

/// Holds an upload, then probes until the collector refuses; checks the refusal and that it ends with
/// the held upload.
async fn refuses_while_held(c: &Collector) {
    let mut stored = 0;
    assert_eq!(try_upload(c, "before").await.0, 200);
    stored += 1;
    let held_text = format!(r#"{{"text":"held {}"}}"#, "h".repeat(8000));
    let probes_stored = std::cell::Cell::new(0);
    let (held, retry_after) = loop {
        let held = hold_upload(c, "held", &body(&[&held_text])).await;
        let mut n = 0;
        // `Some(None)`: a probe came first and the held upload was the one refused; hold again.
        let outcome = eventually("a 503 while an upload is held", || {
            n += 1;
            let probe = format!("probe {n}");
            let (held, probes_stored) = (&held, &probes_stored);
            async move {
                match try_upload(c, &probe).await {
                    (503, retry_after) => Some(Some(retry_after)),
                    (200, _) => {
                        probes_stored.set(probes_stored.get() + 1);
                        held.was_answered().then_some(None)
                    }
                    (status, _) => panic!("unexpected {status}"),
                }
            }
        })
        .await;
        if let Some(retry_after) = outcome {
            break (held, retry_after);
        }
    };
    stored += probes_stored.get();
    assert_eq!(retry_after.as_deref(), Some("1"));
    let response = held.finish().await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(try_upload(c, "after").await.0, 200);
    stored += 1;
    assert_eq!(
        c.entries("probe").len(),
        stored,
        "what got 503 was not stored"
    );
    assert_eq!(c.entries("held").len(), 1);
}

#[tokio::test]
async fn past_the_byte_budget_uploads_get_503_with_retry_after() {
    // The held upload's estimate is larger than the whole budget: it takes all of it.
    let c = start_with(Options {
        max_pending_bytes: 16 * 1024,
        max_body: 1 << 20,
        ..Options::default()
    });
    refuses_while_held(&c).await;
}

#[tokio::test]
async fn past_the_upload_count_uploads_get_503_with_retry_after() {
    let c = start_with(Options {
        max_uploads: 1,
        ..Options::default()
    });
    refuses_while_held(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_waits_out_a_503_with_retry_after_and_stores_once() {
    let c = start_with(Options {
        max_uploads: 1,
        ..Options::default()
    });
    let held = hold_upload(&c, "held", &body(&[r#"{"text":"held"}"#])).await;
    eventually("the held upload to take the only slot", || async {
        (try_upload(&c, "probe").await.0 == 503).then_some(())
    })
    .await;
    // Its own back-off would wait a minute: only Retry-After brings it back within the flush below.
    let log = logship::Logger::builder()
        .base_url(&c.url())
        .collection("sdk")
        .flush_delay_ms(0)
        .retry_initial_ms(60_000)
        .retry_max_ms(60_000)
        .build()
        .unwrap();
    log.write(b"waits out the 503").unwrap();
    eventually("the SDK to see the 503", || {
        let error = log.last_error();
        async move { error.filter(|e| e.contains("503")) }
    })
    .await;
    assert!(held.finish().await.starts_with("HTTP/1.1 200"));
    let log = tokio::task::spawn_blocking(move || log.flush(Duration::from_secs(20)).map(|()| log))
        .await
        .unwrap()
        .expect("delivered after Retry-After");
    let stats = log.stats();
    assert!(stats.retries >= 1, "{stats:?}");
    assert_eq!(stats.uploaded, 1);
    let texts: Vec<String> = c
        .entries("sdk")
        .iter()
        .map(|e| e.entry["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["waits out the 503"]);
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn open_tail(c: &Collector) -> Result<Ws, u16> {
    match tokio_tungstenite::connect_async(format!("ws://{}/api/tail", c.addr())).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("tail: {e}"),
    }
}

#[tokio::test]
async fn viewers_are_capped_and_their_messages_too() {
    let c = start_with(Options {
        max_viewers: 1,
        ..Options::default()
    });
    let mut first = open_tail(&c).await.expect("the first viewer");
    assert_eq!(open_tail(&c).await.err(), Some(503));
    // A viewer has nothing to say: a large message closes its tail (and frees its place).
    first
        .send(Message::Text("x".repeat(64 * 1024).into()))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(_)) = first.next().await {}
    })
    .await
    .expect("the collector closes a tail that sends 64 KiB");
    eventually("the place to be free again", || async {
        open_tail(&c).await.ok()
    })
    .await;
}

#[tokio::test]
async fn a_stalled_viewer_skips_ahead_to_the_newest_entries() {
    let c = start_with(Options::default());
    let mut ws = open_tail(&c).await.unwrap();
    // 40 MiB of entries go by while the viewer reads nothing: far more than its backlog (1 MiB) and
    // the sockets' buffers hold.
    let line = "y".repeat(2000);
    let batch: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"n":{i},"text":"{line}"}}"#))
        .collect();
    let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
    let uploads = 20;
    for _ in 0..uploads {
        crate::ship(&c, "flood", &batch).await;
    }
    let newest = c.entries("flood").last().unwrap().id;
    let mut received = 0;
    let last = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(Ok(Message::Text(text))) = ws.next().await {
                received += 1;
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                if v["id"] == newest {
                    return v;
                }
            }
        }
    })
    .await
    .expect("the newest entry reaches the viewer");
    println!(
        "a stalled viewer received {received} of {} entries",
        uploads * 1000
    );
    assert_eq!(last["entry"]["n"], 999);
    assert!(
        received < uploads * 1000,
        "a stalled viewer got all {received} entries: nothing was skipped"
    );
}
