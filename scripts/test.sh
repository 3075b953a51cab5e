#!/usr/bin/env bash
# Every test, through real parts: loopback HTTP servers, the system C compiler and valgrind,
# Chromium, Firefox and WebKit (wasm-bindgen-test, and page tests through Playwright and WebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== Rust: core, shared vectors, native door, C door, facades, OTLP, destinations, spool, collector and its live view"
cargo test --workspace --all-features

echo "== the core compiles for wasm32"
cargo check -p logship --target wasm32-unknown-unknown

echo "== browser door: build the npm package, then wasm tests and page tests in Chromium, Firefox and WebKit"
(cd bindings/npm && npm run build && npm test)

echo "== packaging: every crate packages (the verifying build: cargo package --workspace), the npm package packs"
cargo package --workspace --no-verify --allow-dirty --quiet
(cd bindings/npm && npm pack --dry-run 2>&1 | grep "dist/logship_bg.wasm" >/dev/null) ||
  { echo "npm pack: dist/logship_bg.wasm is not in the package" >&2; exit 1; }
