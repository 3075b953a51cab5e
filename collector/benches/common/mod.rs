//! What both collector benchmarks share: settings from the environment, and real loghub lines packed into
//! zstd batches the way logship clients upload them.

#![allow(dead_code)] // each benchmark uses its part

use logship_collector::Collector;

#[path = "../../../tests/common/loghub.rs"]
mod loghub;
pub use loghub::loghub_lines;

pub const PRIVATE_ID: &str = "5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e";
const BATCH_BYTES: usize = 256 * 1024;

/// One upload: its zstd body, the uncompressed length and the number of entries.
pub struct Upload {
    pub body: Vec<u8>,
    pub len: usize,
    pub entries: usize,
}

pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Uploads of at most `max_entries` entries (and about 256 KiB) holding `total` entries, each loghub line
/// (starting at line `skip`) becoming a `{"text":"…"}` entry.
pub fn uploads(lines: &[Vec<u8>], skip: usize, total: usize, max_entries: usize) -> Vec<Upload> {
    let mut out = Vec::new();
    let mut body = String::from("[");
    let mut count = 0;
    for i in 0..total {
        let line = &lines[(skip + i) % lines.len()];
        let entry = serde_json::json!({ "text": format!("{}\n", String::from_utf8_lossy(line)) });
        if count > 0 {
            body.push(',');
        }
        body.push_str(&entry.to_string());
        body.push('\n');
        count += 1;
        if body.len() >= BATCH_BYTES || count == max_entries || i + 1 == total {
            body.push(']');
            out.push(Upload {
                body: zstd::encode_all(body.as_bytes(), 3).unwrap(),
                len: body.len(),
                entries: count,
            });
            body = String::from("[");
            count = 0;
        }
    }
    out
}

/// POSTs one upload with a distinct `Logship-Batch` id; panics unless it was stored.
pub async fn post(client: &reqwest::Client, url: &str, upload: &Upload, batch: &str) {
    let res = client
        .post(url)
        .header("Content-Encoding", "zstd")
        .header("Orig-Content-Length", upload.len.to_string())
        .header("Logship-Batch", batch)
        .body(upload.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// `/api/stats` as JSON.
pub async fn stats(collector: &Collector) -> serde_json::Value {
    let url = format!("{}/api/stats", collector.url());
    serde_json::from_str(&reqwest::get(&url).await.unwrap().text().await.unwrap()).unwrap()
}

/// Waits until the search index has caught up with the stored entries.
pub async fn index_caught_up(collector: &Collector) {
    loop {
        let v = stats(collector).await;
        if v["indexed_upto"] == v["last_id"] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The `p`-th percentile (0–100) of sorted durations, in ms.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}
