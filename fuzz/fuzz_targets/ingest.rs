//! Any upload (headers and body) → a status from the collector's decode and parse; never a panic,
//! and decompression stays bounded (libFuzzer's -rss_limit_mb catches a blow-up).
//! Input: byte 0 picks OTLP or logtail and the Content-Encoding; bytes 1..3 an optional
//! Orig-Content-Length; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Small, so that the bound is exercised; the real default is 8 MiB.
const MAX_BODY: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (length, body) = rest.split_at(rest.len().min(2));
    let encoding: &[u8] = match flags & 3 {
        0 => b"zstd",
        1 => b"gzip",
        2 => b"identity",
        _ => b"br",
    };
    let orig = match length {
        [hi, lo] if flags & 4 != 0 => (u32::from(*hi) << 8 | u32::from(*lo)).to_string(),
        _ => String::new(),
    };
    let mut headers: Vec<(&str, &[u8])> = vec![("content-encoding", encoding)];
    if !orig.is_empty() {
        headers.push(("orig-content-length", orig.as_bytes()));
    }
    let status = logship_collector::check_upload(&headers, body, MAX_BODY, flags & 8 != 0);
    assert!((200..600).contains(&status), "{status}");
});
