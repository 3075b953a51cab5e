//! Integration tests: a real collector on 127.0.0.1 (port 0), real HTTP and WebSocket clients.

mod api;
mod binary;
mod ingest;
mod limits;
mod live_view;
mod otlp;
mod private;
mod retention;
mod tail;

#[path = "../../../tests/common/loghub.rs"]
mod loghub;

use std::time::Duration;

use logship_collector::{Collector, Options};
use sha2::{Digest, Sha256};

/// A valid private id (64 lowercase hex) and its public id.
pub const PRIVATE_ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub fn public_id() -> String {
    hex::encode(Sha256::digest(hex::decode(PRIVATE_ID).unwrap()))
}

pub fn start() -> Collector {
    start_with(Options::default())
}

pub fn start_with(opts: Options) -> Collector {
    Collector::start(opts).expect("collector starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The logtail upload URL of `collection` with [`PRIVATE_ID`].
pub fn upload_url(c: &Collector, collection: &str) -> String {
    format!("{}/c/{collection}/{PRIVATE_ID}", c.url())
}

/// A logtail body: the entries, each followed by `\n`, as a JSON array.
pub fn body(entries: &[&str]) -> String {
    let items: Vec<String> = entries.iter().map(|e| format!("{e}\n")).collect();
    format!("[{}]", items.join(","))
}

/// POSTs `body` to `url` with `headers`; returns the status and the response text.
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut req = client().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request is answered");
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Uploads plain-text entries to `collection`; panics unless stored.
pub async fn ship(c: &Collector, collection: &str, entries: &[&str]) {
    let (status, text) = post(&upload_url(c, collection), &[], body(entries)).await;
    assert_eq!(status, 200, "{text}");
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let res = client().get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}
