/**
 * The codes `semid quantize` writes, whichever quantizer made them: the optional dedup level
 * (--dedup, --dedup-after), then the .npy in the dtype asked for.
 */
import { readNpy, writeNpy } from '../data/npy.js';
import { dedupCodes } from '../ids/dedup.js';
import { SemidArgumentError } from '../kernels/errors.js';

export type CodesDtype = 'uint8' | 'uint16' | 'uint32';

/** The dedup level's summary in the report and --json. */
export interface DedupSummary {
  /** Codes the dedup level uses. */
  suffixSize: number;
  /** IDs two or more items shared before it. */
  sharedIds: number;
}

export interface WrittenCodes {
  levels: number;
  dtype: CodesDtype;
  dedup?: DedupSummary;
}

const DTYPE_MAX: Record<CodesDtype, number> = { uint8: 255, uint16: 65535, uint32: 2 ** 32 - 1 };

/** The --dtype flag checked: undefined when not given (uint16, or uint32 for larger codes). */
export function dtypeFlag(value: string | undefined): CodesDtype | undefined {
  if (value === undefined) return undefined;
  if (value !== 'uint16' && value !== 'uint32' && value !== 'uint8') throw new SemidArgumentError('--dtype', '"uint16", "uint32" or "uint8"', value);
  return value;
}

/**
 * Write codes [rows, levels] to `out`, with a dedup level appended when `dedup` is set (numbered
 * after the items of `dedupAfter`'s codes when given). Without --dtype the file is uint16, or uint32
 * where a code (a dedup number above all) does not fit; a --dtype too small for a code is an error.
 *
 * @example writeCodes('codes.npy', codes, 1000, 2, { dedup: true }) // { levels: 3, dtype: 'uint16', dedup: { suffixSize: 4, sharedIds: 37 } }
 */
export function writeCodes(out: string, codes: ArrayLike<number>, rows: number, levels: number,
                           o: { dtype?: CodesDtype; dedup?: boolean; dedupAfter?: string }): WrittenCodes {
  let data: ArrayLike<number> = codes;
  let width = levels;
  let dedup: DedupSummary | undefined;
  if (o.dedup || o.dedupAfter !== undefined) {
    const after = o.dedupAfter === undefined ? undefined : readCatalogueCodes(o.dedupAfter, levels);
    const r = dedupCodes(codes, levels, { after });
    data = r.codes;
    width = r.levels;
    dedup = { suffixSize: r.suffixSize, sharedIds: r.sharedIds };
  }
  let max = 0;
  for (let i = 0; i < data.length; ++i) if (data[i] > max) max = data[i];
  let dtype = o.dtype ?? 'uint16';
  if (max > DTYPE_MAX[dtype]) {
    if (o.dtype !== undefined) throw new SemidArgumentError('--dtype', `a type that holds code ${max}${dedup ? ' (a dedup number)' : ''}: ${max > DTYPE_MAX.uint16 ? '"uint32"' : '"uint16" or "uint32"'}`, o.dtype);
    dtype = 'uint32';
  }
  const typed = dtype === 'uint8' ? Uint8Array.from(data) : dtype === 'uint16' ? Uint16Array.from(data) : Uint32Array.from(data);
  writeNpy(out, typed, [rows, width]);
  return { levels: width, dtype, dedup };
}

/** The catalogue's codes of --dedup-after: a 2-d integer .npy of levels + 1 columns. */
function readCatalogueCodes(path: string, levels: number): { data: ArrayLike<number>; levels: number } {
  let arr: ReturnType<typeof readNpy>;
  try {
    arr = readNpy(path);
  } catch (err) {
    throw new SemidArgumentError('--dedup-after', 'a codes .npy written with --dedup', `${path} (${(err as Error).message})`);
  }
  const { shape, data } = arr;
  if (shape.length !== 2 || shape[1] !== levels + 1) {
    throw new SemidArgumentError('--dedup-after', `codes of ${levels + 1} columns (the ${levels} levels and the dedup level, as --dedup writes them)`, `shape [${shape.join(', ')}]`);
  }
  if (data instanceof Float32Array || data instanceof Float64Array) throw new SemidArgumentError('--dedup-after', `integer codes (${path})`, `floats (${arr.dtype})`);
  // int64 as NumPy writes integers by default: as numbers (dedupCodes rejects any beyond int32)
  const values = data instanceof BigInt64Array || data instanceof BigUint64Array ? Float64Array.from(data, (v) => Number(v)) : data;
  return { data: values, levels: levels + 1 };
}
