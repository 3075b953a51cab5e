#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh machine (Debian, root), and nothing
# that is already there. Idempotent; safe to run before every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen pin in Cargo.toml

GECKODRIVER_VERSION=0.37.1

# The browser tests run in Chromium, Firefox (geckodriver) and WebKit (WebKitWebDriver, under Xvfb).
apt_packages=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth pkg-config valgrind make g++)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  echo "install-deps: cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes a few minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [[ "$(geckodriver --version 2>/dev/null | head -n1)" != "geckodriver $GECKODRIVER_VERSION"* ]]; then
  echo "install-deps: cargo install geckodriver $GECKODRIVER_VERSION (takes a few minutes)"
  cargo install geckodriver --version "$GECKODRIVER_VERSION" --locked
fi

# The OTLP test validates bodies against the official protobuf schema.
python3 -c "import opentelemetry.proto, google.protobuf" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check opentelemetry-proto protobuf
# The collector's OTLP test ships through a real OpenTelemetry SDK (collector/tests/otlp/python_sdk.py).
python3 -c "import opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check opentelemetry-sdk opentelemetry-exporter-otlp-proto-http

for dir in bindings/npm tests/e2e; do
  if [[ -f "$dir/package-lock.json" ]]; then
    # Exactly what the committed lock records (it lists every platform's optional packages).
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
