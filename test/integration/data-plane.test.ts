/**
 * The data plane end to end, on real worker processes over real TCP: large
 * values read straight into place (shared memory at a worker, see
 * comm/direct-reads.ts and FrameDecoder), many values in one reply, frames at
 * the sizes where the receiving path changes, values that were transferred
 * out of an executor thread and are then sent again and again, the store's
 * spill files and shared memory, scatter. Every check compares SHA-256 digests computed on both
 * sides, so a byte out of place anywhere fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, LocalCluster, wait } from '../../src/index.js';
import { DataStore } from '../../src/worker/store.js';
import type { SerializedValue } from '../../src/protocol/messages.js';

const MiB = 1024 * 1024;

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** Worker-side tasks (inline functions: `crypto` is available on workers by that name). */
const random = (n: number) => crypto.randomBytes(n);
const digest = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const digests = (...bs: Uint8Array[]) => bs.map((b) => crypto.createHash('sha256').update(b).digest('hex'));

test('a 256 MiB value crosses worker to worker and worker to client byte-identical', { timeout: 300_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, nanny: false });
  await using client = await Client.connect(cluster);
  const [a, b] = cluster.workers.map((w) => w.address) as [string, string];
  const value = client.submit({ fn: random, args: [256 * MiB], workers: [a], pure: false });
  const atSource = await client.submit({ fn: digest, args: [value], workers: [a], pure: false }).result();
  const atPeer = await client.submit({ fn: digest, args: [value], workers: [b], pure: false }).result();
  assert.equal(atPeer, atSource, 'the peer received other bytes than the producer holds');
  const got = await value.result();
  assert.equal(got.byteLength, 256 * MiB);
  assert.equal(sha(got), atSource, 'the client received other bytes than the producer holds');
  client.release([value]);
});

test('many values of the sizes where receiving changes, in one request, arrive intact at a peer and the client', { timeout: 120_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, nanny: false });
  await using client = await Client.connect(cluster);
  const [a, b] = cluster.workers.map((w) => w.address) as [string, string];
  // 64 KiB: frames this large are filled in place; 1 MiB: payloads this large arrive in shared memory.
  const edges = [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, MiB - 1, MiB, MiB + 1, 3 * MiB];
  const sizes = [...edges, ...Array.from({ length: 300 }, (_, i) => (i * 7919) % 5000)];
  const values = sizes.map((n) => client.submit({ fn: random, args: [n], workers: [a], pure: false }));
  await wait(values);
  const atSource = await client.submit({ fn: digests, args: values, workers: [a], pure: false }).result();
  const atPeer = await client.submit({ fn: digests, args: values, workers: [b], pure: false }).result();
  assert.equal(atPeer.length, sizes.length);
  sizes.forEach((n, i) => assert.equal(atPeer[i], atSource[i], `value ${i} (${n} bytes) differs at the peer`));
  const got = await client.gather(values);
  got.forEach((v, i) => {
    assert.equal(v.byteLength, sizes[i], `value ${i} has the wrong size at the client`);
    assert.equal(sha(v), atSource[i], `value ${i} (${sizes[i]} bytes) differs at the client`);
  });
  client.release(values);
});

test('a result transferred out of its executor thread stays readable however often it is sent and used', { timeout: 120_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 3, threadsPerWorker: 2, dashboard: false, nanny: false });
  await using client = await Client.connect(cluster);
  const [a, b, c] = cluster.workers.map((w) => w.address) as [string, string, string];
  // 8 MiB: transferred, not copied, from the thread; shared with local threads on first use.
  const value = client.submit({ fn: random, args: [8 * MiB], workers: [a], pure: false });
  const expected = await client.submit({ fn: digest, args: [value], workers: [a], pure: false }).result();
  for (let round = 0; round < 2; round++) {
    const seen = await client.gather([
      client.submit({ fn: digest, args: [value], workers: [b], pure: false }),
      client.submit({ fn: digest, args: [value], workers: [c], pure: false }),
      client.submit({ fn: digest, args: [value], workers: [a], pure: false }),
    ]);
    assert.deepEqual(seen, [expected, expected, expected], `round ${round}: a copy differs`);
    assert.equal(sha(await value.result()), expected, `round ${round}: the client's copy differs`);
  }
  client.release([value]);
});

test('a spilled value is written as its frames and read back whole, shared when large', async () => {
  // The worker's own store on a real directory; spill(0) writes everything, as memory pressure would.
  const dir = await mkdtemp(join(tmpdir(), 'tessera-data-plane-'));
  const store = new DataStore(join(dir, 'spill'), 0);
  try {
    const values: Record<string, SerializedValue> = {
      big: { kind: 'bytes', frames: [crypto.randomBytes(3 * MiB)] },
      parts: { kind: 'msgpack', frames: [crypto.randomBytes(10), crypto.randomBytes(2 * MiB + 3)] },
      tiny: { kind: 'bytes', frames: [crypto.randomBytes(5)] },
    };
    const expected = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.frames.map(sha)]));
    let total = 0;
    for (const [k, v] of Object.entries(values)) total += store.put(k, v);
    await store.spill(0);
    assert.equal(store.managedBytes, 0, 'everything was spilled');
    assert.equal(store.spilledBytes, total);
    assert.equal((await readdir(join(dir, 'spill'))).length, 3, 'one file per value');
    for (const k of Object.keys(values)) assert.equal(store.getIfInMemory(k), undefined, `${k} is on disk`);
    for (const [k, frames] of Object.entries(expected)) {
      const back = (await store.getShared(k))!;
      assert.equal(back.kind, values[k]!.kind);
      assert.deepEqual(back.frames.map(sha), frames, `${k} came back with other bytes`);
      if (k !== 'tiny') assert.ok(back.frames.every((f) => f.buffer instanceof SharedArrayBuffer), `${k} came back in shared memory`);
      assert.deepEqual(store.getIfInMemory(k)!.frames.map(sha), frames, `${k} is in memory again`);
    }
    assert.equal(store.spilledBytes, 0);
    assert.equal(store.managedBytes, total);
  } finally {
    store.clear();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a large result is moved to shared memory once, on its first local use, and not before', () => {
  const store = new DataStore(join(tmpdir(), 'tessera-unused'), 0);
  const frame = crypto.randomBytes(2 * MiB);
  store.put('v', { kind: 'bytes', frames: [frame] });
  assert.equal(store.getIfInMemory('v')!.frames[0], frame, 'stored as it came: served to peers without a copy');
  const shared = store.getSharedIfInMemory('v')!.frames[0]!;
  assert.ok(shared.buffer instanceof SharedArrayBuffer);
  assert.equal(sha(shared), sha(frame));
  assert.equal(store.getSharedIfInMemory('v')!.frames[0], shared, 'moved once, then kept there');
  assert.equal(store.getIfInMemory('v')!.frames[0], shared);
  store.clear();
});

test('a scattered 32 MiB value reaches its worker, a peer and the client byte-identical', { timeout: 120_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, nanny: false });
  await using client = await Client.connect(cluster);
  const [a, b] = cluster.workers.map((w) => w.address) as [string, string];
  const data = crypto.randomBytes(32 * MiB);
  const expected = sha(data);
  const future = await client.scatter(data, { workers: [a] });
  const seen = await client.gather([
    client.submit({ fn: digest, args: [future], workers: [a], pure: false }),
    client.submit({ fn: digest, args: [future], workers: [b], pure: false }),
  ]);
  assert.deepEqual(seen, [expected, expected]);
  assert.equal(sha(await future.result()), expected);
  client.release([future]);
});
