/**
 * gather at scale: 300,000 futures from one map come back, every value right.
 * One get-data reply per worker used to carry every result it held and passed
 * the frame-count limit of a message, so gather failed with "could not fetch".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, LocalCluster } from 'tessera-compute';

test('map over 300,000 items, gather: every value right', { timeout: 300_000 }, async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false });
  await using client = await Client.connect(cluster);
  const n = 300_000;
  const futures = client.map((x: number) => x * 2 + 1, Array.from({ length: n }, (_, i) => i));
  const values = await client.gather(futures, { timeoutMs: 240_000 });
  assert.equal(values.length, n);
  let wrong = 0;
  for (let i = 0; i < n; i++) if (values[i] !== i * 2 + 1) wrong++;
  assert.equal(wrong, 0, `${wrong} of ${n} values are wrong`);
  client.release(futures);
});
