//! Ships sample lines through the Rust door: real log lines from tests/data/loghub, a few JSON
//! entries and a level-1 line, then shuts down and says what arrived.
//!
//!     cargo run --example ship -- http://127.0.0.1:8080 [collection] [lines]

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base_url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let collection = args.next().unwrap_or_else(|| "rust.example.com".into());
    let count: usize = args.next().map_or(Ok(200), |n| n.parse())?;

    let log = logship::Logger::builder()
        .base_url(&base_url)
        .collection(&collection)
        .build()?;
    let samples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/loghub/OpenSSH_2k.log"
    );
    let text = std::fs::read_to_string(samples)?;
    for line in text.lines().take(count) {
        log.write(line.as_bytes())?;
    }
    log.write(br#"{"event":"checkout","cart_items":3,"total_eur":42.5,"door":"rust"}"#)?;
    log.write(b"[v1] a verbose detail from the Rust door")?;
    log.shutdown(Duration::from_secs(10))?;
    let stats = log.stats();
    println!(
        "rust door: {} lines to {base_url} as {collection} (public id {}): {} uploaded, {} dropped, {} bytes on the wire",
        stats.written,
        log.public_id(),
        stats.uploaded,
        stats.dropped,
        stats.bytes_on_wire
    );
    Ok(())
}
