// Runs tests/web.rs (wasm-bindgen-test, run_in_browser) in headless Chromium against the collector
// and the fault proxy, whose URLs the tests receive at compile time.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";

import { env, repo, startCollector, startFaultProxy } from "./servers.mjs";

let collector;
let proxy;

before(async () => {
  collector = await startCollector();
  proxy = await startFaultProxy(collector.url);
});

after(async () => {
  await proxy?.stop();
  await collector?.stop();
});

test("web runtime in Chromium (cargo test --target wasm32-unknown-unknown --test web)", async () => {
  // Asynchronously: the fault proxy runs in this process and must keep serving.
  const child = spawn("cargo", ["test", "--target", "wasm32-unknown-unknown", "--test", "web"], {
    cwd: repo,
    stdio: "inherit",
    env: {
      ...env,
      LOGSHIP_COLLECTOR_URL: collector.url,
      LOGSHIP_FAULT_URL: proxy.url,
      CHROMEDRIVER: process.env.CHROMEDRIVER || "/usr/bin/chromedriver",
      WASM_BINDGEN_TEST_TIMEOUT: process.env.WASM_BINDGEN_TEST_TIMEOUT || "300",
    },
  });
  const status = await new Promise((ok) => child.on("exit", (code) => ok(code)));
  assert.equal(status, 0, "the wasm-bindgen tests failed (see above)");
});
