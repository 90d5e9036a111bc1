/**
 * Streamed graph submission: a graph of more than `graphChunkTasks` tasks
 * (2,000 here, to keep the test short; 10,000 by default) goes to the
 * scheduler in chunks (client.lastGraphStream says how many), and the
 * scheduler starts tasks before the last chunk has arrived: observed through
 * the count the scheduler reports with its answer to the last chunk, not
 * through timing. Results must be exactly those of the unstreamed graph.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, LocalCluster, asCompleted, delayed, wait, type Delayed } from 'tessera-compute';

/** Waits until the scheduler holds no tasks (released futures are forgotten). */
async function schedulerEmpties(client: Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await client.schedulerInfo();
    const held = Object.values(info.tasksByState).reduce((a, n) => a + n, 0);
    if (held === 0) return;
    if (Date.now() > deadline) throw new Error(`the scheduler still holds ${held} tasks ${timeoutMs} ms after every future was released: ${JSON.stringify(info.tasksByState)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('wait and asCompleted over 50,000 futures: each future once, as a user loops over them', { timeout: 180_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false });
  await using client = await Client.connect(cluster);
  await client.waitForWorkers(2, { timeoutMs: 30_000 });
  const n = 50_000;
  // Completion order while most are still pending (asCompleted used to race every pending future again per result).
  const futures = client.map((x: number) => x + 1, Array.from({ length: n }, (_, i) => i));
  const seen = new Set<string>();
  let finished = 0;
  for await (const f of asCompleted(futures)) {
    seen.add(f.key);
    if (f.status === 'finished') finished++;
  }
  assert.equal(seen.size, n, 'every future yielded once');
  assert.equal(finished, n);
  // wait on futures that are done, and on a fresh map, all and first.
  assert.equal((await wait(futures)).done.length, n);
  const more = client.map((x: number) => x * 2, Array.from({ length: n }, (_, i) => i));
  const first = await wait(more, { returnWhen: 'FIRST_COMPLETED', timeoutMs: 120_000 });
  assert.ok(first.done.length >= 1);
  const all = await wait(more, { timeoutMs: 120_000 });
  assert.equal(all.notDone.length, 0);
  const values = await client.gather(more);
  assert.equal(values[n - 1], 2 * (n - 1));
  client.release(futures);
  client.release(more);
});

test('streamed graphs: map and tree reduction in several chunks, results right, work started before the last chunk', { timeout: 180_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false });
  await using client = await Client.connect(cluster, { graphChunkTasks: 2_000 });
  await client.waitForWorkers(2, { timeoutMs: 30_000 });

  // map over 20,000 items: ten chunks of independent tasks.
  const n = 20_000;
  const futures = client.map((x: number) => x * 3 - 1, Array.from({ length: n }, (_, i) => i));
  const values = await client.gather(futures, { timeoutMs: 120_000 });
  let wrong = 0;
  for (let i = 0; i < n; i++) if (values[i] !== i * 3 - 1) wrong++;
  assert.equal(wrong, 0, `${wrong} of ${n} values are wrong`);
  const mapStream = client.lastGraphStream;
  assert.ok(mapStream, 'the map was streamed');
  assert.equal(mapStream.tasks, n);
  assert.equal(mapStream.chunks, 10);
  assert.ok(mapStream.startedBeforeFinal > 0, `tasks started before the last chunk arrived (${JSON.stringify(mapStream)})`);
  client.release(futures);

  // A tree reduction of 4,096 leaves (8,191 tasks, five chunks): sums of
  // earlier chunks are held for the chunks that add them up.
  const leaves = 4_096;
  const inc = delayed((x: number) => x + 1);
  const add = delayed((a: number, b: number) => a + b);
  let level: Delayed<number>[] = Array.from({ length: leaves }, (_, i) => inc(i));
  while (level.length > 1) {
    const next: Delayed<number>[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
    level = next;
  }
  const total = client.compute(level[0]!);
  assert.equal(await total.result(), (leaves * (leaves + 1)) / 2);
  const treeStream = client.lastGraphStream;
  assert.ok(treeStream && treeStream.stream !== mapStream.stream, 'the tree was streamed');
  assert.equal(treeStream.tasks, 2 * leaves - 1);
  assert.equal(treeStream.chunks, 5);
  assert.ok(treeStream.startedBeforeFinal > 0, `tree tasks started before the last chunk arrived (${JSON.stringify(treeStream)})`);
  total.release();

  await assert.rejects(Client.connect(cluster, { graphChunkTasks: 0 }), /graphChunkTasks must be a positive integer/);

  // Nothing is left behind: the stream's holds ended with its last chunk.
  await schedulerEmpties(client, 30_000);
});

test('streamed map mixing plain items and items that refer to tasks; gather of repeated futures', { timeout: 180_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false });
  await using client = await Client.connect(cluster, { graphChunkTasks: 1_000 });
  await client.waitForWorkers(2, { timeoutMs: 30_000 });

  // Every 700th item is a Delayed value or a Future: runs of plain items
  // (sent as MapTasks, built chunk by chunk) alternate with TaskDefs, and
  // the boundaries fall inside chunks as well as between them.
  const n = 5_000;
  const double = delayed((x: number) => x * 2);
  const seed = client.submit((x: number) => x * 2, 7);
  const items: (number | Delayed<number> | typeof seed)[] = Array.from({ length: n }, (_, i) => i * 2);
  for (let i = 0; i < n; i += 700) items[i] = i % 1400 === 0 ? double(i) : client.submit((x: number) => x * 2, i);
  items[n - 1] = seed;
  const want = (i: number) => (i === n - 1 ? 14 : i * 2) + 1;
  const futures = client.map((x: number) => x + 1, items, { retries: 1 });
  const values = await client.gather(futures, { timeoutMs: 120_000 });
  let wrong = 0;
  for (let i = 0; i < n; i++) if (values[i] !== want(i)) wrong++;
  assert.equal(wrong, 0, `${wrong} of ${n} values are wrong`);
  assert.ok(client.lastGraphStream && client.lastGraphStream.chunks >= 5, `the map was streamed (${JSON.stringify(client.lastGraphStream)})`);

  // Repeated futures (and a pure map's repeated items, which share a key) each get their value.
  const again = client.map((x: number) => x - 1, [5, 6, 5, 5, 9]);
  assert.equal(again[0]!.key, again[2]!.key);
  const picked = [futures[3]!, again[0]!, futures[3]!, again[1]!, again[2]!, futures[n - 1]!, again[4]!, again[3]!];
  assert.deepEqual(await client.gather(picked, { timeoutMs: 60_000 }), [7, 4, 7, 5, 4, 15, 8, 4]);
  client.release(futures);
  client.release(again);
  seed.release();
});
