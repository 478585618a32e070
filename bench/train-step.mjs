// Child process of bench/train.mjs: time training steps of the T5-shaped model on one runtime.
// argv: <backend: cpu|wasm> <native: 0|1> <steps> [warmup 1|0] [data-parallel workers, 0 = off]
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, DataParallel, initRuntime } from '../dist/index.js';
import { makeBatch, makeModel, B } from './t5-bench-model.mjs';

const [backend, native, stepsArg, warmupArg = '1', dpArg = '0'] = process.argv.slice(2);
const rt = await initRuntime({ backend, native: native === '1' });
const model = makeModel();
const batch = makeBatch(model.config.vocabSize);
const opt = new AdamW({ learningRate: 1e-3, weightDecay: 0.01, clipNorm: 1, impl: native === '1' ? 'auto' : 'ops' });
const vars = [...model.params.values()];
const names = new Map([...model.params].map(([n, v]) => [v.name, n]));
const workers = Number(dpArg);
const dp = workers > 0 ? await DataParallel.create({ replicaModule: new URL('./t5-bench-model.mjs', import.meta.url).href, variables: model.params, workers }) : null;
const all = { task: new Int32Array(B), index: Int32Array.from({ length: B }, (_, i) => i) };
const step = async (i) => {
  if (dp) {
    const { loss, grads } = await dp.gradients(all, { step: i, epoch: 0 });
    opt.apply(model.params, grads);
    tf.dispose([...grads.values()]);
    dp.publish();
    return loss;
  }
  const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed: i }), vars);
  const g = new Map(Object.entries(grads).map(([k, t]) => [names.get(k), t]));
  opt.apply(model.params, g);
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
};
if (warmupArg === '1') await step(0); // warm-up (skipped for the very slow stock cpu run)
const steps = Number(stepsArg);
const t = performance.now();
let loss = 0;
for (let i = 1; i <= steps; i++) loss = await step(i);
const ms = (performance.now() - t) / steps;
await dp?.destroy();
console.log(JSON.stringify({ runtime: rt.description + (dp ? `, data-parallel ${workers} workers` : ''), msPerStep: ms, params: model.size, loss, tensors: tf.memory().numTensors }));
