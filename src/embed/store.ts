/**
 * Embedding files of a run: `<run>/embeddings/<name>.npy` (float32 [items x dim], rows in the data
 * set's item order, i.e. by movieId) and `<name>.json` (settings, metrics), both written atomically.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemidError } from '../kernels/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readNpyMatrix, writeNpy } from '../data/npy.js';

export const EMBEDDING_KINDS = ['content', 'search', 'rec', 'multitask', 'fused-concat', 'fused-svd'] as const;
export type EmbeddingKind = (typeof EMBEDDING_KINDS)[number];

/** @example saveEmbeddings('runs/x', 'content', emb, 384, { settings }) */
export function saveEmbeddings(runDir: string, name: string, data: Float32Array, dim: number, sidecar: Record<string, unknown>): string {
  const dir = join(runDir, 'embeddings');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.npy`);
  writeNpy(path, data, [data.length / dim, dim]);
  writeFileAtomic(join(dir, `${name}.json`), [Buffer.from(JSON.stringify({ name, rows: data.length / dim, dim, itemOrder: 'data/items.jsonl (movieId order)', ...sidecar }, null, 2) + '\n')]);
  return path;
}

/** @example const { data, dim } = loadEmbeddings('runs/x', 'content'); */
export function loadEmbeddings(runDir: string, name: string): { data: Float32Array; dim: number; rows: number; sidecar: Record<string, unknown> } {
  const path = join(runDir, 'embeddings', `${name}.npy`);
  if (!existsSync(path)) throw new SemidError('ERR_SEMID_STAGE', `${path} is missing: run \`semid embed ${name} --run ${runDir}\` first`);
  const m = readNpyMatrix(path);
  const side = join(runDir, 'embeddings', `${name}.json`);
  return { data: m.data, dim: m.cols, rows: m.rows, sidecar: existsSync(side) ? JSON.parse(readFileSync(side, 'utf8')) : {} };
}
