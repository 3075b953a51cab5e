// The page benchmark's measuring loop, run in the page's own realm: over WebDriver, Firefox runs
// an evaluated script in a sandbox whose every access to the page's objects crosses a wrapper
// (about 1 µs each), which would be measured instead of the write.
//
// performance.now() is too coarse for one call, so calls are timed in batches of 100 and a batch's
// per-call figure is its time / 100. Between rounds of batches the page yields and flushes
// (untimed), as a page's event loop would: the default buffer wraps and is reused, so the figures
// are the steady state, not the first pass through fresh memory. Returns JSON (a plain string
// crosses any realm).
window.benchWrites = async (linesJson) => {
  const BATCH = 100;
  const ROUND = 200; // batches between flushes: 20,000 writes, about 2.4 MB queued
  const lines = JSON.parse(linesJson);
  const bytes = lines.map((line) => new TextEncoder().encode(line));
  let next = 0;
  const run = async (rounds, data) => {
    const perCall = [];
    for (let r = 0; r < rounds; r++) {
      for (let b = 0; b < ROUND; b++) {
        const t0 = performance.now();
        for (let i = 0; i < BATCH; i++) window.log.write(data[next++ % data.length]);
        perCall.push(((performance.now() - t0) * 1000) / BATCH);
      }
      await window.log.flush();
    }
    perCall.sort((a, b) => a - b);
    const at = (q) => perCall[Math.min(perCall.length - 1, Math.floor(q * perCall.length))];
    return { median: at(0.5), p99: at(0.99) };
  };
  await run(2, lines); // warm-up: the buffer has wrapped
  const pages = window.memory.buffer.byteLength;
  const string = await run(10, lines);
  const bytesResult = await run(10, bytes);
  const grew = window.memory.buffer.byteLength - pages;
  return JSON.stringify({ string, bytes: bytesResult, grew, stats: window.log.stats() });
};
