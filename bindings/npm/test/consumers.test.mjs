// The packed package (`npm pack`) as apps consume it: bundled by esbuild, Vite and webpack 5 with no
// warning at all, each bundle run in headless Chromium against the real collector; and a consumer
// TypeScript file using every documented option and method, checked by `tsc --strict`.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import * as esbuild from "esbuild";
import { build as viteBuild, createLogger } from "vite";
import webpack from "webpack";

import { ensureBuilt, entries, installPacked, launchChromium, pkg, run, startCollector, startStatic, unique } from "./servers.mjs";

let app;
let collector;
let browser;

// The README's example, with the level methods and a child logger.
const MAIN_JS = `import init, { Logger } from "logship";

const q = new URLSearchParams(location.search);
await init();
const log = new Logger({ baseUrl: q.get("collector"), collection: q.get("collection"), flushDelayMs: 0 });
log.info("bundled", { bundler: q.get("bundler") });
log.child({ requestId: "r-1" }).warn("from a child", { attempt: 2 });
log.write("a text line");
await log.flush(10000);
window.done = log.stats();
`;

before(async () => {
  ensureBuilt();
  app = mkdtempSync(join(tmpdir(), "logship-consumers-"));
  installPacked(app);
  writeFileSync(join(app, "main.js"), MAIN_JS);
  collector = await startCollector();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  if (app) rmSync(app, { recursive: true, force: true });
});

/** Serves `dir`, opens its index.html in Chromium, and checks what the bundle's logger delivered. */
async function runsInChromium(dir, bundler) {
  const site = await startStatic(dir);
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  try {
    const collection = unique(`bundle-${bundler}`);
    await page.goto(`${site.url}/?collector=${encodeURIComponent(collector.url)}&collection=${collection}&bundler=${bundler}`);
    const stats = await page.waitForFunction(() => window.done).then((h) => h.jsonValue());
    assert.equal(stats.uploaded, 3);
    const got = (await entries(collector.url, collection)).map(({ logtail, ...entry }) => entry);
    assert.deepEqual(got, [
      { level: "INFO", message: "bundled", fields: { bundler } },
      { level: "WARN", message: "from a child", fields: { requestId: "r-1", attempt: 2 } },
      { text: "a text line" },
    ]);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await site.stop();
  }
}

const moduleHtml = `<!doctype html><meta charset="utf-8"><title>app</title><script type="module" src="./main.js"></script>\n`;

test("esbuild bundles the package without a warning", async () => {
  const out = join(app, "out-esbuild");
  const result = await esbuild.build({
    entryPoints: [join(app, "main.js")],
    bundle: true,
    format: "esm",
    target: "es2022",
    outdir: out,
    logLevel: "silent",
  });
  assert.deepEqual(result.warnings, []);
  assert.deepEqual(result.errors, []);
  // esbuild leaves `new URL("logship_bg.wasm", import.meta.url)` as it is: the file goes next to
  // the bundle (what an asset plugin does; the README says so).
  copyFileSync(join(app, "node_modules", "logship", "dist", "logship_bg.wasm"), join(out, "logship_bg.wasm"));
  writeFileSync(join(out, "index.html"), moduleHtml);
  await runsInChromium(out, "esbuild");
});

test("Vite bundles the package without a warning", async () => {
  const out = join(app, "out-vite");
  writeFileSync(join(app, "index.html"), moduleHtml);
  const warnings = [];
  const logger = createLogger("warn");
  logger.warn = logger.warnOnce = (msg) => warnings.push(msg);
  await viteBuild({ root: app, configFile: false, logLevel: "warn", customLogger: logger, build: { outDir: out } });
  assert.deepEqual(warnings, []);
  const assets = readdirSync(join(out, "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), assets.join());
  await runsInChromium(out, "vite");
});

test("webpack 5 bundles the package without a warning", async () => {
  const out = join(app, "out-webpack");
  const stats = await new Promise((ok, fail) =>
    webpack({ mode: "production", context: app, entry: "./main.js", output: { path: out } }, (err, s) => (err ? fail(err) : ok(s))),
  );
  const { warnings, errors } = stats.toJson({ all: false, warnings: true, errors: true });
  assert.deepEqual(warnings.map((w) => w.message), []);
  assert.deepEqual(errors.map((e) => e.message), []);
  assert.ok(readdirSync(out).some((f) => f.endsWith(".wasm")), readdirSync(out).join());
  writeFileSync(join(out, "index.html"), `<!doctype html><meta charset="utf-8"><title>app</title><script src="./main.js"></script>\n`);
  await runsInChromium(out, "webpack");
});

test("a TypeScript consumer using every documented option and method type-checks with tsc --strict", () => {
  copyFileSync(join(pkg, "test", "types", "consumer.ts"), join(app, "consumer.ts"));
  // esnext.disposable: wasm-bindgen's types give Logger a [Symbol.dispose] (the README says so).
  const tsc = join(pkg, "node_modules", "typescript", "bin", "tsc");
  const flags = ["--strict", "--noEmit", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler"];
  run("node", [tsc, ...flags, "--lib", "es2022,dom,esnext.disposable", "--types", "", "consumer.ts"], { cwd: app });
});
