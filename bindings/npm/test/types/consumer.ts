// A consumer of the packed package using every documented option and method: consumers.test.mjs
// type-checks it with `tsc --strict` (it is never run). The @ts-expect-error lines must fail to
// type-check, so the types are known to be more than `any`.

import init, { Logger } from "logship";
import type { DestinationOptions, DestinationStats, LoggerOptions, LogshipStats, LogTap } from "logship";

await init();
await init({ module_or_path: "/assets/logship_bg.wasm" });

const destination: DestinationOptions = {
  baseUrl: "https://logs.example.com",
  collection: "web.example.com",
  privateId: "0".repeat(64),
  flushDelayMs: 2000,
  maxBatchBytes: 262144,
  bufferBytes: 4 << 20,
  onFull: "drop_newest",
  compression: "gzip",
  headers: { Authorization: "Bearer token" },
  retryInitialMs: 1000,
  retryMaxMs: 60000,
  requestTimeoutMs: 45000,
  format: "otlp",
  backupUrl: "https://backup.example.com",
  failoverProbeMs: 30000,
};

const options: LoggerOptions = {
  ...destination,
  onFull: "drop_oldest",
  lowMemory: false,
  compression: "auto",
  skipClientTime: true,
  includeProcId: true,
  includeProcSeq: true,
  stderrLevel: -1,
  format: "logtail",
  destinations: [destination, { baseUrl: "http://127.0.0.1:8080", collection: "second", compression: "none" }],
  captureConsole: true,
  captureErrors: true,
};

const log = new Logger(options);

const taken: boolean[] = [
  log.write("hello"),
  log.write(new Uint8Array([0x68, 0x69])),
  log.json({ event: "click", x: 1 }),
  log.trace("tracing"),
  log.debug("details", { list: [1, 2] }),
  log.info("saved", { id: 7 }),
  log.warn("slow", { ms: 812 }),
  log.error("failed", new Error("boom")),
];

const request: Logger = log.child({ requestId: "r-1" });
request.child({ component: "db" }).info("nested");

const tap: LogTap = log.tap();
tap.onmessage = (ev) => console.log(ev.data.length);
tap.onclose = (ev) => console.log(ev.code);
tap.addEventListener("message", (ev) => console.log(ev.data.toUpperCase()));
tap.addEventListener("close", (ev) => console.log(ev.wasClean));
if (tap.readyState === tap.OPEN || tap.readyState === tap.CONNECTING) tap.close();
const closed: 3 = tap.CLOSED;

const stats: LogshipStats = log.stats();
const counts: number[] = [stats.written, stats.uploaded, stats.dropped, stats.rejected, stats.retries, stats.bytesOnWire, stats.queuedBytes];
const perDestination: DestinationStats[] = log.destinationStats();
const names: string[] = perDestination.map((d) => `${d.name} ${d.usingBackup} ${d.lastError ?? ""} ${d.written}`);
const id: string = log.publicId;
const last: string | undefined = log.lastError;

await log.flush();
await log.flush(10000);
const undelivered: number = await log.shutdown(2000);
console.log(taken, closed, counts, names, id, last, undelivered);

// @ts-expect-error options are camelCase
new Logger({ baseUrl: "http://127.0.0.1:8080", collection: "c", flush_delay_ms: 0 });
// @ts-expect-error onFull is one of two strings
new Logger({ baseUrl: "http://127.0.0.1:8080", collection: "c", onFull: "drop_all" });
// @ts-expect-error a level method takes a message first
log.info({ id: 7 });
// @ts-expect-error a child needs its context
log.child();
