/**
 * The P2P shuffle on a real LocalCluster (a scheduler and worker processes
 * over TCP): joins, sorts, groupBy splitOut and dropDuplicates give the same
 * rows through P2P as through the task-based shuffle and in one process;
 * the graph has O(inputs + outputs) tasks; a worker killed mid-shuffle makes
 * the scheduler restart the shuffle and the result is still right; a small
 * receive buffer spills shards to disk and the spill folder is emptied after.
 * (pandas itself checks these ops in pandas-oracle.test.ts, which runs on a
 * cluster and so through P2P.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, LocalCluster, moduleFunction } from '../../src/index.js';
import { col, len, readCsv, LocalExecutor, type DataFrame, type PolarsDataFrame } from '../../src/dataframe/index.js';
import { Lowerer } from '../../src/dataframe/lower.js';
import { optimize } from '../../src/dataframe/plan.js';
import type * as ShuffleUdf from '../fixtures/dataframe/shuffle-udf.js';
import { random } from '../fixtures/random.js';
import { assertFramesEqual, tempDir, writeText } from './helpers.js';

const local = new LocalExecutor();
let tmp: { dir: string; cleanup: () => void };
let cluster: LocalCluster;
let client: Client;
let left: DataFrame;
let right: DataFrame;

/** Rows with many groups (k), string keys with nulls (s), duplicated rows. */
function writeData(dir: string): { left: string; right: string } {
  const u = random(1313);
  const lines = ['id,k,s,v'];
  for (let id = 0; id < 6000; id++) {
    const k = Math.floor(u() * 700);
    const s = u() < 0.05 ? '' : `s${Math.floor(u() * 9)}`;
    const v = Math.round(u() * 1000) / 10;
    lines.push(`${id},${k},${s},${v}`);
    // Some exact duplicates of the previous row, and some of its subset (k, s) only.
    if (u() < 0.05) lines.push(`${id},${k},${s},${v}`);
  }
  const rightLines = ['k,label,w'];
  for (let k = 0; k < 900; k += 2) rightLines.push(`${k},L${k % 13},${k * 3}`);
  return { left: writeText(dir, 'left.csv', lines.join('\n') + '\n'), right: writeText(dir, 'right.csv', rightLines.join('\n') + '\n') };
}

before(async () => {
  tmp = tempDir('tessera-p2p-');
  const paths = writeData(tmp.dir);
  left = readCsv(paths.left, { blocksize: 8_000 });
  right = readCsv(paths.right, { blocksize: 1_500 });
  assert.ok(left.npartitions >= 10 && right.npartitions >= 3, `${left.npartitions} and ${right.npartitions} partitions`);
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, localDirectory: join(tmp.dir, 'workers') });
  client = await Client.connect(cluster);
});

after(async () => {
  await client?.shutdown();
  await cluster?.close();
  tmp?.cleanup();
});

/** The tasks a plan lowers to with each shuffle, by key prefix. */
function taskCounts(df: DataFrame, shuffle: 'p2p' | 'tasks'): Map<string, number> {
  const lowerer = new Lowerer({ shuffle });
  lowerer.lower(optimize(df.plan));
  const counts = new Map<string, number>();
  for (const key of lowerer.graph.tasks.keys()) {
    const op = key.replace(/-[0-9a-f]{16}-\d+$/, '');
    counts.set(op, (counts.get(op) ?? 0) + 1);
  }
  return counts;
}

const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

async function threeWays(df: (shuffle: 'p2p' | 'tasks') => DataFrame, by: string[], what: string): Promise<PolarsDataFrame> {
  const p2p = await df('p2p').collect();
  const tasks = await df('tasks').collect();
  const inProcess = await df('p2p').collect({ executor: local });
  assertFramesEqual(p2p, tasks, by, `${what}: p2p against tasks`);
  assertFramesEqual(p2p, inProcess, by, `${what}: p2p against one process`);
  return p2p;
}

test('a shuffled join: P2P equals the task-based shuffle and one process', async () => {
  const joined = (shuffle: 'p2p' | 'tasks'): DataFrame => left.join(right, { on: 'k', how: 'left', broadcast: false, shuffle });
  const out = await threeWays(joined, ['id', 'v', 'w'], 'join');
  assert.ok(out.height >= 6000);
});

test('the scheduler gets O(inputs + outputs) tasks from a P2P shuffle, O(inputs x outputs) from the task-based one', () => {
  const joined = left.join(right, { on: 'k', broadcast: false });
  const n = left.npartitions;
  const m = right.npartitions;
  const outputs = Math.max(n, m);
  const p2p = taskCounts(joined, 'p2p');
  // Per side: one transfer per input, one barrier, one unpack per output; then one join per output.
  assert.equal(p2p.get('shuffle-transfer'), n + m);
  assert.equal(p2p.get('shuffle-barrier'), 2);
  assert.equal(p2p.get('shuffle-unpack'), 2 * outputs);
  assert.ok(!p2p.has('shuffle-pick'));
  const tasks = taskCounts(joined, 'tasks');
  assert.equal(tasks.get('shuffle-pick'), (n + m) * outputs);
  assert.ok(total(p2p) <= 3 * (n + m + 2 * outputs), `${total(p2p)} tasks`);
  // What the scheduler is sent: the same graph through the cluster's client.
  assert.match(joined.explain(), /shuffle-unpack: \d+/);
});

test('groupBy(...).agg(..., { splitOut }) gives splitOut partitions with every group once', async () => {
  const grouped = (shuffle: 'p2p' | 'tasks'): DataFrame =>
    left.groupBy('k').agg(col('v').sum().alias('total'), col('v').mean().alias('mean'), len(), col('s').first().alias('first_s'), { splitOut: 5, shuffle });
  assert.equal(grouped('p2p').npartitions, 5);
  const out = await threeWays(grouped, ['k'], 'groupBy splitOut');
  const single = await left.groupBy('k').agg(col('v').sum().alias('total'), col('v').mean().alias('mean'), len(), col('s').first().alias('first_s')).collect();
  assertFramesEqual(out, single, ['k'], 'splitOut 5 against one output');
  const p2p = taskCounts(grouped('p2p'), 'p2p');
  assert.equal(p2p.get('shuffle-transfer'), left.npartitions);
  assert.equal(p2p.get('shuffle-unpack'), 5);
  // An aggregation that does not split (median) shuffles the rows themselves.
  const median = await left.groupBy('k').agg(col('v').median().alias('med'), { splitOut: 4 }).collect();
  const medianOne = await left.groupBy('k').agg(col('v').median().alias('med')).collect({ executor: local });
  assertFramesEqual(median, medianOne, ['k'], 'median with splitOut');
});

test('dropDuplicates and unique are global across partitions, keep first, last or none', async () => {
  for (const keep of ['first', 'last', false] as const) {
    const dd = (shuffle: 'p2p' | 'tasks'): DataFrame => left.dropDuplicates(['k', 's'], { keep, shuffle });
    const out = await threeWays(dd, ['k', 's'], `dropDuplicates keep ${String(keep)}`);
    assert.deepEqual(out.columns, left.columns);
  }
  const distinct = await left.unique().collect();
  const all = await left.collect({ executor: local });
  assert.equal(distinct.height, all.unique().height);
});

test('a sort through P2P range partitions equals the task-based sort, in order', async () => {
  const sorted = (shuffle: 'p2p' | 'tasks'): DataFrame => left.sort(['k', 'id'], { shuffle });
  const p2p = await sorted('p2p').collect();
  const tasks = await sorted('tasks').collect();
  assert.deepEqual(p2p.getColumn('id').toArray(), tasks.getColumn('id').toArray());
  assert.equal(taskCounts(sorted('p2p'), 'p2p').get('shuffle-transfer'), left.npartitions);
});

test('the shuffle option is checked: unknown values and options are errors', () => {
  // @ts-expect-error: not a shuffle method
  assert.throws(() => left.join(right, { on: 'k', shuffle: 'disk' }), /shuffle must be 'p2p' or 'tasks'/);
  // @ts-expect-error: agg takes splitOut, not split_out
  assert.throws(() => left.groupBy('k').agg(len(), { split_out: 3 }), /unknown option 'split_out'/);
  assert.throws(() => left.groupBy('k').agg(len(), { splitOut: 0 }), /splitOut must be a whole number/);
  // @ts-expect-error: keep is 'first', 'last' or false
  assert.throws(() => left.dropDuplicates('k', { keep: true }), /keep must be 'first', 'last' or false/);
});

test('a small receive buffer spills shards to disk, and the spill folders are removed after', async () => {
  const dir = join(tmp.dir, 'spilling');
  process.env.TESSERA_SHUFFLE_BUFFER = '2048';
  let spillCluster: LocalCluster | undefined;
  let spillClient: Client | undefined;
  try {
    spillCluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, localDirectory: dir });
  } finally {
    delete process.env.TESSERA_SHUFFLE_BUFFER;
  }
  try {
    spillClient = await Client.connect(spillCluster);
    const grouped = left.groupBy('k').agg(col('v').sum().alias('total'), len(), { splitOut: 6 });
    const out = await grouped.collect();
    assertFramesEqual(out, await grouped.collect({ executor: local }), ['k'], 'spilled group-by');
    // Every worker's shuffle folder holds no run any more.
    for (const w of readdirSync(dir)) {
      const shuffleDir = join(dir, w, 'shuffle');
      if (existsSync(shuffleDir)) assert.deepEqual(readdirSync(shuffleDir), [], `${shuffleDir} still holds shuffle runs`);
    }
    // The workers report what they spilled in their heartbeats.
    const deadline = Date.now() + 30_000;
    let spilled = 0;
    while (Date.now() < deadline) {
      const info = await spillClient.schedulerInfo();
      spilled = Object.values(info.workers).reduce((n, w) => n + (w.metrics.shuffle?.spilledBytes ?? 0), 0);
      if (spilled > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(spilled > 0, 'waited 30 s for a worker heartbeat reporting spilled shuffle bytes');
  } finally {
    await spillClient?.shutdown();
    await spillCluster?.close();
  }
});

test('a worker killed mid-shuffle: the scheduler restarts the shuffle and the result is right', async () => {
  const markers = join(tmp.dir, 'markers');
  mkdirSync(markers);
  const lossCluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, nanny: false });
  const lossClient = await Client.connect(lossCluster);
  try {
    const slow = moduleFunction<typeof ShuffleUdf.markSlowly>(new URL('../fixtures/dataframe/shuffle-udf.js', import.meta.url), 'markSlowly');
    // Integer sums: exact whatever order the partials are combined in.
    const grouped = left.mapPartitions(slow, { args: [markers, 300], meta: left.dtypes }).groupBy('k').agg(col('id').sum().alias('total'), len(), { splitOut: 4 });
    const expected = await left.groupBy('k').agg(col('id').sum().alias('total'), len()).collect({ executor: local });
    const result = grouped.collect();
    // Transfers have started (each leaves a marker): the shuffle is under way, far from its barrier.
    const deadline = Date.now() + 60_000;
    while (readdirSync(markers).length < 3) {
      if (Date.now() > deadline) throw new Error('waited 60 s for 3 shuffle transfers to start');
      await new Promise((r) => setTimeout(r, 20));
    }
    lossCluster.workers[1]!.process.kill('SIGKILL');
    const out = await result;
    assertFramesEqual(out, expected, ['k'], 'after losing a worker');
    // Every transfer already started ran again: the shuffle restarted rather than carrying on.
    assert.ok(readdirSync(markers).length > left.npartitions, `${readdirSync(markers).length} transfer runs for ${left.npartitions} inputs`);
  } finally {
    await lossClient.shutdown();
    await lossCluster.close();
  }
});
