// The tfjs runtime: native kernels against references and stock kernels, gradients against finite
// differences, AdamW against a hand-computed step, schedules, batches, checkpoints and resume.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, SemidError, WASM_HEAP_MAX_BYTES, epochBatches, explainWasmHeapError, initRuntime, wasmHeapBytes, linearSchedule, cosineSchedule, listCheckpoints, loadLatestCheckpoint, restoreStockKernels, trainLoop, runtimeInfo } from '../src/index.js';
import { rng } from './helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'semid-rt-'));

function rand(shape: number[], seed: number): tf.Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => r() * 2 - 1), shape);
}

/** float64 batched matmul with numpy broadcasting, as the reference. */
function refMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): { data: Float64Array; shape: number[] } {
  const A = a.dataSync(); const B = b.dataSync();
  const ar = a.rank; const br = b.rank;
  const m = ta ? a.shape[ar - 1] : a.shape[ar - 2]; const k = ta ? a.shape[ar - 2] : a.shape[ar - 1];
  const n = tb ? b.shape[br - 2] : b.shape[br - 1];
  const aD = a.shape.slice(0, -2); const bD = b.shape.slice(0, -2);
  const rank = Math.max(aD.length, bD.length);
  const pa = [...Array(rank - aD.length).fill(1), ...aD]; const pb = [...Array(rank - bD.length).fill(1), ...bD];
  const oD = pa.map((d, i) => Math.max(d, pb[i]));
  const batch = oD.reduce((x, y) => x * y, 1);
  const out = new Float64Array(batch * m * n);
  for (let o = 0; o < batch; o++) {
    let rem = o; let ao = 0; let bo = 0; const idx: number[] = [];
    for (let r = rank - 1; r >= 0; r--) { idx[r] = rem % oD[r]; rem = Math.floor(rem / oD[r]); }
    for (let r = 0; r < rank; r++) { ao = ao * pa[r] + (pa[r] === 1 ? 0 : idx[r]); bo = bo * pb[r] + (pb[r] === 1 ? 0 : idx[r]); }
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = A[ao * m * k + (ta ? p * m + i : i * k + p)];
        const bv = B[bo * k * n + (tb ? j * k + p : p * n + j)];
        s += av * bv;
      }
      out[o * m * n + i * n + j] = s;
    }
  }
  return { data: out, shape: [...oD, m, n] };
}

const CASES: Array<[number[], number[]]> = [
  [[5, 7], [7, 3]], [[1, 1], [1, 1]], [[3, 17, 33], [3, 33, 9]], [[4, 2, 6], [6, 5]], [[6, 3], [2, 3, 4]],
  [[2, 1, 4, 5], [1, 3, 5, 2]], [[2, 3, 8, 16], [2, 3, 16, 8]], [[130, 67], [67, 129]], [[1, 0, 4], [1, 4, 3]], [[2, 5, 0], [2, 0, 3]],
];

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`runtime on ${backend}`, () => {
    beforeAll(async () => { await initRuntime({ backend }); });

    it('reports its backend and kernels', () => {
      const info = runtimeInfo()!;
      expect(info.backend).toBe(backend);
      expect(tf.getBackend()).toBe(backend);
      expect(info.nativeKernels).toContain('BatchMatMul');
      expect(info.matmul).toBe('semid-cpu');
      if (backend === 'wasm') {
        expect(info.nativeKernels).toContain('UnsortedSegmentSum');
        expect(info.nativeKernels).toEqual(expect.arrayContaining(['SemidRmsNorm', 'SemidGated', 'SemidDropout', 'SemidCrossEntropy']));
        expect(info.borrowedKernels).toContain('Einsum');
      }
      expect(info.description).toMatch(new RegExp(`^${backend} \\+ semid kernels`));
    });

    it('BatchMatMul equals a float64 reference for all transpose flags, batched and broadcast', () => {
      let seed = 1;
      for (const [sa, sb] of CASES) {
        for (const ta of [false, true]) for (const tb of [false, true]) {
          const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
          const a = rand(swap(sa, ta), seed++);
          const b = rand(swap(sb, tb), seed++);
          const ours = tf.matMul(a, b, ta, tb);
          const ref = refMatMul(a, b, ta, tb);
          expect(ours.shape).toEqual(ref.shape);
          const d = ours.dataSync();
          const k = sa[sa.length - 1];
          for (let i = 0; i < d.length; i++) expect(Math.abs(d[i] - ref.data[i])).toBeLessThanOrEqual(1e-6 * (k + 1) * 4);
          tf.dispose([a, b, ours]);
        }
      }
    });

    it('BatchMatMul equals the stock kernel within float32 rounding', () => {
      const a = rand([4, 37, 70], 9); const b = rand([4, 70, 45], 10);
      const ours = tf.matMul(a, b, false, false).dataSync();
      const oursT = tf.matMul(a, tf.transpose(b, [0, 2, 1]), false, true).dataSync();
      restoreStockKernels();
      for (const fused of ['SemidRmsNorm', 'SemidGated', 'SemidDropout', 'SemidCrossEntropy']) expect(tf.getKernel(fused, backend), fused).toBeUndefined();  // stock really is stock
      const stock = tf.matMul(a, b).dataSync();
      for (let i = 0; i < ours.length; i++) {
        expect(Math.abs(ours[i] - stock[i])).toBeLessThan(2e-5);
        expect(Math.abs(oursT[i] - stock[i])).toBeLessThan(2e-5);
      }
      return initRuntime({ backend });
    });

    it('gradients through BatchMatMul match central finite differences', () => {
      const a = rand([2, 3, 4], 21); const b = rand([4, 5], 22); const w = rand([2, 3, 5], 23);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), w));
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => f(x, y))([a, b]);
      const check = (t: tf.Tensor, g: tf.Tensor, which: 0 | 1) => {
        const base = t.dataSync().slice();
        const gd = g.dataSync();
        for (let i = 0; i < base.length; i++) {
          const eps = 1e-2;
          const plus = base.slice(); plus[i] += eps;
          const minus = base.slice(); minus[i] -= eps;
          const tp = tf.tensor(plus, t.shape); const tm = tf.tensor(minus, t.shape);
          const fd = (f(which ? a : tp, which ? tp : b).dataSync()[0] - f(which ? a : tm, which ? tm : b).dataSync()[0]) / (2 * eps);
          expect(Math.abs(fd - gd[i])).toBeLessThan(2e-3);
          tf.dispose([tp, tm]);
        }
      };
      check(a, ga, 0);
      check(b, gb, 1);
    });

    it('the gradient of gather (UnsortedSegmentSum) sums repeated rows', () => {
      const table = tf.variable(rand([6, 3], 30));
      const ids = tf.tensor2d([[1, 3], [1, 5]], [2, 2], 'int32');
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), tf.tensor1d([1, 2, 3]))))(table);
      expect(g.arraySync()).toEqual([[0, 0, 0], [2, 4, 6], [0, 0, 0], [1, 2, 3], [0, 0, 0], [1, 2, 3]]);
      const s = tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([2, -1, 2], 'int32'), 3);
      expect(s.arraySync()).toEqual([[0, 0], [0, 0], [6, 8]]);
      table.dispose();
      // wide rows (threads split the columns), repeated and out-of-range ids: a plain loop's sums
      const rows = 300, inner = 257, segments = 40;
      const x = rand([rows, inner], 31);
      const segIds = Int32Array.from({ length: rows }, (_, i) => ((i * 7) % (segments + 5)) - 2);
      const xs = x.dataSync(), want = new Float32Array(segments * inner);
      for (let r = 0; r < rows; r++) if (segIds[r] >= 0 && segIds[r] < segments) for (let j = 0; j < inner; j++) want[segIds[r] * inner + j] += xs[r * inner + j];
      const got = tf.unsortedSegmentSum(x, tf.tensor1d(segIds, 'int32'), segments).dataSync();
      // ours (wasm) adds the rows in order, as the loop does: the same bits; tfjs' cpu kernel, within rounding
      if (backend === 'wasm') expect(Array.from(got)).toEqual(Array.from(want));
      else for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
    });
  });
}

describe('the wasm heap', () => {
  it('running out is named, with what to do; other errors pass through', async () => {
    await initRuntime({ backend: 'wasm' });
    expect(wasmHeapBytes()).toBeGreaterThan(0);
    const full = WASM_HEAP_MAX_BYTES - 2 ** 20;
    const trap = new WebAssembly.RuntimeError('memory access out of bounds');
    const named = explainWasmHeapError(trap, full) as SemidError;
    expect(named.code).toBe('ERR_SEMID_WASM_HEAP');
    expect(named.message).toMatch(/wasm heap is full \(4095 MiB of at most 4096 MiB\): memory access out of bounds\. Use smaller batches/);
    expect(named.cause).toBe(trap);
    expect(explainWasmHeapError(new RangeError('offset is out of bounds'), full)).toBeInstanceOf(SemidError);
    expect(explainWasmHeapError(trap, 300 * 2 ** 20)).toBe(trap);  // a heap with room: some other fault
    const other = new Error('the loss is NaN');
    expect(explainWasmHeapError(other, full)).toBe(other);
    expect(explainWasmHeapError(trap, null)).toBe(trap);  // not on wasm
  });
});

describe('AdamW', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('matches a hand-computed update (torch.optim.AdamW formulas), fused and as tfjs ops', () => {
    for (const impl of ['auto', 'ops'] as const) {
      const p = tf.variable(tf.tensor1d([1, -2, 0.5]));
      const opt = new AdamW({ learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.05, impl });
      const grads = [[0.5, -1, 2], [0.1, 0.2, -0.3]];
      // by hand, float64
      const ref = [1, -2, 0.5]; const m = [0, 0, 0]; const v = [0, 0, 0];
      grads.forEach((g, s) => {
        const t = s + 1;
        for (let i = 0; i < 3; i++) {
          ref[i] *= 1 - 0.1 * 0.05;
          m[i] = 0.9 * m[i] + 0.1 * g[i];
          v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
          const mhat = m[i] / (1 - 0.9 ** t);
          const vhat = v[i] / (1 - 0.99 ** t);
          ref[i] -= 0.1 * mhat / (Math.sqrt(vhat) + 1e-8);
        }
        opt.apply(new Map([['p', p]]), new Map([['p', tf.tensor1d(g)]]));
      });
      const got = p.dataSync();
      for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-6);
      expect(opt.step).toBe(2);
      p.dispose();
    }
  });

  it('a variable whose data is shared is updated without leaking, and in place from then on', () => {
    // tf.variable(t) shares t's data: the first update copies it; nothing may be left per step
    const init = tf.tensor1d([1, -2, 0.5]);
    const p = tf.variable(init);
    const opt = new AdamW({ learningRate: 0.1 });
    const before = tf.memory().numTensors;
    for (let s = 0; s < 5; s++) {
      const g = tf.tensor1d([0.5, -1, 2]);
      opt.apply(new Map([['p', p]]), new Map([['p', g]]));
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(init.dataSync())).toEqual([1, -2, 0.5]);  // the shared tensor is untouched
    expect(p.dataSync()[0]).toBeLessThan(1);
    tf.dispose([init, p]);
  });

  it('clips by global norm and decays only where told', () => {
    const a = tf.variable(tf.tensor1d([0, 0])); const b = tf.variable(tf.tensor1d([1]));
    const opt = new AdamW({ learningRate: 0.01, weightDecay: 0.5, clipNorm: 1, decay: (n) => n !== 'b' });
    const info = opt.apply(new Map([['a', a], ['b', b]]), new Map([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([4])]]));
    expect(info.gradNorm).toBeCloseTo(5, 6);
    expect(info.clipScale).toBeCloseTo(1 / 5, 6);
    // after clipping, the first Adam step moves each coordinate by lr (sign of its gradient)
    expect(a.dataSync()[0]).toBeCloseTo(-0.01, 5);
    expect(b.dataSync()[0]).toBeCloseTo(1 - 0.01, 5);
    expect(() => new AdamW({ learningRate: -1 })).toThrow(/Expected number between 0 and Infinity for learningRate but received -1/);
    expect(() => opt.apply(new Map([['a', a]]), new Map([['zz', tf.tensor1d([1])]]))).toThrow(/gradients only for the given variables/);
  });

  it('schedules warm up and decay', () => {
    const lin = linearSchedule({ peak: 1, warmupSteps: 10, totalSteps: 110 });
    expect([lin(0), lin(5), lin(10), lin(60), lin(110), lin(200)]).toEqual([0, 0.5, 1, 0.5, 0, 0]);
    const cos = cosineSchedule({ peak: 2, warmupSteps: 0, totalSteps: 100 });
    expect(cos(0)).toBeCloseTo(2); expect(cos(50)).toBeCloseTo(1); expect(cos(100)).toBeCloseTo(0);
  });
});

describe('batches', () => {
  it('cover every example of every task once per epoch, mixed, seeded', () => {
    const plan = epochBatches({ sizes: [10, 25, 0, 3], batchSize: 8, seed: 5, epoch: 2 });
    expect(plan.count).toBe(5);
    const seen = new Set<string>();
    let mixed = false;
    for (let b = 0; b < plan.count; b++) {
      const { task, index } = plan.batch(b);
      if (new Set(task).size > 1) mixed = true;
      task.forEach((t, i) => seen.add(`${t}:${index[i]}`));
    }
    expect(seen.size).toBe(38);
    expect(mixed).toBe(true);
    const again = epochBatches({ sizes: [10, 25, 0, 3], batchSize: 8, seed: 5, epoch: 2 });
    expect(Array.from(again.batch(3).index)).toEqual(Array.from(plan.batch(3).index));
    const next = epochBatches({ sizes: [10, 25, 0, 3], batchSize: 8, seed: 5, epoch: 3 });
    expect(Array.from(next.batch(0).index)).not.toEqual(Array.from(plan.batch(0).index));
  });
});

describe('training loop', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  /** A small MLP regression with seeded dropout, trained by trainLoop. */
  function setup(seed: number) {
    const r = rng(seed);
    const x = tf.tensor2d(Float32Array.from({ length: 64 * 6 }, () => r() * 2 - 1), [64, 6]);
    const y = tf.tensor2d(Float32Array.from({ length: 64 }, () => r()), [64, 1]);
    const variables = new Map<string, tf.Variable>([
      ['w1', tf.variable(rand([6, 16], seed + 1), true, `w1-${seed}-${Math.random()}`)],
      ['w2', tf.variable(rand([16, 1], seed + 2), true, `w2-${seed}-${Math.random()}`)],
    ]);
    const loss = (batch: { index: Int32Array }, ctx: { step: number }) => tf.tidy(() => {
      const idx = tf.tensor1d(batch.index, 'int32');
      const h = tf.relu(tf.matMul(tf.gather(x, idx), variables.get('w1')!));
      const dropped = tf.dropout(h, 0.2, undefined, ctx.step * 7919);
      const pred = tf.matMul(dropped, variables.get('w2')!);
      return tf.mean(tf.square(tf.sub(pred, tf.gather(y, idx)))) as tf.Scalar;
    });
    return { variables, loss };
  }

  it('learns, checkpoints atomically, and a resumed run equals an uninterrupted one', async () => {
    const schedule = linearSchedule({ peak: 0.01, warmupSteps: 3, totalSteps: 40 });
    const full = setup(1);
    const progress: number[] = [];
    const r1 = await trainLoop({
      variables: full.variables, optimizer: new AdamW({ learningRate: schedule, clipNorm: 1 }), taskSizes: [40, 24],
      batchSize: 8, epochs: 5, seed: 3, loss: full.loss, onProgress: (p) => progress.push(p.loss),
    });
    expect(r1.steps).toBe(40);
    expect(r1.epochLoss[4]).toBeLessThan(r1.epochLoss[0]);

    const dir = tmp();
    const part = setup(1);
    const controller = new AbortController();
    let steps = 0;
    await expect(trainLoop({
      variables: part.variables, optimizer: new AdamW({ learningRate: schedule, clipNorm: 1 }), taskSizes: [40, 24],
      batchSize: 8, epochs: 5, seed: 3, loss: part.loss, checkpoint: { dir, everySteps: 6 }, signal: controller.signal,
      onProgress: () => { if (++steps === 17) controller.abort(); },
    })).rejects.toThrow(/abort/i);
    expect(listCheckpoints(dir)[0].step).toBe(17); // saved on abort
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(listCheckpoints(dir).length).toBe(2);

    const resumed = setup(1);
    const r2 = await trainLoop({
      variables: resumed.variables, optimizer: new AdamW({ learningRate: schedule, clipNorm: 1 }), taskSizes: [40, 24],
      batchSize: 8, epochs: 5, seed: 3, loss: resumed.loss, checkpoint: { dir, everySteps: 6 },
    });
    expect(r2.resumedFrom).toMatch(/checkpoint-00000017\.safetensors$/);
    expect(r2.steps).toBe(40);
    for (const name of ['w1', 'w2']) {
      expect(Array.from(resumed.variables.get(name)!.dataSync())).toEqual(Array.from(full.variables.get(name)!.dataSync()));
    }

    // restoring leaves nothing behind: once the variables go, so does the memory the checkpoint filled
    // (a leak here held a whole model per resumed training; the study trains many in one process)
    const again = setup(1);
    const before = tf.memory().numTensors;
    expect(loadLatestCheckpoint(dir, again.variables, new AdamW({ learningRate: 0.01 }))?.step).toBe(40);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a checkpoint from another model is refused with the reason', async () => {
    const dir = tmp();
    const a = setup(2);
    await trainLoop({ variables: a.variables, optimizer: new AdamW({ learningRate: 0.01 }), taskSizes: [16], batchSize: 8, epochs: 1, seed: 1, loss: a.loss, checkpoint: { dir, everySteps: 1 } });
    const other = new Map([['w1', tf.variable(tf.zeros([3, 3]))]]);
    await expect(trainLoop({ variables: other, optimizer: new AdamW({ learningRate: 0.01 }), taskSizes: [16], batchSize: 8, epochs: 1, seed: 1, loss: () => tf.scalar(0), checkpoint: { dir, everySteps: 1 } }))
      .rejects.toThrow(/"w1" has shape \[6,16\], the model has \[3,3\]/);
  });
});
