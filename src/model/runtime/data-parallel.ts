/**
 * Data-parallel training across piscina workers: each worker holds a replica of the model (built
 * by a module you name), computes the gradients of its shard of the batch, and writes them into a
 * SharedArrayBuffer; the main thread averages them (weighted by shard size, in shard order, so the
 * result does not depend on timing), applies the optimizer, and publishes the new parameters
 * through another SharedArrayBuffer that every replica reads before its next shard.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../native/loader.js';
import { SemidArgumentError } from '../../kernels/errors.js';
import { expectInt } from '../../kernels/validate.js';
import type { Batch } from './batches.js';

/** What a replica module exports: `createReplica(options)`, run once in each worker. */
export interface Replica {
  variables: Map<string, tf.Variable>;
  loss(batch: Batch, context: { step: number; epoch: number }): tf.Scalar;
}

export interface DataParallelOptions {
  /** Path or file: URL of an ES module exporting `async function createReplica(options): Replica`. */
  replicaModule: string;
  /** Passed to createReplica (structured-cloneable). */
  replicaOptions?: unknown;
  /** The main model's variables (shapes, names and the initial values replicas start from). */
  variables: Map<string, tf.Variable>;
  /** Worker threads (default 2). */
  workers?: number;
  /** Native threads per worker (default: cores / workers, at least 1). */
  threadsPerWorker?: number;
}

export interface ShardTask {
  replicaModule: string;
  replicaOptions: unknown;
  layout: Array<{ name: string; offset: number; size: number }>;
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  version: SharedArrayBuffer;
  slot: number;
  threads: number;
  batch: Batch;
  step: number;
  epoch: number;
}

/** The compiled worker (beside this module in dist/, or dist/ when this module runs from src/ in tests). */
function workerFile(): string {
  const here = fileURLToPath(new URL('./data-parallel-worker.js', import.meta.url));
  return existsSync(here) ? here : join(packageRoot, 'dist', 'model', 'runtime', 'data-parallel-worker.js');
}

/**
 * A pool of model replicas for data-parallel gradient computation.
 * @example
 * const dp = await DataParallel.create({ replicaModule: new URL('./replica.mjs', import.meta.url).href, variables: model.params, workers: 2 });
 * const { loss, grads } = await dp.gradients(batch, { step: 1, epoch: 0 });
 */
export class DataParallel {
  private readonly layout: Array<{ name: string; offset: number; size: number }> = [];
  private readonly total: number;
  private readonly params: Float32Array;
  private readonly gradBuffers: Float32Array;
  private readonly version: Int32Array;
  private readonly pool: Piscina;
  readonly workers: number;

  private constructor(private readonly o: DataParallelOptions, workers: number, private readonly threads: number) {
    this.workers = workers;
    let offset = 0;
    for (const [name, v] of o.variables) {
      this.layout.push({ name, offset, size: v.size });
      offset += v.size;
    }
    this.total = offset;
    this.params = new Float32Array(new SharedArrayBuffer(offset * 4));
    this.gradBuffers = new Float32Array(new SharedArrayBuffer(offset * 4 * workers));
    this.version = new Int32Array(new SharedArrayBuffer(4));
    this.pool = new Piscina({
      filename: workerFile(),
      minThreads: workers, maxThreads: workers, idleTimeout: 60_000,
    });
  }

  static async create(o: DataParallelOptions): Promise<DataParallel> {
    if (!(o?.variables instanceof Map) || o.variables.size === 0) throw new SemidArgumentError('variables', 'a non-empty Map of name -> tf.Variable', o?.variables);
    if (typeof o.replicaModule !== 'string' || o.replicaModule === '') throw new SemidArgumentError('replicaModule', 'a module path or file: URL', o.replicaModule);
    const workers = expectInt('workers', o.workers ?? 2, 1, 256);
    const cores = (await import('node:os')).availableParallelism();
    const threads = expectInt('threadsPerWorker', o.threadsPerWorker ?? Math.max(1, Math.floor(cores / workers)), 1, 4096);
    const dp = new DataParallel(o, workers, threads);
    dp.publish();
    return dp;
  }

  /** Copy the main variables into the shared parameters (call after every optimizer update). */
  publish(): void {
    for (const { name, offset } of this.layout) this.params.set(this.o.variables.get(name)!.dataSync() as Float32Array, offset);
    Atomics.add(this.version, 0, 1);
  }

  /**
   * Mean loss and gradients of `batch`, split into `workers` contiguous shards computed in parallel.
   * The gradients are those of the mean loss over the whole batch (shards weighted by size).
   */
  async gradients(batch: Batch, context: { step: number; epoch: number }): Promise<{ loss: number; grads: Map<string, tf.Tensor> }> {
    const n = batch.task.length;
    const shards = Math.min(this.workers, n);
    const bounds = Array.from({ length: shards + 1 }, (_, s) => Math.round((s * n) / shards));
    const results = await Promise.all(Array.from({ length: shards }, (_, s) => {
      const task: ShardTask = {
        replicaModule: this.o.replicaModule, replicaOptions: this.o.replicaOptions ?? null, layout: this.layout,
        params: this.params.buffer as SharedArrayBuffer, grads: this.gradBuffers.buffer as SharedArrayBuffer,
        version: this.version.buffer as SharedArrayBuffer, slot: s, threads: this.threads,
        batch: { task: batch.task.slice(bounds[s], bounds[s + 1]), index: batch.index.slice(bounds[s], bounds[s + 1]) },
        step: context.step, epoch: context.epoch,
      };
      return this.pool.run(task) as Promise<{ loss: number }>;
    }));
    let loss = 0;
    const summed = new Float32Array(this.total);
    for (let s = 0; s < shards; s++) {
      const w = (bounds[s + 1] - bounds[s]) / n;
      loss += w * results[s].loss;
      const g = this.gradBuffers.subarray(s * this.total, (s + 1) * this.total);
      for (let i = 0; i < this.total; i++) summed[i] += w * g[i];
    }
    const grads = new Map<string, tf.Tensor>();
    for (const { name, offset, size } of this.layout) {
      grads.set(name, tf.tensor(summed.subarray(offset, offset + size), this.o.variables.get(name)!.shape, 'float32'));
    }
    return { loss, grads };
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
