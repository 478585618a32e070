// constrainedBeamSearch against Hugging Face transformers' group beam search with
// prefix_allowed_tokens_fn, as test/oracles/hf_group_beam_search.py runs it in numpy (an oracle
// written apart from our TypeScript reference): random tries of fixed and variable length (IDs
// that are prefixes of others, collisions), 1-5 groups of 1-4 beams, penalties, length penalties,
// early stopping; the same ranked IDs and scores from every backend. Skipped where python3 has no
// numpy (the suite passes without it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { IdTrie, constrainedBeamSearch, cudaAvailable, type StepRequest } from '../src/index.js';
import { rng } from './helpers.js';

const oracle = fileURLToPath(new URL('./oracles/hf_group_beam_search.py', import.meta.url));
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0);

/** One search: its trie's IDs (token 1 ends an ID, 0 is the start), settings and log-probs per (query, prefix). */
interface OracleCase {
  ids: number[][];
  vocab: number;
  batch: number;
  beams: number;
  groups: number;
  penalty: number;
  lengthPenalty: number;
  early: boolean;
  maxNew: number;
  numReturn: number;
  /** The table holds logits (log-softmax over the whole vocabulary, then the mask) instead of log-probs. */
  logits: boolean;
  /** "<query>|<t1,t2,..>" -> [vocab] log-probs (or logits) of the next token (float32 values). */
  table: Record<string, number[]>;
  /** "<t1,t2,..>" -> the tokens allowed after that prefix (1 where an ID ends there). */
  children: Record<string, number[]>;
}

interface OracleResult {
  hypotheses: Array<Array<{ tokens: number[]; score: number }>>;
  tie: boolean;
  nearTie: boolean;
  deadTokens: boolean;
  deadHypotheses: boolean;
}

function makeCases(seed: number, count: number, logits = false): OracleCase[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const cases: OracleCase[] = [];
  for (let c = 0; c < count; ++c) {
    const L = 1 + Math.floor(r() * 3), K = pick([2, 3, 5, 8, 16]);
    const variable = r() < 0.35;
    const items = 1 + Math.floor(r() * (r() < 0.3 ? 6 : 120));
    // level l's codes are tokens 2 + l * K .. 2 + (l + 1) * K - 1; a few tokens no ID uses
    const ids = Array.from({ length: items }, () => Array.from({ length: variable ? 1 + Math.floor(r() * L) : L }, (_, l) => 2 + l * K + Math.floor(r() * K)));
    const vocab = 2 + L * K + Math.floor(r() * 3);
    const groupSize = 1 + Math.floor(r() * 4), groups = 1 + Math.floor(r() * 5), batch = 1 + Math.floor(r() * 3);
    const children: Record<string, number[]> = {};
    for (const id of ids) {
      for (let l = 0; l <= id.length; ++l) {
        const next = (children[id.slice(0, l).join(',')] ??= []);
        const t = l < id.length ? id[l] : 1;
        if (!next.includes(t)) next.push(t);
      }
    }
    const table: Record<string, number[]> = {};
    for (let b = 0; b < batch; ++b) {
      for (const key of Object.keys(children)) {
        // logits: shifted row by row (the log-softmax must normalise them over the whole vocabulary)
        const shift = logits ? gauss() * 8 : 0;
        const row = Array.from({ length: vocab }, () => gauss() * 2.5 + shift);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
        table[`${b}|${key}`] = row.map((x) => Math.fround(logits ? x : x - lse));
      }
    }
    cases.push({
      ids, vocab, batch, beams: groupSize * groups, groups, penalty: pick([0, 0.25, 0.5, 1.5]), lengthPenalty: pick([1, 1, 0.5, 2]),
      early: r() < 0.2, maxNew: Math.max(...ids.map((x) => x.length)) + 1, numReturn: groupSize * groups, logits, table, children,
    });
  }
  return cases;
}

/** The case's log-probs for each row of a step, by the row's query and prefix (rows off the trie: 0, never chosen). */
function stepOf(k: OracleCase) {
  return ({ rows, step, tokens, queries }: StepRequest) => {
    const out = new Float32Array(rows * k.vocab);
    for (let r = 0; r < rows; ++r) {
      const row = k.table[`${queries[r]}|${Array.from(tokens.subarray(r * step, (r + 1) * step)).join(',')}`];
      if (row) out.set(row, r * k.vocab);
    }
    return out;
  };
}

describe.skipIf(python === undefined)('constrained beam search equals transformers\' group beam search (numpy oracle)', () => {
  // log-probs given (160 searches), and logits (80: the log-softmax's rounding differs from torch's by
  // an ulp, so searches where two deciding scores lie within 1e-5 of each other are left out)
  const cases = [...makeCases(2025, 160), ...makeCases(7, 80, true)];
  // the oracle runs once, before the tests (collecting a skipped suite runs this callback too,
  // where there is no python to run it with)
  let ran: { status: number | null; stderr: string } = { status: null, stderr: 'not run' };
  let expected: OracleResult[] = [];
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'semid-hf-beam-'));
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
    ran = spawnSync(python!, [oracle, join(dir, 'cases.json'), join(dir, 'hf.json')], { encoding: 'utf8' });
    if (ran.status === 0) expected = JSON.parse(readFileSync(join(dir, 'hf.json'), 'utf8'));
  });
  const backends: Array<{ backend: 'reference' | 'native'; device?: 'cpu' | 'cuda' }> = [{ backend: 'reference' }, { backend: 'native', device: 'cpu' }];
  if (cudaAvailable()) backends.push({ backend: 'native', device: 'cuda' });

  it('the oracle ran', () => expect(ran.status, ran.stderr).toBe(0));

  for (const b of backends) {
    it(`${b.backend}${b.device ? ` (${b.device})` : ''}: the same ranked IDs and scores on ${cases.length} searches (log-probs and logits)`, async () => {
      let compared = 0;
      for (let c = 0; c < cases.length; ++c) {
        const k = cases[c], want = expected[c];
        // where transformers' own order is undefined (a dead beam's token that could penalise a live
        // beam), or logits' rounding could decide it
        if (want.deadTokens || want.deadHypotheses || (k.logits && want.nearTie)) continue;
        const results = await constrainedBeamSearch({
          trie: IdTrie.build({ codes: k.ids }), step: stepOf(k), batch: k.batch, beams: k.beams, groups: k.groups, diversityPenalty: k.penalty,
          endToken: 1, inputs: k.logits ? 'logits' : 'logprobs', lengthPenalty: k.lengthPenalty, earlyStopping: k.early, numReturn: k.numReturn, ...b,
        });
        results.forEach((res, q) => {
          const got = res.hypotheses.map((h) => h.tokens.join('.'));
          expect(got, `case ${c} query ${q}`).toEqual(want.hypotheses[q].map((h) => h.tokens.join('.')));
          res.hypotheses.forEach((h, i) => {
            const w = want.hypotheses[q][i].score;
            expect(Math.abs(h.score - w), `case ${c} query ${q} rank ${i}`).toBeLessThanOrEqual((k.logits ? 1e-5 : 1e-6) * Math.max(1, Math.abs(w)));
          });
        });
        compared++;
      }
      expect(compared).toBeGreaterThan(cases.length * 0.8);
    });
  }

  it('the cases reach what the oracle sets apart: exact ties, IDs that are prefixes of others, groups that finish early', () => {
    expect(expected.filter((e) => e.tie).length).toBeGreaterThan(10);
    expect(cases.filter((k) => Object.values(k.children).some((t) => t.includes(1) && t.length > 1)).length).toBeGreaterThan(10);
    expect(cases.filter((k) => k.early).length).toBeGreaterThan(10);
  });
});
