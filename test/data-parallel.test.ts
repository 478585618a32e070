// Data-parallel gradients across piscina workers equal the single-thread gradients of the batch.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AdamW, DataParallel, initRuntime, trainLoop } from '../src/index.js';
// @ts-expect-error a plain .mjs test module
import { build } from './fixtures/mlp-replica.mjs';

const replicaModule = new URL('./fixtures/mlp-replica.mjs', import.meta.url).href;
const built = existsSync(fileURLToPath(new URL('../dist/model/runtime/data-parallel-worker.js', import.meta.url)));

describe.skipIf(!built)('DataParallel', () => {
  it('averages shard gradients into the batch gradient, and trains like one thread', async () => {
    await initRuntime({ backend: 'wasm' });
    const main = build(7);
    const dp = await DataParallel.create({ replicaModule, replicaOptions: { seed: 7 }, variables: main.variables, workers: 2, threadsPerWorker: 1 });
    try {
      const batch = { task: new Int32Array(10), index: Int32Array.from([3, 9, 1, 0, 44, 12, 63, 5, 8, 2]) };
      const { loss, grads } = await dp.gradients(batch, { step: 1, epoch: 0 });
      const vars = [...main.variables.values()];
      const { value, grads: ref } = tf.variableGrads(() => main.loss(batch), vars);
      expect(Math.abs(loss - value.dataSync()[0])).toBeLessThan(1e-6);
      for (const [name, v] of main.variables) {
        const a = grads.get(name)!.dataSync();
        const b = ref[v.name].dataSync();
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6);
      }
      // a short training run in parallel tracks the single-thread run
      const single = build(7);
      const opts = { taskSizes: [64], batchSize: 16, epochs: 2, seed: 1 };
      await trainLoop({ ...opts, variables: single.variables, optimizer: new AdamW({ learningRate: 0.01 }), loss: single.loss });
      await trainLoop({ ...opts, variables: main.variables, optimizer: new AdamW({ learningRate: 0.01 }), loss: main.loss, parallel: dp });
      for (const name of ['w1', 'w2']) {
        const a = main.variables.get(name)!.dataSync();
        const b = single.variables.get(name)!.dataSync();
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-4);
      }
    } finally {
      await dp.destroy();
    }
  });
});
