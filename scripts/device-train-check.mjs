// On a GPU machine (run through scripts/device-bundle.sh's bundle, with SEMID_ADDON pointing at the
// CUDA build): the tfjs runtime's BatchMatMul on the CUDA GEMM equals the CPU GEMM, and training
// steps per second of the bench/train T5 with the CUDA GEMM against the CPU GEMM, same process.
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { AdamW, initRuntime, info, T5Model, T5_PRESETS } from '../dist/index.js';

if (process.env.SEMID_WASM_DIR) setWasmPaths(process.env.SEMID_WASM_DIR.endsWith('/') ? process.env.SEMID_WASM_DIR : process.env.SEMID_WASM_DIR + '/');
const i = info();
console.log(`addon: ${i.path ?? ''} cuda: ${JSON.stringify(i.cuda?.device ?? i.cuda?.reason)}`);
let failed = 0;
const check = (name, ok, detail) => { console.log(`${ok ? 'OK  ' : 'FAIL'} ${name} ${detail}`); if (!ok) failed++; };

// 1. matmul parity: CUDA vs CPU GEMM through tfjs, all transpose flags, batched + broadcast
await initRuntime({ backend: 'wasm', gemmDevice: 'cpu' });
const shapes = [[[3, 130, 67], [3, 67, 129]], [[512, 256], [256, 1024]], [[4, 2, 33, 64], [64, 17]]];
const cpuOut = [];
for (const [sa, sb] of shapes) for (const ta of [false, true]) for (const tb of [false, true]) {
  const swap = (s, t) => (t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
  const a = tf.randomUniform(swap(sa, ta), -1, 1, 'float32', 1); const b = tf.randomUniform(swap(sb, tb), -1, 1, 'float32', 2);
  cpuOut.push({ a, b, ta, tb, out: tf.matMul(a, b, ta, tb).dataSync() });
}
const rt = await initRuntime({ backend: 'wasm', gemmDevice: 'cuda' });
console.log(`runtime: ${rt.description}`);
for (const c of cpuOut) {
  const got = tf.matMul(c.a, c.b, c.ta, c.tb).dataSync();
  let md = 0, mx = 0;
  for (let k = 0; k < got.length; k++) { md = Math.max(md, Math.abs(got[k] - c.out[k])); mx = Math.max(mx, Math.abs(c.out[k])); }
  check(`matMul cuda vs cpu [${c.a.shape}]x[${c.b.shape}] tA=${c.ta} tB=${c.tb}`, md / mx < 1e-5, `max rel diff ${(md / mx).toExponential(2)}`);
}

// 2. training steps per second, bench/train's model, CUDA GEMM (auto threshold and forced) vs CPU GEMM
const B = 32, LS = 32, LT = 4;
let s = 7;
const rnd = (n, v) => Int32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) >>> 0; return 2 + (s % (v - 2)); });
async function stepsPerSecond(label, gemmDevice, preset, vocab, batchSize, steps) {
  await initRuntime({ backend: 'wasm', gemmDevice });
  const model = T5Model.create({ ...preset, vocabSize: vocab }, 1);
  const labels = rnd(batchSize * LT, vocab);
  const dec = new Int32Array(batchSize * LT);
  for (let b = 0; b < batchSize; b++) for (let t = 1; t < LT; t++) dec[b * LT + t] = labels[b * LT + t - 1];
  const batch = { batchSize, sourceLength: LS, targetLength: LT, inputIds: rnd(batchSize * LS, vocab), attentionMask: new Int32Array(batchSize * LS).fill(1), decoderInputIds: dec, labels };
  const opt = new AdamW({ learningRate: 1e-3, clipNorm: 1 });
  const vars = [...model.params.values()];
  const names = new Map([...model.params].map(([n, v]) => [v.name, n]));
  const one = (k) => {
    const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed: k }), vars);
    opt.apply(model.params, new Map(Object.entries(grads).map(([n, g]) => [names.get(n), g])));
    const l = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return l;
  };
  one(0);
  const t0 = performance.now();
  for (let k = 1; k <= steps; k++) one(k);
  const ms = (performance.now() - t0) / steps;
  console.log(`TRAIN ${label}: ${ms.toFixed(1)} ms/step, ${(1000 / ms).toFixed(2)} steps/s, ${(batchSize * 1000 / ms).toFixed(0)} examples/s (${(model.size / 1e6).toFixed(2)}M params, batch ${batchSize})`);
  model.dispose();
  return ms;
}
const cpuMs = await stepsPerSecond('bench model, CPU GEMM', 'cpu', T5_PRESETS.bench, 2048, B, 10);
const autoMs = await stepsPerSecond('bench model, CUDA GEMM for large products (auto)', 'auto', T5_PRESETS.bench, 2048, B, 10);
const cudaMs = await stepsPerSecond('bench model, CUDA GEMM for every product', 'cuda', T5_PRESETS.bench, 2048, B, 10);
console.log(`TRAIN ratio cpu/auto ${(cpuMs / autoMs).toFixed(2)}, cpu/cuda ${(cpuMs / cudaMs).toFixed(2)}`);
const smallCpu = await stepsPerSecond('small preset (4+4 layers), vocab 8192, batch 128, CPU GEMM', 'cpu', T5_PRESETS.small, 8192, 128, 4);
const smallAuto = await stepsPerSecond('small preset (4+4 layers), vocab 8192, batch 128, CUDA auto', 'auto', T5_PRESETS.small, 8192, 128, 4);
console.log(`TRAIN small ratio cpu/auto ${(smallCpu / smallAuto).toFixed(2)}`);
console.log(`${cpuOut.length - failed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
