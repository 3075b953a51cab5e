// The live view of a collector started with --token, in headless Debian Chromium: the page asks for the
// token once, then shows the stored lines (its tail carries the token as a WebSocket subprotocol) and the
// counts (its fetches carry it as Authorization); no request URL holds the token; a reload in the same tab
// does not ask again.
//
//   LOGSHIP_URL=http://127.0.0.1:8080 LOGSHIP_TOKEN=T LOGSHIP_EXPECT='["a stored line"]' node tests/e2e/live_view_token.mjs
//
// Env as for live_view.mjs (LOGSHIP_TIMEOUT_MS, LOGSHIP_CHROMIUM), plus LOGSHIP_TOKEN (required).
// Exits non-zero with the reason on failure.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const url = (process.env.LOGSHIP_URL ?? "").replace(/\/+$/, "") + "/";
const token = process.env.LOGSHIP_TOKEN ?? "";
const expected = JSON.parse(process.env.LOGSHIP_EXPECT ?? "[]");
const timeout = Number(process.env.LOGSHIP_TIMEOUT_MS ?? 30000);
const executablePath = process.env.LOGSHIP_CHROMIUM ?? "/usr/bin/chromium";

function fail(message) {
  console.error(`live_view_token: FAIL: ${message}`);
  process.exitCode = 1;
}

async function shows(page, lines) {
  await page.waitForSelector("#conn.live", { timeout });
  await page.waitForFunction(
    (lines) => lines.every((s) => document.getElementById("log").innerText.includes(s)),
    lines,
    { timeout, polling: 100 },
  );
  await page.waitForFunction(() => document.getElementById("count-all").innerText.trim() !== "0", null, {
    timeout,
    polling: 100,
  });
}

async function main() {
  if (url === "/" || !token || expected.length === 0) throw new Error("set LOGSHIP_URL, LOGSHIP_TOKEN and LOGSHIP_EXPECT");
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "logship-e2e-token-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    let prompts = 0;
    page.on("dialog", (dialog) => {
      prompts += 1;
      dialog.accept(token);
    });
    const hex = Buffer.from(token, "utf8").toString("hex");
    page.on("request", (r) => {
      if (r.url().includes(token) || r.url().includes(hex)) fail(`the token is in a URL: ${r.url()}`);
    });
    await page.goto(url, { timeout });
    await shows(page, expected);
    console.log(`live_view_token: lines and counts shown after ${prompts} prompt(s)`);
    await page.reload({ timeout });
    await shows(page, expected);
    if (prompts !== 1) fail(`asked for the token ${prompts} times, want once per tab`);
    if (!process.exitCode) console.log("live_view_token: ok");
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => fail(e.message));
