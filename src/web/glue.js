// The browser plumbing of logship's web door. Rust (src/web/) decides everything; this module only
// touches browser APIs: fetch, sendBeacon, CompressionStream, the clock, the random source, page and
// network events, console and error capture, and the tap's event target. It works in windows and in
// workers.

const g = globalThis;

// Greater than zero while logship itself calls out (tap listeners, its own reports, captured
// writes): console and error capture ignore what happens then, so that a tap listener that logs or
// throws cannot feed the stream it listens to.
let quiet = 0;

function quietly(fn, ...args) {
  quiet++;
  try {
    return fn(...args);
  } finally {
    quiet--;
  }
}

// --- clock --------------------------------------------------------------------------------------

/**
 * Wall-clock milliseconds since the epoch: Date.now(), read on every write. Not
 * performance.timeOrigin + performance.now(): Firefox spends about 2 µs on each performance.now()
 * and as much on timeOrigin (Chromium 0.5 µs; Date.now() 0.3 and 0.2), more than the rest of a
 * write, and on a page that is not cross-origin isolated every engine coarsens it to 0.1–1 ms
 * anyway.
 */
export function now() {
  return Date.now();
}

// --- random -------------------------------------------------------------------------------------

/** Fills `bytes` (at most 65,536 of them) from the browser's random source; throws without one. */
export function fillRandom(bytes) {
  g.crypto.getRandomValues(bytes);
}

// --- bytes --------------------------------------------------------------------------------------

/** Copies the Uint8Array `from` into `to`, a view of wasm memory as long. */
export function copyBytes(from, to) {
  to.set(from);
}

// --- network --------------------------------------------------------------------------------------

const hasKeepalive = typeof Request === "function" && "keepalive" in Request.prototype;
let keepaliveInFlight = 0;

/**
 * Bytes of the browser's keepalive `budget` (Rust's KEEPALIVE_BUDGET) logship can still use (0
 * where fetch keepalive is not supported).
 */
export function keepaliveRoom(budget) {
  return hasKeepalive ? Math.max(0, budget - keepaliveInFlight) : 0;
}

/**
 * POSTs one upload. The request is a keepalive one (it survives the page) when its body fits in
 * `keepaliveLimit` together with the keepalive bodies already in flight. Resolves with
 * [status, Retry-After or null, the first `errorPrefix` bytes of an error response's body or null,
 * whether the answer was a redirect]. Redirects are never followed (`redirect: "manual"`: the
 * browser then hides where one points) and no request carries a Referer.
 */
export function send(url, body, extraHeaders, batchId, encoding, origLength, keepaliveLimit, errorPrefix) {
  const copy = body.slice(); // `body` is a view of wasm memory
  const headers = new Headers(extraHeaders);
  headers.set("Content-Type", "application/json");
  headers.set("Logship-Batch", batchId);
  if (encoding) {
    headers.set("Content-Encoding", encoding);
    headers.set("Orig-Content-Length", String(origLength));
  }
  const keepalive = hasKeepalive && keepaliveInFlight + copy.length <= keepaliveLimit;
  if (keepalive) keepaliveInFlight += copy.length;
  // The browser frees a request's budget when its loader finishes, which is after the response
  // promise resolves: give the budget back only once the body was read to its end and one more
  // task has run, so that a keepalive request started next is never refused for want of room.
  const done = () => {
    if (keepalive) setTimeout(() => (keepaliveInFlight -= copy.length), 0);
  };
  return fetch(url, {
    method: "POST",
    body: copy,
    headers,
    mode: "cors",
    credentials: "omit",
    redirect: "manual",
    referrerPolicy: "no-referrer",
    keepalive,
  }).then(
    async (response) => {
      let body = null;
      try {
        body = await response.arrayBuffer();
      } catch {}
      done();
      const prefix = response.status >= 400 && body ? new Uint8Array(body.slice(0, errorPrefix)) : null;
      return [response.status, response.headers.get("Retry-After"), prefix, response.type === "opaqueredirect"];
    },
    (err) => {
      done();
      throw err;
    },
  );
}

/**
 * navigator.sendBeacon, for pages where fetch keepalive is not possible: no custom headers (so
 * no batch id and no compression), a text/plain body so that no CORS preflight is needed.
 */
export function beacon(url, body) {
  try {
    const nav = g.navigator;
    return !!(nav && nav.sendBeacon && nav.sendBeacon(url, new Blob([body], { type: "text/plain" })));
  } catch {
    return false;
  }
}

/** What a failed upload says: an error's message, a string as it is, else "fetch failed". */
export function failure(err) {
  return isError(err) ? String(err.message) : typeof err === "string" ? err : "fetch failed";
}

export function hasGzip() {
  return typeof g.CompressionStream === "function";
}

/** gzip through CompressionStream. */
export async function gzip(body) {
  const stream = new Blob([body]).stream().pipeThrough(new g.CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function isOnline() {
  return !(g.navigator && g.navigator.onLine === false);
}

// --- page and network events -------------------------------------------------------------------

/**
 * Calls `onHidden` when the page is hidden, `onPageHide` when it goes away and `onOnline` when the
 * network comes back. Returns a function that removes the listeners.
 */
export function watch(onHidden, onPageHide, onOnline) {
  const off = [];
  const on = (target, type, fn) => {
    if (target && typeof target.addEventListener === "function") {
      target.addEventListener(type, fn);
      off.push(() => target.removeEventListener(type, fn));
    }
  };
  const doc = g.document;
  on(doc, "visibilitychange", () => {
    if (doc.visibilityState === "hidden") onHidden();
  });
  on(g, "pagehide", () => onPageHide());
  on(g, "online", () => onOnline());
  return () => off.forEach((f) => f());
}

// --- console and error capture --------------------------------------------------------------------

/** Whether `value` is an Error, of this realm or another (a frame, a WebDriver sandbox). */
function isError(value) {
  return value instanceof Error || Object.prototype.toString.call(value) === "[object Error]";
}

/**
 * An error's stack as V8 writes it, headed by "Name: message": Firefox and WebKit list only the
 * frames, which would lose the message. Undefined when there is no stack.
 */
function stackOf(err) {
  if (!err || typeof err.stack !== "string" || !err.stack) return undefined;
  let head = "";
  try {
    head = String(err);
  } catch {}
  return err.stack.startsWith(head) ? err.stack : `${head}\n${err.stack}`;
}

function describe(value) {
  if (typeof value === "string") return value;
  if (isError(value)) return stackOf(value) || `${value.name}: ${value.message}`;
  if (value !== null && typeof value === "object") {
    try {
      const json = JSON.stringify(value);
      if (typeof json === "string") return json;
    } catch {}
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** console's own formatting, roughly: %s %d %i %f %o %O %j %c substitutions, then the rest, space-separated. */
export function format(args) {
  let rest = args;
  let head = "";
  if (typeof args[0] === "string" && args[0].includes("%")) {
    let i = 1;
    head = args[0].replace(/%([sdifoOjc%])/g, (m, c) => {
      if (c === "%") return "%";
      if (i >= args.length) return m;
      const v = args[i++];
      if (c === "c") return "";
      if (c === "d" || c === "i") return String(parseInt(v, 10));
      if (c === "f") return String(parseFloat(v));
      return describe(v);
    });
    rest = args.slice(i);
  } else if (args.length) {
    head = describe(args[0]);
    rest = args.slice(1);
  }
  return rest.reduce((line, v) => `${line} ${describe(v)}`, head);
}

// console.debug is logtail's [v2] (debug); log and info are level 0; warn and error are level 0
// with a "warn: " / "error: " prefix.
const CONSOLE_PREFIX = { debug: "[v2] ", log: "", info: "", warn: "warn: ", error: "error: " };

/** Wraps console.debug/log/info/warn/error; the original still prints. Returns the undo. */
export function hookConsole(write) {
  const c = g.console;
  const wrappers = {};
  for (const name of Object.keys(CONSOLE_PREFIX)) {
    const original = c[name];
    if (typeof original !== "function") continue;
    const wrapper = function (...args) {
      original.apply(this, args);
      if (quiet) return;
      quietly(() => {
        try {
          write(CONSOLE_PREFIX[name] + format(args));
        } catch {}
      });
    };
    wrappers[name] = [original, wrapper];
    c[name] = wrapper;
  }
  return () => {
    for (const [name, [original, wrapper]] of Object.entries(wrappers)) {
      // Someone may have wrapped console after us: then leave their wrapper (ours goes quiet).
      if (c[name] === wrapper) c[name] = original;
    }
  };
}

/** Forwards uncaught errors and unhandled rejections as JSON entries. Returns the undo. */
export function hookErrors(write) {
  const emit = (entry) => {
    if (quiet) return;
    quietly(() => {
      try {
        write(JSON.stringify(entry));
      } catch {}
    });
  };
  const onError = (e) => {
    if (typeof ErrorEvent === "function" && !(e instanceof ErrorEvent)) return; // resource errors
    const err = e.error;
    emit({
      event: "error",
      message: e.message || (err && err.message) || "error",
      source: e.filename || undefined,
      line: e.lineno || undefined,
      column: e.colno || undefined,
      stack: stackOf(err),
    });
  };
  const onRejection = (e) => {
    const reason = e.reason;
    const isErr = isError(reason);
    emit({
      event: "unhandledrejection",
      message: isErr ? `${reason.name}: ${reason.message}` : format([reason]),
      stack: isErr ? stackOf(reason) : undefined,
    });
  };
  if (typeof g.addEventListener !== "function") return () => {};
  g.addEventListener("error", onError);
  g.addEventListener("unhandledrejection", onRejection);
  return () => {
    g.removeEventListener("error", onError);
    g.removeEventListener("unhandledrejection", onRejection);
  };
}

/** logship's own error report: console.error, not captured. */
export function report(message) {
  quietly(() => g.console && g.console.error(`logship: ${message}`));
}

/** Echo of a write to the console (stderrLevel), not captured. */
export function echo(text) {
  quietly(() => g.console && g.console.log(text));
}

/** JSON.stringify for Logger.json(); throws a TypeError for what JSON cannot represent. */
export function stringify(value) {
  const json = JSON.stringify(value);
  if (typeof json !== "string") throw new TypeError("logship: json() needs a value that JSON can represent");
  return json;
}

// --- level methods -------------------------------------------------------------------------------

/**
 * Gives the Logger class `trace`, `debug`, `info`, `warn`, `error` and `child` (build.mjs calls
 * this from the generated module): each builds the entry the Rust `log`/`tracing` facades build
 * (PROTOCOL.md §1.6) and hands it to `write`. Done here because JS already has what it needs
 * (JSON.stringify, object spread), which Rust would have to ship in the wasm.
 */
export function addLevelMethods(Logger) {
  const proto = Logger.prototype;
  // Logtail verbosity per level, as in src/facade/: 0 is always shown.
  for (const [name, verbosity] of Object.entries({ trace: 2, debug: 1, info: 0, warn: 0, error: 0 })) {
    const level = name.toUpperCase();
    proto[name] = function (message, context) {
      return this.write(levelEntry(level, verbosity, message, this._fields, context));
    };
  }
  // A child is the same logger (Object.create: every method, the same queue) with more bound
  // fields, copied when it is made. Freeing it must not free the logger it shares.
  const keep = { value() {} };
  proto.child = function (context) {
    const own = { _fields: { value: { ...merge(this._fields, context) } }, free: keep };
    if (Symbol.dispose) own[Symbol.dispose] = keep;
    return Object.create(this, own);
  };
}

/** Bound fields plus a call's context (a non-object context goes under `context`, an Error under `error`). */
function merge(bound, context) {
  if (context == null) return bound;
  const own = isError(context) ? { error: context } : isObject(context) ? context : { context };
  return bound ? { ...bound, ...own } : own;
}

/**
 * JSON.stringify's replacer for fields: what JSON cannot hold becomes a string (BigInt, and NaN and
 * the infinities as the tracing facade writes them), an Error its name, message and stack, and a
 * reference back to an enclosing object "[Circular]".
 */
function replacer() {
  const ancestors = [];
  return function (key, value) {
    if (typeof value === "bigint" || (typeof value === "number" && !isFinite(value))) {
      return String(value).replace("Infinity", "inf"); // Rust's spelling: "NaN", "inf", "-inf"
    }
    if (value === null || typeof value !== "object") return value;
    if (isError(value)) return { name: value.name, message: value.message, stack: stackOf(value) };
    // `this` is the object holding `value`: what is above it on the stack is finished.
    while (ancestors.length && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(value)) return "[Circular]";
    ancestors.push(value);
    return value;
  };
}

/** The write for one level-method call: `{"level":…,"message":…,"fields":{…}}`, with its verbosity. */
function levelEntry(level, verbosity, message, bound, context) {
  message = typeof message === "string" ? message : format([message]);
  let json;
  try {
    const fields = merge(bound, context);
    json = JSON.stringify({ level, message, fields: fields && Object.keys(fields).length ? fields : undefined }, fields && replacer());
  } catch (err) {
    // A getter or toJSON that throws: the line still goes, saying why its fields are missing.
    json = JSON.stringify({ level, message, fields: { logshipError: `fields not serializable: ${describe(err)}` } });
  }
  // The JSON marker gives the object its level (PROTOCOL.md §1.1); `[v1] ` or `[v2] ` in a string
  // would override it, so their `[` is escaped there, as the facades do.
  return verbosity ? `[v\0JSON]${verbosity}${json.replace(/\[(v[12]\] )/g, "\\u005b$1")}` : json;
}

const WHAT = {
  string: "must be a string",
  boolean: "must be true or false",
  count: "must be a whole number, 0 or more",
  integer: "must be a whole number",
  headers: "must be an object of header names to string values",
  destinations: "must be an array of destination objects",
};

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function valid(kind, v) {
  if (Array.isArray(kind)) return kind.includes(v);
  switch (kind) {
    case "string":
    case "boolean":
      return typeof v === kind;
    case "count":
      return Number.isSafeInteger(v) && v >= 0;
    case "integer":
      return Number.isSafeInteger(v);
    case "headers":
      return isObject(v) && Object.values(v).every((h) => typeof h === "string");
    default:
      return Array.isArray(v) && v.every(isObject);
  }
}

/**
 * Checks the types of `new Logger(options)` (the values themselves are checked by the core):
 * throws a TypeError naming the option. `undefined` and `null` mean "not given". `kinds` is the
 * JSON Rust passes, generated from the key table: { options: {name: kind}, destination: [names],
 * nativeOnly: [names] }. Returns the values of the top level, then of each destination, each a
 * list in the order of `kinds.options` (undefined when not given; a choice as its index, headers
 * as a flat list of names and values).
 */
export function checkOptions(options, kinds) {
  const lists = [];
  check(options, JSON.parse(kinds), "", null, lists);
  return lists;
}

function check(options, kinds, prefix, only, lists) {
  if (!isObject(options)) {
    throw new TypeError("logship: new Logger(options) needs an options object, e.g. { baseUrl, collection }");
  }
  const names = Object.keys(kinds.options);
  const keys = only || names;
  const values = [];
  lists.push(values);
  for (const [key, value] of Object.entries(options)) {
    if (value == null) continue;
    const name = prefix + key;
    const camel = key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    if (kinds.nativeOnly.includes(camel)) {
      throw new TypeError(`logship: \`${name}\` is native only: browsers have no durable spool (the page-exit flush keeps the last lines)`);
    }
    if (!keys.includes(key)) {
      const hint = camel !== key && keys.includes(camel) ? ` (options are camelCase: \`${camel}\`)` : "";
      throw new TypeError(`logship: unknown option \`${name}\`${hint}`);
    }
    const kind = kinds.options[key];
    if (!valid(kind, value)) {
      const what = Array.isArray(kind) ? `must be ${kind.map((k) => `"${k}"`).join(" or ")}` : WHAT[kind];
      let shown;
      try {
        shown = typeof value === "string" ? JSON.stringify(value) : String(value);
      } catch {
        shown = typeof value;
      }
      throw new TypeError(`logship: invalid option \`${name}\`: ${what}, not ${shown.slice(0, 60)}`);
    }
    if (kind === "destinations") value.forEach((d, i) => check(d, kinds, `${name}[${i}].`, kinds.destination, lists));
    values[names.indexOf(key)] = Array.isArray(kind) ? kind.indexOf(value) : kind === "headers" ? Object.entries(value).flat() : value;
  }
}

// --- the tap ---------------------------------------------------------------------------------------

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

function handlerProperty(proto, type) {
  const key = `_on${type}`;
  Object.defineProperty(proto, `on${type}`, {
    get() {
      return this[key] || null;
    },
    set(fn) {
      const had = this[key] !== undefined;
      this[key] = typeof fn === "function" ? fn : null;
      // Registered on first assignment, as WebSocket's event handler attributes are.
      if (!had) this.addEventListener(type, (e) => this[key] && this[key].call(this, e));
    },
    configurable: true,
    enumerable: true,
  });
}

/**
 * A WebSocket-like view of the log stream: `message` events (MessageEvent, `data` = the entry's
 * JSON text), then one `close` event (CloseEvent, code 1000) when closed or when the logger shuts
 * down. A listener that throws is reported by the browser and never reaches the logger.
 */
export class LogTap extends EventTarget {
  constructor(close) {
    super();
    this._state = OPEN;
    this._close = close;
  }

  get readyState() {
    return this._state;
  }

  close() {
    if (this._state >= CLOSING) return;
    this._state = CLOSING;
    this._close();
  }

  _push(entry) {
    if (this._state !== OPEN) return;
    quietly(() => this.dispatchEvent(new MessageEvent("message", { data: entry })));
  }

  _end() {
    if (this._state === CLOSED) return;
    this._state = CLOSED;
    const event =
      typeof CloseEvent === "function"
        ? new CloseEvent("close", { code: 1000, reason: "", wasClean: true })
        : new Event("close");
    quietly(() => this.dispatchEvent(event));
  }
}

handlerProperty(LogTap.prototype, "message");
handlerProperty(LogTap.prototype, "close");
for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
  Object.defineProperty(LogTap, name, { value, enumerable: true });
  Object.defineProperty(LogTap.prototype, name, { value, enumerable: true });
}
