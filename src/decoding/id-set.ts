/**
 * A set of int32 IDs for one short list at a time (open addressing in a reused Int32Array): the
 * search asks "is this ID new in this query's list?" ~60 times per query for thousands of queries,
 * where a Set per query or a scan of the list so far cost more than the rest of the ranking.
 */
export class IdSet {
  private table = new Int32Array(128);  // slot: id + 1 (0: empty); ids in [0, 2^31 - 2]
  private mask = 127;
  private shift = 25;  // 32 - log2(size): the hash's top bits pick the slot
  private count = 0;

  /**
   * Empties the set, sized for up to `capacity` adds.
   *
   * @example
   * const s = new IdSet();
   * s.clear(3); s.add(7); s.add(7);  // true, then false
   */
  clear(capacity: number): void {
    let size = 128, shift = 25;
    while (size < 2 * capacity) {
      size *= 2;
      shift -= 1;
    }
    if (this.table.length < size) this.table = new Int32Array(size);
    else this.table.fill(0, 0, size);
    this.mask = size - 1;
    this.shift = shift;
    this.count = 0;
  }

  /** Adds `id` (an integer in [0, 2^31 - 2]); true when it was not in the set. */
  add(id: number): boolean {
    const key = id + 1, t = this.table, mask = this.mask;
    for (let p = Math.imul(key, 0x9e3779b1) >>> this.shift; ; p = (p + 1) & mask) {
      if (t[p] === key) return false;
      if (t[p] === 0) {
        t[p] = key;
        if (++this.count * 2 > mask + 1) this.grow();  // more adds than clear() was told of
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.table.slice(0, this.mask + 1);
    this.clear(old.length);  // twice the slots
    for (const key of old) if (key !== 0) this.add(key - 1);
  }

  /** True when add() takes `id`: an integer in [0, 2^31 - 2]. */
  static fits(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id <= 2 ** 31 - 2;
  }
}
