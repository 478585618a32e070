/** Atomic file writes: write a temporary file beside the target, flush it, then rename over. */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IO_CHUNK_BYTES } from './read-at.js';

/**
 * Write `chunks` to `path` so that readers see either the old file or the whole new one, never a
 * partial write (temp file + fsync + rename).
 * @example writeFileAtomic('/tmp/a.bin', [Buffer.from('hello')])
 */
export function writeFileAtomic(path: string, chunks: Array<Uint8Array>): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(fd, chunk, off, Math.min(chunk.byteLength - off, IO_CHUNK_BYTES));
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
