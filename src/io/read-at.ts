/** Reading a file in place: fs calls move at most 2 GiB, and arrays read from files may be larger. */
import { readSync } from 'node:fs';

/** Bytes one read or write call moves at most (below fs's 2 GiB limit per call). */
export const IO_CHUNK_BYTES = 1 << 30;

/**
 * Fill `into` (any typed array or view, also one over more than 4 GiB, which no single Uint8Array
 * can span) from byte `position` of the open file `fd`, in pieces of at most `pieceBytes`;
 * returns the bytes read, fewer than into.byteLength only where the file ends first.
 * @example const head = new Uint8Array(12); if (readAt(fd, head, 0) < 12) throw new Error('too short');
 */
export function readAt(fd: number, into: ArrayBufferView, position: number, pieceBytes = IO_CHUNK_BYTES): number {
  let off = 0;
  while (off < into.byteLength) {
    const piece = new Uint8Array(into.buffer, into.byteOffset + off, Math.min(into.byteLength - off, pieceBytes));
    const got = readSync(fd, piece, 0, piece.byteLength, position + off);
    if (got === 0) break;
    off += got;
  }
  return off;
}

/**
 * The bytes of `data` as views of at most `pieceBytes` each (a Uint8Array cannot span more than
 * 4 GiB), for writing.
 * @example writeFileAtomic(path, bytePieces(new Float32Array(2 ** 31))) // an 8 GiB array in 8 pieces
 */
export function bytePieces(data: ArrayBufferView, pieceBytes = IO_CHUNK_BYTES): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < data.byteLength; off += pieceBytes) {
    pieces.push(new Uint8Array(data.buffer, data.byteOffset + off, Math.min(data.byteLength - off, pieceBytes)));
  }
  return pieces;
}
