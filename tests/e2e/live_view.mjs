// Opens the logship live view in headless Debian Chromium and waits until given lines show in the DOM.
//
//   LOGSHIP_URL=http://127.0.0.1:8080 LOGSHIP_EXPECT='["line one","line two"]' node tests/e2e/live_view.mjs
//
// Env: LOGSHIP_URL (collector base URL, required), LOGSHIP_EXPECT (JSON array of substrings, required),
// LOGSHIP_TIMEOUT_MS (default 30000), LOGSHIP_SCREENSHOT (default <repo>/target/e2e/live_view.png),
// LOGSHIP_CHROMIUM (default /usr/bin/chromium). Optional checks of the view's tools:
// - LOGSHIP_CLIENT_TIME='{"line":"…","time":"03:04:05.678"}': that line's row shows that client time
//   (the page formats local time: run with TZ=UTC) beside its received time;
// - LOGSHIP_COLLECTION_CLICK='{"line":"…"}': clicking that row's collection leaves only its collection's rows;
// - LOGSHIP_RANGE='{"from":ms,"inside":[…],"outside":[…]}': dragging on the volume chart from that received
//   time to its right end lists the `inside` lines and none of the `outside` ones.
// Prints "live view open" once the page's tail is connected (a caller can ship live lines from then on),
// saves a screenshot (also on failure), and exits non-zero with the reason on failure.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`live_view: FAIL: ${message}`);
  process.exitCode = 1;
}

function config() {
  const url = process.env.LOGSHIP_URL;
  if (!url) throw new Error("LOGSHIP_URL is not set (the collector's base URL)");
  let expected;
  try {
    expected = JSON.parse(process.env.LOGSHIP_EXPECT ?? "");
  } catch {
    throw new Error("LOGSHIP_EXPECT must be a JSON array of strings");
  }
  if (!Array.isArray(expected) || expected.length === 0 || !expected.every((s) => typeof s === "string")) {
    throw new Error("LOGSHIP_EXPECT must be a non-empty JSON array of strings");
  }
  return {
    url: url.replace(/\/+$/, "") + "/",
    expected,
    timeout: Number(process.env.LOGSHIP_TIMEOUT_MS ?? 30000),
    screenshot: path.resolve(process.env.LOGSHIP_SCREENSHOT ?? path.join(here, "../../target/e2e/live_view.png")),
    chromium: process.env.LOGSHIP_CHROMIUM ?? "/usr/bin/chromium",
    clientTime: optionalJson("LOGSHIP_CLIENT_TIME"),
    collectionClick: optionalJson("LOGSHIP_COLLECTION_CLICK"),
    range: optionalJson("LOGSHIP_RANGE"),
  };
}

function optionalJson(name) {
  const value = process.env[name];
  if (!value) return null;
  try {
    return JSON.parse(value);
  } catch {
    throw new Error(`${name} must be JSON`);
  }
}

// The row (as {time, recv, collection, text}) whose text includes `line`, or null.
async function rowOf(page, line) {
  return page.evaluate((line) => {
    const row = [...document.querySelectorAll("#log .row")].find((r) => r.innerText.includes(line));
    if (!row) return null;
    const text = (sel) => row.querySelector(sel)?.textContent ?? null;
    return { time: text(".time"), recv: text(".recv"), collection: text(".coll-name"), text: row.innerText };
  }, line);
}

async function checkVolumeChart(page, timeout) {
  // Drawn: some pixels of the canvas carry a level colour.
  await page.waitForFunction(
    () => {
      const c = document.getElementById("volume");
      if (!c.width || !c.height || !c.dataset.from) return false;
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let bars = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && px[i + 1] > 120 && px[i] < 120) bars++;
      return bars > 20;
    },
    null,
    { timeout, polling: 200 },
  );
  console.log("volume chart drawn");
}

async function checkClientTime(page, { line, time }) {
  const row = await rowOf(page, line);
  if (!row) return fail(`no row for ${JSON.stringify(line)}`);
  if (row.time !== time) return fail(`client time of ${JSON.stringify(line)} is ${row.time}, expected ${time}`);
  if (!/^\d\d:\d\d:\d\d\.\d{3}$/.test(row.recv ?? "")) return fail(`no received time beside it: ${JSON.stringify(row)}`);
  console.log(`client time ${row.time} shown beside received time ${row.recv}`);
}

async function checkCollectionClick(page, { line }, timeout) {
  const row = await rowOf(page, line);
  if (!row) return fail(`no row for ${JSON.stringify(line)}`);
  await page.locator("#log .row", { hasText: line }).first().locator(".coll-name").click();
  try {
    await page.waitForFunction(
      (name) => {
        const names = [...document.querySelectorAll("#log .row .coll-name")].map((e) => e.textContent);
        return names.length > 0 && names.every((n) => n === name) && document.getElementById("status-extra").textContent.includes(name);
      },
      row.collection,
      { timeout, polling: 100 },
    );
    console.log(`clicking collection ${row.collection} filtered the list`);
  } catch {
    fail(`clicking the collection ${row.collection} did not filter the list`);
  }
  await page.locator('#collections .coll[data-collection=""]').click();
}

async function checkRange(page, { from, inside, outside }, timeout) {
  const box = await page.locator("#volume").boundingBox();
  const span = await page.evaluate(() => {
    const d = document.getElementById("volume").dataset;
    return { from: Number(d.from), to: Number(d.to), left: Number(d.padLeft), right: Number(d.padRight) };
  });
  const plot = box.width - span.left - span.right;
  const x0 = box.x + span.left + ((from - span.from) / (span.to - span.from)) * plot;
  const x1 = box.x + box.width - span.right - 1;
  const y = box.y + box.height / 2;
  await page.mouse.move(x0, y);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, y, { steps: 4 });
  await page.mouse.move(x1, y, { steps: 4 });
  await page.mouse.up();
  try {
    await page.waitForFunction(
      ({ inside, outside }) => {
        if (document.getElementById("banner").hidden) return false;
        const text = document.getElementById("log").innerText;
        return inside.every((s) => text.includes(s)) && !outside.some((s) => text.includes(s));
      },
      { inside, outside },
      { timeout, polling: 100 },
    );
    console.log(`dragging on the chart listed ${inside.length} lines of the range and none of ${outside.length} before it`);
  } catch {
    const text = await page.locator("#log").innerText();
    fail(`after dragging a range: inside missing ${JSON.stringify(inside.filter((s) => !text.includes(s)))}, outside shown ${JSON.stringify(outside.filter((s) => text.includes(s)))}`);
  }
}

async function main() {
  const cfg = config();
  if (!fs.existsSync(cfg.chromium)) {
    throw new Error(`${cfg.chromium} not found: install it with 'apt-get install -y chromium'`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "logship-e2e-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 760 },
  });
  const pageErrors = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));
    await page.goto(cfg.url, { timeout: cfg.timeout });
    await page.waitForSelector("#conn.live", { timeout: cfg.timeout });
    console.log("live view open");
    try {
      await page.waitForFunction(
        (expected) => {
          const text = document.getElementById("log").innerText;
          return expected.every((s) => text.includes(s));
        },
        cfg.expected,
        { timeout: cfg.timeout, polling: 100 },
      );
    } catch {
      const text = await page.locator("#log").innerText();
      const missing = cfg.expected.filter((s) => !text.includes(s));
      fail(`not in the page after ${cfg.timeout} ms: ${JSON.stringify(missing)}`);
    }
    await checkVolumeChart(page, cfg.timeout).catch(() => fail("the volume chart shows no bars"));
    if (cfg.clientTime) await checkClientTime(page, cfg.clientTime);
    if (cfg.collectionClick) await checkCollectionClick(page, cfg.collectionClick, cfg.timeout);
    if (cfg.range) await checkRange(page, cfg.range, cfg.timeout);
    fs.mkdirSync(path.dirname(cfg.screenshot), { recursive: true });
    await page.screenshot({ path: cfg.screenshot });
    console.log(`screenshot: ${cfg.screenshot}`);
    if (pageErrors.length) fail(`errors in the page: ${pageErrors.join(" | ")}`);
    if (!process.exitCode) console.log(`live_view: ok, ${cfg.expected.length} lines seen in the DOM`);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => fail(e.message));
