//! `GET /api/tail`: replay of recent entries, then every new one, in order; slow viewers never hold anything up.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use logship_collector::Collector;

use crate::{body, post, public_id, ship, start, upload_url};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(c: &Collector) -> Ws {
    let url = format!("ws://{}/api/tail", c.addr());
    tokio_tungstenite::connect_async(url)
        .await
        .expect("tail connects")
        .0
}

/// The next entry message.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a tail message within 10 s")
            .expect("tail open")
            .expect("tail message");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

fn text(v: &Value) -> &str {
    v["entry"]["text"].as_str().unwrap()
}

#[tokio::test]
async fn replay_then_live_in_order() {
    let c = start();
    ship(&c, "app", &[r#"{"text":"old 1"}"#, r#"{"text":"old 2"}"#]).await;
    ship(&c, "other", &[r#"{"v":1,"text":"old 3"}"#]).await;
    let mut ws = connect(&c).await;
    let replay = [
        next(&mut ws).await,
        next(&mut ws).await,
        next(&mut ws).await,
    ];
    assert_eq!(
        replay.iter().map(text).collect::<Vec<_>>(),
        ["old 1", "old 2", "old 3"]
    );
    assert_eq!(replay[0]["collection"], "app");
    assert_eq!(replay[2]["collection"], "other");
    assert_eq!(replay[0]["public_id"], public_id());
    assert_eq!(
        replay[2]["entry"],
        serde_json::json!({"v":1,"text":"old 3"})
    );
    let mut keys: Vec<_> = replay[0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["collection", "entry", "id", "public_id", "received_at"]
    );

    ship(&c, "app", &[r#"{"text":"new 1"}"#, r#"{"text":"new 2"}"#]).await;
    ship(&c, "app", &[r#"{"text":"new 3"}"#]).await;
    let live = [
        next(&mut ws).await,
        next(&mut ws).await,
        next(&mut ws).await,
    ];
    assert_eq!(
        live.iter().map(text).collect::<Vec<_>>(),
        ["new 1", "new 2", "new 3"]
    );
    let ids: Vec<i64> = replay
        .iter()
        .chain(&live)
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test]
async fn replay_is_the_last_16_kib_but_at_least_100_entries() {
    let c = start();
    // 300 entries of about 200 bytes: the replay is the last 100 (20 KB >= 16 KiB).
    let long: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"text":"{i:03} {}"}}"#, "x".repeat(190)))
        .collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    ship(&c, "big", &refs).await;
    let mut ws = connect(&c).await;
    let first = next(&mut ws).await;
    assert!(text(&first).starts_with("200 "), "{}", text(&first));

    // 300 tiny entries (20 bytes each, 6 KB): at least 100, and up to 16 KiB, so all of them.
    let c = start();
    let tiny: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"text":"{i:03}"}}"#))
        .collect();
    let refs: Vec<&str> = tiny.iter().map(String::as_str).collect();
    ship(&c, "tiny", &refs).await;
    let mut ws = connect(&c).await;
    for i in 0..300 {
        assert_eq!(text(&next(&mut ws).await), format!("{i:03}"));
    }
}

#[tokio::test]
async fn a_viewer_that_never_reads_slows_nothing() {
    let c = start();
    let _stuck = connect(&c).await; // never reads a message
    let mut ws = connect(&c).await;
    let line = format!(r#"{{"text":"{}"}}"#, "y".repeat(1000));
    let batch = body(&vec![line.as_str(); 1000]);
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            post(&upload_url(&c, "flood"), &[], batch.clone()).await.0,
            200
        );
    }
    ship(&c, "flood", &[r#"{"text":"the last one"}"#]).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // The reading viewer gets to the end (it may skip if it falls behind, but never stalls).
    loop {
        if next(&mut ws).await["entry"]["text"] == "the last one" {
            break;
        }
    }
    assert_eq!(c.entries("flood").len(), 20_001);
}
