// logship live view: a WebSocket tail of /api/tail, search through /api/entries, counts from /api/collections.
// Plain ES module, no build step. Every log text goes into the DOM as text, never as HTML.

import { volumeChart } from "./chart.js";
import { authFetch, openSocket } from "./auth.js";

const MAX_ROWS = 5000; // entries kept in the view (and in memory)
const MAX_PENDING = 20000; // entries held while paused
const SEARCH_LIMIT = 500;

const $ = (id) => document.getElementById(id);
const logEl = $("log");

const state = {
  entries: [], // live entries in view order (oldest first), at most MAX_ROWS
  pending: [], // arrived while paused
  lastId: 0,
  paused: false,
  collection: "",
  level: "",
  search: null, // {q, entries} while showing search results (or the entries of a picked time range)
  range: null, // {from, to}: received-time range picked on the volume chart
  counts: new Map(),
  arrivals: [], // timestamps for the rate meter
};

// ---------- rendering ----------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function pad(n, w = 2) {
  return String(n).padStart(w, "0");
}

function formatTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// When the client wrote the entry (logtail's client_time, OTLP's timeUnixNano), or null.
function clientTime(item) {
  const t = item.entry && item.entry.logtail && item.entry.logtail.client_time;
  const parsed = t ? Date.parse(t) : NaN;
  if (!Number.isNaN(parsed)) return parsed;
  const nano = item.entry && item.entry.timeUnixNano;
  if (/^\d+$/.test(String(nano))) return Number(BigInt(nano) / 1000000n);
  return null;
}

function level(item) {
  const v = item.entry && item.entry.v;
  return Number.isInteger(v) ? v : 0;
}

// The line's own text: logtail's "text", or an OTLP record's string body.
function mainText(entry) {
  if (typeof entry.text === "string") return { text: entry.text, skip: "text" };
  if (entry.body && typeof entry.body.stringValue === "string") return { text: entry.body.stringValue, skip: "body" };
  return { text: null, skip: null };
}

function severity(item) {
  const e = item.entry || {};
  if (e.logtail && e.logtail.error) return "err";
  if (typeof e.severityNumber === "number") return e.severityNumber >= 17 ? "err" : e.severityNumber >= 13 ? "warn" : "";
  const { text } = mainText(e);
  if (text) {
    if (/\b(ERROR|FATAL|CRIT(ICAL)?|PANIC|SEVERE|FAIL(ED|URE)?)\b/i.test(text)) return "err";
    if (/\bWARN(ING)?\b/i.test(text)) return "warn";
  }
  return "";
}

// Appends `text` to `parent`, wrapping search terms in <mark>.
function appendText(parent, text, terms) {
  if (!terms || terms.length === 0) {
    parent.append(text);
    return;
  }
  const lower = text.toLowerCase();
  let at = 0;
  while (at < text.length) {
    let best = -1;
    let bestLen = 0;
    for (const t of terms) {
      const i = lower.indexOf(t, at);
      if (i !== -1 && (best === -1 || i < best)) {
        best = i;
        bestLen = t.length;
      }
    }
    if (best === -1) break;
    parent.append(text.slice(at, best));
    parent.append(el("mark", null, text.slice(best, best + bestLen)));
    at = best + bestLen;
  }
  parent.append(text.slice(at));
}

function valueSpan(v, terms) {
  if (typeof v === "string") {
    const s = el("span", "s");
    appendText(s, JSON.stringify(v), terms);
    return s;
  }
  if (typeof v === "number") return el("span", "n", String(v));
  if (typeof v === "boolean" || v === null) return el("span", "b", String(v));
  const s = el("span", "o");
  appendText(s, JSON.stringify(v), terms);
  return s;
}

function renderRow(item, terms) {
  const entry = item.entry || {};
  const lv = level(item);
  const sev = severity(item);
  const row = el("div", `row l${Math.min(lv, 2)}${sev ? " " + sev : ""}`);
  row.dataset.id = item.id;
  const written = clientTime(item);
  const time = el("span", "time", written === null ? "–" : formatTime(written));
  time.title = "client time (when it was written)";
  const received = el("span", "recv", formatTime(item.received_at));
  received.title = "received by the collector";
  row.append(time, received);
  row.append(el("span", `lvl l${Math.min(lv, 2)}`, lv ? `v${lv}` : "·"));
  const coll = el("button", "coll-name", item.collection);
  coll.title = `show only ${item.collection}`;
  coll.addEventListener("click", (ev) => {
    ev.stopPropagation();
    setCollection(item.collection);
  });
  row.append(coll);
  const msg = el("span", "msg");
  const { text, skip } = mainText(entry);
  if (text !== null) {
    const t = el("span", "text");
    appendText(t, text.replace(/\n$/, ""), terms);
    msg.append(t);
  }
  for (const [k, v] of Object.entries(entry)) {
    if (k === skip || k === "v" || k === "logtail") continue;
    const kv = el("span", "kv");
    kv.append(el("span", "k", k), valueSpan(v, terms));
    msg.append(kv);
  }
  if (entry.logtail && entry.logtail.error) {
    const kv = el("span", "kv");
    kv.append(el("span", "k", "logtail.error"), valueSpan(entry.logtail.error.detail ?? entry.logtail.error, terms));
    msg.append(kv);
  }
  row.append(msg);
  row.addEventListener("click", (ev) => {
    if (ev.target.closest(".detail")) return;
    toggleDetail(row, item);
  });
  return row;
}

function toggleDetail(row, item) {
  const open = row.querySelector(".detail");
  if (open) {
    open.remove();
    row.classList.remove("open");
    return;
  }
  const d = el("div", "detail");
  d.append(
    el(
      "div",
      "meta",
      `id ${item.id} · received ${new Date(item.received_at).toISOString()} · public id ${item.public_id || "(none)"}`,
    ),
  );
  d.append(JSON.stringify(item.entry, null, 2));
  row.append(d);
  row.classList.add("open");
}

function matchesFilter(item) {
  if (state.collection && item.collection !== state.collection) return false;
  if (state.level !== "" && level(item) !== Number(state.level)) return false;
  return true;
}

function atBottom() {
  return logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
}

function scrollToEnd() {
  logEl.scrollTop = logEl.scrollHeight;
  $("follow").hidden = true;
}

function updateEmpty() {
  const shown = logEl.querySelectorAll(".row").length;
  $("empty").hidden = shown > 0 || state.search !== null || state.entries.length > 0;
  $("shown").textContent = `${shown} shown`;
  const extra = [];
  if (state.paused) extra.push(`paused · ${state.pending.length} new`);
  if (state.collection) extra.push(`collection ${state.collection}`);
  if (state.level !== "") extra.push(`level v${state.level}`);
  if (state.range) extra.push(`received ${formatTime(state.range.from)} – ${formatTime(state.range.to)}`);
  $("status-extra").textContent = extra.join(" · ");
}

// Rebuilds the view from scratch (filter change, search, clear).
function renderAll() {
  for (const r of logEl.querySelectorAll(".row")) r.remove();
  const list = state.search ? state.search.entries : state.entries.filter(matchesFilter);
  const terms = state.search ? state.search.terms : null;
  const frag = document.createDocumentFragment();
  for (const item of list) frag.append(renderRow(item, terms));
  logEl.append(frag);
  updateEmpty();
  scrollToEnd();
}

// ---------- live tail ----------

function addLive(items) {
  const follow = atBottom();
  const frag = document.createDocumentFragment();
  for (const item of items) {
    state.entries.push(item);
    if (!state.search && matchesFilter(item)) frag.append(renderRow(item, null));
  }
  let drop = state.entries.length - MAX_ROWS;
  if (drop > 0) {
    const dropped = new Set(state.entries.splice(0, drop).map((i) => String(i.id)));
    if (!state.search) {
      for (const r of logEl.querySelectorAll(".row")) {
        if (!dropped.has(r.dataset.id)) break;
        r.remove();
      }
    }
  }
  const added = frag.childElementCount;
  logEl.append(frag);
  updateEmpty();
  if (follow) scrollToEnd();
  else if (added > 0) $("follow").hidden = false;
}

function onEntry(item) {
  if (item.id <= state.lastId) return; // replayed again after a reconnect
  state.lastId = item.id;
  state.arrivals.push(performance.now());
  scheduleCounts();
  if (state.paused) {
    state.pending.push(item);
    if (state.pending.length > MAX_PENDING) state.pending.splice(0, state.pending.length - MAX_PENDING);
    updateEmpty();
  } else {
    queueLive(item);
  }
}

// Coalesces a burst of messages into one DOM update per frame.
let liveQueue = [];
function queueLive(item) {
  if (liveQueue.length === 0) requestAnimationFrame(flushLive);
  liveQueue.push(item);
}
function flushLive() {
  const items = liveQueue;
  liveQueue = [];
  addLive(items);
}

let retry = 500;
function connect() {
  const ws = openSocket("api/tail");
  setConn("connecting");
  ws.onopen = () => {
    retry = 500;
    setConn("live");
  };
  ws.onmessage = (ev) => {
    try {
      onEntry(JSON.parse(ev.data));
    } catch (e) {
      console.warn("logship: bad tail message", e);
    }
  };
  ws.onclose = () => {
    setConn("down");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

function setConn(s) {
  const c = $("conn");
  c.className = `conn ${s}`;
  $("conn-text").textContent = s === "live" ? "live" : s === "down" ? "reconnecting" : "connecting";
}

setInterval(() => {
  const now = performance.now();
  state.arrivals = state.arrivals.filter((t) => now - t < 5000);
  $("rate").textContent = `${Math.round(state.arrivals.length / 5)}/s`;
}, 1000);

// ---------- collections ----------

// Counts are the collector's totals; new entries trigger a refresh, at most once a second.
let countsTimer = null;
function scheduleCounts() {
  if (!countsTimer) countsTimer = setTimeout(refreshCounts, 1000);
}

async function refreshCounts() {
  countsTimer = null;
  try {
    const res = await authFetch("api/collections");
    const body = await res.json();
    state.counts = new Map(body.collections.map((c) => [c.collection, c.entries]));
    renderCounts();
  } catch {
    // the tail shows the connection state; counts come back with it
  }
}

function renderCounts() {
  const ul = $("collections");
  let total = 0;
  for (const n of state.counts.values()) total += n;
  $("count-all").textContent = total.toLocaleString();
  const names = [...state.counts.keys()].sort();
  for (const li of [...ul.children].slice(1)) li.remove();
  for (const name of names) {
    const li = el("li");
    const b = el("button", `coll${state.collection === name ? " active" : ""}`);
    b.dataset.collection = name;
    b.title = name;
    b.append(el("span", "name", name), el("span", "count", state.counts.get(name).toLocaleString()));
    li.append(b);
    ul.append(li);
  }
  ul.firstElementChild.firstElementChild.classList.toggle("active", state.collection === "");
}

function setCollection(name) {
  state.collection = name;
  for (const x of $("collections").querySelectorAll(".coll")) x.classList.toggle("active", x.dataset.collection === name);
  refreshVolume();
  state.search ? runSearch(state.search.q) : renderAll();
}

$("collections").addEventListener("click", (ev) => {
  const b = ev.target.closest(".coll");
  if (b) setCollection(b.dataset.collection);
});

$("levels").addEventListener("click", (ev) => {
  const b = ev.target.closest(".chip");
  if (!b) return;
  state.level = b.dataset.level;
  for (const x of $("levels").children) x.classList.toggle("active", x === b);
  state.search ? runSearch(state.search.q) : renderAll();
});

// ---------- search ----------

// Stored entries matching the search words and/or the picked time range.
async function runSearch(q) {
  q = q.trim();
  if (!q && !state.range) return backToLive();
  const params = new URLSearchParams({ limit: String(SEARCH_LIMIT) });
  if (q) params.set("q", q);
  if (state.collection) params.set("collection", state.collection);
  if (state.level !== "") params.set("level", state.level);
  if (state.range) {
    params.set("from", String(Math.floor(state.range.from)));
    params.set("to", String(Math.ceil(state.range.to)));
  }
  const what = [q && `“${q}”`, state.range && `received ${formatTime(state.range.from)} – ${formatTime(state.range.to)}`]
    .filter(Boolean)
    .join(", ");
  const banner = $("banner");
  banner.hidden = false;
  banner.textContent = `Searching for ${what}…`;
  try {
    const res = await authFetch(`api/entries?${params}`);
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    const body = await res.json();
    const terms = q.toLowerCase().split(/\s+/).filter(Boolean);
    state.search = { q, terms, entries: body.entries };
    banner.textContent = `${body.entries.length}${body.entries.length === SEARCH_LIMIT ? "+" : ""} stored entries match ${what} (newest last). `;
  } catch (e) {
    state.search = { q, terms: [], entries: [] };
    banner.textContent = `Search failed: ${e.message} `;
  }
  const back = el("button", null, "Back to live (Esc)");
  back.addEventListener("click", backToLive);
  banner.append(back);
  renderAll();
}

function backToLive() {
  state.search = null;
  state.range = null;
  chart.clear();
  $("banner").hidden = true;
  $("q").value = "";
  renderAll();
}

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  runSearch($("q").value);
});

// ---------- volume chart and storage ----------

const chart = volumeChart($("volume"), {
  onRange(range) {
    state.range = range;
    runSearch(state.search ? state.search.q : $("q").value);
  },
});

let volumeBusy = false;
async function refreshVolume() {
  if (volumeBusy) return;
  volumeBusy = true;
  try {
    const params = new URLSearchParams({ buckets: String(chart.buckets()) });
    if (state.collection) params.set("collection", state.collection);
    const res = await authFetch(`api/volume?${params}`);
    if (res.ok) chart.update(await res.json());
  } catch {
    // the tail shows the connection state
  } finally {
    volumeBusy = false;
  }
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(ms) {
  for (const [unit, size] of [["d", 86400000], ["h", 3600000], ["m", 60000]]) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

async function refreshStorage() {
  try {
    const s = await (await authFetch("api/stats")).json();
    const parts = [`${bytes(s.db_bytes)} of ${bytes(s.max_db_bytes)}`];
    if (s.keep_ms !== null) parts.push(`kept ${duration(s.keep_ms)}`);
    if (s.deleted_entries > 0) parts.push(`${s.deleted_entries.toLocaleString()} oldest deleted`);
    const storage = $("storage");
    storage.textContent = parts.join(" · ");
    storage.title = `${s.entries.toLocaleString()} entries in ${s.batches.toLocaleString()} uploads; the oldest go first beyond the bound`;
    $("storage-bar").style.width = `${Math.min(100, (100 * s.db_bytes) / s.max_db_bytes)}%`;
  } catch {
    // shown again on the next refresh
  }
}

// ---------- pause, clear, follow, keys ----------

function setPaused(p) {
  state.paused = p;
  const b = $("pause");
  b.classList.toggle("paused", p);
  b.textContent = p ? "Resume" : "Pause";
  if (!p && state.pending.length) {
    const items = state.pending;
    state.pending = [];
    addLive(items);
  }
  updateEmpty();
}

$("pause").addEventListener("click", () => setPaused(!state.paused));
$("clear").addEventListener("click", () => {
  state.entries = [];
  state.pending = [];
  renderAll();
});
$("follow").addEventListener("click", scrollToEnd);
logEl.addEventListener("scroll", () => {
  if (atBottom()) $("follow").hidden = true;
});

document.addEventListener("keydown", (ev) => {
  const typing = ev.target instanceof HTMLInputElement;
  if (ev.key === "Escape") {
    if (typing) ev.target.blur();
    if (state.search) backToLive();
  } else if (typing) {
    return;
  } else if (ev.key === "/") {
    ev.preventDefault();
    $("q").focus();
  } else if (ev.key === " ") {
    ev.preventDefault();
    setPaused(!state.paused);
  } else if (ev.key === "End") {
    scrollToEnd();
  }
});

// ---------- start ----------

$("example").textContent =
  `curl -X POST ${location.origin}/c/demo.example.com/$(openssl rand -hex 32) \\\n` +
  `     --data-binary '[{"text":"hello from curl"}]'`;
refreshCounts();
setInterval(refreshCounts, 10000);
refreshVolume();
setInterval(refreshVolume, 2000);
refreshStorage();
setInterval(refreshStorage, 5000);
connect();
