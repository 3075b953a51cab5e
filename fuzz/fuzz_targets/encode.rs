//! Any write → at most one entry: valid UTF-8, one line ending in `\n`, a JSON object; never a
//! panic. The first input byte picks options (low memory, proc id/seq, client time).
#![no_main]

use libfuzzer_sys::fuzz_target;
use logship::fuzzing::{EncodeOptions, Encoder, EntryMeta, TEXT_LIMIT, TEXT_LIMIT_LOW_MEMORY};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, write)) = data.split_first() else {
        return;
    };
    let options = EncodeOptions {
        skip_client_time: flags & 1 != 0,
        proc_id: (flags & 2 != 0).then_some(7),
        include_proc_seq: flags & 4 != 0,
        text_limit: if flags & 8 != 0 {
            TEXT_LIMIT_LOW_MEMORY
        } else {
            TEXT_LIMIT
        },
        // A small object limit reaches the "entry too large" path with small inputs.
        object_limit: if flags & 16 != 0 { 64 } else { 256 * 1024 },
    };
    let meta = EntryMeta {
        unix_nanos: i64::from(flags) * 1_000_000_007 - 5,
        proc_seq: 1,
        metrics: (flags & 32 != 0).then_some("cpu=\"1\"\n"),
    };
    let mut entry = Vec::new();
    Encoder::new(options).encode(write, &meta, &mut entry);
    if write.is_empty() {
        assert!(entry.is_empty());
        return;
    }
    let text = std::str::from_utf8(&entry).expect("entry is UTF-8");
    let line = text.strip_suffix('\n').expect("entry ends in a newline");
    assert!(!line.contains('\n'), "entry is one line: {line:?}");
    let value: serde_json::Value = serde_json::from_str(line).expect("entry is JSON");
    assert!(value.is_object(), "entry is an object: {line}");
});
