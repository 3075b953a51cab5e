//! The live view in headless Chromium (tests/e2e/live_view.mjs): lines shipped before the page opens
//! (replay) and after (live) appear in the DOM; the screenshot goes to target/e2e/live_view.png.

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
    let expect = serde_json::json!([
        "e2e: shipped before the page opened",
        "e2e: a verbose one",
        "e2e-json-entry",
        "e2e: shipped while the page was open",
    ]);
    let mut child = Command::new("node")
        .arg(e2e.join("live_view.mjs"))
        .env("LOGSHIP_URL", c.url())
        .env("LOGSHIP_EXPECT", expect.to_string())
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
