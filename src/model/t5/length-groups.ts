/**
 * Length groups for the training loss: a batch that mixes short search queries with long
 * recommendation histories is padded to its longest source, so most of its encoder work is on
 * padding (2.2x the real tokens in a `quick` study batch). Running the rows in a few groups of
 * similar length, each trimmed to its own longest row, gives the same loss and gradients: padded
 * keys are masked out of every attention (a zero weight), T5's position bias depends only on the
 * distance between positions, and the decoder is causal, so positions after a row's last label
 * never reach its loss.
 */
import type { T5Batch } from './model.js';
import { expectInt, expectNumber } from '../../kernels/validate.js';
import { SemidArgumentError } from '../../kernels/errors.js';

function expectInt32Array(name: string, value: unknown, length: number, what: string): Int32Array {
  if (!(value instanceof Int32Array) || value.length < length) throw new SemidArgumentError(name, `an Int32Array of at least ${length} values (${what})`, value);
  return value;
}

/** Rows of one group and the lengths its sub-batch is trimmed to. */
export interface LengthGroup {
  /** [rows] row numbers of the batch, ascending source extent. */
  rows: Int32Array;
  /** Encoder length of the group (the longest source extent among its rows), tokens. */
  sourceLength: number;
  /** Decoder length of the group (the longest label extent among its rows), tokens. */
  targetLength: number;
}

/**
 * Each row's extent: one past its last position where `keep` holds (the whole row when none does,
 * so a row without tokens is left as it came).
 * @example rowExtents(Int32Array.of(1, 1, 0, 1, 0, 0), 2, 3, (v) => v !== 0) // [2, 1]
 */
export function rowExtents(values: Int32Array, rows: number, length: number, keep: (v: number) => boolean): Int32Array {
  expectInt('rows', rows, 0, 2 ** 31 - 1);
  expectInt('length', length, 1, 2 ** 31 - 1);
  expectInt32Array('values', values, rows * length, 'rows x length');
  if (typeof keep !== 'function') throw new SemidArgumentError('keep', 'a function (value) => boolean', keep);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let e = length;
    while (e > 0 && !keep(values[r * length + e - 1])) e--;
    out[r] = e === 0 ? length : e;
  }
  return out;
}

/**
 * Split rows into at most `maxGroups` runs of ascending source extent, each padded only to its
 * longest row, minimising the padded source tokens; a further group is taken only where it saves
 * at least `minSaving` (a fraction) of the batch's padded tokens, since every group adds a pass
 * of small kernels. One group holding every row means grouping does not pay.
 * @example lengthGroups(Int32Array.of(5, 40, 6, 41), Int32Array.of(3, 3, 3, 3)).map((g) => g.sourceLength) // [6, 41]
 */
export function lengthGroups(sourceExtents: Int32Array, targetExtents: Int32Array, maxGroups = 4, minSaving = 0.05): LengthGroup[] {
  if (!(sourceExtents instanceof Int32Array)) throw new SemidArgumentError('sourceExtents', 'an Int32Array of row lengths', sourceExtents);
  const n = sourceExtents.length;
  expectInt32Array('targetExtents', targetExtents, n, 'one per row of sourceExtents');
  expectInt('maxGroups', maxGroups, 1, 2 ** 31 - 1);
  expectNumber('minSaving', minSaving, 0, 1);
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => sourceExtents[a] - sourceExtents[b] || a - b);
  // the best cuts fall between distinct lengths: dynamic programming over those (at most maxLength of them)
  const lengths: number[] = [];
  const ends: number[] = []; // ends[d]: one past the last sorted row of length lengths[d]
  for (let i = 0; i < n; i++) {
    const l = sourceExtents[order[i]];
    if (lengths.length > 0 && lengths[lengths.length - 1] === l) ends[ends.length - 1] = i + 1;
    else { lengths.push(l); ends.push(i + 1); }
  }
  const d = lengths.length;
  const rowsBefore = (k: number) => (k === 0 ? 0 : ends[k - 1]);
  const full = n * (d > 0 ? lengths[d - 1] : 0);
  const penalty = minSaving * full;
  const groups = Math.max(1, Math.min(maxGroups, d));
  // best[g][j]: fewest padded tokens for the rows of the first j lengths in g groups; cut[g][j]: the first length of its last group
  const best = Array.from({ length: groups + 1 }, () => new Float64Array(d + 1).fill(Infinity));
  const cut = Array.from({ length: groups + 1 }, () => new Int32Array(d + 1));
  best[0][0] = 0;
  for (let g = 1; g <= groups; g++) {
    for (let j = 1; j <= d; j++) {
      for (let i = g - 1; i < j; i++) {
        const c = best[g - 1][i] + (ends[j - 1] - rowsBefore(i)) * lengths[j - 1];
        if (c < best[g][j]) { best[g][j] = c; cut[g][j] = i; }
      }
    }
  }
  let chosen = 1;
  for (let g = 2; g <= groups; g++) if (best[g][d] + penalty * (g - 1) < best[chosen][d] + penalty * (chosen - 1)) chosen = g;
  const out: LengthGroup[] = [];
  for (let g = chosen, j = d; g > 0 && j > 0; g--) {
    const i = cut[g][j];
    const rows = order.slice(rowsBefore(i), ends[j - 1]);
    let targetLength = 1;
    for (const r of rows) targetLength = Math.max(targetLength, targetExtents[r]);
    out.unshift({ rows, sourceLength: lengths[j - 1], targetLength });
    j = i;
  }
  return out;
}

/**
 * The rows of `batch` named by `group`, each row cut to the group's lengths.
 * @example subBatch(batch, { rows: Int32Array.of(0, 2), sourceLength: 6, targetLength: 3 })
 */
export function subBatch(batch: T5Batch, group: LengthGroup): T5Batch {
  const { rows, sourceLength: ls, targetLength: lt } = group;
  expectInt('group.sourceLength', ls, 1, batch.sourceLength);
  expectInt('group.targetLength', lt, 1, batch.targetLength);
  if (!(rows instanceof Int32Array)) throw new SemidArgumentError('group.rows', 'an Int32Array of row numbers', rows);
  rows.forEach((r, i) => expectInt(`group.rows[${i}]`, r, 0, batch.batchSize - 1));
  const cutRows = (a: Int32Array, from: number, to: number) => {
    const out = new Int32Array(rows.length * to);
    rows.forEach((r, k) => out.set(a.subarray(r * from, r * from + to), k * to));
    return out;
  };
  return {
    batchSize: rows.length, sourceLength: ls, targetLength: lt,
    inputIds: cutRows(batch.inputIds, batch.sourceLength, ls),
    attentionMask: cutRows(batch.attentionMask, batch.sourceLength, ls),
    decoderInputIds: cutRows(batch.decoderInputIds, batch.targetLength, lt),
    labels: batch.labels && cutRows(batch.labels, batch.targetLength, lt),
  };
}
