#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (issue 6): `scripts/fuzz.sh [seconds]`, default 60.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Seeds: fuzz/corpus/<target>/ (committed); what a run adds there stays untracked (fuzz/.gitignore).
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-target}-fuzz}"
# FUZZ_SANITIZER=none builds much faster (CI); by hand keep AddressSanitizer for the C in SQLite/zstd.
sanitizer="${FUZZ_SANITIZER:-address}"
for target in encode ingest; do
    echo "== fuzz $target for ${seconds}s"
    # -rss_limit_mb: decompression must stay bounded; -max_len: room for compressed bodies.
    cargo +nightly fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1
done
