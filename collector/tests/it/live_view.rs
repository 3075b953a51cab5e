//! The live view in headless Chromium (tests/e2e/live_view.mjs): lines shipped before the page opens
//! (replay) and after (live) appear in the DOM; the volume chart is drawn, a row shows its client time
//! beside its received time, clicking a row's collection filters by it, and dragging a time range on the
//! chart lists only the entries received in it. The screenshot goes to target/e2e/live_view.png.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{ship, start};

#[tokio::test]
async fn shipped_lines_appear_in_the_live_view() {
    let e2e = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e"));
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/e2e` (and `apt-get install -y chromium`)"
    );
    let c = start();
    let before = [
        r#"{"text":"e2e: shipped before the page opened"}"#,
        r#"{"v":1,"text":"e2e: a verbose one"}"#,
    ];
    ship(&c, "e2e.example.com", &before).await;
    ship(&c, "e2e.other", &[r#"{"event":"e2e-json-entry","n":42}"#]).await;
    // Later, in another second of the chart: the range picked on it starts here.
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let late = r#"{"text":"e2e: written at a known client time","logtail":{"client_time":"2026-01-02T03:04:05.678Z"}}"#;
    ship(&c, "e2e.example.com", &[late]).await;
    let late_received = c.entries("e2e.example.com").last().unwrap().received_at_ms;
    let expect = serde_json::json!([
        "e2e: shipped before the page opened",
        "e2e: a verbose one",
        "e2e-json-entry",
        "e2e: written at a known client time",
        "e2e: shipped while the page was open",
    ]);
    let client_time =
        serde_json::json!({"line": "e2e: written at a known client time", "time": "03:04:05.678"});
    let collection_click = serde_json::json!({"line": "e2e-json-entry"});
    let range = serde_json::json!({
        "from": late_received - 300,
        "inside": ["e2e: written at a known client time", "e2e: shipped while the page was open"],
        "outside": ["e2e: shipped before the page opened", "e2e: a verbose one", "e2e-json-entry"],
    });
    let mut child = Command::new("node")
        .arg(e2e.join("live_view.mjs"))
        .env("LOGSHIP_URL", c.url())
        .env("LOGSHIP_EXPECT", expect.to_string())
        .env("LOGSHIP_CLIENT_TIME", client_time.to_string())
        .env("LOGSHIP_COLLECTION_CLICK", collection_click.to_string())
        .env("LOGSHIP_RANGE", range.to_string())
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (is Node.js installed?)");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines();
    // Ship the last line only once the page's tail is connected, so it must arrive live.
    for line in lines.by_ref() {
        let line = line.unwrap();
        println!("{line}");
        if line == "live view open" {
            ship(
                &c,
                "e2e.example.com",
                &[r#"{"text":"e2e: shipped while the page was open"}"#],
            )
            .await;
            break;
        }
    }
    for line in lines {
        println!("{}", line.unwrap());
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "live_view.mjs failed ({status}); see its output above"
    );
}
