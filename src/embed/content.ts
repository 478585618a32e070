/**
 * The default content encoder (no pretrained weights): TF-IDF of the item text (words and bigrams,
 * sublinear tf) reduced with our sparse truncated SVD to 384 dimensions, rows L2-normalised. The
 * same model encodes queries (for the dense-search baseline) and initialises the bi-encoder tower.
 */
import { truncatedSvd } from '../linalg/svd.js';
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';
import { TfidfVectorizer, type TfidfOptions } from './tfidf.js';
import { csrTimesDense, normalizeRows, transpose } from './vectors.js';

export interface ContentModel {
  vectorizer: TfidfVectorizer;
  dim: number;
  /** [terms x dim] the SVD components, transposed (a term's direction in the embedding space). */
  termVectors: Float32Array;
}

export interface ContentOptions extends TfidfOptions {
  /** Output dimension (default 384, capped by the matrix's rank). */
  dim?: number;
  seed?: number;
  powerIters?: number;
  signal?: AbortSignal;
}

/** The option names of ContentOptions (checked against it at compile time): any other key is an error. */
const CONTENT_KEYS = optionKeys<ContentOptions>()(['dim', 'seed', 'powerIters', 'signal', 'minDf', 'maxFeatures', 'bigrams']);

/**
 * Fit the content model on item texts and return the items' embeddings [items x dim].
 * @example const { model, embeddings } = await fitContentEncoder(items.map((m) => m.text));
 */
export async function fitContentEncoder(texts: string[], options: ContentOptions = {}): Promise<{ model: ContentModel; embeddings: Float32Array }> {
  expectOptions<ContentOptions>('options', options, CONTENT_KEYS);
  const vectorizer = TfidfVectorizer.fit(texts, { minDf: options.minDf ?? 1, maxFeatures: options.maxFeatures ?? 200_000, bigrams: options.bigrams });
  const csr = vectorizer.transform(texts);
  const dim = Math.min(expectInt('dim', options.dim ?? 384, 1, 65536), csr.rows - 1, csr.cols - 1);
  const svd = await truncatedSvd(csr, { rank: dim, method: 'randomized', seed: options.seed ?? 0, powerIters: options.powerIters ?? 4, signal: options.signal });
  const termVectors = transpose(svd.components, dim, csr.cols);
  const embeddings = normalizeRows(Float32Array.from(svd.projected), dim);
  return { model: { vectorizer, dim, termVectors }, embeddings };
}

/**
 * Encode texts (queries or items) with a fitted content model: [texts x dim], unit rows.
 * @example const q = encodeContent(model, ['a 90s comedy about a talking dog']);
 */
export function encodeContent(model: ContentModel, texts: string[]): Float32Array {
  return normalizeRows(csrTimesDense(model.vectorizer.transform(texts), model.termVectors, model.dim), model.dim);
}
