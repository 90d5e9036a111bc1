/**
 * The heap of the scheduler's root-task queue: it pops items in the
 * lexicographic order of their three-number priorities, whatever order they
 * were pushed in, and agrees with priorityLess (the worker's ordering).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TupleHeap, priorityLess } from '../../src/util/heap.js';

/** A deterministic pseudo-random sequence (xorshift), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function tuples(n: number, seed: number): [number, number, number][] {
  const r = rng(seed);
  // Small ranges so ties in the first and second places are common.
  return Array.from({ length: n }, () => [-Math.floor(r() * 3), Math.floor(r() * 4), Math.floor(r() * 1000)] as [number, number, number]);
}

test('pops in lexicographic priority order, as priorityLess sorts', () => {
  for (const seed of [1, 2, 3]) {
    const items = tuples(2000, seed);
    const h = new TupleHeap<[number, number, number]>();
    for (const t of items) h.push(t, t[0], t[1], t[2]);
    assert.equal(h.size, items.length);
    assert.ok(h.ordered());
    const out: [number, number, number][] = [];
    while (h.size) out.push(h.pop()!);
    const expected = [...items].sort((a, b) => (priorityLess(a, b) ? -1 : priorityLess(b, a) ? 1 : 0));
    assert.deepEqual(out.map((t) => t.join()), expected.map((t) => t.join()));
    assert.equal(h.pop(), undefined, 'empty heap pops nothing');
  }
});

test('interleaved pushes and pops keep order; peek shows the next; clear empties', () => {
  const h = new TupleHeap<string>();
  const r = rng(7);
  const live: [number, number, number, string][] = [];
  for (let i = 0; i < 5000; i++) {
    if (r() < 0.6 || live.length === 0) {
      const t: [number, number, number, string] = [0, Math.floor(r() * 5), Math.floor(r() * 100_000), `t${i}`];
      live.push(t);
      h.push(t[3], t[0], t[1], t[2]);
    } else {
      live.sort((a, b) => (priorityLess(a.slice(0, 3) as number[], b.slice(0, 3) as number[]) ? -1 : priorityLess(b.slice(0, 3) as number[], a.slice(0, 3) as number[]) ? 1 : 0));
      const best = live[0]!;
      const peeked = h.peek();
      const got = h.pop()!;
      assert.equal(peeked, got, 'peek shows what pop returns');
      const idx = live.findIndex((t) => t[3] === got);
      assert.ok(idx >= 0, `popped ${got}, which was not pushed or was popped already`);
      assert.deepEqual(live[idx]!.slice(0, 3), best.slice(0, 3), 'popped an item with the smallest priority');
      live.splice(idx, 1);
    }
    assert.equal(h.size, live.length);
  }
  assert.ok(h.ordered());
  assert.equal([...h].length, live.length);
  h.clear();
  assert.equal(h.size, 0);
  assert.equal(h.peek(), undefined);
  h.push('again', 0, 0, 0);
  assert.equal(h.pop(), 'again');
});
