/**
 * Free (unconstrained) generation with T5: greedy search and beam search with transformers'
 * semantics (scores are summed log-probabilities, 2·beams candidates per step, an end token ends a
 * hypothesis only from the top `beams` candidates, hypotheses ranked by score / length^penalty),
 * over the cached incremental decoder. Constrained decoding over a trie of Semantic IDs uses the
 * same session through `constrainedBeamSearch`.
 */
import { SemidArgumentError } from '../../kernels/errors.js';
import { expectInt, expectOptions, optionKeys } from '../../kernels/validate.js';
import type { T5Batch, T5Model } from './model.js';
import { T5DecoderSession } from './decoder-session.js';

export interface GenerateOptions {
  /** Tokens to generate after the decoder start token. */
  maxNewTokens: number;
  /** 1 (default): greedy. */
  numBeams?: number;
  /** Sequences per input (≤ numBeams; default 1). */
  numReturnSequences?: number;
  /** Exponent of the generated length in the ranking of finished hypotheses (default 1). */
  lengthPenalty?: number;
  /** Stop a query as soon as numBeams hypotheses are finished (default false, as transformers). */
  earlyStopping?: boolean;
}

/** The option names of GenerateOptions (checked against it at compile time): any other key is an error. */
const GENERATE_KEYS = optionKeys<GenerateOptions>()(['maxNewTokens', 'numBeams', 'numReturnSequences', 'lengthPenalty', 'earlyStopping']);

function logSoftmaxRow(logits: Float32Array, offset: number, v: number, out: Float64Array): void {
  let m = -Infinity;
  for (let j = 0; j < v; j++) m = Math.max(m, logits[offset + j]);
  let s = 0;
  for (let j = 0; j < v; j++) s += Math.exp(logits[offset + j] - m);
  const lse = m + Math.log(s);
  for (let j = 0; j < v; j++) out[j] = logits[offset + j] - lse;
}

/**
 * Generate token sequences (each starting with the decoder start token; finished sequences are
 * padded with the pad token), `numReturnSequences` per input, best first.
 * @example const seqs = generate(model, batch, { maxNewTokens: 6, numBeams: 4, numReturnSequences: 4 });
 */
export function generate(model: T5Model, batch: Pick<T5Batch, 'batchSize' | 'inputIds' | 'attentionMask' | 'sourceLength'>, options: GenerateOptions): number[][] {
  expectOptions<GenerateOptions>('options', options, GENERATE_KEYS);
  const maxNew = expectInt('maxNewTokens', options.maxNewTokens, 1, 1e6);
  const k = expectInt('numBeams', options.numBeams ?? 1, 1, 4096);
  const numReturn = expectInt('numReturnSequences', options.numReturnSequences ?? 1, 1, k);
  const lp = options.lengthPenalty ?? 1;
  const c = model.config;
  const session = new T5DecoderSession(model, batch);
  try {
    return k === 1 ? greedy(session, batch.batchSize, maxNew, c.decoderStartTokenId, c.eosTokenId, c.padTokenId, c.vocabSize)
      : beam(session, batch.batchSize, k, numReturn, maxNew, lp, options.earlyStopping ?? false, c.decoderStartTokenId, c.eosTokenId, c.padTokenId, c.vocabSize);
  } finally {
    session.dispose();
  }
}

function greedy(session: T5DecoderSession, b: number, maxNew: number, start: number, eos: number, pad: number, v: number): number[][] {
  const seqs = Array.from({ length: b }, () => [start]);
  const done = new Uint8Array(b);
  const queries = Int32Array.from({ length: b }, (_, i) => i);
  const parents = Int32Array.from({ length: b }, (_, i) => i);
  for (let t = 0; t < maxNew; t++) {
    const tokens = new Int32Array(b * t);
    for (let r = 0; r < b; r++) for (let j = 0; j < t; j++) tokens[r * t + j] = seqs[r][j + 1];
    const logits = session.step({ step: t, rows: b, tokens, parents: t === 0 ? new Int32Array(b).fill(-1) : parents, queries, active: new Uint8Array(b).fill(1) });
    for (let r = 0; r < b; r++) {
      if (done[r]) { seqs[r].push(pad); continue; }
      let best = 0;
      for (let j = 1; j < v; j++) if (logits[r * v + j] > logits[r * v + best]) best = j;
      seqs[r].push(best);
      if (best === eos) done[r] = 1;
    }
    if (done.every((d) => d)) break;
  }
  return seqs;
}

interface Hyp { score: number; tokens: number[] }

function beam(session: T5DecoderSession, b: number, k: number, numReturn: number, maxNew: number, lp: number, earlyStopping: boolean,
  start: number, eos: number, pad: number, v: number): number[][] {
  if (lp !== 0 && !Number.isFinite(lp)) throw new SemidArgumentError('lengthPenalty', 'a finite number', lp);
  const rows = b * k;
  let seqs: number[][] = Array.from({ length: rows }, () => []); // generated tokens (without start)
  let scores = new Float64Array(rows);
  for (let r = 0; r < rows; r++) scores[r] = r % k === 0 ? 0 : -1e9;
  const hyps: Hyp[][] = Array.from({ length: b }, () => []);
  const done = new Uint8Array(b);
  const queries = Int32Array.from({ length: rows }, (_, r) => Math.floor(r / k));
  let parents = new Int32Array(rows).fill(-1);
  const logp = new Float64Array(v);
  const addHyp = (q: number, tokens: number[], sumLogprobs: number, generatedLen: number) => {
    const score = sumLogprobs / generatedLen ** lp;
    const list = hyps[q];
    if (list.length < k || score > worst(list)) {
      list.push({ score, tokens });
      if (list.length > k) {
        let wi = 0;
        for (let i = 1; i < list.length; i++) if (list[i].score < list[wi].score) wi = i;
        list.splice(wi, 1);
      }
    }
  };
  for (let t = 0; t < maxNew; t++) {
    const tokens = new Int32Array(rows * t);
    for (let r = 0; r < rows; r++) for (let j = 0; j < t; j++) tokens[r * t + j] = seqs[r][j];
    const logits = session.step({ step: t, rows, tokens, parents, queries, active: new Uint8Array(rows).fill(1) });
    const nextSeqs: number[][] = new Array(rows);
    const nextScores = new Float64Array(rows);
    const nextParents = new Int32Array(rows);
    for (let q = 0; q < b; q++) {
      if (done[q]) {
        for (let j = 0; j < k; j++) { const r = q * k + j; nextSeqs[r] = [...seqs[r], pad]; nextScores[r] = 0; nextParents[r] = r; }
        continue;
      }
      // top 2k of (beam score + log-prob) over this query's k beams x vocab, ties to the lower flat index
      const cand: Array<{ s: number; flat: number }> = [];
      for (let j = 0; j < k; j++) {
        const r = q * k + j;
        logSoftmaxRow(logits, r * v, v, logp);
        for (let x = 0; x < v; x++) {
          const s = scores[r] + logp[x];
          if (cand.length < 2 * k || s > cand[cand.length - 1].s) {
            let pos = cand.length;
            while (pos > 0 && cand[pos - 1].s < s) pos--;
            cand.splice(pos, 0, { s, flat: j * v + x });
            if (cand.length > 2 * k) cand.pop();
          }
        }
      }
      let filled = 0;
      for (let rank = 0; rank < cand.length && filled < k; rank++) {
        const beamIdx = Math.floor(cand[rank].flat / v);
        const token = cand[rank].flat % v;
        const src = q * k + beamIdx;
        if (token === eos) {
          if (rank >= k) continue;
          addHyp(q, [...seqs[src], eos], cand[rank].s, t + 1);
          continue;
        }
        const r = q * k + filled;
        nextSeqs[r] = [...seqs[src], token];
        nextScores[r] = cand[rank].s;
        nextParents[r] = src;
        filled++;
      }
      // done when no running beam can beat the worst kept hypothesis
      if (hyps[q].length >= k) {
        if (earlyStopping) done[q] = 1;
        else {
          const best = cand[0].s;
          if (worst(hyps[q]) >= best / (t + 1) ** lp) done[q] = 1;
        }
      }
    }
    seqs = nextSeqs;
    scores = nextScores;
    parents = nextParents;
    if (done.every((d) => d)) break;
  }
  const out: number[][] = [];
  for (let q = 0; q < b; q++) {
    if (!done[q]) for (let j = 0; j < k; j++) addHyp(q, seqs[q * k + j], scores[q * k + j], seqs[q * k + j].length);
    const ranked = [...hyps[q]].sort((a, c) => c.score - a.score).slice(0, numReturn);
    for (const h of ranked) out.push([start, ...h.tokens]);
  }
  const len = Math.max(...out.map((s) => s.length));
  return out.map((s) => [...s, ...new Array(len - s.length).fill(pad)]);
}

function worst(list: Hyp[]): number {
  let w = Infinity;
  for (const h of list) w = Math.min(w, h.score);
  return w;
}
