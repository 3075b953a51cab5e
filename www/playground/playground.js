// The playground: runs the logship npm package in this page (a copy that `npm run build` in
// bindings/npm puts in www/playground/pkg/) and ships to the collector that serves the page.

const $ = (id) => document.getElementById(id);
let log = null;
let tap = null;
let timer = 0;

$("baseUrl").value = location.origin;

async function load() {
  try {
    const mod = await import("./pkg/logship.js");
    await mod.default();
    return mod;
  } catch (err) {
    showError(`Could not load the package (${err.message}).\nBuild it first: cd bindings/npm && npm run build`);
    return null;
  }
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

function setRunning(running) {
  for (const el of document.querySelectorAll("#writer button")) el.disabled = !running;
  $("shutdown").disabled = !running;
  $("start").disabled = running;
  $("state").textContent = running ? "running" : "stopped";
  $("state").classList.toggle("on", running);
}

function renderStats() {
  if (!log) return;
  const stats = log.stats();
  $("stats").innerHTML = Object.entries(stats)
    .map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`)
    .join("");
}

const modPromise = load();

$("setup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const mod = await modPromise;
  if (!mod) return;
  try {
    log = new mod.Logger({
      baseUrl: $("baseUrl").value.trim(),
      collection: $("collection").value.trim(),
      flushDelayMs: Number($("flushDelayMs").value),
      captureConsole: $("captureConsole").checked,
      captureErrors: $("captureErrors").checked,
    });
  } catch (err) {
    showError(err.message);
    return;
  }
  showError("");
  $("publicId").textContent = log.publicId;
  tap = log.tap();
  tap.onmessage = (ev) => {
    const li = document.createElement("li");
    li.textContent = ev.data;
    const list = $("tap");
    list.append(li);
    while (list.children.length > 500) list.firstChild.remove();
    list.scrollTop = list.scrollHeight;
  };
  setRunning(true);
  timer = setInterval(renderStats, 500);
  renderStats();
});

$("writer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  log.write($("line").value);
});
$("json").addEventListener("click", () => log.json({ event: "click", x: Math.round(Math.random() * 100), at: new Date().toISOString() }));
$("burst").addEventListener("click", () => {
  for (let i = 0; i < 1000; i++) log.write(`burst line ${i} of 1000`);
});
$("console").addEventListener("click", () => console.warn("a warning from the playground", { ok: false }));
$("throw").addEventListener("click", () => {
  setTimeout(() => {
    throw new Error("an uncaught error from the playground");
  });
});
$("flush").addEventListener("click", async () => {
  try {
    await log.flush(10000);
  } catch (err) {
    showError(err.message);
  }
  renderStats();
});
$("shutdown").addEventListener("click", async () => {
  const left = await log.shutdown(2000);
  clearInterval(timer);
  renderStats();
  showError(left ? `${left} entries were not delivered` : "");
  setRunning(false);
  log = null;
});
