/**
 * `semid data download`: fetch an official GroupLens MovieLens archive, check it against the MD5
 * GroupLens publishes beside it, and unpack it (src/data/zip.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { unzip } from './zip.js';

export { unzip, crc32 } from './zip.js';

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
  if (!existsSync(join(staging, release))) {
    const top = readdirSync(staging);
    rmSync(staging, { recursive: true, force: true });
    throw new SemidError('ERR_SEMID_DOWNLOAD', `${url} holds ${top.length ? top.map((t) => `"${t}"`).join(', ') : 'nothing'} at its top, not the folder "${release}/" a MovieLens archive has`);
  }
  renameSync(join(staging, release), target);
  rmSync(staging, { recursive: true, force: true });
  return target;
}
