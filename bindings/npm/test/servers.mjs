// What the browser tests run against, all on loopback: the real collector (collector/, started as
// a process on port 0, in memory), a fault-injecting proxy in front of it, a static file server,
// and Debian's Chromium through playwright-core.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { homedir, tmpdir } from "node:os";
import { delimiter, dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repo = resolve(pkg, "../..");
export const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, "target");
export const env = { ...process.env, PATH: [join(homedir(), ".cargo", "bin"), process.env.PATH].join(delimiter) };
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", env, ...options });
  if (result.error) throw new Error(`${cmd}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${result.status}`);
}

/** Builds dist/ unless it is there already (LOGSHIP_REBUILD=1 forces a build). */
export function ensureBuilt() {
  if (process.env.LOGSHIP_REBUILD || !existsSync(join(pkg, "dist", "logship_bg.wasm"))) {
    run("node", [join(pkg, "scripts", "build.mjs")]);
  }
}

/** Packs the package (`npm pack`) and extracts the tarball into `dir`/node_modules/logship, as npm would install it. */
export function installPacked(dir) {
  const out = spawnSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: pkg, env, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`npm pack exited with ${out.status}: ${out.stderr}`);
  const [{ filename }] = JSON.parse(out.stdout);
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  run("tar", ["-xzf", join(dir, filename), "-C", join(dir, "node_modules")]);
  renameSync(join(dir, "node_modules", "package"), join(dir, "node_modules", "logship"));
}

/** Starts `logship-collector --listen 127.0.0.1:0 --memory`; resolves with { url, stop }. */
export async function startCollector() {
  run("cargo", ["build", "--quiet", "-p", "logship-collector"], { cwd: repo });
  const bin = join(targetDir, "debug", "logship-collector");
  const child = spawn(bin, ["--listen", "127.0.0.1:0", "--memory"], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`collector did not start: ${out}`)), 20000);
    child.on("exit", (code) => fail(new Error(`collector exited with ${code}: ${out}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
  });
  child.stdout.resume();
  return {
    url,
    stop: () => new Promise((ok) => (child.exitCode !== null ? ok() : (child.once("exit", ok), child.kill()))),
  };
}

/** The entries the collector stored for a collection, oldest first (as parsed JSON). */
export async function entries(collectorUrl, collection) {
  const all = [];
  for (let since = 0; ; ) {
    const response = await fetch(`${collectorUrl}/api/entries?collection=${collection}&since=${since}&limit=1000`);
    if (!response.ok) throw new Error(`GET /api/entries: ${response.status}`);
    const rows = (await response.json()).entries;
    if (!rows.length) return all;
    since = rows[rows.length - 1].id;
    all.push(...rows.map((row) => row.entry));
  }
}

/** Polls until `collection` holds at least `n` entries or `ms` pass. */
export async function waitForEntries(collectorUrl, collection, n, ms = 10000) {
  const until = Date.now() + ms;
  for (;;) {
    const got = await entries(collectorUrl, collection);
    if (got.length >= n || Date.now() > until) return got;
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

function listen(server) {
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(`http://127.0.0.1:${server.address().port}`)));
}

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => ok(Buffer.concat(chunks)));
    req.on("error", fail);
  });
}

/**
 * A proxy in front of the collector that records every upload attempt and injects faults:
 * POST /{mode}/c/{collection}/{id}, mode = ok | retry-N (the first N attempts of each batch get
 * 503 with Retry-After: 1) | fail (always 503) | redirect-{status}-{same|other} (a redirect to
 * /ok/c/{collection}/{id} on this proxy or on another loopback server, which records every request
 * it gets) | delay-N (every request, preflights included, answered N ms later: a network round
 * trip). GET /log?collection=C lists the attempts; GET /elsewhere lists what the other server
 * got; GET /api/… is the collector's read API, for pages (the collector refuses reads from other
 * origins).
 */
export async function startFaultProxy(collectorUrl) {
  const log = [];
  const tries = new Map();
  const cors = { "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After" };
  const elsewhereLog = [];
  const elsewhere = createServer((req, res) => {
    elsewhereLog.push({ method: req.method, path: req.url, referer: req.headers.referer || null });
    res.writeHead(200, { ...cors, "Access-Control-Allow-Headers": "*", "Access-Control-Allow-Methods": "*" });
    res.end();
  });
  const elsewhereUrl = await listen(elsewhere);
  let proxyUrl;
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://proxy");
      const delay = url.pathname.match(/^\/delay-(\d+)\//);
      if (delay) await new Promise((ok) => setTimeout(ok, Number(delay[1])));
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          ...cors,
          "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
          "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] || "",
          "Access-Control-Max-Age": "600",
        });
        return res.end();
      }
      if (req.method === "GET" && url.pathname === "/log") {
        const collection = url.searchParams.get("collection");
        res.writeHead(200, { ...cors, "Content-Type": "application/json" });
        return res.end(JSON.stringify(log.filter((a) => a.collection === collection)));
      }
      if (req.method === "GET" && url.pathname === "/elsewhere") {
        res.writeHead(200, { ...cors, "Content-Type": "application/json" });
        return res.end(JSON.stringify(elsewhereLog));
      }
      // The collector's reads refuse other origins, the test page's included: pages read through here.
      if (req.method === "GET" && url.pathname.startsWith("/api/")) {
        const read = await fetch(`${collectorUrl}${url.pathname}${url.search}`);
        res.writeHead(read.status, { ...cors, "Content-Type": "application/json" });
        return res.end(await read.text());
      }
      const m = url.pathname.match(/^\/([^/]+)\/c\/([^/]+)\/([^/]+)$/);
      // A GET of an upload path is logged too (a followed 301/302/303 would turn the POST into one).
      if (!m || (req.method !== "POST" && req.method !== "GET")) {
        res.writeHead(404, cors);
        return res.end("not found\n");
      }
      const [, mode, collection, id] = m;
      const body = await readBody(req);
      const batch = req.headers["logship-batch"] || null;
      const attempt = {
        collection,
        mode,
        batch,
        encoding: req.headers["content-encoding"] || null,
        orig_length: req.headers["orig-content-length"] ? Number(req.headers["orig-content-length"]) : null,
        content_type: req.headers["content-type"] || null,
        body_bytes: body.length,
        at_ms: Date.now(),
        referer: req.headers.referer || null,
        method: req.method,
        status: 0,
      };
      log.push(attempt);
      if (req.method !== "POST") {
        attempt.status = 405;
        res.writeHead(405, cors);
        return res.end();
      }
      const redirect = mode.match(/^redirect-(\d+)-(same|other)$/);
      if (redirect) {
        attempt.status = Number(redirect[1]);
        const to = redirect[2] === "same" ? proxyUrl : elsewhereUrl;
        res.writeHead(attempt.status, { ...cors, Location: `${to}/ok/c/${collection}/${id}` });
        return res.end("moved\n");
      }
      const key = `${collection}/${batch}`;
      const n = (tries.get(key) || 0) + 1;
      tries.set(key, n);
      const retry = mode.match(/^retry-(\d+)$/);
      if (mode === "fail" || (retry && n <= Number(retry[1]))) {
        attempt.status = 503;
        res.writeHead(503, { ...cors, ...(retry ? { "Retry-After": "1" } : {}) });
        return res.end("try again later\n");
      }
      const headers = {};
      for (const h of ["content-type", "content-encoding", "orig-content-length", "logship-batch"]) {
        if (req.headers[h]) headers[h] = req.headers[h];
      }
      const forwarded = await fetch(`${collectorUrl}/c/${collection}/${id}`, { method: "POST", headers, body });
      attempt.status = forwarded.status;
      res.writeHead(forwarded.status, { ...cors, "Content-Type": "application/json" });
      res.end(await forwarded.text());
    } catch (err) {
      res.writeHead(500, cors);
      res.end(`proxy: ${err.message}\n`);
    }
  });
  const url = await listen(server);
  proxyUrl = url;
  const stop = (s) => new Promise((ok) => s.close(ok));
  return { url, log, stop: () => Promise.all([stop(server), stop(elsewhere)]) };
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".ts": "text/plain; charset=utf-8",
};

/** A plain static file server for `root`. */
export async function startStatic(root) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://static").pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      res.writeHead(403);
      return res.end();
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) {
      res.writeHead(404);
      return res.end("not found\n");
    }
    const headers = { "Content-Type": TYPES[extname(file)] || "application/octet-stream", "Cache-Control": "no-store" };
    // `?isolated`: a cross-origin isolated page, where performance.now() is precise to 5 µs
    // rather than 100 µs (the write benchmark).
    if (new URL(req.url, "http://static").searchParams.has("isolated")) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
    }
    res.writeHead(200, headers);
    res.end(readFileSync(file));
  });
  const url = await listen(server);
  // Chromium keeps idle connections open for minutes; close() alone would wait for them.
  const stop = () => new Promise((ok) => (server.close(ok), server.closeAllConnections()));
  return { url, stop };
}

/** Debian's Chromium, headless, with a fresh profile. */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "logship-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function unique(prefix) {
  return `${prefix}-${Math.random().toString(16).slice(2, 10)}${Date.now().toString(16)}`;
}
