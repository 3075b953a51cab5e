//! The executable itself: copied anywhere and run from an empty directory it serves the live view and
//! the playground (embedded); a second one on the same database refuses to start.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::client;

/// A collector process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary, copied into a directory of its own (away from the source tree).
fn copied_binary(dir: &Path) -> PathBuf {
    let to = dir.join("logship-collector");
    std::fs::copy(env!("CARGO_BIN_EXE_logship-collector"), &to).unwrap();
    to
}

/// Starts `bin` in `cwd` on port 0; returns it and its URL, read from what it prints.
fn run(bin: &Path, cwd: &Path, args: &[&str]) -> (Process, String) {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the copied binary runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let process = Process(child);
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the collector prints its address");
    let url = line
        .split_once("live view at ")
        .map(|(_, url)| url.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (process, url)
}

async fn get(url: &str) -> (u16, String, String) {
    let res = client().get(url).send().await.unwrap();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        res.status().as_u16(),
        content_type,
        res.text().await.unwrap(),
    )
}

#[tokio::test]
async fn a_copied_binary_serves_the_embedded_pages_from_an_empty_directory() {
    let bin_dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let bin = copied_binary(bin_dir.path());
    let (_collector, url) = run(&bin, cwd.path(), &[]);

    let (status, content_type, page) = get(&format!("{url}/")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("app.js"), "{page}");
    let (status, content_type, page) = get(&format!("{url}/playground.html")).await;
    assert_eq!((status, content_type.starts_with("text/html")), (200, true));
    assert!(page.contains("playground/playground.js"));
    for (asset, kind) in [
        ("style.css", "text/css"),
        ("app.js", "javascript"),
        ("auth.js", "javascript"),
        ("playground/playground.js", "javascript"),
    ] {
        let (status, content_type, text) = get(&format!("{url}/{asset}")).await;
        assert_eq!(status, 200, "{asset}");
        assert!(content_type.contains(kind), "{asset}: {content_type}");
        let source = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../www")
                .join(asset),
        )
        .unwrap();
        assert_eq!(text, source, "{asset} is the repository's");
    }
    assert_eq!(get(&format!("{url}/no-such-page.html")).await.0, 404);
    // The database went where it was told (the default, ./logship.db), beside its lock.
    assert!(cwd.path().join("logship.db").exists());
}

#[tokio::test]
async fn a_second_collector_on_the_same_database_exits_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_logship-collector");
    let db = dir.path().join("shared.db");
    let db_arg = db.to_str().unwrap();
    let (_first, url) = run(Path::new(bin), dir.path(), &["--db", db_arg]);
    let second = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--db", db_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_with_deadline(second, Duration::from_secs(60));
    assert!(!output.0.success(), "the second collector must not run");
    assert!(
        output.1.contains("is in use by another collector") && output.1.contains("shared.db"),
        "{}",
        output.1
    );
    // The first one is unaffected.
    assert_eq!(get(&format!("{url}/healthz")).await.0, 200);
}

/// Waits for `child` to exit (killing it past `deadline`); its status and stderr.
fn wait_with_deadline(mut child: Child, deadline: Duration) -> (std::process::ExitStatus, String) {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("the second collector kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_database_lock_is_held_while_a_collector_runs_and_released_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || logship_collector::Options {
        db: Some(dir.path().join("logship.db")),
        ..Default::default()
    };
    let first = logship_collector::Collector::start(opts()).unwrap();
    let err = logship_collector::Collector::start(opts())
        .err()
        .expect("a second start fails");
    assert!(
        matches!(err, logship_collector::Error::InUse { .. }),
        "{err}"
    );
    first.stop();
    // Another test of this binary spawning a process holds a copy of every descriptor between
    // its fork and exec, the lock's included: give such a moment time to pass.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let again = loop {
        match logship_collector::Collector::start(opts()) {
            Err(logship_collector::Error::InUse { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => break other,
        }
    };
    again
        .expect("the lock went with the first collector")
        .stop();
}
