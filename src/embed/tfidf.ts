/**
 * TF-IDF over words and word bigrams with sublinear tf (1 + log tf), smooth idf
 * (log((1 + n) / (1 + df)) + 1) and L2-normalised rows, as scikit-learn's TfidfVectorizer with
 * sublinear_tf=True, ngram_range=(1, 2); output is a CSR matrix for our sparse SVD.
 */
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt } from '../kernels/validate.js';
import type { CsrMatrix } from '../linalg/svd.js';

export interface TfidfOptions {
  /** Keep terms in at least this many documents (default 1). */
  minDf?: number;
  /**
   * Keep at most this many terms, the most frequent across the corpus (total count, as
   * scikit-learn's max_features; ties to the alphabetically first), after minDf (default: all).
   */
  maxFeatures?: number | null;
  /** Add word bigrams (default true). */
  bigrams?: boolean;
}

/**
 * Lower-cased words of two or more letters or digits.
 * @example textWords('Amélie (2001): a whimsical Paris tale') // ['amélie', '2001', 'whimsical', 'paris', 'tale']
 */
export function textWords(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [];
}

/**
 * Words and (optionally) bigrams of a text.
 * @example textTerms('dark space horror') // ['dark', 'space', 'horror', 'dark space', 'space horror']
 */
export function textTerms(text: string, bigrams = true): string[] {
  const words = textWords(text);
  if (!bigrams) return words;
  const out = [...words];
  for (let i = 0; i + 1 < words.length; i++) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

/**
 * A fitted vocabulary and idf.
 * @example const v = TfidfVectorizer.fit(['a funny dog', 'a scary dog']); const csr = v.transform(['funny dog']);
 */
export class TfidfVectorizer {
  private constructor(readonly vocab: Map<string, number>, readonly idf: Float32Array, readonly bigrams: boolean) {}

  static fit(docs: string[], options: TfidfOptions = {}): TfidfVectorizer {
    if (!Array.isArray(docs) || docs.length === 0) throw new SemidArgumentError('docs', 'a non-empty array of texts', docs);
    const minDf = expectInt('minDf', options.minDf ?? 1, 1, 1e9);
    const bigrams = options.bigrams ?? true;
    const maxFeatures = options.maxFeatures == null ? Infinity : expectInt('maxFeatures', options.maxFeatures, 1, 1e9);
    const df = new Map<string, number>();
    const count = new Map<string, number>();
    for (const d of docs) {
      const terms = textTerms(d, bigrams);
      for (const t of terms) count.set(t, (count.get(t) ?? 0) + 1);
      for (const t of new Set(terms)) df.set(t, (df.get(t) ?? 0) + 1);
    }
    let terms = [...df.entries()].filter(([, c]) => c >= minDf);
    if (terms.length > maxFeatures) {
      terms.sort((a, b) => count.get(b[0])! - count.get(a[0])! || (a[0] < b[0] ? -1 : 1));
      terms = terms.slice(0, maxFeatures);
    }
    terms.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const vocab = new Map<string, number>();
    const idf = new Float32Array(terms.length);
    const n = docs.length;
    terms.forEach(([t, c], i) => { vocab.set(t, i); idf[i] = Math.log((1 + n) / (1 + c)) + 1; });
    return new TfidfVectorizer(vocab, idf, bigrams);
  }

  get size(): number { return this.idf.length; }

  /** Term ids of a text (repeats kept), terms outside the vocabulary dropped. */
  termIds(text: string): Int32Array {
    const out: number[] = [];
    for (const t of textTerms(text, this.bigrams)) { const id = this.vocab.get(t); if (id !== undefined) out.push(id); }
    return Int32Array.from(out);
  }

  /** CSR [docs x terms] of L2-normalised sublinear TF-IDF rows (an empty text gives an empty row). */
  transform(docs: string[]): CsrMatrix {
    const indptr = new Int32Array(docs.length + 1);
    const indices: number[] = [];
    const values: number[] = [];
    docs.forEach((d, i) => {
      const tf = new Map<number, number>();
      for (const id of this.termIds(d)) tf.set(id, (tf.get(id) ?? 0) + 1);
      const cols = [...tf.keys()].sort((a, b) => a - b);
      const w = cols.map((c) => (1 + Math.log(tf.get(c)!)) * this.idf[c]);
      const norm = Math.sqrt(w.reduce((s, v) => s + v * v, 0)) || 1;
      cols.forEach((c, k) => { indices.push(c); values.push(w[k] / norm); });
      indptr[i + 1] = indices.length;
    });
    return { rows: docs.length, cols: this.size, indptr, indices: Int32Array.from(indices), values: Float32Array.from(values) };
  }

  toJSON(): { terms: string[]; idf: number[]; bigrams: boolean } {
    const terms = new Array<string>(this.size);
    for (const [t, i] of this.vocab) terms[i] = t;
    return { terms, idf: Array.from(this.idf), bigrams: this.bigrams };
  }

  static fromJSON(j: { terms: string[]; idf: number[]; bigrams: boolean }): TfidfVectorizer {
    return new TfidfVectorizer(new Map(j.terms.map((t, i) => [t, i])), Float32Array.from(j.idf), j.bigrams);
  }
}
