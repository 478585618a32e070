// The whole search, native against the TypeScript reference, over random configurations: trie
// shapes (fixed and variable length, vocabularies of 2-300 codes, level offsets, namespaces of
// equal or different ID lengths, item numbers), beams 1-128 and every kind of group split, batches on both sides of the native
// ranking's 16 queries and the 64-query synchronous limit, logits and log-probabilities (some
// -Infinity), length penalties, early stopping, numReturn, both formats. Selections must be equal;
// scores may differ by float rounding (the native log-softmax is computed another way), which is
// why the logits are spread wide enough that no two hypotheses' scores are that close.
import { describe, expect, it } from 'vitest';
import { IdTrie, constrainedBeamSearch, type BeamSearchOptions, type StepRequest } from '../src/index.js';
import { rng } from './helpers.js';

/** Deep equality with numbers equal up to 4e-6 relative (NaN equals NaN). */
function near(x: unknown, y: unknown, path: string): string | null {
  if (typeof x === 'number' && typeof y === 'number') {
    const ok = x === y || (Number.isNaN(x) && Number.isNaN(y)) || Math.abs(x - y) <= 4e-6 * Math.max(1, Math.abs(x));
    return ok ? null : `${path}: ${x} vs ${y}`;
  }
  if (ArrayBuffer.isView(x) || Array.isArray(x)) {
    const a = x as ArrayLike<unknown>, b = y as ArrayLike<unknown>;
    if (!(ArrayBuffer.isView(y) || Array.isArray(y)) || a.length !== b.length || (x as object).constructor !== (y as object).constructor) {
      return `${path}: shape or type differs`;
    }
    for (let i = 0; i < a.length; ++i) {
      const d = near(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (x !== null && typeof x === 'object' && y !== null && typeof y === 'object') {
    const kx = Object.keys(x), ky = Object.keys(y);
    if (kx.join() !== ky.join()) return `${path}: keys ${kx} vs ${ky}`;
    for (const k of kx) {
      const d = near((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return x === y ? null : `${path}: ${String(x)} vs ${String(y)}`;
}

/** A random search configuration (seeded), its logits fixed per step so both backends see the same. */
function randomSearch(seed: number): { options: BeamSearchOptions; desc: string } {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const k = pick([2, 3, 5, 16, 40, 256, 300]);
  const nsCount = pick([1, 1, 2, 3]);
  const varLen = r() < 0.4;
  const maxL = pick([1, 2, 3, 4]);
  const lengthPerNamespace = r() < 0.5;  // namespaces of different ID lengths (each query stops at its own)
  const namespaces = Array.from({ length: nsCount }, (_, ns) => {
    const L = lengthPerNamespace ? pick([1, 2, 3, 4]) : maxL;
    const codes = Array.from({ length: pick([1, 3, 20, 200, 2000]) },
      () => Array.from({ length: varLen ? 1 + Math.floor(r() * L) : L }, () => Math.floor(r() * k)));
    const offsets = pick(['none', 'shift', 'level'] as const);
    return {
      name: `ns${ns}`, codes,
      offsets: offsets === 'level' ? Array.from({ length: L }, (_, l) => l * k) : offsets === 'shift' ? 7 : 0,
      items: r() < 0.3 ? codes.map((_, i) => i * 3 + ns) : undefined,
    };
  });
  const trie = IdTrie.build(namespaces);
  const beams = pick([1, 2, 4, 6, 8, 12, 60, 128]);
  const groups = pick(Array.from({ length: beams }, (_, i) => i + 1).filter((d) => beams % d === 0));
  const endToken = trie.prefixNode >= 0 || r() < 0.3 ? trie.vocabSize + Math.floor(r() * 3) : undefined;
  const vocab = Math.max(trie.vocabSize, (endToken ?? -1) + 1) + Math.floor(r() * 4);
  const batch = pick([1, 2, 15, 16, 17, 40, 64, 65, 100]);
  const inputs = pick(['logits', 'logprobs'] as const);
  const scale = pick([1, 5]);  // tie-free: logits 0.01 apart leave scores within float rounding of each other
  const deadFraction = pick([0, 0, 0.05]);
  const logits = new Map<number, Float32Array>();
  const step = ({ step: s, rows }: StepRequest) => {
    let out = logits.get(s);
    if (!out) {
      const rr = rng(seed * 31 + s + 1);
      out = new Float32Array(rows * vocab);
      for (let i = 0; i < out.length; ++i) {
        const v = (rr() * 2 - 1) * 3 * scale;
        out[i] = rr() < deadFraction ? -Infinity : inputs === 'logprobs' ? -Math.abs(v) - 0.01 : v;
      }
      logits.set(s, out);
    }
    return out;
  };
  const options: BeamSearchOptions = {
    trie, step, batch, beams, groups, endToken, inputs,
    diversityPenalty: pick([0, 0.25, 1, 3]),
    namespace: nsCount > 1 && r() < 0.5 ? Array.from({ length: batch }, () => `ns${Math.floor(r() * nsCount)}`) : pick(trie.namespaces),
    lengthPenalty: pick([1, 1, 0, 0.5, 2, -1]),
    earlyStopping: r() < 0.5,
    numReturn: pick([undefined, 1, Math.max(1, beams >> 1), beams]),
    threads: pick([1, 2]),
  };
  const desc = JSON.stringify({ seed, k, nsCount, varLen, maxL, lengthPerNamespace, beams, groups, endToken, vocab, batch, inputs, scale, deadFraction,
    penalty: options.diversityPenalty, lengthPenalty: options.lengthPenalty, early: options.earlyStopping, numReturn: options.numReturn });
  return { options, desc };
}

describe('constrained beam search: native equals the reference over random configurations', () => {
  it('fuzz', async () => {
    let rejected = 0;
    for (let seed = Number(process.env.FUZZ_FROM); seed <= Number(process.env.FUZZ_TO); ++seed) {
      const { options, desc } = randomSearch(seed);
      for (const format of ['objects', 'arrays'] as const) {
        // A configuration the search rejects (IDs of several lengths without an end token, or a
        // row of logits all -Infinity) is rejected by both, with the same message.
        const settle = (p: Promise<unknown>) => p.then((v) => v, (e: Error) => ({ error: e.message }));
        const native = await settle(constrainedBeamSearch({ ...options, format }));
        const reference = await settle(constrainedBeamSearch({ ...options, format, backend: 'reference' }));
        const diff = near(native, reference, format);
        if (diff && process.env.FUZZ_DUMP) {
          const q = Number(/objects\[(\d+)\]/.exec(diff)?.[1] ?? /\[(\d+)\]/.exec(diff)?.[1] ?? 0);
          const h = Number(/hypotheses\[(\d+)\]/.exec(diff)?.[1] ?? 0);
          const show = (r: any) => Array.isArray(r) ? r[q].hypotheses.slice(Math.max(0, h - 3), h + 4).map((x: any) => `${Array.from(x.tokens).join(',')} ${x.score}`) : r;
          console.log('NATIVE', show(native));
          console.log('REF   ', show(reference));
        }
        if (diff) { console.log('DIFF', desc, diff); continue; }
        if ((native as { error?: string }).error !== undefined) {
          expect((native as { error: string }).error, desc).toMatch(/pass endToken|-Infinity across the whole row/);
          ++rejected;
        }
      }
    }
    
  });
});
