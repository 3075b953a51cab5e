// Opens the logship live view in headless Debian Chromium and waits until given lines show in the DOM.
//
//   LOGSHIP_URL=http://127.0.0.1:8080 LOGSHIP_EXPECT='["line one","line two"]' node tests/e2e/live_view.mjs
//
// Env: LOGSHIP_URL (collector base URL, required), LOGSHIP_EXPECT (JSON array of substrings, required),
// LOGSHIP_TIMEOUT_MS (default 30000), LOGSHIP_SCREENSHOT (default <repo>/target/e2e/live_view.png),
// LOGSHIP_CHROMIUM (default /usr/bin/chromium).
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
  };
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
