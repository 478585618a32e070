/**
 * `semid data download`: fetch an official GroupLens MovieLens archive, check it against the MD5
 * GroupLens publishes beside it, and unpack it (our own small zip reader over node:zlib).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { writeFileAtomic } from '../io/atomic.js';

export const MOVIELENS_RELEASES = ['ml-latest-small', 'ml-25m', 'ml-32m', 'ml-20m', 'ml-1m', 'ml-100k', 'ml-latest'] as const;
export type MovieLensRelease = (typeof MOVIELENS_RELEASES)[number];

const BASE = 'https://files.grouplens.org/datasets/movielens';

export interface DownloadOptions {
  /** Folder to unpack into (default ./data); the release lands in <to>/<release>/. */
  to?: string;
  signal?: AbortSignal;
  onProgress?: (received: number, total: number) => void;
  fetch?: typeof fetch;
  /** Base URL (default GroupLens), for mirrors. */
  baseUrl?: string;
}

/**
 * Download, verify and unpack a MovieLens release; returns the folder holding its files.
 * @example const dir = await downloadMovieLens('ml-latest-small', { to: 'data' });
 */
export async function downloadMovieLens(release: string, options: DownloadOptions = {}): Promise<string> {
  if (!(MOVIELENS_RELEASES as readonly string[]).includes(release)) {
    throw new SemidArgumentError('release', `one of ${MOVIELENS_RELEASES.join(', ')}`, release);
  }
  const doFetch = options.fetch ?? fetch;
  const base = (options.baseUrl ?? BASE).replace(/\/+$/, '');
  const url = `${base}/${release}.zip`;
  const to = resolve(options.to ?? 'data');
  const get = async (u: string): Promise<Response> => {
    let res: Response;
    try {
      res = await doFetch(u, { signal: options.signal });
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      const cause = (err as Error & { cause?: Error }).cause;
      throw new SemidError('ERR_SEMID_DOWNLOAD', `could not download ${u}: ${cause?.message ?? (err as Error).message}. ` +
        `This needs internet access to ${new URL(u).host}; without it, download the archive elsewhere, unpack it, and pass the folder with --movielens <dir>.`);
    }
    if (!res.ok) throw new SemidError('ERR_SEMID_DOWNLOAD', `${u} answered HTTP ${res.status}`);
    return res;
  };
  const res = await get(url);
  const total = Number(res.headers.get('content-length') ?? 0);
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    received += chunk.byteLength;
    options.onProgress?.(received, total);
  }
  const zip = Buffer.concat(chunks);
  let expected: string | null = null;
  try {
    const md5 = await get(`${url}.md5`);
    expected = /[0-9a-f]{32}/i.exec(await md5.text())?.[0]?.toLowerCase() ?? null;
  } catch { /* GroupLens publishes .md5 for most releases; without one we check the zip's CRCs only */ }
  const actual = createHash('md5').update(zip).digest('hex');
  if (expected && expected !== actual) throw new SemidError('ERR_SEMID_DOWNLOAD', `${url}: MD5 is ${actual}, GroupLens says ${expected}; the download is damaged, try again`);
  mkdirSync(to, { recursive: true });
  writeFileAtomic(join(to, `${release}.zip`), [zip]);
  const staging = join(to, `.${release}.partial`);
  rmSync(staging, { recursive: true, force: true });
  unzip(zip, staging);
  const target = join(to, release);
  rmSync(target, { recursive: true, force: true });
  // archives hold one top folder named after the release
  renameSync(join(staging, release), target);
  rmSync(staging, { recursive: true, force: true });
  return target;
}

/**
 * Unpack a zip archive (stored and deflated entries) into `dir`, checking each entry's CRC-32.
 * @example unzip(readFileSync('ml-latest-small.zip'), 'data')
 */
export function unzip(zip: Buffer, dir: string): string[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new SemidError('ERR_SEMID_DOWNLOAD', 'not a zip archive (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const root = resolve(dir);
  const names: string[] = [];
  for (let e = 0; e < entries; e++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new SemidError('ERR_SEMID_DOWNLOAD', 'damaged zip central directory');
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    const out = resolve(root, name);
    if (!out.startsWith(root + sep) && out !== root) throw new SemidError('ERR_SEMID_DOWNLOAD', `zip entry "${name}" points outside the folder`);
    if (name.endsWith('/')) { mkdirSync(out, { recursive: true }); continue; }
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataStart, dataStart + compressed);
    const bytes = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
    if (!bytes) throw new SemidError('ERR_SEMID_DOWNLOAD', `zip entry "${name}" uses compression method ${method}, not stored or deflate`);
    if (crc32(bytes) !== crc) throw new SemidError('ERR_SEMID_DOWNLOAD', `zip entry "${name}" fails its CRC check`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, bytes);
    names.push(name);
  }
  return names;
}

let CRC_TABLE: Uint32Array | null = null;
/** CRC-32 (IEEE), as zip stores it. @example crc32(Buffer.from('abc')) // 0x352441c2 */
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

