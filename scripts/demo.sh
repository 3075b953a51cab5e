#!/usr/bin/env bash
# The main job: the collector with its live view, and logs arriving from the Rust, C and browser
# doors. Prints the URL, then keeps the collector running until Ctrl-C.
#   LOGSHIP_LISTEN (default 127.0.0.1:8080), LOGSHIP_DB (default ./logship.db)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

listen="${LOGSHIP_LISTEN:-127.0.0.1:8080}"
db="${LOGSHIP_DB:-./logship.db}"
url="http://$listen"
target="${CARGO_TARGET_DIR:-$PWD/target}"

# The npm package first: the collector embeds the playground's copy of it (www/playground/pkg/).
echo "== building the npm package for the playground page"
(cd bindings/npm && npm run build --silent)
echo "== building the collector, the Rust example and liblogship (release)"
cargo build --release -p logship-collector
cargo build --release --example ship
cargo build --release -p logship-ffi --lib

"$target/release/logship-collector" --listen "$listen" --db "$db" &
collector=$!
trap 'kill $collector 2>/dev/null; wait $collector 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$url/healthz" >/dev/null || { echo "the collector did not start on $listen" >&2; exit 1; }

echo "== Rust door"
"$target/release/examples/ship" "$url" rust.example.com 200
echo "== C door"
make -s -C bindings/c app CARGO_TARGET_DIR="$target" >/dev/null
bindings/c/app "$url"
echo "== browser door"
node scripts/demo-browser.mjs "$url"

echo
echo "logship live view: $url/   (playground: $url/playground.html) — Ctrl-C to stop"
wait $collector
