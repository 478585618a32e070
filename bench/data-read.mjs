// Child process of bench/data.mjs: read <dir>/ratings.csv with one reader and print JSON with rows,
// milliseconds, resident memory before and after (after a GC, data still referenced) and the peak.
import { readFileSync, createReadStream } from 'node:fs';
import { join } from 'node:path';

const [which, dir] = process.argv.slice(2);
const status = () => Object.fromEntries(readFileSync('/proc/self/status', 'utf8').split('\n')
  .filter((l) => /^(VmRSS|VmHWM):/.test(l)).map((l) => [l.split(':')[0], Number(l.split(/\s+/)[1]) * 1024]));
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); } };

let rows = 0;
let keep;
if (which === 'semid') {
  const { readMovieLens } = await import('../dist/index.js');
  await settle();
  const before = status().VmRSS;
  const t = performance.now();
  keep = await readMovieLens(dir, { genome: false });
  const ms = performance.now() - t;
  rows = keep.ratings.length;
  await settle();
  const s = status();
  console.log(JSON.stringify({ rows, ms, before, after: s.VmRSS, peak: s.VmHWM }));
} else {
  const { parse } = await import('csv-parse');
  await settle();
  const before = status().VmRSS;
  const t = performance.now();
  // what a user would write with csv-parse: stream records, convert the fields into typed columns
  let cap = 1 << 20;
  let userId = new Int32Array(cap), movieId = new Int32Array(cap), rating = new Float32Array(cap), timestamp = new Float64Array(cap);
  const grow = () => {
    cap *= 2;
    const g = (a, C) => { const b = new C(cap); b.set(a); return b; };
    userId = g(userId, Int32Array); movieId = g(movieId, Int32Array); rating = g(rating, Float32Array); timestamp = g(timestamp, Float64Array);
  };
  const parser = createReadStream(join(dir, 'ratings.csv'), { highWaterMark: 1 << 20 }).pipe(parse({ from_line: 2 }));
  for await (const r of parser) {
    if (rows === cap) grow();
    userId[rows] = Number(r[0]); movieId[rows] = Number(r[1]); rating[rows] = Number(r[2]); timestamp[rows] = Number(r[3]);
    rows++;
  }
  const ms = performance.now() - t;
  keep = { userId, movieId, rating, timestamp };
  await settle();
  const s = status();
  console.log(JSON.stringify({ rows, ms, before, after: s.VmRSS, peak: s.VmHWM }));
}
