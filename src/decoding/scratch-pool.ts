/**
 * ArrayBuffers that a search's internal arrays reuse from one search to the next. A fresh buffer
 * costs a page fault per 4 KiB on first touch, which on this project's VM measured ~4 us each
 * (10 MiB of fresh buffers: 6-12 ms, against 0.4 ms to clear warm ones); a batch-1,024 search
 * at beam 60 touches ~6 MiB of internal arrays. Buffers handed out are not cleared.
 */
export class ScratchPool {
  private readonly free: ArrayBuffer[] = [];
  private held = 0;

  /**
   * Keeps at most `maxBytes` of free buffers (larger returns are left to the garbage collector);
   * requests under `minBytes` get new buffers (small ones come from the allocator's warm memory).
   */
  constructor(private readonly maxBytes: number, private readonly minBytes = 0) {}

  /**
   * A buffer of at least `bytes` bytes: the smallest free one that fits and is at most twice the
   * size asked, else a new one. Its contents are whatever its last user left.
   *
   * @example
   * const pool = new ScratchPool(1 << 20);
   * const a = pool.take(1000);  // new
   * pool.give(a);
   * pool.take(800) === a;  // true: reused
   */
  take(bytes: number): ArrayBuffer {
    if (bytes < this.minBytes) return new ArrayBuffer(bytes);
    let best = -1;
    for (let i = 0; i < this.free.length; ++i) {
      const n = this.free[i].byteLength;
      if (n >= bytes && n <= 2 * Math.max(bytes, 1) && (best < 0 || n < this.free[best].byteLength)) best = i;
    }
    if (best < 0) return new ArrayBuffer(bytes);
    const buf = this.free[best];
    this.free.splice(best, 1);
    this.held -= buf.byteLength;
    return buf;
  }

  /** Hands `buffer` back for a later take (nothing may use it afterwards). */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength < Math.max(1, this.minBytes) || buffer.byteLength > this.maxBytes || this.free.includes(buffer)) return;
    // Room is made by dropping the oldest buffers: a search of another shape replaces them.
    while (this.held + buffer.byteLength > this.maxBytes) this.held -= this.free.shift()!.byteLength;
    this.free.push(buffer);
    this.held += buffer.byteLength;
  }
}

/** The pool constrainedBeamSearch draws from: its store of finished IDs and its step outputs. */
export const searchScratch = new ScratchPool(64 * 1024 * 1024, 64 * 1024);
