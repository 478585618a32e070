/**
 * Rows of a 2-D .npy file read a piece at a time, as float32, without loading the file: for
 * embeddings larger than memory (quantize them chunk by chunk, train on a sample of rows).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { npyBytesToFloat32, readNpyBytesAt, readNpyHeaderAt, type NpyDtype } from './npy.js';

/** An open 2-D .npy file whose rows are read on demand. */
export interface NpyRowReader {
  readonly path: string;
  readonly rows: number;
  readonly cols: number;
  /** The file's element type (rows come back as float32 whatever it is). */
  readonly dtype: NpyDtype;
  /**
   * Rows [start, start + count) as float32 [count x cols].
   * @example reader.read(0, 1000) // the first 1,000 rows
   */
  read(start: number, count: number): Float32Array;
  /**
   * The rows at `indices` (any order; ascending reads the file forwards) as float32
   * [indices.length x cols], row i of the result being row indices[i] of the file.
   * @example reader.readRows([5, 17, 4096])
   */
  readRows(indices: ArrayLike<number>): Float32Array;
  close(): void;
}

const SIZE: Record<NpyDtype, number> = { f2: 2, f4: 4, f8: 8, i1: 1, u1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8 };

/**
 * Open a 2-D, C-ordered .npy file for reading rows on demand.
 * @example
 * const reader = openNpyRows('embeddings.npy');
 * for (let s = 0; s < reader.rows; s += 100_000) await model.encode(reader.read(s, Math.min(100_000, reader.rows - s)));
 * reader.close();
 */
export function openNpyRows(path: string): NpyRowReader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SemidError('ERR_SEMID_NPY', `${path}: ${e.code === 'ENOENT' ? 'no such file (expected a NumPy .npy file)' : e.message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new SemidError('ERR_SEMID_NPY', `${path}: not a regular file (rows are read on demand; a pipe must be read whole)`);
    const h = readNpyHeaderAt(fd, stat.size, path);
    if (h.shape.length !== 2) throw new SemidError('ERR_SEMID_NPY', `${path}: expected a 2-D array (rows x dim), got shape (${h.shape.join(', ')})`);
    if (h.fortranOrder && h.shape[0] > 1 && h.shape[1] > 1) {
      throw new SemidError('ERR_SEMID_NPY', `${path}: rows are read on demand only from C order (this file is Fortran order; save it with np.ascontiguousarray)`);
    }
    return rowReader(fd, path, h.shape[0], h.shape[1], h.dtype, h.bigEndian, h.dataStart);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function rowReader(fd: number, path: string, rows: number, cols: number, dtype: NpyDtype, bigEndian: boolean, dataStart: number): NpyRowReader {
  const rowBytes = cols * SIZE[dtype];
  let open = true;
  const checkOpen = () => { if (!open) throw new SemidError('ERR_SEMID_NPY', `${path}: the reader is closed`); };
  const toFloat32 = (bytes: Uint8Array) => (dtype === 'f4' && !bigEndian ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : npyBytesToFloat32(bytes, dtype, bigEndian));
  return {
    path, rows, cols, dtype,
    read(start, count) {
      checkOpen();
      if (!Number.isInteger(start) || start < 0 || start > rows) throw new SemidArgumentError('start', `a row in [0, ${rows}]`, start);
      if (!Number.isInteger(count) || count < 0 || start + count > rows) throw new SemidArgumentError('count', `a row count in [0, ${rows - start}]`, count);
      const bytes = new Uint8Array(count * rowBytes);
      readNpyBytesAt(fd, bytes, dataStart + start * rowBytes, path);
      return toFloat32(bytes);
    },
    readRows(indices) {
      checkOpen();
      const n = indices.length;
      for (let i = 0; i < n; i++) {
        const r = indices[i];
        if (!Number.isInteger(r) || r < 0 || r >= rows) throw new SemidArgumentError(`indices[${i}]`, `a row in [0, ${rows})`, r);
      }
      const bytes = new Uint8Array(n * rowBytes);
      // runs of consecutive rows are read in one call
      for (let i = 0; i < n;) {
        const first = indices[i];
        let j = i + 1;
        while (j < n && indices[j] === first + (j - i)) ++j;
        readNpyBytesAt(fd, bytes.subarray(i * rowBytes, j * rowBytes), dataStart + first * rowBytes, path);
        i = j;
      }
      return toFloat32(bytes);
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
