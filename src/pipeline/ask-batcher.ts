/**
 * Dynamic batching for serving a trained model: single searches and recommendations that arrive
 * while the model is busy (or within a short wait) are decoded together, as one batch of the
 * constrained diverse beam search, and each caller gets its own answers. The way model servers
 * (TF Serving, Triton) batch requests: one batch of B queries costs far less than B batches of one.
 */
import { SemidError } from '../kernels/errors.js';
import { abortError } from '../kernels/abort.js';
import { expectInt, expectNumber, expectOptions, optionKeys } from '../kernels/validate.js';
import { defaultDecodeBatch } from '../eval/generative.js';
import { REC_TASK, SEARCH_TASK } from '../model/t5/joint-task.js';
import { decodeSources, recSourceOf, resolveAskOptions, searchSourceOf, type Answer, type AskOptions, type RunModel } from './ask.js';
import { GenerativeRetriever, type RetrievedItem } from './retriever.js';

/** What a batcher serves: a model `semid run` trained (loadRunModel), or a T5 of your own (GenerativeRetriever). */
export type Servable = RunModel | GenerativeRetriever;
/** The answers of a servable: a run's carry the movies' titles; a retriever's, the items' rows. */
export type AnswerOf<M extends Servable> = M extends GenerativeRetriever ? RetrievedItem : Answer;

/** The batcher's three questions to a model, answered once for its kind (a run's, or a retriever). */
interface ModelAccess<A> {
  searchSource(query: string): Int32Array;
  historySource(history: ArrayLike<number>): Int32Array;
  decode(kind: number, sources: Int32Array[], r: { beams: number; groups: number; diversityPenalty: number; signal: AbortSignal }, tops: number[]): Promise<A[][]>;
}

/** How a batcher asks `m`: the one place the two kinds of model differ for it. */
function accessOf<M extends Servable>(m: M): ModelAccess<AnswerOf<M>> {
  const s: Servable = m;
  const access: ModelAccess<RetrievedItem | Answer> = s instanceof GenerativeRetriever
    ? { searchSource: (q) => s.searchSource(q), historySource: (h) => s.historySource(h), decode: (_kind, sources, r, tops) => s.decodeSources(sources, r, tops) }
    : { searchSource: (q) => searchSourceOf(s, q), historySource: (h) => recSourceOf(s, h), decode: (kind, sources, r, tops) => decodeSources(s, kind, sources, r, tops) };
  return access as ModelAccess<AnswerOf<M>>;
}

export interface AskBatcherOptions {
  /** Most queries decoded in one batch (default: the evaluation's decoding batch, 128 at most). */
  maxBatch?: number;
  /** Milliseconds an idle batcher waits for more queries before decoding the first (default 2). */
  maxWaitMs?: number;
}

const BATCHER_KEYS = optionKeys<AskBatcherOptions>()(['maxBatch', 'maxWaitMs']);

/** What a batcher has done so far. */
export interface AskBatcherStats {
  /** Queries answered. */
  answered: number;
  /** Batches decoded. */
  batches: number;
  /** The largest batch decoded. */
  largestBatch: number;
  /** Queries waiting, and queries being decoded now. */
  waiting: number;
  decoding: number;
}

interface Pending<A> {
  kind: number;
  source: Int32Array;
  top: number;
  /** Queries decode together only when these agree. */
  key: string;
  beams: number;
  groups: number;
  diversityPenalty: number;
  resolve: (answers: A[]) => void;
  reject: (err: unknown) => void;
  settled: boolean;
  detach: () => void;
}

/**
 * Decodes concurrent single queries of one trained model (a run's, or a GenerativeRetriever) in
 * shared batches. Queries that differ
 * in beams, groups or penalty, or in task, go to different batches; the oldest waiting query's
 * batch is decoded first. A query whose signal aborts is answered at once with the abort, and a
 * batch whose callers have all gone is stopped.
 * @example const b = new AskBatcher(loadRunModel('runs/quick')); const [a, c] = await Promise.all([b.search('space robots'), b.search('a heist')]); await b.close();
 */
export class AskBatcher<M extends Servable = RunModel> {
  readonly model: M;
  readonly maxWaitMs: number;
  private readonly maxBatchOption: number | undefined;
  private readonly queue: Pending<AnswerOf<M>>[] = [];
  /** The queries waiting on each caller's signal, and its one listener. */
  private readonly bySignal = new Map<AbortSignal, { pending: Set<Pending<AnswerOf<M>>>; onAbort: () => void }>();
  private running: Pending<AnswerOf<M>>[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private current: Promise<void> | undefined;
  /** Stops the batch being decoded (when every caller in it has gone). */
  private batchAbort: AbortController | undefined;
  private closing = false;
  private readonly counts = { answered: 0, batches: 0, largestBatch: 0 };
  private readonly access: ModelAccess<AnswerOf<M>>;

  constructor(model: M, options: AskBatcherOptions = {}) {
    const o = expectOptions<AskBatcherOptions>('options', options, BATCHER_KEYS);
    this.model = model;
    this.access = accessOf(model);
    this.maxBatchOption = o.maxBatch === undefined ? undefined : expectInt('maxBatch', o.maxBatch, 1, 1 << 16);
    this.maxWaitMs = expectNumber('maxWaitMs', o.maxWaitMs ?? 2, 0, 60_000);
  }

  /**
   * The items the model generates for one free-text query, best first (options as askSearch's).
   * @example const answers = await batcher.search('funny space robots', { top: 5 });
   */
  search(query: string, options: AskOptions = {}): Promise<AnswerOf<M>[]> {
    return this.submit(SEARCH_TASK, () => this.access.searchSource(query), options);
  }

  /**
   * The items the model generates after one history of item indices, oldest first (options as
   * askRecommend's); a GenerativeRetriever needs its historyPrompt for this.
   * @example const answers = await batcher.recommend(userHistory(batcher.model, 42));
   */
  recommend(history: ArrayLike<number>, options: AskOptions = {}): Promise<AnswerOf<M>[]> {
    return this.submit(REC_TASK, () => this.access.historySource(history), options);
  }

  /**
   * Counts so far, and queries waiting or being decoded now.
   * @example batcher.stats().batches
   */
  stats(): AskBatcherStats {
    return { ...this.counts, waiting: this.queue.length, decoding: this.running.filter((p) => !p.settled).length };
  }

  /**
   * Take no more queries and resolve when the waiting ones are answered (the model is not
   * disposed: it is the caller's).
   * @example await batcher.close(); batcher.model.model.dispose();
   */
  async close(): Promise<void> {
    this.closing = true;
    while (this.current || this.queue.length > 0) {
      if (!this.current) this.flush();
      await this.current;
    }
  }

  private submit(kind: number, source: () => Int32Array, options: AskOptions): Promise<AnswerOf<M>[]> {
    // a bad query or option fails its caller alone, at once, never a batch
    let r: ReturnType<typeof resolveAskOptions>;
    let src: Int32Array;
    try {
      if (this.closing) throw new SemidError('ERR_SEMID_CLOSED', 'the batcher is closed: it takes no more queries');
      r = resolveAskOptions(options, this.model.generation);
      src = source();
      if (r.signal?.aborted) throw abortError(r.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AnswerOf<M>[]>((resolve, reject) => {
      const p: Pending<AnswerOf<M>> = {
        kind, source: src, top: r.top, key: `${kind}/${r.beams}/${r.groups}/${r.diversityPenalty}`,
        beams: r.beams, groups: r.groups, diversityPenalty: r.diversityPenalty,
        resolve: (a) => { if (!p.settled) { p.settled = true; p.detach(); resolve(a); } },
        reject: (e) => { if (!p.settled) { p.settled = true; p.detach(); reject(e); } },
        settled: false, detach: () => {},
      };
      if (r.signal) this.listen(r.signal, p);
      this.queue.push(p);
      this.schedule();
    });
  }

  /**
   * One abort listener per signal, however many of its queries wait: a caller may pass one signal
   * with thousands of queries (Node warns past ten listeners on one signal, and each costs a closure).
   */
  private listen(signal: AbortSignal, p: Pending<AnswerOf<M>>): void {
    let waiting = this.bySignal.get(signal);
    if (!waiting) {
      const pending = new Set<Pending<AnswerOf<M>>>();
      const onAbort = () => {
        // out of the queue in one pass (thousands may share the signal), then each caller told
        let kept = 0;
        for (const q of this.queue) if (!pending.has(q)) this.queue[kept++] = q;
        this.queue.length = kept;
        for (const q of [...pending]) q.reject(abortError(signal));
        // a batch nobody waits for any more is stopped
        if (this.running.length > 0 && this.running.every((q) => q.settled)) this.batchAbort?.abort(abortError(signal));
      };
      waiting = { pending, onAbort };
      this.bySignal.set(signal, waiting);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const { pending, onAbort } = waiting;
    pending.add(p);
    p.detach = () => {
      pending.delete(p);
      if (pending.size === 0) {
        signal.removeEventListener('abort', onAbort);
        this.bySignal.delete(signal);
      }
    };
  }

  private schedule(): void {
    if (this.current || this.timer) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.flush(); }, this.maxWaitMs);
  }

  private flush(): void {
    if (this.timer) { clearTimeout(this.timer as NodeJS.Timeout); clearImmediate(this.timer as NodeJS.Immediate); this.timer = undefined; }
    if (this.current || this.queue.length === 0) return;
    const first = this.queue[0];
    const limit = this.maxBatchOption ?? defaultDecodeBatch(first.beams, this.model.model.config.vocabSize);
    const batch: Pending<AnswerOf<M>>[] = [];
    for (let i = 0; i < this.queue.length && batch.length < limit;) {
      if (this.queue[i].key === first.key) batch.push(...this.queue.splice(i, 1));
      else i++;
    }
    this.running = batch;
    const controller = new AbortController();
    this.batchAbort = controller;
    this.current = this.decode(batch, controller.signal).finally(() => {
      this.running = [];
      this.batchAbort = undefined;
      this.current = undefined;
      // the next batch after this turn's I/O: requests that came while this one decoded (a batch of
      // small steps decodes without yielding to the event loop) are parsed first and join it
      if (this.queue.length > 0 && !this.timer) this.timer = setImmediate(() => { this.timer = undefined; this.flush(); });
    });
  }

  private async decode(batch: Pending<AnswerOf<M>>[], signal: AbortSignal): Promise<void> {
    const first = batch[0];
    try {
      const r = { beams: first.beams, groups: first.groups, diversityPenalty: first.diversityPenalty, signal };
      const answers = await this.access.decode(first.kind, batch.map((p) => p.source), r, batch.map((p) => p.top));
      this.counts.batches++;
      this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
      batch.forEach((p, i) => {
        if (!p.settled) this.counts.answered++;
        p.resolve(answers[i]);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
