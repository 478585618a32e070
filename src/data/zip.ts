/**
 * A small zip reader over node:zlib for the archives GroupLens publishes (and any other a user
 * unpacks with it): stored and deflated entries, data descriptors, Zip64 records, archive
 * comments. Every read is bounds-checked, so a damaged or truncated archive is an error that says
 * so, never a RangeError from deep inside Buffer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { SemidError } from '../kernels/errors.js';

const EOCD = 0x06054b50;         // end of central directory
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

function damaged(what: string): never {
  throw new SemidError('ERR_SEMID_ZIP', `damaged or truncated zip archive: ${what}`);
}

/** Bounds-checked little-endian reads of a zip buffer. */
class Reader {
  constructor(readonly buf: Buffer) {}
  private need(at: number, bytes: number, what: string): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + bytes > this.buf.length) {
      damaged(`${what} at byte ${at} lies outside the ${this.buf.length}-byte archive`);
    }
  }
  u16(at: number, what: string): number { this.need(at, 2, what); return this.buf.readUInt16LE(at); }
  u32(at: number, what: string): number { this.need(at, 4, what); return this.buf.readUInt32LE(at); }
  u64(at: number, what: string): number {
    this.need(at, 8, what);
    const v = this.buf.readBigUInt64LE(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) damaged(`${what} is ${v}`);
    return Number(v);
  }
  slice(at: number, bytes: number, what: string): Buffer { this.need(at, bytes, what); return this.buf.subarray(at, at + bytes); }
}

/**
 * The end-of-central-directory record: the last signature whose comment ends exactly at the end of
 * the archive (a comment may itself hold the signature's bytes), else the last signature at all.
 */
function findEndRecord(zip: Buffer): number {
  const lowest = Math.max(0, zip.length - EOCD_SIZE - MAX_COMMENT);
  let fallback = -1;
  for (let p = zip.length - EOCD_SIZE; p >= lowest; p--) {
    if (zip.readUInt32LE(p) !== EOCD) continue;
    if (p + EOCD_SIZE + zip.readUInt16LE(p + 20) === zip.length) return p;
    if (fallback < 0) fallback = p;
  }
  if (fallback < 0) throw new SemidError('ERR_SEMID_ZIP', 'not a zip archive (no end of central directory record)');
  return fallback;
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressed: number;
  size: number;
  local: number;
}

/** The central directory's entries, Zip64 sizes and offsets resolved. */
function readDirectory(r: Reader): Entry[] {
  const eocd = findEndRecord(r.buf);
  let count = r.u16(eocd + 10, 'entry count');
  let dirSize = r.u32(eocd + 12, 'central directory size');
  let dirStart = r.u32(eocd + 16, 'central directory offset');
  const locator = eocd - 20;
  // A Zip64 archive's end record holds 0xffff / 0xffffffff and a locator precedes it (without the
  // locator, 0xffff is a plain count of 65,535 entries).
  if ((count === 0xffff || dirSize === 0xffffffff || dirStart === 0xffffffff) && locator >= 0 && r.u32(locator, 'Zip64 locator') === ZIP64_LOCATOR) {
    const record = r.u64(locator + 8, 'Zip64 end record offset');
    if (r.u32(record, 'Zip64 end record') !== ZIP64_EOCD) damaged('the Zip64 locator points at no Zip64 end record');
    count = r.u64(record + 32, 'Zip64 entry count');
    dirSize = r.u64(record + 40, 'Zip64 central directory size');
    dirStart = r.u64(record + 48, 'Zip64 central directory offset');
  }
  if (dirStart + dirSize > r.buf.length) damaged(`the central directory (${dirSize} bytes at ${dirStart}) runs past the end`);
  const entries: Entry[] = [];
  let p = dirStart;
  for (let e = 0; e < count; e++) {
    if (r.u32(p, `central directory entry ${e}`) !== CENTRAL) damaged(`central directory entry ${e} has no signature`);
    const flags = r.u16(p + 8, 'flags');
    const method = r.u16(p + 10, 'method');
    const crc = r.u32(p + 16, 'CRC-32');
    let compressed = r.u32(p + 20, 'compressed size');
    let size = r.u32(p + 24, 'size');
    const nameLen = r.u16(p + 28, 'name length');
    const extraLen = r.u16(p + 30, 'extra length');
    const commentLen = r.u16(p + 32, 'comment length');
    let local = r.u32(p + 42, 'local header offset');
    const name = r.slice(p + 46, nameLen, 'entry name').toString(flags & 0x800 ? 'utf8' : 'latin1');
    // Zip64 extended information (tag 1): the 64-bit values of the fields that hold 0xffffffff,
    // in the order size, compressed size, local header offset.
    const extra = r.slice(p + 46 + nameLen, extraLen, 'extra field');
    for (let x = 0; x + 4 <= extra.length;) {
      const tag = extra.readUInt16LE(x), len = extra.readUInt16LE(x + 2);
      if (tag === 1) {
        const z = new Reader(extra.subarray(x + 4, x + 4 + len));
        let at = 0;
        if (size === 0xffffffff) { size = z.u64(at, `Zip64 size of "${name}"`); at += 8; }
        if (compressed === 0xffffffff) { compressed = z.u64(at, `Zip64 compressed size of "${name}"`); at += 8; }
        if (local === 0xffffffff) { local = z.u64(at, `Zip64 header offset of "${name}"`); at += 8; }
      }
      x += 4 + len;
    }
    entries.push({ name, method, flags, crc, compressed, size, local });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * Unpack a zip archive (stored and deflated entries, Zip64 included) into `dir`, checking each
 * entry's size and CRC-32; entries that would land outside `dir` are refused. Returns the names of
 * the files written.
 * @example unzip(readFileSync('ml-latest-small.zip'), 'data')
 */
export function unzip(zip: Buffer, dir: string): string[] {
  const r = new Reader(zip);
  const root = resolve(dir);
  const names: string[] = [];
  for (const entry of readDirectory(r)) {
    const { name } = entry;
    if (name.length === 0 || name.includes('\0')) damaged(`an entry name is empty or holds a NUL byte: ${JSON.stringify(name)}`);
    const out = resolve(root, name);
    if (!out.startsWith(root + sep) && out !== root) throw new SemidError('ERR_SEMID_ZIP', `zip entry "${name}" points outside the folder`);
    if (name.endsWith('/')) { mkdirSync(out, { recursive: true }); continue; }
    if (entry.flags & 1) throw new SemidError('ERR_SEMID_ZIP', `zip entry "${name}" is encrypted`);
    if (r.u32(entry.local, `local header of "${name}"`) !== LOCAL) damaged(`the local header of "${name}" has no signature`);
    const dataStart = entry.local + 30 + r.u16(entry.local + 26, 'local name length') + r.u16(entry.local + 28, 'local extra length');
    const raw = r.slice(dataStart, entry.compressed, `data of "${name}"`);
    let bytes: Buffer;
    if (entry.method === 0) bytes = raw;
    else if (entry.method === 8) {
      try {
        bytes = inflateRawSync(raw);
      } catch (err) {
        damaged(`entry "${name}" does not inflate (${(err as Error).message})`);
      }
    } else throw new SemidError('ERR_SEMID_ZIP', `zip entry "${name}" uses compression method ${entry.method}, not stored (0) or deflate (8)`);
    if (bytes.length !== entry.size) damaged(`entry "${name}" holds ${bytes.length} bytes, its header says ${entry.size}`);
    if (crc32(bytes) !== entry.crc) damaged(`entry "${name}" fails its CRC check`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, bytes);
    names.push(name);
  }
  return names;
}

let CRC_TABLE: Uint32Array | null = null;
/** CRC-32 (IEEE), as zip and PNG store it. @example crc32(Buffer.from('abc')) // 0x352441c2 */
export function crc32(bytes: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
