// The three browser engines the tests run in, each with what drives it: Debian's Chromium through
// playwright-core (and chromedriver for wasm-bindgen-test), Firefox ESR through geckodriver, and
// WebKitGTK's MiniBrowser through WebKitWebDriver under Xvfb (WebKit has no headless mode here).
// Playwright can only drive its own patched Firefox and WebKit builds, so those two are driven over
// W3C WebDriver by the small client below. Every engine opens pages with the same interface:
// goto, evaluate(fn, arg), waitFor(fn), waitForURL(re), errors(), close().

import { spawn } from "node:child_process";
import { createServer } from "node:net";

import { env, launchChromium } from "./servers.mjs";

/** Runs a command under a fresh X server (`xvfb-run -a` picks a free display). */
const underXvfb = (cmd) => ["xvfb-run", "-a", ...cmd];

export const ENGINES = {
  chromium: {
    name: "Chromium",
    runnerEnv: { CHROMEDRIVER: process.env.CHROMEDRIVER || "/usr/bin/chromedriver" },
    wrap: (cmd) => cmd,
    launch: async () => {
      const browser = await launchChromium();
      return { newPage: () => playwrightPage(browser.context), close: () => browser.close() };
    },
  },
  firefox: {
    name: "Firefox",
    // Its process hang monitor may terminate the scripts of a closing tab while another tab of the
    // same site is open: a page-exit drain can be cut (README, "Page exit, per engine").
    cutsClosingTabs: true,
    runnerEnv: { GECKODRIVER: process.env.GECKODRIVER || "geckodriver" },
    wrap: (cmd) => cmd,
    launch: () =>
      webDriver([process.env.GECKODRIVER || "geckodriver"], {
        browserName: "firefox",
        "moz:firefoxOptions": { args: ["-headless"] },
      }),
  },
  webkit: {
    name: "WebKit",
    // wasm-bindgen-test-runner speaks to WebKitWebDriver as to safaridriver (plain W3C sessions).
    runnerEnv: { SAFARIDRIVER: process.env.WEBKITDRIVER || "WebKitWebDriver" },
    wrap: underXvfb,
    launch: () => webDriver(underXvfb([process.env.WEBKITDRIVER || "WebKitWebDriver"]), {}),
  },
};

async function playwrightPage(context) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  return {
    goto: (url) => page.goto(url),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    waitFor: (fn, ms = 10000) => page.waitForFunction(fn, undefined, { timeout: ms }),
    waitForURL: (re) => page.waitForURL(re),
    errors: async () => errors,
    close: (options) => page.close(options),
  };
}

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
    server.on("error", fail);
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/**
 * Starts a WebDriver server (`cmd` plus --port) and one browser session with `capabilities`.
 * Pages are tabs of that session; the session's first tab stays open, so that closing a page never
 * ends the browser.
 */
async function webDriver(cmd, capabilities) {
  const port = await freePort();
  const [bin, ...args] = [...cmd, `--port=${port}`];
  // In a process group of its own: stopping it stops the browser and, for WebKit, Xvfb too.
  const child = spawn(bin, args, { env, detached: true, stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise((ok) => child.once("exit", ok));
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const { value } = await response.json();
    if (!response.ok) throw new Error(`${bin} ${method} ${path}: ${value.error}: ${value.message}`);
    return value;
  };
  for (let tries = 0; ; tries++) {
    try {
      if ((await call("GET", "/status")).ready) break;
    } catch (err) {
      if (tries > 100 || child.exitCode !== null) throw new Error(`${bin} did not start: ${err.message}`);
    }
    await sleep(100);
  }
  const { sessionId } = await call("POST", "/session", { capabilities: { alwaysMatch: capabilities } });
  const session = (method, path, body) => call(method, `/session/${sessionId}${path}`, body);
  await session("POST", "/timeouts", { script: 120000, pageLoad: 60000 });
  const home = await session("GET", "/window");
  let current = home;
  const use = async (handle) => {
    if (current !== handle) await session("POST", "/window", { handle });
    current = handle;
  };

  const newPage = async () => {
    await use(home);
    const { handle } = await session("POST", "/window/new", { type: "tab" });
    await use(handle);
    const evaluate = async (fn, arg) => {
      await use(handle);
      // Settled in a microtask, before a navigation the function may start takes the page away.
      const script = `const done = arguments[arguments.length - 1];
        new Promise((ok) => ok((${fn})(arguments[0]))).then(
          (value) => done({ value }),
          (err) => done({ error: String((err && err.stack) || err) }));`;
      const result = await session("POST", "/execute/async", { script, args: [arg ?? null] });
      if (result.error) throw new Error(result.error);
      return result.value;
    };
    const poll = async (what, check, ms) => {
      for (const until = Date.now() + ms; ; await sleep(100)) {
        const value = await check();
        if (value) return value;
        if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      }
    };
    return {
      goto: async (url) => (await use(handle), session("POST", "/url", { url })),
      evaluate,
      waitFor: (fn, ms = 10000) => poll(String(fn), () => evaluate(fn), ms),
      waitForURL: (re, ms = 10000) => poll(String(re), async () => (await use(handle), re.test(await session("GET", "/url"))), ms),
      // What logger.html recorded of the page's uncaught errors (WebDriver has no page-error event).
      errors: () => evaluate(() => window.pageErrors ?? []),
      // Closing a tab through WebDriver runs its unload steps (pagehide) as a user's close does.
      close: async () => {
        await use(handle);
        await session("DELETE", "/window");
        current = undefined;
        await use(home);
      },
    };
  };

  return {
    newPage,
    close: async () => {
      await session("DELETE", "").catch(() => {});
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      await exited;
    },
  };
}
