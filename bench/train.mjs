// Training speed: the same T5-shaped model (d_model 256, 4 heads, d_kv 64, 2+2 layers, gated-GELU
// d_ff 1024, vocab 2,048, dropout 0.1; batch 32, 32 -> 4 tokens; AdamW, clipping) on stock tfjs cpu,
// stock tfjs wasm, and our runtime (wasm + native GEMM, fused RMS norm / gated GELU, AdamW), each
// in its own process, in the same run. Steps per second. Target: at least 30x stock wasm.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { appendResults, benchDir } from './lib.mjs';

function child(backend, native, steps, warmup = true, workers = 0) {
  const r = spawnSync(process.execPath, [join(benchDir, 'train-step.mjs'), backend, native ? '1' : '0', String(steps), warmup ? '1' : '0', String(workers)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`train-step ${backend} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

export async function run() {
  const oursBefore = child('wasm', true, 10);
  const stockWasm = child('wasm', false, 2);
  const stockCpu = child('cpu', false, 1, false); // one step, no warm-up: about 4 minutes here
  const oursAfter = child('wasm', true, 10);
  const parallel = child('wasm', true, 6, true, 2);
  const oursMs = (oursBefore.msPerStep + oursAfter.msPerStep) / 2;
  const shape = `T5 ${(oursBefore.params / 1e6).toFixed(2)}M params, batch 32, 32->4`;
  const rows = [
    { name: 'semid runtime (wasm + native kernels), mean of a run before and after the peers', shape, ms: oursMs },
    { name: 'semid runtime, data-parallel: 2 piscina workers, 1 native thread each', shape, ms: parallel.msPerStep },
    { name: 'stock tfjs wasm', shape, ms: stockWasm.msPerStep },
    { name: 'stock tfjs cpu', shape, ms: stockCpu.msPerStep },
  ];
  const notes = [
    `steps/s: semid ${(1000 / oursMs).toFixed(2)} (runs ${oursBefore.msPerStep.toFixed(0)} and ${oursAfter.msPerStep.toFixed(0)} ms/step), stock wasm ${(1000 / stockWasm.msPerStep).toFixed(3)}, stock cpu ${(1000 / stockCpu.msPerStep).toFixed(3)}`,
    `semid is ${(stockWasm.msPerStep / oursMs).toFixed(1)}x stock wasm (target >= 30x) and ${(stockCpu.msPerStep / oursMs).toFixed(1)}x stock cpu`,
    `runtime: ${oursBefore.runtime}`,
    `data-parallel (2 workers) is ${(parallel.msPerStep / oursMs).toFixed(2)}x the single-process step on ${(await import('node:os')).availableParallelism()} cores: the native kernels already use every core, so DataParallel is for machines with cores to spare`,
    'stock runs use tfjs kernels (plus UnsortedSegmentSum on wasm, without which the embedding gradient cannot run) and AdamW as tfjs ops; every run uses the same model code and seeded dropout',
  ];
  appendResults('Training step, T5-shaped model (bench/train)', rows, rows[0].name, notes);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
