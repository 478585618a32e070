// Load for bench/serve.mjs: `node serve-load.mjs <base url> <clients> <requests each>`, the
// queries as a JSON list on standard input; prints {wall, qps, p50, p95} (ms) as JSON.
import { readFileSync } from 'node:fs';

const [base, clients, each] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const queries = JSON.parse(readFileSync(0, 'utf8'));
const latencies = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let k = 0; k < each; k++) {
    const q = queries[(c * each + k) % queries.length];
    const t = performance.now();
    const r = await fetch(`${base}/search?q=${encodeURIComponent(q)}&top=30`);
    if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
    await r.json();
    latencies.push(performance.now() - t);
  }
}));
const wall = performance.now() - t0;
latencies.sort((a, b) => a - b);
const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
process.stdout.write(JSON.stringify({ wall, qps: (clients * each) / (wall / 1e3), p50: at(0.5), p95: at(0.95) }) + '\n');
