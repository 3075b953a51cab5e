// The npm package as users get it (`npm pack`), from a plain <script type="module"> on a static
// server (bundlers: consumers.test.mjs), in every engine: Chromium, Firefox and WebKit
// (engines.mjs). The collector must hold every line, including the last one written just before the
// page goes away.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { BUDGET_GZIP, CEILING_GZIP, measure } from "../scripts/build.mjs";
import { ENGINES } from "./engines.mjs";
import {
  ensureBuilt,
  entries,
  installPacked,
  pkg,
  repo,
  startCollector,
  startFaultProxy,
  startStatic,
  unique,
  waitForEntries,
} from "./servers.mjs";

let collector;
let proxy;
let site;
let root;

before(async () => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), "logship-pages-"));
  installPacked(root);
  cpSync(join(pkg, "test", "pages"), root, { recursive: true });
  collector = await startCollector();
  proxy = await startFaultProxy(collector.url);
  site = await startStatic(root);
});

after(async () => {
  await site?.stop();
  await proxy?.stop();
  await collector?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function openLogger(browser, collection, extra = {}, query = "") {
  const page = await browser.newPage();
  const options = encodeURIComponent(JSON.stringify({ baseUrl: collector.url, collection, skipClientTime: true, ...extra }));
  await page.goto(`${site.url}/logger.html?options=${options}${query}`);
  await page.waitFor(() => window.ready === true || window.failed);
  assert.equal(await page.evaluate(() => window.failed ?? null), null);
  return page;
}

function texts(got) {
  return got.map((e) => e.text);
}

test("the package ships no more than its size ceiling", () => {
  const { rows, total } = measure();
  console.log(rows.map((r) => `  ${r.file}: ${r.raw} bytes, ${r.gzip} gzipped`).join("\n"));
  console.log(`  total: ${total.raw} bytes, ${total.gzip} gzipped (budget ${BUDGET_GZIP}, ceiling ${CEILING_GZIP})`);
  assert.ok(total.gzip <= CEILING_GZIP, `${total.gzip} bytes gzipped`);
  const packed = readdirSync(join(root, "node_modules", "logship", "dist"));
  // One script (glue.js bundled into logship.js), the wasm and the types.
  assert.deepEqual(packed.sort(), ["logship.d.ts", "logship.js", "logship_bg.wasm", "logship_bg.wasm.d.ts"]);
});

/** Real lines from tests/data/loghub (in the repository), cut or padded to 100 characters
 * (the samples are ASCII: 100 bytes). */
function loghubLines100() {
  const loghub = join(repo, "tests", "data", "loghub");
  return readdirSync(loghub)
    .filter((name) => name.endsWith(".log"))
    .sort()
    .flatMap((name) => readFileSync(join(loghub, name), "utf8").split("\n"))
    .filter((line) => line.length > 0)
    .map((line) => line.repeat(Math.ceil(100 / line.length)).slice(0, 100));
}

for (const engine of Object.values(ENGINES)) {
  describe(engine.name, () => {
    let browser;
    before(async () => (browser = await engine.launch()));
    after(() => browser?.close());

    test("navigating away: every line arrives, including the last one written before leaving", async () => {
      const collection = unique("page-exit");
      const page = await openLogger(browser, collection);
      await page.evaluate(() => {
        for (let i = 0; i < 300; i++) window.log.write(`early line ${i}`);
      });
      // The default flush delay (2 s) ships these the ordinary way.
      await sleep(2500);
      assert.deepEqual(await page.errors(), []);
      await page.evaluate(() => {
        for (let i = 0; i < 100; i++) window.log.write(`late line ${i}`);
        window.log.json({ event: "leaving", at: "the very end" });
        window.log.write("the last line, written just before leaving");
        location.href = "next.html";
      });
      await page.waitForURL(/next\.html/);
      const got = await waitForEntries(collector.url, collection, 402);
      const want = [
        ...Array.from({ length: 300 }, (_, i) => `early line ${i}`),
        ...Array.from({ length: 100 }, (_, i) => `late line ${i}`),
      ];
      // Uploads made on the way out leave together and may land in any order: compare as sets.
      const gotTexts = texts(got).filter((t) => t !== undefined);
      assert.deepEqual([...gotTexts].sort(), [...want, "the last line, written just before leaving"].sort());
      assert.equal(got.filter((e) => e.event === "leaving").length, 1);
      assert.equal(got.length, 402);
      // Also what was thrown on the way out, where the driver keeps errors across pages (Playwright).
      assert.deepEqual(await page.errors(), []);
      await page.close();
    });

    // The figure the README quotes per engine: a page writes LINES lines and navigates away at once,
    // its uploads crossing a 100 ms round trip (the fault proxy's delay, preflights included).
    test("page exit at a 100 ms round trip: lines delivered per trial", async () => {
      const LINES = 200;
      const TRIALS = 5;
      const delivered = [];
      for (let trial = 0; trial < TRIALS; trial++) {
        const collection = unique("page-exit-rtt");
        const page = await openLogger(browser, collection, { baseUrl: `${proxy.url}/delay-100` });
        await page.evaluate((n) => {
          for (let i = 0; i < n; i++) window.log.write(`exit line ${i}`);
          location.href = "next.html";
        }, LINES);
        await page.waitForURL(/next\.html/);
        delivered.push((await waitForEntries(collector.url, collection, LINES, 5000)).length);
        await page.close();
      }
      console.log(`  ${engine.name}: page exit at 100 ms round trip, lines delivered of ${LINES} in ${TRIALS} trials: ${delivered.join(", ")}`);
      assert.deepEqual(delivered, Array(TRIALS).fill(LINES));
    });

    // With another tab of the site open, Firefox's hang monitor often cuts the scripts of a closing
    // tab ("Script terminated by timeout"), the exit handlers included: logship drains again on
    // pagehide, but both can be cut. Printed per engine; Firefox is held to what it does.
    test("closing the tab, with another tab of the site open: lines delivered per close", async () => {
      const LINES = 50;
      const CLOSES = 5;
      const other = await openLogger(browser, unique("page-close-other"));
      const delivered = [];
      for (let trial = 0; trial < CLOSES; trial++) {
        const collection = unique("page-close");
        const page = await openLogger(browser, collection);
        await page.evaluate((n) => {
          for (let i = 0; i < n; i++) window.log.write(`closing line ${i}`);
        }, LINES);
        await page.close({ runBeforeUnload: true });
        const got = await waitForEntries(collector.url, collection, LINES, engine.cutsClosingTabs ? 3000 : 10000);
        delivered.push(got.length);
        // All of the queue or (where the engine cut the handlers) none of it: never part, never twice.
        if (got.length) assert.deepEqual(texts(got).sort(), Array.from({ length: LINES }, (_, i) => `closing line ${i}`).sort());
      }
      await other.close();
      console.log(`  ${engine.name}: closing the tab, lines delivered of ${LINES} in ${CLOSES} closes: ${delivered.join(", ")}`);
      if (engine.cutsClosingTabs) assert.ok(delivered.includes(LINES), delivered.join());
      else assert.deepEqual(delivered, Array(CLOSES).fill(LINES));
    });

    test("hidden tab: the queue leaves at once, and the page goes on logging", async () => {
      const collection = unique("page-hidden");
      const page = await openLogger(browser, collection, { flushDelayMs: 600000 });
      await page.evaluate(() => {
        window.log.write("before hiding");
        Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
        document.dispatchEvent(new Event("visibilitychange"));
      });
      const early = await waitForEntries(collector.url, collection, 1, 5000);
      assert.deepEqual(texts(early), ["before hiding"]);
      const stats = await page.evaluate(async () => {
        window.log.write("after");
        await window.log.flush(10000);
        return window.log.stats();
      });
      assert.deepEqual(texts(await entries(collector.url, collection)), ["before hiding", "after"]);
      assert.equal(stats.uploaded, 2);
      assert.equal(stats.retries, 0);
      await page.close();
    });

    test("level methods and child loggers: the entries of the Rust log/tracing facades arrive", async () => {
      const collection = unique("page-levels");
      const page = await openLogger(browser, collection, { flushDelayMs: 600000 });
      const result = await page.evaluate(async () => {
        const log = window.log;
        const tapped = [];
        log.tap().onmessage = (ev) => tapped.push(ev.data);
        const returned = [
          log.trace("tracing", { step: 1 }),
          log.debug("details [v1] inside", { list: [1, 2] }),
          log.info("saved", { id: 7 }),
          log.warn("slow", { ms: 812.5, ok: false }),
          log.error("failed"),
        ];
        const bound = { requestId: "r-1" };
        const request = log.child(bound);
        bound.requestId = "changed later"; // a child keeps what it was given
        const db = request.child({ component: "db" });
        returned.push(
          request.info("served", { status: 200 }),
          db.warn("retrying", { requestId: "r-2", attempt: 2 }),
          db.debug("no context of its own"),
          log.info("the parent has no bound fields"),
        );
        // What the README documents for input JSON cannot hold as it is.
        const circular = { name: "loop", inner: {} };
        circular.inner.back = circular;
        const shared = { same: true };
        returned.push(
          log.info(42, "not an object"),
          log.info("an array", [1, 2]),
          log.info("circular", circular),
          log.info("shared, not circular", { a: shared, b: shared }),
          log.info("unrepresentable", { big: 10n, nan: NaN, inf: -Infinity, fn: () => 1 }),
          log.error("caught", new Error("bad")),
          log.info("throwing getter", { get bad() { throw new Error("nope"); } }),
          log.warn({ an: "object message" }),
        );
        request.free(); // frees nothing: the child shares the logger
        log.write("write stays");
        log.json({ json: "stays" });
        await log.flush(10000);
        await new Promise((ok) => setTimeout(ok, 0)); // tap events are dispatched from a task
        return { returned, tapped, childIsLogger: request instanceof log.constructor, stats: db.stats() };
      });
      assert.deepEqual(result.returned, Array(17).fill(true));
      assert.equal(result.childIsLogger, true);
      assert.equal(result.stats.uploaded, 19);
      const got = await entries(collector.url, collection);
      const stack = (e) => e.fields?.error?.stack;
      assert.match(stack(got[14]), /^Error: bad\n/);
      delete got[14].fields.error.stack;
      assert.match(got[15].fields.logshipError, /^fields not serializable: Error: nope/);
      got[15].fields.logshipError = "…";
      assert.deepEqual(got, [
        { v: 2, level: "TRACE", message: "tracing", fields: { step: 1 } },
        { v: 1, level: "DEBUG", message: "details [v1] inside", fields: { list: [1, 2] } },
        { level: "INFO", message: "saved", fields: { id: 7 } },
        { level: "WARN", message: "slow", fields: { ms: 812.5, ok: false } },
        { level: "ERROR", message: "failed" },
        { level: "INFO", message: "served", fields: { requestId: "r-1", status: 200 } },
        { level: "WARN", message: "retrying", fields: { requestId: "r-2", component: "db", attempt: 2 } },
        { v: 1, level: "DEBUG", message: "no context of its own", fields: { requestId: "r-1", component: "db" } },
        { level: "INFO", message: "the parent has no bound fields" },
        { level: "INFO", message: "42", fields: { context: "not an object" } },
        { level: "INFO", message: "an array", fields: { context: [1, 2] } },
        { level: "INFO", message: "circular", fields: { name: "loop", inner: { back: "[Circular]" } } },
        { level: "INFO", message: "shared, not circular", fields: { a: { same: true }, b: { same: true } } },
        { level: "INFO", message: "unrepresentable", fields: { big: "10", nan: "NaN", inf: "-inf" } },
        { level: "ERROR", message: "caught", fields: { error: { name: "Error", message: "bad" } } },
        { level: "INFO", message: "throwing getter", fields: { logshipError: "…" } },
        { level: "WARN", message: '{"an":"object message"}' },
        { text: "write stays" },
        { json: "stays" },
      ]);
      // The exact text, member order included, as the facades write it (the tap shows the entry as sent).
      assert.equal(result.tapped[2], '{"level":"INFO","message":"saved","fields":{"id":7}}');
      assert.equal(result.tapped[1], '{"v":1,"level":"DEBUG","message":"details \\u005bv1] inside","fields":{"list":[1,2]}}');
      assert.deepEqual(await page.errors(), []);
      await page.close();
    });

    // A measurement, not a timed assertion (timing asserts flake): it prints the median and p99 µs
    // per call (goals ≤ 1 and ≤ 5) with the default options (the loop: pages/bench.js), and checks
    // only that every write was taken and nothing grew. The page is cross-origin isolated, where
    // performance.now() is finer (Chromium 5 µs, not 100; Firefox 20 µs, not 1 ms).
    test("write() of a 100-byte line: microseconds per call", async () => {
      const collection = unique("page-bench");
      const page = await openLogger(browser, collection, {}, "&isolated");
      assert.equal(await page.evaluate(() => crossOriginIsolated), true);
      const lines = JSON.stringify(loghubLines100());
      const result = JSON.parse(await page.evaluate((json) => window.benchWrites(json), lines));
      const show = (r) => `median ${r.median.toFixed(3)} µs, p99 ${r.p99.toFixed(3)} µs`;
      console.log(`  ${engine.name}: write(100-byte string): ${show(result.string)}; write(100-byte Uint8Array): ${show(result.bytes)}`);
      assert.equal(result.stats.dropped, 0);
      assert.equal(result.stats.written, 440000);
      assert.equal(result.stats.uploaded, 440000, "every round was flushed to the collector");
      // Nothing grows in steady state: not the caller's path, not the uploads between rounds.
      assert.equal(result.grew, 0, "wasm memory grew while measuring");
      await page.evaluate(() => window.log.shutdown(0));
      await page.close();
    });
  });
}
