/** Reading a file in place: fs calls move at most 2 GiB, and arrays read from files may be larger. */
import { readSync } from 'node:fs';

/** Bytes one read or write call moves at most (below fs's 2 GiB limit per call). */
export const IO_CHUNK_BYTES = 1 << 30;

/**
 * Fill `into` from byte `position` of the open file `fd`, in pieces of at most IO_CHUNK_BYTES;
 * returns the bytes read, fewer than into.byteLength only where the file ends first.
 * @example const head = new Uint8Array(12); if (readAt(fd, head, 0) < 12) throw new Error('too short');
 */
export function readAt(fd: number, into: Uint8Array, position: number): number {
  let off = 0;
  while (off < into.byteLength) {
    const got = readSync(fd, into, off, Math.min(into.byteLength - off, IO_CHUNK_BYTES), position + off);
    if (got === 0) break;
    off += got;
  }
  return off;
}
