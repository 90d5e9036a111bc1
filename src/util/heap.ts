/** Priority orderings: tuples compared lexicographically, and the heap the scheduler queues root tasks in. */

/** Lexicographic comparison of priority tuples (smaller runs first). */
export function priorityLess(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return a.length < b.length;
}

/**
 * A min-heap ordered by a three-number priority tuple, compared
 * lexicographically (the scheduler's root-task queue, which may hold a
 * million tasks). The keys live inline in typed arrays beside the items, so
 * a comparison reads two adjacent doubles instead of following two pointers
 * into per-item arrays, and sifting moves a hole instead of swapping pairs.
 */
export class TupleHeap<T> {
  private items: (T | undefined)[] = [];
  private k0 = new Float64Array(16);
  private k1 = new Float64Array(16);
  private k2 = new Float64Array(16);
  private n = 0;

  get size(): number {
    return this.n;
  }

  push(x: T, a: number, b: number, c: number): void {
    if (this.n === this.k0.length) this.grow();
    const { items, k0, k1, k2 } = this;
    let i = this.n++;
    // Sift up: move parents down into the hole until x's place is found.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pa = k0[p]!;
      if (pa < a || (pa === a && (k1[p]! < b || (k1[p] === b && k2[p]! <= c)))) break;
      items[i] = items[p];
      k0[i] = pa;
      k1[i] = k1[p]!;
      k2[i] = k2[p]!;
      i = p;
    }
    items[i] = x;
    k0[i] = a;
    k1[i] = b;
    k2[i] = c;
  }

  peek(): T | undefined {
    return this.n ? this.items[0] : undefined;
  }

  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const { items, k0, k1, k2 } = this;
    const top = items[0];
    const last = --this.n;
    const x = items[last];
    const a = k0[last]!;
    const b = k1[last]!;
    const c = k2[last]!;
    items[last] = undefined; // no reference kept to a popped item
    if (last > 0) {
      const n = last;
      let i = 0;
      // Sift down: move the smaller child up into the hole until x fits.
      for (;;) {
        let m = 2 * i + 1;
        if (m >= n) break;
        const r = m + 1;
        if (r < n && this.less(r, m)) m = r;
        const ma = k0[m]!;
        if (a < ma || (a === ma && (b < k1[m]! || (b === k1[m] && c <= k2[m]!)))) break;
        items[i] = items[m];
        k0[i] = ma;
        k1[i] = k1[m]!;
        k2[i] = k2[m]!;
        i = m;
      }
      items[i] = x;
      k0[i] = a;
      k1[i] = b;
      k2[i] = c;
    }
    return top;
  }

  clear(): void {
    this.items = [];
    this.k0 = new Float64Array(16);
    this.k1 = new Float64Array(16);
    this.k2 = new Float64Array(16);
    this.n = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.n; i++) yield this.items[i]!;
  }

  /** Heap order holds at every node (for tests and validate()). */
  ordered(): boolean {
    for (let i = 1; i < this.n; i++) if (this.less(i, (i - 1) >> 1)) return false;
    return true;
  }

  private less(i: number, j: number): boolean {
    const { k0, k1 } = this;
    if (k0[i] !== k0[j]) return k0[i]! < k0[j]!;
    if (k1[i] !== k1[j]) return k1[i]! < k1[j]!;
    return this.k2[i]! < this.k2[j]!;
  }

  private grow(): void {
    const cap = this.k0.length * 2;
    for (const name of ['k0', 'k1', 'k2'] as const) {
      const bigger = new Float64Array(cap);
      bigger.set(this[name]);
      this[name] = bigger;
    }
  }
}
