/**
 * Fusions of a search space and a rec space (item order shared):
 *   concat: L2-normalise each, concatenate ([items x (d1 + d2)]);
 *   svd:    L2-normalise each, reduce the larger space to the smaller's dimension with our
 *           truncated SVD (no centering), normalise, add ([items x min(d1, d2)]).
 */
import { SemidArgumentError } from '../kernels/errors.js';
import { truncatedSvd } from '../linalg/svd.js';
import { normalizeRows } from './vectors.js';

function check(name: string, x: Float32Array, dim: number, rows: number): void {
  if (!(x instanceof Float32Array) || x.length !== rows * dim) throw new SemidArgumentError(name, `Float32Array [${rows} x ${dim}]`, x);
}

/** @example const fused = fuseConcat(search, 384, rec, 256, items); // [items x 640] */
export function fuseConcat(a: Float32Array, da: number, b: Float32Array, db: number, rows: number): Float32Array {
  check('a', a, da, rows);
  check('b', b, db, rows);
  const na = normalizeRows(Float32Array.from(a), da);
  const nb = normalizeRows(Float32Array.from(b), db);
  const out = new Float32Array(rows * (da + db));
  for (let r = 0; r < rows; r++) {
    out.set(na.subarray(r * da, (r + 1) * da), r * (da + db));
    out.set(nb.subarray(r * db, (r + 1) * db), r * (da + db) + da);
  }
  return out;
}

/** @example const { embeddings, dim } = await fuseSvd(search, 384, rec, 256, items, 0); // dim 256 */
export async function fuseSvd(a: Float32Array, da: number, b: Float32Array, db: number, rows: number, seed = 0): Promise<{ embeddings: Float32Array; dim: number }> {
  check('a', a, da, rows);
  check('b', b, db, rows);
  let big = normalizeRows(Float32Array.from(a), da);
  let small = normalizeRows(Float32Array.from(b), db);
  let dBig = da;
  let dSmall = db;
  if (db > da) { [big, small] = [small, big]; [dBig, dSmall] = [dSmall, dBig]; }
  let reduced = big;
  if (dBig > dSmall) {
    // With fewer items than dimensions the rank is at most the item count: the coordinates past
    // it are zero (their singular values are), so they are filled with zeros.
    const rank = Math.min(dSmall, rows);
    const svd = rank > 0 ? await truncatedSvd(big, { rank, dim: dBig, seed }) : { projected: new Float32Array(0) };
    const projected = new Float32Array(rows * dSmall);
    for (let r = 0; r < rows; r++) projected.set(svd.projected.subarray(r * rank, (r + 1) * rank), r * dSmall);
    reduced = normalizeRows(projected, dSmall);
  }
  const out = new Float32Array(rows * dSmall);
  for (let i = 0; i < out.length; i++) out[i] = reduced[i] + small[i];
  return { embeddings: out, dim: dSmall };
}
