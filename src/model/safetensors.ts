/**
 * safetensors files, our own reader and writer (https://github.com/huggingface/safetensors):
 * an 8-byte little-endian header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}},
 * optional "__metadata__" of string values; padded with spaces to a multiple of 8), then the
 * tensors' bytes, little-endian, C order, back to back in the order of their offsets.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readAt } from '../io/read-at.js';
import { halfToFloat } from '../data/npy.js';

/** The dtypes we read and write. F16 and BF16 are converted to and from float32. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'F64' | 'U8' | 'I8';

export interface SafeTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Float32Array for F32/F16/BF16 (converted), Float64Array for F64, Int32Array for I32, BigInt64Array for I64, Int8/Uint8Array. */
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const SIZE: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, F64: 8, U8: 1, I8: 1 };
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * float32 -> IEEE half (round to nearest even), as a uint16.
 * @example floatToHalf(1.5) // 0x3e00
 */
export function floatToHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/**
 * float32 -> bfloat16 (round to nearest even), as a uint16.
 * @example floatToBf16(1.5) // 0x3fc0
 */
export function floatToBf16(value: number): number {
  const x = new Uint32Array(new Float32Array([value]).buffer)[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return ((x >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function tensorBytes(t: SafeTensor, name: string): Uint8Array {
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SemidArgumentError(`tensors["${name}"].shape`, 'an array of integers >= 0', t.shape);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) throw new SemidArgumentError(`tensors["${name}"].data`, `${count} elements (shape [${t.shape.join(', ')}])`, t.data);
  const d = t.data;
  const native = { F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array, U8: Uint8Array, I8: Int8Array } as Record<string, unknown>;
  if (LITTLE_ENDIAN && native[t.dtype] && d instanceof (native[t.dtype] as typeof Float32Array)) {
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  const le = new DataView(new ArrayBuffer(count * SIZE[t.dtype]));
  switch (t.dtype) {
    case 'F32': for (let i = 0; i < count; i++) le.setFloat32(i * 4, (d as Float32Array)[i], true); break;
    case 'F64': for (let i = 0; i < count; i++) le.setFloat64(i * 8, (d as Float64Array)[i], true); break;
    case 'F16': for (let i = 0; i < count; i++) le.setUint16(i * 2, floatToHalf(Number(d[i])), true); break;
    case 'BF16': for (let i = 0; i < count; i++) le.setUint16(i * 2, floatToBf16(Number(d[i])), true); break;
    case 'I32': for (let i = 0; i < count; i++) le.setInt32(i * 4, Number(d[i]), true); break;
    case 'I64': for (let i = 0; i < count; i++) le.setBigInt64(i * 8, typeof d[i] === 'bigint' ? (d[i] as bigint) : BigInt(d[i] as number), true); break;
    case 'U8': for (let i = 0; i < count; i++) le.setUint8(i, Number(d[i])); break;
    case 'I8': for (let i = 0; i < count; i++) le.setInt8(i, Number(d[i])); break;
  }
  return new Uint8Array(le.buffer);
}

/**
 * The bytes of a safetensors file. Tensors are laid out in name order (the header lists them with
 * their offsets); metadata values must be strings.
 * @example
 * const bytes = encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]]), { step: '10' });
 */
export function encodeSafetensors(tensors: Map<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new SemidArgumentError(`metadata.${k}`, 'string', v);
    header.__metadata__ = metadata;
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new SemidArgumentError('tensors', 'no tensor named __metadata__', name);
    const t = tensors.get(name)!;
    if (!(t.dtype in SIZE)) throw new SemidArgumentError(`tensors["${name}"].dtype`, Object.keys(SIZE).join(', '), t.dtype);
    const bytes = tensorBytes(t, name);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const jsonBytes = Buffer.from(json, 'utf8');
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  return [len, jsonBytes, ...blobs];
}

/**
 * Write a safetensors file atomically.
 * @example writeSafetensors('model.safetensors', new Map([['w', { dtype: 'F32', shape: [1], data: new Float32Array([3]) }]]));
 */
export function writeSafetensors(path: string, tensors: Map<string, SafeTensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Read a safetensors file (or its bytes). F16 and BF16 come back as Float32Array.
 * @example const { tensors, metadata } = readSafetensors('model.safetensors'); tensors.get('w')!.shape
 */
export function readSafetensors(input: string | Uint8Array): SafetensorsFile {
  if (typeof input !== 'string') return parseSafetensors('<bytes>', input.byteLength, (at, length) => input.subarray(at, at + length), false);
  let fd: number;
  try {
    fd = openSync(input, 'r');
  } catch (err) {
    throw new SemidError('ERR_SEMID_SAFETENSORS', `${input}: cannot be read (${(err as Error).message})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {  // a pipe or device: its size is unknown up front
      const bytes = readFileSync(fd);
      return parseSafetensors(input, bytes.byteLength, (at, length) => bytes.subarray(at, at + length), false);
    }
    // A file is read tensor by tensor, each straight into its own array in pieces of at most
    // 1 GiB: files over fs's 2 GiB limit load (flan-t5-large's model.safetensors is 3.1 GB).
    return parseSafetensors(input, stat.size, (at, length) => {
      const out = new Uint8Array(length);
      const got = readAt(fd, out, at);
      if (got < length) throw new SemidError('ERR_SEMID_SAFETENSORS', `${input}: the file ended at byte ${at + got} while being read`);
      return out;
    }, true);
  } finally {
    closeSync(fd);
  }
}

/**
 * A safetensors file of `size` bytes, read through `read(at, length)`; `fresh`: each read is a new
 * buffer the tensors may keep (a file), else a view of bytes they must copy.
 */
function parseSafetensors(name: string, size: number, read: (at: number, length: number) => Uint8Array, fresh: boolean): SafetensorsFile {
  const bad = (why: string) => new SemidError('ERR_SEMID_SAFETENSORS', `${name}: ${why}`);
  if (size < 8) throw bad('too short for a safetensors header');
  const lengthBytes = read(0, 8);
  const n = Number(new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true));
  if (n > size - 8 || n > 100_000_000) throw bad(`header length ${n} exceeds the file (${size} bytes)`);
  let header: unknown;
  try {
    const headerBytes = read(8, n);
    header = JSON.parse(Buffer.from(headerBytes.buffer, headerBytes.byteOffset, n).toString('utf8'));
  } catch (err) {
    throw bad(`header is not JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const base = 8 + n;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  // Checked as the safetensors library checks a header: each entry's dtype, shape and offsets, and
  // the tensors' bytes back to back from offset 0 to the end of the file (no gaps, no overlaps).
  const entries: Array<{ key: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number; count: number }> = [];
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw bad('__metadata__ is not an object of string values');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (entry === null || typeof entry !== 'object') throw bad(`tensor "${key}" is ${JSON.stringify(entry)}, not {dtype, shape, data_offsets}`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as SafetensorsDtype;
    if (typeof e.dtype !== 'string' || !(dtype in SIZE)) throw bad(`tensor "${key}" has dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(SIZE).join(', ')}`);
    const isIndex = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!Array.isArray(e.shape) || !e.shape.every(isIndex)) throw bad(`tensor "${key}" has shape ${JSON.stringify(e.shape)}, not an array of integers >= 0`);
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2 || !e.data_offsets.every(isIndex) || e.data_offsets[0] > e.data_offsets[1]) {
      throw bad(`tensor "${key}" has data_offsets ${JSON.stringify(e.data_offsets)}, not [begin, end] with 0 <= begin <= end`);
    }
    const shape = e.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = e.data_offsets as [number, number];
    if (end - begin !== count * SIZE[dtype] || base + end > size) {
      throw bad(`tensor "${key}" offsets [${begin}, ${end}] do not fit its shape [${shape.join(', ')}] of ${dtype} or the file`);
    }
    entries.push({ key, dtype, shape, begin, end, count });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let next = 0;
  for (const t of entries) {
    if (t.begin !== next) throw bad(`tensor "${t.key}" starts at byte ${t.begin} of the data, where ${next} was expected (tensors must lie back to back, without gaps or overlaps)`);
    next = t.end;
  }
  if (base + next !== size) throw bad(`the tensors end at byte ${base + next}, the file has ${size} bytes`);
  for (const { key, dtype, shape, begin, end, count } of entries) {
    const raw = read(base + begin, end - begin);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let data: SafeTensor['data'];
    if (LITTLE_ENDIAN && dtype !== 'F16' && dtype !== 'BF16') {
      const C = { F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array, U8: Uint8Array, I8: Int8Array }[dtype];
      // a fresh read is the tensor's own buffer; a view of the caller's bytes is copied into one (it may be
      // unaligned, or a Buffer of a shared pool, whose slice() is a view too)
      tensors.set(key, { dtype, shape, data: new C((fresh ? raw.buffer : new Uint8Array(raw).buffer) as ArrayBuffer) });
      continue;
    }
    switch (dtype) {
      case 'F32': data = new Float32Array(count); for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true); break;
      case 'F64': data = new Float64Array(count); for (let i = 0; i < count; i++) data[i] = dv.getFloat64(i * 8, true); break;
      case 'F16': data = new Float32Array(count); for (let i = 0; i < count; i++) data[i] = halfToFloat(dv.getUint16(i * 2, true)); break;
      case 'BF16': {
        const f = new Float32Array(count);
        const u = new Uint32Array(f.buffer);
        for (let i = 0; i < count; i++) u[i] = dv.getUint16(i * 2, true) << 16;
        data = f;
        break;
      }
      case 'I32': data = new Int32Array(count); for (let i = 0; i < count; i++) data[i] = dv.getInt32(i * 4, true); break;
      case 'I64': data = new BigInt64Array(count); for (let i = 0; i < count; i++) data[i] = dv.getBigInt64(i * 8, true); break;
      case 'U8': data = new Uint8Array(count); for (let i = 0; i < count; i++) data[i] = dv.getUint8(i); break;
      case 'I8': data = new Int8Array(count); for (let i = 0; i < count; i++) data[i] = dv.getInt8(i); break;
    }
    tensors.set(key, { dtype, shape, data: data! });
  }
  return { tensors, metadata };
}

/**
 * Where a model folder's weights are: its model.safetensors, else its model.safetensors.index.json
 * (shards), else null.
 * @example safetensorsWeightsIn('models/flan-t5-xl') // 'models/flan-t5-xl/model.safetensors.index.json'
 */
export function safetensorsWeightsIn(dir: string): string | null {
  for (const name of ['model.safetensors', 'model.safetensors.index.json']) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or the shards that
 * `model.safetensors.index.json` maps each tensor to (as save_pretrained writes models over its
 * shard size, e.g. flan-t5-xl and up). Every tensor of the index must be in its shard, and no
 * name may come from two shards.
 * @example const { tensors } = readSafetensorsFolder('models/flan-t5-xl'); tensors.get('shared.weight')!.shape
 */
export function readSafetensorsFolder(dir: string): SafetensorsFile & { files: string[] } {
  const weights = safetensorsWeightsIn(dir);
  if (weights === null) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', `${dir} holds neither model.safetensors nor model.safetensors.index.json (weights in PyTorch .bin files are not read: save them as safetensors)`);
  }
  if (!weights.endsWith('.index.json')) return { ...readSafetensors(weights), files: [weights] };
  const indexPath = weights;
  let index: { metadata?: Record<string, unknown>; weight_map?: Record<string, unknown> };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', `${indexPath}: is not JSON (${(err as Error).message})`);
  }
  const map = index?.weight_map;
  if (map === null || typeof map !== 'object' || Object.values(map).some((f) => typeof f !== 'string' || f.includes('/') || f.includes('\\'))) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', `${indexPath}: expected {"weight_map": {tensor name: shard file name}}`);
  }
  const shards = [...new Set(Object.values(map) as string[])].sort();
  const tensors = new Map<string, SafeTensor>();
  const metadata: Record<string, string> = {};
  for (const shard of shards) {
    const path = join(dir, shard);
    if (!existsSync(path)) throw new SemidError('ERR_SEMID_CHECKPOINT', `${path} is missing (named by ${indexPath})`);
    const part = readSafetensors(path);
    Object.assign(metadata, part.metadata);
    for (const [name, t] of part.tensors) {
      if (tensors.has(name)) throw new SemidError('ERR_SEMID_CHECKPOINT', `tensor "${name}" is in two shards (${shard} and another)`);
      tensors.set(name, t);
    }
  }
  for (const [name, shard] of Object.entries(map as Record<string, string>)) {
    if (!tensors.has(name)) throw new SemidError('ERR_SEMID_CHECKPOINT', `tensor "${name}" is not in ${join(dir, shard)}, where ${indexPath} says it is`);
  }
  return { tensors, metadata, files: shards.map((s) => join(dir, s)) };
}
