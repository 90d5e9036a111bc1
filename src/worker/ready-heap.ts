/**
 * The ready tasks in priority order, as a binary heap that also removes any
 * member in O(log n): a task stolen or freed while ready leaves at once, so
 * the heap holds exactly the ready tasks.
 */
import { priorityLess } from '../util/heap.js';

export interface HeapMember {
  /** Position in the heap; -1 when not in it. */
  heapIndex: number;
  readonly priority: readonly number[];
}

export class ReadyHeap<T extends HeapMember> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  has(x: T): boolean {
    return x.heapIndex >= 0 && this.items[x.heapIndex] === x;
  }

  push(x: T): void {
    x.heapIndex = this.items.length;
    this.items.push(x);
    this.up(x.heapIndex);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.remove(top);
    return top;
  }

  remove(x: T): void {
    if (!this.has(x)) return;
    const a = this.items;
    const i = x.heapIndex;
    const last = a.pop()!;
    x.heapIndex = -1;
    if (last === x) return;
    a[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  clear(): void {
    for (const x of this.items) x.heapIndex = -1;
    this.items = [];
  }

  *[Symbol.iterator](): IterableIterator<T> {
    yield* this.items;
  }

  private less(i: number, j: number): boolean {
    return priorityLess(this.items[i]!.priority, this.items[j]!.priority);
  }

  private swap(i: number, j: number): void {
    const a = this.items;
    const x = a[i]!;
    const y = a[j]!;
    a[i] = y;
    a[j] = x;
    y.heapIndex = i;
    x.heapIndex = j;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  /** Heap order holds and every member knows its position (for validate()). */
  check(): string | null {
    const a = this.items;
    for (let i = 0; i < a.length; i++) {
      if (a[i]!.heapIndex !== i) return `heap member at ${i} thinks it is at ${a[i]!.heapIndex}`;
      if (i > 0 && this.less(i, (i - 1) >> 1)) return `heap order broken at ${i}`;
    }
    return null;
  }
}
