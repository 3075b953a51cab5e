//! Reads are private: `/api/…` gives no CORS grant and refuses other origins, over HTTP and WebSocket;
//! with a token, reads need it too. Ingest keeps CORS for any origin.

use futures_util::StreamExt;
use logship_collector::{Collector, Options};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::{client, ship, start, start_with, upload_url};

const FOREIGN: &str = "http://evil.example";

fn own_origin(c: &Collector) -> String {
    c.url()
}

/// GET `path` with these headers: the status and the `Access-Control-Allow-Origin` it came with.
async fn read(c: &Collector, path: &str, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let mut req = client().get(format!("{}{path}", c.url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let acao = res
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), acao)
}

/// Opens the tail with these headers: `Ok(first message)` or the HTTP status it was refused with.
async fn tail(c: &Collector, headers: &[(&str, &str)]) -> Result<(Option<String>, String), u16> {
    let mut req = format!("ws://{}/api/tail", c.addr())
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, res)) => {
            let protocol = res
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            loop {
                match ws.next().await.expect("open").expect("message") {
                    Message::Text(text) => return Ok((protocol, text.to_string())),
                    _ => continue,
                }
            }
        }
        Err(WsError::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("tail: {e}"),
    }
}

#[tokio::test]
async fn api_reads_refuse_other_origins_and_grant_them_nothing() {
    let c = start();
    ship(&c, "app", &[r#"{"text":"a secret line"}"#]).await;
    for path in ["/api/entries", "/api/collections", "/api/stats"] {
        assert_eq!(read(&c, path, &[]).await, (200, None), "{path}");
        assert_eq!(
            read(&c, path, &[("Origin", &own_origin(&c))]).await,
            (200, None),
            "{path}"
        );
        assert_eq!(
            read(&c, path, &[("Origin", FOREIGN)]).await,
            (403, None),
            "{path}"
        );
    }
    // A preflight for a read gets no grant either.
    let res = client()
        .request(reqwest::Method::OPTIONS, format!("{}/api/entries", c.url()))
        .header("Origin", FOREIGN)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // The tail: foreign origins are refused, the collector's own page and non-browsers are served.
    assert_eq!(tail(&c, &[("Origin", FOREIGN)]).await, Err(403));
    let other_port = format!("http://127.0.0.1:{}", c.addr().port() ^ 1);
    assert_eq!(tail(&c, &[("Origin", &other_port)]).await, Err(403));
    assert_eq!(tail(&c, &[("Origin", "null")]).await, Err(403));
    let (_, first) = tail(&c, &[("Origin", &own_origin(&c))]).await.unwrap();
    assert!(first.contains("a secret line"), "{first}");
    let (_, first) = tail(&c, &[]).await.unwrap();
    assert!(first.contains("a secret line"), "{first}");

    // Ingest still takes uploads from any origin.
    let res = client()
        .post(upload_url(&c, "app"))
        .header("Origin", FOREIGN)
        .body(r#"[{"text":"from another page"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn with_a_token_reads_need_it_over_http_and_websocket() {
    let c = start_with(Options {
        token: Some("s3cret-token".into()),
        ..Options::default()
    });
    let auth = [("Authorization", "Bearer s3cret-token")];
    let upload = client()
        .post(upload_url(&c, "app"))
        .header(auth[0].0, "Bearer s3cret-token")
        .body(r#"[{"text":"behind the token"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    for path in ["/api/entries", "/api/collections", "/api/stats"] {
        assert_eq!(read(&c, path, &[]).await.0, 401, "{path}");
        let wrong = [("Authorization", "Bearer nope")];
        assert_eq!(read(&c, path, &wrong).await.0, 401, "{path}");
        assert_eq!(read(&c, path, &auth).await, (200, None), "{path}");
        // The right token from a foreign page is still refused.
        let foreign = [auth[0], ("Origin", FOREIGN)];
        assert_eq!(read(&c, path, &foreign).await, (403, None), "{path}");
    }

    assert_eq!(tail(&c, &[]).await, Err(401));
    assert_eq!(tail(&c, &[("Origin", &own_origin(&c))]).await, Err(401));
    let (_, first) = tail(&c, &auth).await.unwrap();
    assert!(first.contains("behind the token"));
    // What www/auth.js does: the token as a subprotocol (hex of its UTF-8), next to `logship`.
    let protocols = format!(
        "logship, logship.token.{}",
        hex::encode("s3cret-token".as_bytes())
    );
    let browser = [
        ("Origin", own_origin(&c)),
        ("Sec-WebSocket-Protocol", protocols),
    ];
    let browser: Vec<(&str, &str)> = browser.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (protocol, first) = tail(&c, &browser).await.unwrap();
    assert_eq!(
        protocol.as_deref(),
        Some("logship"),
        "never echoes the token"
    );
    assert!(first.contains("behind the token"));
    let wrong = format!("logship, logship.token.{}", hex::encode("nope"));
    let refused = [
        ("Origin", own_origin(&c)),
        ("Sec-WebSocket-Protocol", wrong),
    ];
    let refused: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(tail(&c, &refused).await, Err(401));
    let mut foreign = browser.clone();
    foreign[0].1 = FOREIGN;
    assert_eq!(tail(&c, &foreign).await, Err(403));
}

/// tests/e2e/live_view_token.mjs in headless Chromium: the live view asks for the token once per tab and
/// then reads with it over fetch and the WebSocket tail, never in a URL.
#[tokio::test]
async fn the_live_view_asks_for_the_token_once_and_reads_with_it() {
    let e2e = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e"));
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/e2e` (and `apt-get install -y chromium`)"
    );
    let token = "tab-token-42";
    let c = start_with(Options {
        token: Some(token.into()),
        ..Options::default()
    });
    let upload = client()
        .post(upload_url(&c, "guarded.example.com"))
        .header("Authorization", format!("Bearer {token}"))
        .body(r#"[{"text":"e2e: a line behind the token"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let mut node = std::process::Command::new("node");
    node.arg(e2e.join("live_view_token.mjs"))
        .env("LOGSHIP_URL", c.url())
        .env("LOGSHIP_TOKEN", token)
        .env("LOGSHIP_EXPECT", r#"["e2e: a line behind the token"]"#);
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("node runs (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("live_view_token: ok"),
        "live_view_token.mjs failed:\n{stdout}\n{stderr}"
    );
}
