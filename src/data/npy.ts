/**
 * NumPy .npy files (format versions 1, 2 and 3): read any C- or Fortran-ordered array of
 * float16/32/64 or (u)int8/16/32/64, little- or big-endian; write float32/float64 and integer
 * arrays. Embeddings from Python tools load directly, and our outputs load in NumPy.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { SemidError } from '../kernels/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { bytePieces, readAt } from '../io/read-at.js';

export type NpyDtype = 'f2' | 'f4' | 'f8' | 'i1' | 'u1' | 'i2' | 'u2' | 'i4' | 'u4' | 'i8' | 'u8';
export type NpyData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface NpyArray {
  /** Element type (float16 is returned as float32 data with dtype 'f2'). */
  dtype: NpyDtype;
  shape: number[];
  /** Elements in C (row-major) order, whatever order the file used. */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const SIZES: Record<NpyDtype, number> = { f2: 2, f4: 4, f8: 8, i1: 1, u1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8 };

function npyError(source: string, message: string): SemidError {
  return new SemidError('ERR_SEMID_NPY', `${source}: ${message}`);
}

/** float16 bits -> float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Parse the header dictionary: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }. */
function parseHeader(text: string, source: string) {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw npyError(source, `malformed header ${JSON.stringify(text.trim().slice(0, 120))}`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const v = Number(s.replace(/L$/, ''));
    if (!Number.isInteger(v) || v < 0) throw npyError(source, `bad shape entry "${s}"`);
    return v;
  });
  const m = /^([<>|=])([fiu])(\d+)$/.exec(descr);
  if (!m) throw npyError(source, `unsupported dtype '${descr}' (expected float16/32/64 or an integer type)`);
  const dtype = `${m[2]}${m[3]}` as NpyDtype;
  if (!(dtype in SIZES) || SIZES[dtype] !== Number(m[3])) throw npyError(source, `unsupported dtype '${descr}'`);
  const bigEndian = m[1] === '>';
  return { dtype, shape, fortranOrder: fortran === 'True', bigEndian };
}

/** The byte where the data starts, from the first 12 bytes (magic, version, header length). */
function dataOffset(prefix: Uint8Array, total: number, source: string): number {
  if (total === 0) throw npyError(source, 'the file is empty (expected a NumPy .npy file)');
  if (total < 10 || prefix.byteLength < 10 || MAGIC.some((b, i) => prefix[i] !== b)) {
    throw npyError(source, 'not a .npy file (the \\x93NUMPY magic is missing)');
  }
  const major = prefix[6];
  if (major < 1 || major > 3) throw npyError(source, `unsupported .npy format version ${major}.${prefix[7]}`);
  const headerLenSize = major === 1 ? 2 : 4;
  if (total < 8 + headerLenSize || prefix.byteLength < 8 + headerLenSize) throw npyError(source, 'truncated header');
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const dataStart = 8 + headerLenSize + (major === 1 ? view.getUint16(8, true) : view.getUint32(8, true));
  if (total < dataStart) throw npyError(source, `truncated header (needs ${dataStart} bytes, file has ${total})`);
  return dataStart;
}

/** The header of `head` (the file's first dataStart bytes), checked against the bytes the file has. */
function headerOf(head: Uint8Array, dataStart: number, total: number, source: string) {
  const major = head[6];
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(head.subarray(major === 1 ? 10 : 12, dataStart));
  const parsed = parseHeader(header, source);
  const count = parsed.shape.reduce((a, b) => a * b, 1);
  const need = count * SIZES[parsed.dtype];
  const have = total - dataStart;
  if (have < need) {
    throw npyError(source, `truncated data: shape (${parsed.shape.join(', ')}) of ${parsed.dtype} needs ${need} bytes, the file has ${have}`);
  }
  return { ...parsed, count, need };
}

/**
 * Read a .npy file (path or bytes). A file is read straight into the returned array, in pieces of
 * at most 1 GiB, so arrays of any size load (not only those under fs's 2 GiB file limit) without
 * a second copy.
 * @example const { shape, data } = readNpy('embeddings.npy'); // shape [n, d]
 */
export function readNpy(input: string | Uint8Array, name?: string): NpyArray {
  const source = name ?? (typeof input === 'string' ? input : '.npy data');
  if (typeof input === 'string') return readNpyFile(input, source);
  const bytes = input;
  const dataStart = dataOffset(bytes, bytes.byteLength, source);
  const { dtype, shape, fortranOrder, bigEndian, count } = headerOf(bytes, dataStart, bytes.byteLength, source);
  let data = decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), dataStart, count, dtype, !bigEndian);
  if (fortranOrder && shape.length > 1) data = toCOrder(data, shape);
  return { dtype, shape, data };
}

/** The header of an open .npy file of `total` bytes, checked, and the byte where its data starts. */
export interface NpyFileHeader {
  dtype: NpyDtype;
  shape: number[];
  fortranOrder: boolean;
  bigEndian: boolean;
  /** Elements. */
  count: number;
  /** Bytes of data. */
  need: number;
  dataStart: number;
}

/**
 * Read and check the header of the open .npy file `fd` (a regular file of `total` bytes).
 * @example const h = readNpyHeaderAt(fd, fstatSync(fd).size, 'x.npy'); h.shape // [n, d]
 */
export function readNpyHeaderAt(fd: number, total: number, source: string): NpyFileHeader {
  const prefix = new Uint8Array(Math.min(total, 12));
  readNpyBytesAt(fd, prefix, 0, source);
  const dataStart = dataOffset(prefix, total, source);
  const head = new Uint8Array(dataStart);
  readNpyBytesAt(fd, head, 0, source);
  return { ...headerOf(head, dataStart, total, source), dataStart };
}

/**
 * Fill `into` (a typed array of any size) from byte `position` of the open .npy file `fd`; a file
 * that ends first is an error.
 * @example readNpyBytesAt(fd, new Uint8Array(64), h.dataStart, 'x.npy');
 */
export function readNpyBytesAt(fd: number, into: ArrayBufferView, position: number, source: string): void {
  const got = readAt(fd, into, position);
  if (got < into.byteLength) throw npyError(source, `the file ended at byte ${position + got} while being read`);
}

/**
 * Little- or big-endian elements of `dtype` in `bytes`, as float32 (float16, float64 and integers
 * converted; 64-bit integers through Number).
 * @example npyBytesToFloat32(new Uint8Array(new Float64Array([1.5]).buffer), 'f8', false) // Float32Array [1.5]
 */
export function npyBytesToFloat32(bytes: Uint8Array, dtype: NpyDtype, bigEndian: boolean): Float32Array {
  const count = bytes.byteLength / SIZES[dtype];
  return asFloat32(decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, count, dtype, !bigEndian));
}

/** The values as float32: the array itself when it is one, else converted (64-bit integers through Number). */
function asFloat32(data: NpyData): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, (v) => Number(v));
  return Float32Array.from(data as ArrayLike<number>);
}

function readNpyFile(path: string, source: string): NpyArray {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw npyError(source, e.code === 'ENOENT' ? 'no such file (expected a NumPy .npy file)' : e.message);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return readNpy(readFileSync(fd), source);  // a pipe or device: its size is unknown up front
    const read = (into: ArrayBufferView, position: number) => readNpyBytesAt(fd, into, position, source);
    const { dtype, shape, fortranOrder, bigEndian, count, need, dataStart } = readNpyHeaderAt(fd, stat.size, source);
    const native = { f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array, i8: BigInt64Array, u8: BigUint64Array } as Record<string, { new (n: number): NpyData }>;
    if (!bigEndian && native[dtype] && !(fortranOrder && shape.length > 1)) {
      const data = new native[dtype](count);  // the common case: the file's bytes are the array's
      read(data, dataStart);
      return { dtype, shape, data };
    }
    const raw = new Uint8Array(need);
    read(raw, dataStart);
    let data = decode(new DataView(raw.buffer), 0, count, dtype, !bigEndian);
    if (fortranOrder && shape.length > 1) data = toCOrder(data, shape);
    return { dtype, shape, data };
  } finally {
    closeSync(fd);
  }
}

function decode(view: DataView, start: number, count: number, dtype: NpyDtype, little: boolean): NpyData {
  const size = SIZES[dtype];
  const aligned = (view.byteOffset + start) % size === 0 && little;
  const slice = (C: { new (buf: ArrayBufferLike, off: number, len: number): NpyData; new (len: number): NpyData }) => {
    if (aligned) return new C(view.buffer, view.byteOffset + start, count).slice() as NpyData;
    const out = new C(count) as NpyData;
    const copy = new Uint8Array(out.buffer);
    copy.set(new Uint8Array(view.buffer, view.byteOffset + start, count * size));
    if (!little) for (let i = 0; i < count; i++) copy.subarray(i * size, (i + 1) * size).reverse();
    return out;
  };
  switch (dtype) {
    case 'f2': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(start + 2 * i, little));
      return out;
    }
    case 'f4': return slice(Float32Array as never);
    case 'f8': return slice(Float64Array as never);
    case 'i1': return slice(Int8Array as never);
    case 'u1': return slice(Uint8Array as never);
    case 'i2': return slice(Int16Array as never);
    case 'u2': return slice(Uint16Array as never);
    case 'i4': return slice(Int32Array as never);
    case 'u4': return slice(Uint32Array as never);
    case 'i8': return slice(BigInt64Array as never);
    case 'u8': return slice(BigUint64Array as never);
  }
}

function toCOrder(data: NpyData, shape: number[]): NpyData {
  const out = new (data.constructor as { new (n: number): NpyData })(data.length);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  const fStrides = shape.map((_, i) => shape.slice(0, i).reduce((a, b) => a * b, 1));
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    for (let k = 0; k < nd; k++) f += idx[k] * fStrides[k];
    (out as unknown as number[])[c] = (data as unknown as number[])[f];
    for (let k = nd - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/**
 * Read a 2-D .npy as float32 rows (float16/float64/integers converted), for embeddings.
 * @example const { data, rows, cols } = readNpyMatrix('embeddings.npy');
 */
export function readNpyMatrix(input: string | Uint8Array, name?: string): { data: Float32Array; rows: number; cols: number; dtype: NpyDtype } {
  const source = name ?? (typeof input === 'string' ? input : '.npy data');
  const arr = readNpy(input, name);
  if (arr.shape.length !== 2) {
    throw npyError(source, `expected a 2-D array (rows x dim), got shape (${arr.shape.join(', ')})`);
  }
  const [rows, cols] = arr.shape;
  return { data: asFloat32(arr.data), rows, cols, dtype: arr.dtype };
}

function dtypeOf(data: NpyData): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof Int16Array) return '<i2';
  if (data instanceof Uint16Array) return '<u2';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint32Array) return '<u4';
  if (data instanceof BigInt64Array) return '<i8';
  return '<u8';
}

/**
 * The bytes of a .npy (version 1.0) holding `data` with `shape`, C order, little-endian.
 * @example Buffer.concat(encodeNpy(new Float32Array([1, 2]), [2])) // 136 bytes: magic, header, data
 */
export function encodeNpy(data: NpyData, shape: number[]): Uint8Array[] {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new SemidError('ERR_SEMID_INVALID_ARG', `shape (${shape.join(', ')}) has ${count} elements but data has ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = new Uint8Array(10);
  pre.set(MAGIC);
  pre[6] = 1;
  pre[7] = 0;
  new DataView(pre.buffer).setUint16(8, header.length, true);
  return [pre, new TextEncoder().encode(header), ...bytePieces(data)];
}

/**
 * Write a .npy file atomically (temp file + rename).
 * @example writeNpy('codes.npy', new Uint16Array([1, 2, 3, 4]), [2, 2]);
 */
export function writeNpy(path: string, data: NpyData, shape: number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}
