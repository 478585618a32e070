// Reading MovieLens ratings: semid's streaming columnar reader against csv-parse (streamed, fields
// converted into typed columns, as a user would) on the same generated ML-25M-sized ratings.csv in
// the same run. Rows per second, peak resident memory, and resident bytes per rating after loading.
// Targets: at least 3x csv-parse's rows per second; at most 24 bytes resident per interaction.
import { createWriteStream, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { appendResults, benchDir, root } from './lib.mjs';

const rows = Number(process.env.SEMID_BENCH_DATA_ROWS ?? 25_000_095);
const dir = join(root, '.bench-data', `ratings-${rows}`);

/** ML-25M's shape: 162,541 users, 59,047 movies, half-star ratings, increasing timestamps per user. */
async function generate() {
  mkdirSync(dir, { recursive: true });
  const movies = ['movieId,title,genres'];
  for (let m = 1; m <= 209171; m += 3) movies.push(`${m},Movie ${m} (${1900 + (m % 120)}),Drama|Comedy`);
  writeFileSync(join(dir, 'movies.csv'), movies.join('\n') + '\n');
  const out = createWriteStream(join(dir, 'ratings.csv.tmp'));
  out.write('userId,movieId,rating,timestamp\n');
  let a = 12345;
  const rnd = () => { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; return a / 4294967296; };
  let user = 1, left = 0, ts = 0, buf = '';
  for (let i = 0; i < rows; i++) {
    if (left === 0) { user++; left = 20 + Math.floor(rnd() * 280); ts = 789652009 + Math.floor(rnd() * 8e8); }
    left--;
    ts += Math.floor(rnd() * 5000);
    const movie = 1 + 3 * Math.floor(Math.pow(rnd(), 2) * 69723);
    const rating = (1 + Math.floor(rnd() * 10)) / 2;
    buf += `${user},${movie},${Number.isInteger(rating) ? rating.toFixed(1) : rating},${ts}\n`;
    if (buf.length > 1 << 20) { if (!out.write(buf)) await new Promise((r) => out.once('drain', r)); buf = ''; }
  }
  out.write(buf);
  await new Promise((r) => out.end(r));
  const { renameSync } = await import('node:fs');
  renameSync(join(dir, 'ratings.csv.tmp'), join(dir, 'ratings.csv'));
}

export async function run() {
  if (!existsSync(join(dir, 'ratings.csv'))) {
    console.error(`generating ${rows.toLocaleString('en-US')} ratings in ${dir} ...`);
    await generate();
  }
  const size = statSync(join(dir, 'ratings.csv')).size;
  const child = (which) => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=16000', join(benchDir, 'data-read.mjs'), which, dir], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${which} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  const semid = child('semid');
  const csv = child('csv-parse');
  const results = [];
  const shape = `${(rows / 1e6).toFixed(1)}M rows, ${(size / 2 ** 20).toFixed(0)} MiB`;
  for (const [name, r] of [['semid readMovieLens (ratings, typed columns)', semid], ['csv-parse stream -> typed columns', csv]]) {
    if (r.rows !== rows) throw new Error(`${name} read ${r.rows} rows, expected ${rows}`);
    results.push({ name, shape, ms: r.ms });
  }
  const perRow = (r) => ((r.after - r.before) / r.rows).toFixed(1);
  const notes = [
    `rows per second: semid ${(rows / semid.ms * 1000 / 1e6).toFixed(2)} M/s, csv-parse ${(rows / csv.ms * 1000 / 1e6).toFixed(2)} M/s: semid is ${(csv.ms / semid.ms).toFixed(1)}x csv-parse's rate (target >= 3x)`,
    `resident bytes per rating after loading (RSS after GC minus RSS before, data held): semid ${perRow(semid)} B (target <= 24), csv-parse columns ${perRow(csv)} B`,
    `peak resident memory: semid ${(semid.peak / 2 ** 20).toFixed(0)} MiB, csv-parse ${(csv.peak / 2 ** 20).toFixed(0)} MiB`,
    'semid stores userId int32, movieId int32, rating float32, timestamp float64 (20 B a row); both readers parse the same file in child processes',
  ];
  appendResults('Reading ML-25M-sized ratings.csv (bench/data)', results, results[0].name, notes);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
