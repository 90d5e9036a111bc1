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
import { Client, LocalCluster, delayed, type Delayed } from 'tessera-compute';

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
