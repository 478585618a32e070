// Child process of bench/train.mjs: time training steps of the T5-shaped model on one runtime.
// argv: <backend: cpu|wasm> <native: 0|1> <steps>
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, initRuntime } from '../dist/index.js';
import { T5Model } from '../dist/model/t5/model.js';
import { T5_PRESETS } from '../dist/model/t5/config.js';

const [backend, native, stepsArg, warmupArg = '1'] = process.argv.slice(2);
const rt = await initRuntime({ backend, native: native === '1' });
const config = { ...T5_PRESETS.bench, vocabSize: 2048 };
const model = T5Model.create(config, 1);
const B = 32, Ls = 32, Lt = 4;
let s = 7;
const rnd = (n) => Int32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) >>> 0; return 2 + (s % (config.vocabSize - 2)); });
const labels = rnd(B * Lt);
const decoderInputIds = new Int32Array(B * Lt);
for (let b = 0; b < B; b++) for (let t = 1; t < Lt; t++) decoderInputIds[b * Lt + t] = labels[b * Lt + t - 1];
const batch = { batchSize: B, sourceLength: Ls, targetLength: Lt, inputIds: rnd(B * Ls), attentionMask: new Int32Array(B * Ls).fill(1), decoderInputIds, labels };
const opt = new AdamW({ learningRate: 1e-3, weightDecay: 0.01, clipNorm: 1, impl: native === '1' ? 'auto' : 'ops' });
const vars = [...model.params.values()];
const names = new Map([...model.params].map(([n, v]) => [v.name, n]));
const step = (i) => {
  const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed: i }), vars);
  const g = new Map(Object.entries(grads).map(([k, t]) => [names.get(k), t]));
  opt.apply(model.params, g);
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
};
if (warmupArg === '1') step(0); // warm-up (skipped for the very slow stock cpu run)
const steps = Number(stepsArg);
const t = performance.now();
let loss = 0;
for (let i = 1; i <= steps; i++) loss = step(i);
const ms = (performance.now() - t) / steps;
console.log(JSON.stringify({ runtime: rt.description, msPerStep: ms, params: model.size, loss, tensors: tf.memory().numTensors }));
