// The browser door in the demo: headless Chromium opens the collector's playground page, which
// loads the npm package, and ships a few lines from the page. Usage: node scripts/demo-browser.mjs URL
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("../tests/e2e/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const url = process.argv[2] ?? "http://127.0.0.1:8080";

const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "logship-demo-")), {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${url}/playground.html`);
  await page.fill("#collection", "browser.example.com");
  await page.click("#start");
  await page.waitForSelector("#writer button[type=submit]:not([disabled])");
  for (const line of ["hello from the browser door", "[v1] a verbose line from a web page", "user clicked checkout"]) {
    await page.fill("#line", line);
    await page.click("#writer button[type=submit]");
  }
  await page.click("#json");
  await page.click("#flush");
  await page.waitForTimeout(1500);
  console.log(`browser door: shipped 4 entries from ${url}/playground.html`);
} finally {
  await browser.close();
}
