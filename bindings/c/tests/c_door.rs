//! The C door end to end: the C programs in tests/c/ are compiled with the system C compiler
//! against include/logship.h and a freshly built liblogship, and run against a real collector on
//! loopback.
//!
//! Where the library comes from: this crate has no rlib (see Cargo.toml), so cargo does not build
//! its cdylib and staticlib for its own tests. [`library_dir`] builds them, once per run, with the
//! cargo, target directory and profile that built this test, into `<target>/<profile>/`.
//!
//! Needs `cc`, `c++`, `make`, `pkg-config` and `valgrind` on PATH; a missing tool fails the test
//! that needs it with a message saying so (nothing is skipped).
#![cfg(not(target_arch = "wasm32"))]

#[path = "../../../tests/common/shared_vectors.rs"]
mod shared_vectors;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use logship_collector::{Collector, Options, StoredEntry};
use serde_json::json;

/// bindings/c: this crate.
const CRATE: &str = env!("CARGO_MANIFEST_DIR");
/// The repository root, where include/logship.h lives.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// What build.rs generated from src/exports.rs for this build.
const GENERATED_HEADER: &str = include_str!(concat!(env!("OUT_DIR"), "/logship.h"));
const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Werror", "-pedantic"];

// ---------------------------------------------------------------------------------------------
// Helpers

/// The directory holding a fresh liblogship.a and liblogship.so (see the module doc).
fn library_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_library)
}

fn build_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>[/<triple>]/<profile>/deps/c_door-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf();
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("<target>/tmp");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("no profile directory in {}", exe.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "logship-ffi", "--lib", "--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(CRATE);
    let profile_parent = profile_dir.parent().expect("<target>[/<triple>]");
    if profile_parent != target_dir {
        // Cross-compiled: <target>/<triple>/<profile>.
        build
            .arg("--target")
            .arg(profile_parent.file_name().unwrap());
    }
    check(build, "cargo build -p logship-ffi --lib");
    for lib in ["liblogship.a", "liblogship.so"] {
        assert!(
            profile_dir.join(lib).is_file(),
            "{} is missing after cargo build -p logship-ffi",
            profile_dir.join(lib).display()
        );
    }
    profile_dir
}

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_door");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tool(name: &str, apt_package: &str) -> String {
    let found = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{name}` is needed by this test but is not on PATH (Debian/Ubuntu: apt-get install {apt_package})"
    );
    name.to_owned()
}

fn check(mut command: Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{command:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[derive(Clone, Copy)]
enum Link {
    /// liblogship.a, with the system libraries it needs on Linux.
    Static,
    /// liblogship.so, found at run time through an rpath. Links in a fraction of a second.
    Shared,
}

/// Compiles tests/c/<name>.c as strict C99 (warnings are errors) into an executable.
fn compile(name: &str, link: Link) -> PathBuf {
    let lib = library_dir();
    let out = work_dir().join(name);
    let mut cc = Command::new(tool("cc", "gcc"));
    cc.args(["-std=c99", "-g", "-D_POSIX_C_SOURCE=200809L"])
        .args(WARNINGS)
        .arg(format!("-I{REPO}/include"))
        .arg(format!("{CRATE}/tests/c/{name}.c"))
        .arg("-o")
        .arg(&out);
    match link {
        Link::Static => cc
            .arg(lib.join("liblogship.a"))
            .args(["-lpthread", "-ldl", "-lm"]),
        Link::Shared => cc
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .args(["-llogship", "-lpthread"]),
    };
    check(cc, &format!("compiling tests/c/{name}.c"));
    out
}

/// Runs a program, killing it if it outlives `timeout` (a hang is a failure, not a stuck test).
fn run(mut command: Command, timeout: Duration) -> Output {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {timeout:?} (hung?)\n--- stderr\n{}",
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout (tail)\n{}\n--- stderr\n{}",
        output.status,
        tail(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn collector() -> Collector {
    Collector::start(Options::default()).expect("collector starts")
}

/// The collection's entries once there are `count` of them (programs flush before they exit,
/// so this normally returns at once).
fn entries(c: &Collector, collection: &str, count: usize) -> Vec<StoredEntry> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entries = c.entries(collection);
        if entries.len() >= count || Instant::now() > deadline {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(entry: &StoredEntry) -> &str {
    entry.entry["text"].as_str().unwrap_or_default()
}

fn config(c: &Collector, collection: &str) -> serde_json::Value {
    json!({
        "base_url": c.url(),
        "collection": collection,
        "skip_client_time": true,
        "flush_delay_ms": 50,
        "retry_initial_ms": 50,
        "retry_max_ms": 500,
    })
}

fn program(path: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(path);
    command.args(args);
    command
}

// ---------------------------------------------------------------------------------------------
// The header

#[test]
fn committed_header_matches_src_exports_rs() {
    let path = format!("{REPO}/include/logship.h");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != GENERATED_HEADER {
        let first_difference = committed
            .lines()
            .zip(GENERATED_HEADER.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| {
                committed
                    .lines()
                    .count()
                    .min(GENERATED_HEADER.lines().count())
            });
        panic!(
            "{path} is stale: it differs from what cbindgen generates from bindings/c/src/exports.rs \
             (first at line {}).\n\
             Regenerate it with `LOGSHIP_UPDATE_HEADER=1 cargo build -p logship-ffi` and commit it.",
            first_difference + 1
        );
    }
}

/// The key table (the stats fields are listed there once; cbindgen can only read a written-out
/// struct, so this test holds `struct logship_stats` to the table).
#[allow(dead_code)]
mod key_table {
    include!("../../../src/core/config_keys.rs");
}

#[test]
fn header_stats_are_the_key_tables_stats_in_order() {
    let body = GENERATED_HEADER
        .split("struct logship_stats {")
        .nth(1)
        .and_then(|rest| rest.split("};").next())
        .expect("the header declares struct logship_stats");
    let fields: Vec<&str> = body
        .lines()
        .filter_map(|line| line.trim().strip_prefix("uint64_t "))
        .map(|field| field.trim_end_matches(';'))
        .collect();
    let table: Vec<&str> = key_table::STATS.iter().map(|f| f.name).collect();
    assert_eq!(
        fields, table,
        "struct logship_stats (bindings/c/src/exports.rs) must list src/core/config_keys.rs's STATS"
    );
}

#[test]
fn header_is_clean_c99_and_cpp_and_links() {
    let lib = library_dir();
    let source = format!("{CRATE}/tests/c/header_check.c");
    let include = format!("-I{REPO}/include");
    for (compiler, package, standard) in [("cc", "gcc", "-std=c99"), ("c++", "g++", "-std=c++11")] {
        let out = work_dir().join(format!("header_check_{}", compiler.replace('+', "x")));
        let mut command = Command::new(tool(compiler, package));
        command.arg(standard).args(WARNINGS).arg(&include);
        if compiler == "c++" {
            command.args(["-x", "c++"]);
        }
        // Linking against the library proves the declarations match its (unmangled) symbols.
        command
            .arg(&source)
            .args(["-x", "none", "-o"])
            .arg(&out)
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-llogship");
        check(command, &format!("{compiler} {standard} on logship.h"));
        run(Command::new(&out), Duration::from_secs(30));
    }
}

// ---------------------------------------------------------------------------------------------
// Behaviour

#[test]
fn shared_vectors_through_log_write_reach_the_collector_byte_for_byte() {
    let vectors: Vec<_> = shared_vectors::vectors()
        .into_iter()
        .filter(shared_vectors::Vector::door_compatible)
        .collect();
    assert!(
        vectors.len() >= 60,
        "expected at least 60 door-compatible vectors"
    );
    let c = collector();
    let exe = compile("vectors", Link::Static);
    let mut groups: BTreeMap<bool, Vec<&shared_vectors::Vector>> = BTreeMap::new();
    for v in &vectors {
        groups.entry(v.low_memory()).or_default().push(v);
    }
    let mut failures = Vec::new();
    for (low_memory, group) in groups {
        let collection = if low_memory {
            "vectors-low-memory"
        } else {
            "vectors"
        };
        let records = work_dir().join(format!("{collection}.records"));
        let mut bytes = Vec::new();
        for v in &group {
            bytes.extend_from_slice(&(v.input.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&v.input);
        }
        std::fs::write(&records, bytes).unwrap();
        let mut cfg = config(&c, collection);
        cfg["low_memory"] = json!(low_memory);
        cfg["buffer_bytes"] = json!(16 << 20);
        run(
            program(&exe, &[&cfg.to_string(), records.to_str().unwrap()]),
            Duration::from_secs(120),
        );
        let expected: Vec<&shared_vectors::Vector> = group
            .into_iter()
            .filter(|v| !v.expected.is_empty())
            .collect();
        let stored = entries(&c, collection, expected.len());
        assert_eq!(
            stored.len(),
            expected.len(),
            "{collection}: one entry per non-empty vector"
        );
        for (v, got) in expected.iter().zip(&stored) {
            let got = format!("{}\n", got.raw);
            if got.as_bytes() != v.expected.as_slice() {
                failures.push(format!(
                    "{} (low_memory {low_memory}):\n  expected {:?}\n  got      {:?}",
                    v.name,
                    String::from_utf8_lossy(&v.expected),
                    got
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} vectors differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn eight_threads_times_100_000_writes_and_one_at_exit_all_arrive_in_order() {
    let c = collector();
    let exe = compile("threads", Link::Shared);
    let mut cfg = config(&c, "threads");
    cfg["buffer_bytes"] = json!(64 << 20); // room for every write: no drop can happen
    let output = run(program(&exe, &[&cfg.to_string()]), Duration::from_secs(600));
    // And each thread's last line, written from its exit (threads.c).
    let stored = entries(&c, "threads", 800_008);
    assert_eq!(
        stored.len(),
        800_008,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let mut next = [0u32; 8];
    for entry in &stored {
        let line = text(entry);
        let mut words = line.split(' ');
        let (thread, i) = match (words.next(), words.next(), words.next(), words.next()) {
            (Some("thread"), Some(t), Some("line"), Some(i)) => {
                (t.parse::<usize>().unwrap(), i.parse::<u32>().unwrap())
            }
            _ => panic!("unexpected entry {:?}", entry.raw),
        };
        assert_eq!(
            i, next[thread],
            "thread {thread}: entries arrive once each, in write order"
        );
        next[thread] += 1;
    }
    assert_eq!(next, [100_001; 8]);
}

#[test]
fn tap_callbacks_see_every_entry_exactly_as_uploaded() {
    let c = collector();
    let exe = compile("tap", Link::Shared);
    let output = run(
        program(&exe, &[&config(&c, "tap").to_string()]),
        Duration::from_secs(120),
    );
    let tapped: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(tapped.len(), 3000);
    let stored = entries(&c, "tap", 3001);
    let from_callback = r#"{"text":"written from a tap callback"}"#;
    let uploaded: Vec<&str> = stored.iter().map(|e| e.raw.as_str()).collect();
    assert_eq!(uploaded.iter().filter(|e| **e == from_callback).count(), 1);
    let uploaded: Vec<&str> = uploaded
        .into_iter()
        .filter(|e| *e != from_callback)
        .collect();
    assert_eq!(
        tapped, uploaded,
        "the tap sees each entry exactly as it is uploaded, except what a callback wrote"
    );
    assert_eq!(uploaded[0], r#"{"v":1,"text":"tap line 0"}"#);
    assert_eq!(uploaded[1], r#"{"tap":1, "note":"json \"entry\""}"#);
    assert_eq!(
        uploaded[2],
        r#"{"text":"tap line 2 with a tab\tand a quote \""}"#
    );
}

#[test]
fn idle_taps_never_wake_and_a_stuck_callback_cannot_hold_shutdown() {
    let c = collector();
    let exe = compile("stuck_tap", Link::Shared);
    let output = run(
        program(&exe, &[&config(&c, "stuck.tap").to_string()]),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("idle wake-ups in 2 s: 0"), "{stdout}");
    let texts: Vec<String> = entries(&c, "stuck.tap", 3)
        .iter()
        .map(|e| text(e).to_owned())
        .collect();
    assert_eq!(
        texts,
        ["settle", "into the stuck callback", "after the stuck one"]
    );
}

#[test]
fn each_destination_has_its_own_counters_and_failover_state() {
    let c = collector();
    let refusing = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = json!({
        "skip_client_time": true,
        "flush_delay_ms": 20,
        "retry_initial_ms": 10,
        "retry_max_ms": 50,
        "destinations": [
            { "base_url": c.url(), "collection": "c-dest-live" },
            // Nothing listens on the primary once the listener is dropped.
            { "base_url": format!("http://{refusing}"), "backup_url": c.url(),
              "collection": "c-dest-backup", "failover_probe_ms": 600000 },
        ],
    });
    let exe = compile("destinations", Link::Shared);
    let output = run(
        program(&exe, &[&config.to_string(), "500"]),
        Duration::from_secs(120),
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.starts_with("retries "), "{report}");
    for collection in ["c-dest-live", "c-dest-backup"] {
        let stored = entries(&c, collection, 500);
        let texts: Vec<&str> = stored.iter().map(text).collect();
        let want: Vec<String> = (0..500).map(|i| format!("destinations line {i}")).collect();
        assert_eq!(texts, want, "{collection}");
    }
}

#[test]
fn bad_inputs_get_error_codes_and_messages_never_a_crash() {
    let c = collector();
    let refusing = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Nothing listens there once the listener is dropped: connections are refused.
    let refusing_url = format!("http://{refusing}");
    let private_id = "0123456789abcdef".repeat(4);
    let exe = compile("bad_input", Link::Shared);
    let output = run(
        program(&exe, &[&c.url(), &refusing_url, &private_id]),
        Duration::from_secs(120),
    );
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(&private_id),
            "the private id must never be printed"
        );
    }

    let stored = entries(&c, "bad-input", 3);
    assert_eq!(stored.len(), 3);
    assert_eq!(text(&stored[0]), "worker, first logger");
    let removed = 10 * 1024 * 1024 - 16384;
    let expected_big = format!(
        r#"{{"text":"big line {}…+{removed}"}}"#,
        "x".repeat(16384 - "big line ".len())
    );
    assert!(
        stored[1].raw == expected_big,
        "the 10 MiB line becomes one truncated entry ending in …+{removed}; got {} bytes ending {:?}",
        stored[1].raw.len(),
        &stored[1].raw[stored[1].raw.len().saturating_sub(40)..]
    );
    assert_eq!(text(&stored[2]), "after the big line");
    let again = entries(&c, "bad-input-again", 2);
    assert_eq!(
        again.iter().map(text).collect::<Vec<_>>(),
        ["worker, second logger", "second life"],
        "a thread that wrote to the first logger writes to the second one"
    );
}

#[test]
fn after_fork_the_child_starts_fresh_and_the_parent_is_unaffected() {
    let c = collector();
    let exe = compile("fork", Link::Shared);
    let mut parent = config(&c, "fork-parent");
    parent["buffer_bytes"] = json!(64 << 20);
    let child = config(&c, "fork-child");
    let output = run(
        program(&exe, &[&parent.to_string(), &child.to_string()]),
        Duration::from_secs(300),
    );
    let hammered: usize = String::from_utf8_lossy(&output.stdout)
        .trim()
        .strip_prefix("hammer writes: ")
        .and_then(|n| n.parse().ok())
        .expect("the program reports how many writes its threads made");
    let children = entries(&c, "fork-child", 50);
    let mut said: Vec<String> = children.iter().map(|e| text(e).to_owned()).collect();
    said.sort_by_key(|s| s.split(' ').nth(1).and_then(|k| k.parse::<u32>().ok()));
    let expected: Vec<String> = (0..50).map(|k| format!("child {k} says hi")).collect();
    assert_eq!(said, expected, "every child logged again after log_init");
    let parents = entries(&c, "fork-parent", hammered + 2);
    assert_eq!(parents.len(), hammered + 2, "the parent lost nothing");
    assert_eq!(text(&parents[0]), "parent before fork");
    assert_eq!(text(parents.last().unwrap()), "parent after fork");
}

#[test]
fn a_fork_child_does_not_keep_the_spool_locked() {
    let c = collector();
    let exe = compile("spool_fork", Link::Shared);
    let dir = work_dir().join(format!("spool-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = config(&c, "spool-fork");
    config["spool_dir"] = json!(dir);
    run(
        program(&exe, &[&config.to_string()]),
        Duration::from_secs(60),
    );
    let stored = entries(&c, "spool-fork", 2);
    assert_eq!(
        stored.iter().map(text).collect::<Vec<_>>(),
        ["before fork", "after fork"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_whole_life_cycle_is_clean_under_valgrind() {
    let valgrind = tool("valgrind", "valgrind");
    let c = collector();
    let exe = compile("valgrind", Link::Shared);
    let mut command = Command::new(valgrind);
    command
        .args([
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ])
        .arg(&exe)
        .arg(config(&c, "valgrind").to_string());
    let output = run(command, Duration::from_secs(600));
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        report.contains("ERROR SUMMARY: 0 errors"),
        "valgrind reported errors:\n{report}"
    );
    let stored = entries(&c, "valgrind", 201);
    assert_eq!(stored.len(), 201);
}

#[test]
fn example_builds_with_pkg_config_after_make_install() {
    let make = tool("make", "make");
    let pkg_config = tool("pkg-config", "pkg-config");
    let lib = library_dir();
    let prefix = work_dir().join("prefix");
    let _ = std::fs::remove_dir_all(&prefix);
    let mut install = Command::new(make);
    install
        .args(["-C", CRATE, "install"])
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("LIB_DIR={}", lib.display()))
        .arg("LDCONFIG=true");
    check(install, "make install");

    // Exactly the documented command line, through a shell.
    let app = work_dir().join("example_app");
    let mut build = Command::new("sh");
    build
        .arg("-c")
        .arg(format!(
            "cc {CRATE}/app.c $({pkg_config} --cflags --libs logship) -o {}",
            app.display()
        ))
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"));
    check(build, "cc app.c $(pkg-config --cflags --libs logship)");

    let c = collector();
    let mut command = Command::new(&app);
    command
        .arg(c.url())
        .env("LD_LIBRARY_PATH", prefix.join("lib"));
    let output = run(command, Duration::from_secs(60));
    assert!(String::from_utf8_lossy(&output.stdout).contains("written 3, uploaded 3, dropped 0"));
    let stored = entries(&c, "c-example", 3);
    let texts: Vec<&str> = stored.iter().map(text).collect();
    assert_eq!(texts, ["hello from C", "a level-1 line", ""]);
    assert_eq!(stored[1].entry["v"], 1);
    assert_eq!(stored[2].entry["event"], "started");
}
