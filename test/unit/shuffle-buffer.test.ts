/**
 * The worker's shuffle receive buffer (src/worker/shuffle/buffer.ts):
 * shards in memory up to a limit, then on disk; a delivery sent twice counts
 * once; an output reads back every shard, from disk and memory, and how many
 * transfers delivered; folders go with their run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShardBuffer } from '../../src/worker/shuffle/buffer.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-shards-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const shard = (byte: number, n: number): Buffer => Buffer.alloc(n, byte);
const shards = (...entries: [number, Buffer][]): Map<number, Buffer> => new Map(entries);

test('below the limit shards stay in memory; a delivery sent again replaces the first; deliveries without rows count', () => {
  withDir((dir) => {
    const b = new ShardBuffer(dir, 1000);
    b.deliver('s1', 1, 0, shards([0, shard(1, 100)]));
    b.deliver('s1', 1, 1, shards([0, shard(2, 100)]));
    b.deliver('s1', 1, 1, shards([0, shard(3, 100)]));
    b.deliver('s1', 1, 2, shards());
    assert.deepEqual(b.stats, { memoryBytes: 200, peakMemoryBytes: 200, spilledBytes: 0 });
    const got = b.read('s1', 0)!;
    assert.equal(got.runId, 1);
    assert.equal(got.inputs, 3);
    assert.deepEqual([...got.shards.keys()].sort(), [0, 1]);
    assert.equal(got.shards.get(1)![0], 3);
    // An output that received no rows is complete too: every input delivered.
    assert.deepEqual({ ...b.read('s1', 7)!, shards: [...b.read('s1', 7)!.shards] }, { runId: 1, inputs: 3, shards: [] });
    assert.equal(existsSync(join(dir, 's1-1')), false);
    assert.equal(b.read('s2', 0), null);
  });
});

test('past the limit the largest outputs go to disk; reading merges disk and memory, the newest shard winning', () => {
  withDir((dir) => {
    const b = new ShardBuffer(dir, 250);
    b.deliver('s1', 1, 0, shards([0, shard(1, 100)]));
    b.deliver('s1', 1, 1, shards([0, shard(2, 100)], [1, shard(3, 60)]));
    // 260 > 250: output 0 (200 bytes) is spilled, leaving 60 in memory.
    assert.deepEqual(b.stats, { memoryBytes: 60, peakMemoryBytes: 260, spilledBytes: 200 });
    assert.deepEqual(readdirSync(join(dir, 's1-1')), ['0.shards']);
    b.deliver('s1', 1, 1, shards([0, shard(9, 10)]));
    const out0 = b.read('s1', 0)!.shards;
    assert.deepEqual([...out0.keys()].sort(), [0, 1]);
    assert.deepEqual([...out0.get(0)!], [...shard(1, 100)]);
    assert.deepEqual([...out0.get(1)!], [...shard(9, 10)]);
    // Spilled again: the later record on disk wins too.
    b.deliver('s1', 1, 2, shards([2, shard(4, 240)]));
    assert.ok(b.stats.spilledBytes > 200);
    assert.deepEqual([...b.read('s1', 0)!.shards.get(1)!], [...shard(9, 10)]);
    b.dropOutput('s1', 0);
    b.dropOutput('s1', 1);
    assert.ok(existsSync(join(dir, 's1-1')));
    b.dropOutput('s1', 2);
    assert.equal(existsSync(join(dir, 's1-1')), false, 'the run folder goes with its last output');
    assert.equal(b.stats.memoryBytes, 0);
    assert.equal(b.read('s1', 5)!.inputs, 3, 'the count of deliveries stays for outputs without rows');
  });
});

test('a delivery of a newer run drops what an older run left; clear() forgets everything', () => {
  withDir((dir) => {
    const b = new ShardBuffer(dir, 50);
    b.deliver('s1', 1, 0, shards([0, shard(1, 80)]));
    assert.ok(existsSync(join(dir, 's1-1')));
    b.deliver('s1', 2, 3, shards([0, shard(2, 10)]));
    assert.equal(existsSync(join(dir, 's1-1')), false);
    assert.equal(b.runOf('s1'), 2);
    assert.deepEqual([...b.read('s1', 0)!.shards.keys()], [3]);
    assert.equal(b.read('s1', 0)!.inputs, 1);
    assert.throws(() => b.deliver('s1', 1, 0, shards()), /after run 2/);
    b.deliver('s2', 1, 0, shards([0, shard(5, 100)]));
    b.clear();
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(b.stats.memoryBytes, 0);
  });
});
