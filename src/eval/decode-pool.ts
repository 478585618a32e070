/**
 * Generative evaluation across a piscina worker pool: each worker holds the trained model (loaded
 * from its saved folder), the examples are cut into chunks of `batch` and handed out, and the
 * results come back in example order, whatever order the chunks finish in.
 */
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { setMaxListeners } from 'node:events';
import type { CollisionPolicy } from '../ids/strategies.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../native/loader.js';
import { SemidArgumentError } from '../kernels/errors.js';
import type { DecodeSettings, ExampleResult } from './generative.js';

/** One unit of work: decode these examples of one task with one trained model. */
export interface DecodeChunk {
  /** Run folder (data set, IDs). */
  out: string;
  /** Saved T5 folder (config.json, model.safetensors). */
  modelDir: string;
  /** The base tokenizer the strategy's ID tokens are added to. */
  tokenizerPath: string;
  strategy: string;
  quantizer: string;
  /** The IDs' collision policy (default 'keep'). */
  collisions?: CollisionPolicy;
  /** SEARCH_TASK or REC_TASK. */
  kind: number;
  /** Example indices into the task's test split. */
  indices: number[];
  decode: Omit<DecodeSettings, 'batch'>;
  /** Native threads in the worker. */
  threads: number;
}

export interface DecodePoolOptions {
  /** Worker threads (default: cores / 2, at least 1, at most 8). */
  workers?: number;
  /** Native threads per worker (default: cores / workers, at least 1). */
  threadsPerWorker?: number;
}

/**
 * The number of decoding workers for a request (validated; default cores / 2, at least 1, at most 8).
 * @example decodeWorkers(undefined); // 1 on a 2-core machine
 */
export function decodeWorkers(workers?: number): number {
  const n = workers ?? Math.max(1, Math.min(8, Math.floor(availableParallelism() / 2)));
  if (!Number.isInteger(n) || n < 1) throw new SemidArgumentError('workers', 'a positive integer', workers);
  return n;
}

function workerFile(): string {
  const here = fileURLToPath(new URL('./decode-worker.js', import.meta.url));
  return existsSync(here) ? here : join(packageRoot, 'dist', 'eval', 'decode-worker.js');
}

/**
 * A pool of decoding workers.
 * @example
 * const pool = new DecodePool({ workers: 2 });
 * const results = await pool.evaluate({ out, modelDir, tokenizerPath, strategy: 'multitask', quantizer: 'rqkmeans', kind: SEARCH_TASK, decode: {} }, indices);
 * await pool.close();
 */
export class DecodePool {
  readonly workers: number;
  readonly threadsPerWorker: number;
  private readonly pool: Piscina;

  constructor(o: DecodePoolOptions = {}) {
    const cores = availableParallelism();
    const workers = decodeWorkers(o.workers);
    this.workers = workers;
    this.threadsPerWorker = o.threadsPerWorker ?? Math.max(1, Math.floor(cores / workers));
    if (!Number.isInteger(this.threadsPerWorker) || this.threadsPerWorker < 1) throw new SemidArgumentError('threadsPerWorker', 'a positive integer', o.threadsPerWorker);
    this.pool = new Piscina({ filename: workerFile(), minThreads: workers, maxThreads: workers, idleTimeout: 60_000 });
  }

  /**
   * Decode and score `indices` in chunks of `batch` (default 32); results in the order of `indices`.
   * @example const results = await pool.evaluate(job, [0, 1, 2], { batch: 32, onProgress: (d, t) => console.log(d, t) });
   */
  async evaluate(job: Omit<DecodeChunk, 'indices' | 'threads'>, indices: ArrayLike<number>,
    o: { batch?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<ExampleResult[]> {
    const pool = this.pool;
    const batch = o.batch ?? 32;
    if (!Number.isInteger(batch) || batch < 1) throw new SemidArgumentError('batch', 'a positive integer', batch);
    const chunks: number[][] = [];
    for (let s = 0; s < indices.length; s += batch) chunks.push(Array.from({ length: Math.min(batch, indices.length - s) }, (_, i) => indices[s + i]));
    let done = 0;
    // One listener on the caller's signal; the chunks listen to our own signal (one listener each).
    const inner = new AbortController();
    setMaxListeners(0, inner.signal);
    const forward = () => inner.abort(o.signal?.reason);
    if (o.signal?.aborted) forward();
    o.signal?.addEventListener('abort', forward, { once: true });
    try {
      const parts = await Promise.all(chunks.map(async (c) => {
        const r = (await pool.run({ ...job, indices: c, threads: this.threadsPerWorker } satisfies DecodeChunk, { signal: inner.signal })) as ExampleResult[];
        done += c.length;
        o.onProgress?.(done, indices.length);
        return r;
      }));
      return parts.flat();
    } catch (e) {
      inner.abort(e); // the chunks still queued are dropped
      if (o.signal?.aborted) throw o.signal.reason;
      throw e;
    } finally {
      o.signal?.removeEventListener('abort', forward);
    }
  }

  /** Stop the workers (waits for running chunks). */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
