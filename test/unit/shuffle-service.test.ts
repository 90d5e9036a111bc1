/**
 * The worker's shuffle service (src/worker/shuffle/service.ts), two of them
 * wired to each other in this process and to a real scheduler state with
 * its shuffle extension: a transfer's shards reach their owners, an unpack
 * gets its output's shards in input order and is refused when a delivery is
 * missing, and shards of a replaced run are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShuffleService } from '../../src/worker/shuffle/service.js';
import { SchedulerState } from '../../src/scheduler/state.js';
import { ShuffleExtension } from '../../src/scheduler/shuffle.js';
import { stimulusFactory } from '../../src/scheduler/stimulus.js';
import { parseShuffleKey, shuffleKey } from '../../src/graph/shuffle-keys.js';
import { serializeValue } from '../../src/graph/serialize.js';
import { bundle, unbundleAll } from '../../src/util/bundle.js';
import { RawFrames } from '../../src/protocol/codec.js';
import type { TaskDef } from '../../src/protocol/messages.js';

const ID = '0123456789abcdef';
const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
const st = stimulusFactory(() => Date.now()).bind(null, 'test');

function cluster(n: number, m: number, dir: string) {
  const state = new SchedulerState({ validate: true });
  for (const a of ['tcp://a:1', 'tcp://b:1']) state.addWorker({ address: a, name: a, nthreads: 1, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, st());
  const transfers = Array.from({ length: n }, (_, i) => shuffleKey('transfer', ID, i));
  const defs: TaskDef[] = [...transfers.map((key) => ({ key, fn: FN, args: new Uint8Array(), deps: [] })),
    { key: shuffleKey('barrier', ID), fn: FN, args: new Uint8Array(), deps: transfers },
    ...Array.from({ length: m }, (_, j) => ({ key: shuffleKey('unpack', ID, j), fn: FN, args: new Uint8Array(), deps: [shuffleKey('barrier', ID)] }))];
  state.updateGraph('c', defs, defs.slice(-m).map((d) => d.key), 0, st());
  const ext = new ShuffleExtension(state);
  const services = new Map<string, ShuffleService>();
  for (const address of ['tcp://a:1', 'tcp://b:1']) {
    services.set(address, new ShuffleService({
      address,
      getRun: async (id, outputs, knownRun) => {
        const run = ext.get(id, outputs);
        return run.runId === knownRun ? { runId: run.runId } : { runId: run.runId, owners: [...run.owners] };
      },
      send: async (to, msg) => services.get(to)!.receive(msg),
    }, join(dir, address.slice(6, 7)), 1 << 20));
  }
  return { ext, services };
}

const text = (b: Buffer): string => b.toString('utf8');

test('shards reach their owners; an unpack gets its output in input order, outputs without rows included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-service-'));
  try {
    const { ext, services } = cluster(2, 3, dir);
    const a = services.get('tcp://a:1')!;
    const b = services.get('tcp://b:1')!;
    // Input 1 transfers first, from b; input 0 from a. Output 2 gets no rows at all.
    const sent1 = await b.transfer(parseShuffleKey(shuffleKey('transfer', ID, 1))!, { kind: 'bytes', frames: [bundle([Buffer.from('1->0'), Buffer.from('1->1'), Buffer.alloc(0)])] });
    const sent0 = await a.transfer(parseShuffleKey(shuffleKey('transfer', ID, 0))!, { kind: 'bytes', frames: [bundle([Buffer.from('0->0'), Buffer.alloc(0), Buffer.alloc(0)])] });
    assert.deepEqual([sent1.kind, sent0.kind], ['msgpack', 'msgpack']);
    const owners = ext.active()[0]!.owners;
    assert.deepEqual(owners, ['tcp://a:1', 'tcp://b:1', 'tcp://a:1']);
    const barrier = serializeValue(2);
    const unpack = (j: number) => services.get(owners[j]!)!.unpackInput(parseShuffleKey(shuffleKey('unpack', ID, j))!, barrier);
    assert.deepEqual(unbundleAll(unpack(0).frames[0]!).map(text), ['0->0', '1->0']);
    assert.deepEqual(unbundleAll(unpack(1).frames[0]!).map(text), ['1->1']);
    assert.deepEqual(unbundleAll(unpack(2).frames[0]!).map(text), []);
    // Not the owner: nothing of output 1 here, and it says so.
    assert.throws(() => a.unpackInput(parseShuffleKey(shuffleKey('unpack', ID, 1))!, serializeValue(3)), /needs the shards of 3 transfers on this worker, 2 delivered/);
    a.unpacked(parseShuffleKey(shuffleKey('unpack', ID, 0))!);
    assert.equal(a.stats.memoryBytes, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after a restart, shards of the replaced run are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-service-'));
  try {
    const { services } = cluster(1, 2, dir);
    const b = services.get('tcp://b:1')!;
    b.forget(ID, 2);
    const late = { id: ID, runId: 1, input: 0, outputs: [], shards: new RawFrames([]) };
    assert.throws(() => b.receive(late), /arrived after run 2 began/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
