/**
 * RQ-VAE (Lee et al. 2022; TIGER's tokenizer) in tfjs: an MLP encoder to a small latent, residual
 * vector quantization of the latent (L codebooks of K codes, initialised by our RQ-KMeans on the
 * encoded training rows, dead codes re-seeded from live residuals after every epoch), an MLP
 * decoder, and the loss |x - x̂|² + Σ_l (|sg(r_l) - q_l|² + β |r_l - sg(q_l)|²) with the
 * straight-through estimator.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expectInt, expectNumber } from '../kernels/validate.js';
import { mulberry32 } from '../data/random.js';
import { RQKMeans } from '../kernels/rqkmeans.js';
import { AdamW } from '../model/runtime/adamw.js';
import { ensureRuntime, requireRuntime } from '../model/runtime/backend.js';
import { trainLoop } from '../model/runtime/train-loop.js';
import { BLOCK_BYTES, checkCodes, checkFiniteX, stateFloats, stateInt, stateSizes, type Quantizer, type QuantizerFitOptions } from './quantizer.js';
import { assignData } from '../model/runtime/assign-data.js';

export interface RqVaeOptions extends QuantizerFitOptions {
  hidden?: number;
  latent?: number;
  beta?: number;
  batchSize?: number;
  learningRate?: number;
}

/** A copy of t that gradients do not flow through. */
function sg(t: tf.Tensor): tf.Tensor {
  return tf.tensor(t.dataSync(), t.shape, t.dtype);
}

/**
 * A tensor's values, the tensor disposed. (Outside tf.tidy: tidy walks whatever its function
 * returns looking for tensors, and a typed array of n values costs it about n^1.4 steps: a
 * 3.8M-value decode took 3 s in the walk alone.)
 */
function readAndDispose(t: tf.Tensor): tf.TypedArray {
  const values = t.dataSync();
  t.dispose();
  return values;
}

/** Rows [from, to) of a row-major matrix of `dim` columns, as a [to - from, dim] tensor. */
function rowBlock(x: Float32Array, dim: number, from: number, to: number): tf.Tensor2D {
  return tf.tensor2d(x.subarray(from * dim, to * dim), [to - from, dim]);
}

/** The rows `index` of a row-major matrix of `dim` columns, gathered on the host, as a tensor. */
function gatherRows(x: Float32Array, dim: number, index: ArrayLike<number>): tf.Tensor2D {
  const out = new Float32Array(index.length * dim);
  for (let k = 0; k < index.length; k++) out.set(x.subarray(index[k] * dim, (index[k] + 1) * dim), k * dim);
  return tf.tensor2d(out, [index.length, dim]);
}

/**
 * RQ-VAE as a Quantizer: fit (encoder, residual codebooks, decoder), encode, decode from codes.
 * @example const q = await RqVaeQuantizer.fit(x, 64, { levels: 2, codebookSize: 256, iters: 20 }); const codes = await q.encode(x);
 */
export class RqVaeQuantizer implements Quantizer {
  readonly name = 'rqvae' as const;
  /** Codes used per level in the last training epoch (before re-seeding). */
  lastUsage: number[] = [];

  private constructor(readonly levels: number, readonly codebookSize: number, readonly dim: number, readonly hidden: number, readonly latent: number,
    private readonly vars: Map<string, tf.Variable>) {
    this.blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (4 * Math.max(dim, hidden, latent, codebookSize))));
  }

  private v(name: string): tf.Variable { return this.vars.get(name)!; }

  /**
   * Rows encoded or decoded at a time (default: the widest layer's activations, or a block's
   * distances to a codebook, within 64 MiB). Results do not depend on it beyond float rounding.
   */
  blockRows: number;

  /** The latents [n x latent] of rows x [n x dim], a block of rows at a time, on the host. */
  private latentsOf(x: Float32Array, n: number): Float32Array {
    const out = new Float32Array(n * this.latent);
    for (let from = 0, rows = this.blockRows; from < n; from += rows) {
      const to = Math.min(n, from + rows);
      out.set(readAndDispose(tf.tidy(() => this.encodeLatent(rowBlock(x, this.dim, from, to)))) as Float32Array, from * this.latent);
    }
    return out;
  }

  private encodeLatent(x: tf.Tensor): tf.Tensor2D {
    return tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, this.v('enc1')), this.v('encb1'))), this.v('enc2')), this.v('encb2')) as tf.Tensor2D;
  }

  private decodeLatent(z: tf.Tensor): tf.Tensor2D {
    return tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(z, this.v('dec1')), this.v('decb1'))), this.v('dec2')), this.v('decb2')) as tf.Tensor2D;
  }

  /** Nearest code of each row of r in codebook l (squared distance), no gradient. */
  private nearest(r: tf.Tensor2D, l: number): tf.Tensor1D {
    const nearest = tf.tidy(() => {
      const c = this.v(`cb${l}`);
      const d = tf.sub(tf.sum(tf.square(c), 1), tf.mul(2, tf.matMul(r, c, false, true)));
      return tf.argMin(d, 1);
    });
    return tf.tensor1d(readAndDispose(nearest) as Int32Array, 'int32'); // a constant: no gradient flows through the choice of code
  }

  static async fit(x: Float32Array, dim: number, o: RqVaeOptions): Promise<RqVaeQuantizer> {
    const n = checkFiniteX(x, dim);
    const L = expectInt('levels', o.levels, 1, 16);
    const K = expectInt('codebookSize', o.codebookSize, 2, 1 << 16);
    const hidden = expectInt('hidden', o.hidden ?? 256, 1, 1 << 16);
    const latent = expectInt('latent', o.latent ?? 32, 1, 1 << 16);
    const beta = expectNumber('beta', o.beta ?? 0.25, 0);
    const epochs = expectInt('iters', o.iters ?? 30, 1, 1e6);
    await ensureRuntime();  // the other quantizers need no setup: neither does this one
    const rand = mulberry32(o.seed ?? 0);
    const glorot = (a: number, b: number) => { const s = Math.sqrt(6 / (a + b)); return Float32Array.from({ length: a * b }, () => (rand() * 2 - 1) * s); };
    const own = (data: Float32Array, shape: number[], name: string) => { const t = tf.tensor(data, shape); const v = tf.variable(t, true, `rqvae/${name}/${Math.random().toString(36).slice(2)}`); t.dispose(); return v; };
    const vars = new Map<string, tf.Variable>([
      ['enc1', own(glorot(dim, hidden), [dim, hidden], 'enc1')], ['encb1', own(new Float32Array(hidden), [hidden], 'encb1')],
      ['enc2', own(glorot(hidden, latent), [hidden, latent], 'enc2')], ['encb2', own(new Float32Array(latent), [latent], 'encb2')],
      ['dec1', own(glorot(latent, hidden), [latent, hidden], 'dec1')], ['decb1', own(new Float32Array(hidden), [hidden], 'decb1')],
      ['dec2', own(glorot(hidden, dim), [hidden, dim], 'dec2')], ['decb2', own(new Float32Array(dim), [dim], 'decb2')],
    ]);
    const q = new RqVaeQuantizer(L, K, dim, hidden, latent, vars);
    try {
      // k-means initialisation of the codebooks on the initial latents
      const rq = await RQKMeans.train(q.latentsOf(x, n), { dim: latent, levels: L, codebookSize: Math.min(K, n), seed: o.seed ?? 0, iters: 10 });
      for (let l = 0; l < L; l++) {
        const cb = new Float32Array(K * latent);
        cb.set(rq.codebooks.subarray(l * rq.codebookSize * latent, (l + 1) * rq.codebookSize * latent));
        vars.set(`cb${l}`, own(cb, [K, latent], `cb${l}`));
      }
      const usage = Array.from({ length: L }, () => new Uint8Array(K));
      const lastResiduals: Float32Array[] = Array.from({ length: L }, () => new Float32Array(0));
      const batchSize = o.batchSize ?? 1024;
      const optimizer = new AdamW({ learningRate: o.learningRate ?? 1e-3, weightDecay: 0 });
      for (let e = 0; e < epochs; e++) {
        await trainLoop({
          variables: vars, optimizer, taskSizes: [n], batchSize, epochs: 1,
          seed: (o.seed ?? 0) + e, signal: o.signal,
          loss: (batch) => tf.tidy(() => {
            const xb = gatherRows(x, dim, batch.index);  // the training rows stay on the host
            const z = q.encodeLatent(xb);
            let r: tf.Tensor2D = z;
            let zq: tf.Tensor = tf.zerosLike(z);
            let vq: tf.Tensor = tf.scalar(0);
            for (let l = 0; l < L; l++) {
              const idx = q.nearest(sg(r) as tf.Tensor2D, l);
              const codes = idx.dataSync();
              for (const c of codes) usage[l][c] = 1;
              lastResiduals[l] = r.dataSync() as Float32Array;
              const ql = tf.gather(q.v(`cb${l}`), idx);
              vq = tf.add(vq, tf.add(tf.mean(tf.sum(tf.square(tf.sub(sg(r), ql)), 1)), tf.mul(beta, tf.mean(tf.sum(tf.square(tf.sub(r, sg(ql))), 1)))));
              zq = tf.add(zq, ql);
              r = tf.sub(r, sg(ql)) as tf.Tensor2D;
            }
            const st = tf.add(z, sg(tf.sub(zq, z)));
            const rec = tf.mean(tf.sum(tf.square(tf.sub(q.decodeLatent(st), xb)), 1));
            return tf.add(rec, vq) as tf.Scalar;
          }),
        });
        // dead-code reset: codes no row chose this epoch take a random live residual
        q.lastUsage = usage.map((u) => u.reduce((a, b) => a + b, 0) / K);
        for (let l = 0; l < L; l++) {
          const res = lastResiduals[l];
          const rows = res.length / latent;
          if (e === epochs - 1 || rows === 0) break;
          const cb = q.v(`cb${l}`).dataSync().slice() as Float32Array;
          let changed = false;
          for (let k = 0; k < K; k++) {
            if (usage[l][k]) continue;
            const r = Math.floor(rand() * rows);
            cb.set(res.subarray(r * latent, (r + 1) * latent), k * latent);
            changed = true;
          }
          if (changed) assignData(q.v(`cb${l}`), cb);
        }
        usage.forEach((u) => u.fill(0));
      }
    } catch (err) {
      q.dispose();  // an abort mid-training included: its variables go with it
      throw err;
    }
    return q;
  }

  async encode(x: Float32Array): Promise<Int32Array> {
    const n = checkFiniteX(x, this.dim);
    const out = new Int32Array(n * this.levels);
    for (let from = 0, rows = this.blockRows; from < n; from += rows) {
      const to = Math.min(n, from + rows);
      tf.tidy(() => {
        let r = this.encodeLatent(rowBlock(x, this.dim, from, to));
        for (let l = 0; l < this.levels; l++) {
          const idx = this.nearest(r, l);
          const codes = idx.dataSync();
          for (let i = 0; i < to - from; i++) out[(from + i) * this.levels + l] = codes[i];
          r = tf.sub(r, tf.gather(this.v(`cb${l}`), idx)) as tf.Tensor2D;
        }
      });
    }
    return out;
  }

  async decode(codes: Int32Array, upTo = this.levels): Promise<Float32Array> {
    const n = checkCodes(this, codes, upTo);
    const out = new Float32Array(n * this.dim);
    for (let from = 0, rows = this.blockRows; from < n; from += rows) {
      const to = Math.min(n, from + rows);
      out.set(readAndDispose(tf.tidy(() => {
        let zq: tf.Tensor = tf.zeros([to - from, this.latent]);
        for (let l = 0; l < upTo; l++) {
          const idx = tf.tensor1d(Int32Array.from({ length: to - from }, (_, i) => codes[(from + i) * this.levels + l]), 'int32');
          zq = tf.add(zq, tf.gather(this.v(`cb${l}`), idx));
        }
        return this.decodeLatent(zq);
      })) as Float32Array, from * this.dim);
    }
    return out;
  }

  toJSON() {
    const out: Record<string, unknown> = { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, hidden: this.hidden, latent: this.latent };
    for (const [k, v] of this.vars) out[k] = Array.from(v.dataSync());
    return out;
  }

  /** The quantizer a toJSON() state describes (`where` names it in errors). */
  static fromJSON(j: Record<string, unknown>, where = 'state'): RqVaeQuantizer {
    const { levels, codebookSize, dim } = stateSizes(j, where);
    const hidden = stateInt(j, 'hidden', where), latent = stateInt(j, 'latent', where);
    const shapes: Array<[string, number[]]> = [
      ['enc1', [dim, hidden]], ['encb1', [hidden]], ['enc2', [hidden, latent]], ['encb2', [latent]],
      ['dec1', [latent, hidden]], ['decb1', [hidden]], ['dec2', [hidden, dim]], ['decb2', [dim]],
      ...Array.from({ length: levels }, (_, l): [string, number[]] => [`cb${l}`, [codebookSize, latent]]),
    ];
    const data = shapes.map(([name, shape]) => stateFloats(j, name, shape.reduce((a, b) => a * b, 1), where));  // all checked before any tensor
    requireRuntime('RqVaeQuantizer.fromJSON (loading an rqvae quantizer)');
    const vars = new Map<string, tf.Variable>();
    shapes.forEach(([name, shape], i) => {
      const t = tf.tensor(data[i], shape);
      vars.set(name, tf.variable(t, false, `rqvae/${name}/${Math.random().toString(36).slice(2)}`));
      t.dispose();
    });
    return new RqVaeQuantizer(levels, codebookSize, dim, hidden, latent, vars);
  }

  dispose(): void { tf.dispose([...this.vars.values()]); }
}
