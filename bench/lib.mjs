// Shared benchmark helpers: benchmark.js runs (its statistics decide the sample count), the
// Python peers through /usr/bin/python3, the machine description, and RESULTS.md appends.
import Benchmark from 'benchmark';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = dirname(fileURLToPath(import.meta.url));
export const root = join(benchDir, '..');

/** Run async functions through benchmark.js one after another; returns {name: stats}. */
export function runSuite(title, cases, { minSamples = 5, maxTime = 5 } = {}) {
  return new Promise((resolve, reject) => {
    const suite = new Benchmark.Suite(title);
    for (const [name, fn] of Object.entries(cases)) {
      suite.add(name, {
        defer: true, minSamples, maxTime,
        fn: (deferred) => { Promise.resolve(fn()).then(() => deferred.resolve(), reject); },
      });
    }
    const results = {};
    suite.on('cycle', (event) => {
      const b = event.target;
      if (b.error) return reject(b.error);
      results[b.name] = { meanMs: b.stats.mean * 1e3, rme: b.stats.rme, samples: b.stats.sample.length };
      console.log(`  ${b.name.padEnd(34)} ${(b.stats.mean * 1e3).toFixed(2).padStart(10)} ms ±${b.stats.rme.toFixed(1)}% (${b.stats.sample.length} runs)`);
    });
    suite.on('complete', () => resolve(results));
    suite.run({ async: true });
  });
}

/** One line naming this machine: CPU model, cores, memory, GPU if any. */
export function machine() {
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const gpu = spawnSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' });
  const gpuName = gpu.status === 0 ? gpu.stdout.trim() : 'no GPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${gpuName}, Node ${process.version}`;
}

/** Whether /usr/bin/python3 can import the given modules. */
export function pythonHas(...modules) {
  if (!existsSync('/usr/bin/python3')) return false;
  return spawnSync('/usr/bin/python3', ['-c', modules.map((m) => `import ${m}`).join(';')]).status === 0;
}

/** Run a Python peer script with JSON on stdout; OpenBLAS threads pinned to `threads`. */
export function runPython(script, args, threads) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE; // slows current OpenBLAS (see the env notes); unset both together
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', [join(benchDir, 'peers', script), ...args], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Write a float32 C-order .npy file (for the Python peers to read the very same data). */
export function writeNpyF32(path, data, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = header + ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/** Deterministic uniform [-1, 1) floats. */
export function randomFloats(count, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Append a section to bench/RESULTS.md: title, machine, and a table with ratios to `base`. */
export function appendResults(title, rows, base, notes = [], baseLabel = typeof base === 'string' ? base : 'semid') {
  const isBase = typeof base === 'function' ? base : (r) => r.name === base;
  const baseFor = (shape) => rows.find((r) => isBase(r) && r.shape === shape)?.ms;
  const lines = [
    '', `## ${title}`, '', `${new Date().toISOString()} — ${machine()}`, '',
    `| case | shape | time (ms) | ratio to ${baseLabel} (same shape) |`, '| --- | --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.shape} | ${r.ms.toFixed(2)} | ${baseFor(r.shape) ? (r.ms / baseFor(r.shape)).toFixed(2) + '×' : ''} |`),
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []), '',
  ];
  const file = join(benchDir, 'RESULTS.md');
  if (!existsSync(file)) writeFileSync(file, '# Benchmark results\n\nAppended by `npm run bench`. Compare times only as ratios within one section (one run, one machine).\n');
  appendFileSync(file, lines.join('\n'));
  console.log(readFileSync(file, 'utf8').split('\n').slice(-rows.length - 6).join('\n'));
}
