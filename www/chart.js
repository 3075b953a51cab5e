// logship live view: the volume chart. Entries per time bucket, stacked by level (v0, v1, v2+), drawn on a
// canvas from /api/volume; dragging across it picks a time range (received time), a click clears it.
// Plain ES module, no library.

const LEVEL_COLORS = ["#3f8f63", "#6cb6ff", "#c297ff"]; // v0, v1, v2+ (as the rows' level colours)
const AXIS = "#5c6570";
const GRID = "#262d37";
const SELECTION = "rgba(108, 182, 255, 0.18)";
const SELECTION_EDGE = "#6cb6ff";
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

function pad2(n) {
  return String(n).padStart(2, "0");
}

function clock(ms, withSeconds) {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}${withSeconds ? `:${pad2(d.getSeconds())}` : ""}`;
}

function compact(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

// `canvas`: the element to draw on. `onRange({from, to} | null)`: called when a range is picked or cleared.
export function volumeChart(canvas, { onRange }) {
  let data = null; // {from, to, step, counts: [[v0, v1, v2], ...]}
  let selected = null; // {from, to} in ms
  let drag = null; // {x0, x1} in CSS pixels while dragging

  const plotWidth = () => canvas.clientWidth - PAD.left - PAD.right;
  canvas.dataset.padLeft = String(PAD.left);
  canvas.dataset.padRight = String(PAD.right);
  const timeAt = (x) => {
    const f = Math.min(1, Math.max(0, (x - PAD.left) / plotWidth()));
    return data.from + f * (data.to - data.from);
  };
  const xAt = (t) => PAD.left + ((t - data.from) / (data.to - data.from)) * plotWidth();

  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "10.5px ui-monospace, Menlo, Consolas, monospace";
    if (!data || data.counts.length === 0) return;
    const plotH = h - PAD.top - PAD.bottom;
    const max = Math.max(1, ...data.counts.map((c) => c[0] + c[1] + c[2]));
    // Grid line and label at the top (the largest bucket) and the baseline.
    g.fillStyle = AXIS;
    g.strokeStyle = GRID;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const [value, y] of [
      [max, PAD.top],
      [0, PAD.top + plotH],
    ]) {
      g.beginPath();
      g.moveTo(PAD.left, y + 0.5);
      g.lineTo(w - PAD.right, y + 0.5);
      g.stroke();
      g.fillText(compact(value), PAD.left - 6, y);
    }
    // Stacked bars.
    const bw = plotWidth() / data.counts.length;
    data.counts.forEach((levels, i) => {
      let y = PAD.top + plotH;
      levels.forEach((n, level) => {
        if (!n) return;
        const bh = Math.max(1, (n / max) * plotH);
        g.fillStyle = LEVEL_COLORS[level];
        g.fillRect(PAD.left + i * bw + (bw > 3 ? 0.5 : 0), y - bh, Math.max(1, bw - (bw > 3 ? 1 : 0)), bh);
        y -= bh;
      });
    });
    // Time labels: about one per 110 px.
    const span = data.to - data.from;
    const labels = Math.max(2, Math.floor(plotWidth() / 110));
    const withSeconds = span < 30 * 60 * 1000;
    g.fillStyle = AXIS;
    g.textBaseline = "top";
    for (let i = 0; i <= labels; i++) {
      const t = data.from + (span * i) / labels;
      g.textAlign = i === 0 ? "left" : i === labels ? "right" : "center";
      g.fillText(clock(t, withSeconds), xAt(t), PAD.top + plotH + 4);
    }
    // The picked range, or the one being dragged.
    const range = drag ? { x0: Math.min(drag.x0, drag.x1), x1: Math.max(drag.x0, drag.x1) } : selected && { x0: xAt(selected.from), x1: xAt(selected.to) };
    if (range) {
      const x0 = Math.max(PAD.left, range.x0);
      const x1 = Math.min(w - PAD.right, range.x1);
      g.fillStyle = SELECTION;
      g.fillRect(x0, PAD.top, Math.max(1, x1 - x0), plotH);
      g.strokeStyle = SELECTION_EDGE;
      g.strokeRect(x0 + 0.5, PAD.top + 0.5, Math.max(1, x1 - x0 - 1), plotH - 1);
    }
  }

  const localX = (ev) => ev.clientX - canvas.getBoundingClientRect().left;

  canvas.addEventListener("pointerdown", (ev) => {
    if (!data || ev.button !== 0) return;
    canvas.setPointerCapture(ev.pointerId);
    drag = { x0: localX(ev), x1: localX(ev) };
    draw();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    drag.x1 = localX(ev);
    draw();
  });
  const finish = (ev) => {
    if (!drag) return;
    const x0 = Math.min(drag.x0, drag.x1);
    const x1 = Math.max(drag.x0, drag.x1);
    drag = null;
    if (ev.type === "pointercancel") return draw();
    if (x1 - x0 < 4) {
      // A click: clear the range.
      if (selected) {
        selected = null;
        onRange(null);
      }
      return draw();
    }
    // Whole buckets, so the list and the bars agree.
    const snap = (t, up) => data.from + (up ? Math.ceil : Math.floor)((t - data.from) / data.step) * data.step;
    selected = { from: snap(timeAt(x0), false), to: snap(timeAt(x1), true) };
    draw();
    onRange({ ...selected });
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  window.addEventListener("resize", draw);

  return {
    // How many buckets fit: about one per 6 px.
    buckets: () => Math.max(10, Math.min(1000, Math.floor(plotWidth() / 6))),
    update(volume) {
      data = volume;
      // The span in view, for tests and tools that drag programmatically.
      canvas.dataset.from = String(volume.from);
      canvas.dataset.to = String(volume.to);
      draw();
    },
    clear() {
      selected = null;
      draw();
    },
    get range() {
      return selected;
    },
  };
}
