/**
 * Typed-array views carved one after another from a single ArrayBuffer: one allocation for
 * several arrays (a small search allocates a few sets a step, and a typed array of its own costs
 * an ArrayBuffer each). Carve 8-byte types first so that every view is aligned (a misaligned
 * Float64Array throws).
 *
 * @example
 * const v = new BufferViews(8 * 2 + 4 * 3);
 * const a = v.f64(2), b = v.i32(3);  // zeroed, sharing v.buffer
 * new BufferViews(v.buffer).i32(2);  // the same bytes again (a's first value, as int32 pairs)
 */
export class BufferViews {
  readonly buffer: ArrayBuffer;
  private at = 0;

  /** Room for `bytes` bytes of views: a new (zeroed) buffer, or the given one as it is. */
  constructor(bytes: number | ArrayBuffer) {
    this.buffer = typeof bytes === 'number' ? new ArrayBuffer(bytes) : bytes;
  }

  /** The next n float64 values. */
  f64(n: number) { return this.next(Float64Array, n); }

  /** The next n float32 values. */
  f32(n: number) { return this.next(Float32Array, n); }

  /** The next n int32 values. */
  i32(n: number) { return this.next(Int32Array, n); }

  /** The next n uint8 values. */
  u8(n: number) { return this.next(Uint8Array, n); }

  /** The next n elements as a `Kind` view. */
  private next<T>(Kind: { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number }, n: number): T {
    const v = new Kind(this.buffer, this.at, n);
    this.at += Kind.BYTES_PER_ELEMENT * n;
    return v;
  }
}
