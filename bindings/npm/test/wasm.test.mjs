// Runs tests/web.rs (wasm-bindgen-test, run_in_browser) in every engine — headless Chromium,
// Firefox and WebKit (WebKitGTK's MiniBrowser, under Xvfb) — against the collector and the fault
// proxy, whose URLs the tests receive at compile time (one pair for all engines: one build).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";

import { ENGINES } from "./engines.mjs";
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

for (const engine of Object.values(ENGINES)) {
  test(`web runtime in ${engine.name} (cargo test --target wasm32-unknown-unknown --test web)`, async () => {
    const [cmd, ...args] = engine.wrap(["cargo", "test", "--target", "wasm32-unknown-unknown", "--test", "web"]);
    // wasm-bindgen-test-runner takes the first driver variable it finds: set only this engine's.
    const { CHROMEDRIVER, GECKODRIVER, SAFARIDRIVER, ...rest } = env;
    // Asynchronously: the fault proxy runs in this process and must keep serving.
    const child = spawn(cmd, args, {
      cwd: repo,
      stdio: "inherit",
      env: {
        ...rest,
        ...engine.runnerEnv,
        LOGSHIP_COLLECTOR_URL: collector.url,
        LOGSHIP_FAULT_URL: proxy.url,
        WASM_BINDGEN_TEST_TIMEOUT: process.env.WASM_BINDGEN_TEST_TIMEOUT || "300",
      },
    });
    const status = await new Promise((ok) => child.on("exit", (code) => ok(code)));
    assert.equal(status, 0, `the wasm-bindgen tests failed in ${engine.name} (see above)`);
  });
}
