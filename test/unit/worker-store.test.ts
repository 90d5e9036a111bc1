/** The worker's data store (src/worker/store.ts): which values spill first, on a real directory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataStore } from '../../src/worker/store.js';

const value = (fill: number) => ({ kind: 'bytes' as const, frames: [new Uint8Array(100).fill(fill)] });

test('the least recently put or read values spill first; reading a value makes it recent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-store-'));
  try {
    const store = new DataStore(join(dir, 'spill'), 0);
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) store.put(key, value(i));
    assert.ok(store.getIfInMemory('a'), 'a is in memory');
    assert.ok(store.getSharedIfInMemory('b'), 'b is in memory');
    // Use order now: c, d, a, b. Down to 200 bytes: c and d go.
    await store.spill(200);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => store.getIfInMemory(k) !== undefined), [true, true, false, false]);
    assert.equal(store.managedBytes, 200);
    assert.equal(store.spilledBytes, 200);
    // Read back from disk, c is the most recent: a goes next.
    assert.deepEqual([...(await store.get('c'))!.frames[0]!], new Array(100).fill(2));
    await store.spill(200);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => store.getIfInMemory(k) !== undefined), [false, true, true, false]);
    assert.deepEqual([...(await store.get('a'))!.frames[0]!], new Array(100).fill(0));
    store.clear();
    assert.equal(store.managedBytes + store.spilledBytes, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
