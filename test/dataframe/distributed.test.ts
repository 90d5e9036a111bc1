/**
 * Dataframes on a real LocalCluster (a scheduler and two worker processes):
 * the same plans as in one process, now as task graphs whose tasks run on
 * the workers as module functions and whose partitions move between them as
 * Arrow IPC bytes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, LocalCluster, Future, moduleFunction } from '../../src/index.js';
import type * as Udf from '../fixtures/dataframe/udf.js';
import {
  col, len, readCsv, readParquet, fromPolars, DistributedExecutor, LocalExecutor, currentExecutor, type DataFrame,
} from '../../src/dataframe/index.js';
import { prepNycTaxi, readTaxiCsv } from '../../examples/nyctaxi/prep.js';
import { assertFramesEqual, taxiData, tempDir, writeText } from './helpers.js';
import { badRowCsv } from '../fixtures/dataframe/csv.js';

let cluster: LocalCluster;
let client: Client;
let tmp: { dir: string; cleanup: () => void };
let data: string;
let taxi: DataFrame;
const local = new LocalExecutor();

before(async () => {
  tmp = tempDir();
  data = await taxiData(tmp.dir, 8000, 2, 3);
  taxi = readTaxiCsv(`${data}/*.csv`, { blocksize: 150_000 });
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  client = await Client.connect(cluster);
});

after(async () => {
  await client?.shutdown();
  await cluster?.close();
  tmp?.cleanup();
});

test('with a connected client, actions run on the cluster', () => {
  assert.ok(currentExecutor() instanceof DistributedExecutor);
});

test('the NYC prep written by the workers equals the prep run in one process', async () => {
  const prep = prepNycTaxi(taxi);
  assert.ok(prep.npartitions >= 6);
  const out = join(tmp.dir, 'dist-parquet');
  const written = await prep.toParquet(out);
  assert.equal(written.length, prep.npartitions);
  const expected = await prep.collect({ executor: local });
  const back = await readParquet(out).collect({ executor: local });
  assertFramesEqual(back, expected, ['pickup_datetime', 'dropoff_datetime', 'total_amount', 'trip_distance', 'pickup_longitude', 'pickup_latitude'], 'prep');
  assert.equal(await prep.count(), expected.height);
  const head = await prep.head(3);
  assert.equal(head.height, 3);
});

test('group-by, hash join and sort on the cluster equal the same in one process', async () => {
  const features = taxi.withColumns(col('tpep_pickup_datetime').dt.day().alias('day'));
  const grouped = features.groupBy('day', 'payment_type').splitEvery(3).agg(col('fare_amount').mean().alias('mean_fare'), len(), col('tip_amount').max());
  assertFramesEqual(await grouped.collect(), await grouped.collect({ executor: local }), ['day', 'payment_type'], 'groupBy');

  const joined = features.join(grouped.repartition(2), { on: ['day', 'payment_type'], how: 'left' });
  assert.match(joined.explain(), /hash shuffle/);
  const KEY = ['tpep_pickup_datetime', 'tpep_dropoff_datetime', 'total_amount', 'trip_distance', 'pickup_longitude', 'pickup_latitude'];
  assertFramesEqual(await joined.collect(), await joined.collect({ executor: local }), KEY, 'join');

  const sorted = taxi.select('total_amount', 'trip_distance', 'tpep_pickup_datetime').sort(['total_amount', 'tpep_pickup_datetime'], { descending: true });
  const a = await sorted.collect();
  const b = await sorted.collect({ executor: local });
  assert.deepEqual(a.getColumn('total_amount').toArray(), b.getColumn('total_amount').toArray());
  const totals = a.getColumn('total_amount').toArray() as number[];
  for (let i = 1; i < totals.length; i++) assert.ok(totals[i - 1]! >= totals[i]!, 'globally sorted');
});

test('persist keeps partitions on the workers as Futures; fromPolars data enters the graph once', async () => {
  const kept = await taxi.filter(col('fare_amount').gt(15)).persist();
  assert.equal(kept.plan.kind, 'persisted');
  const parts = kept.plan.kind === 'persisted' ? kept.plan.parts : [];
  assert.ok(parts.every((p) => p.handle instanceof Future), 'persisted partitions are Futures');
  const n = await kept.count();
  assert.equal(n, await taxi.filter(col('fare_amount').gt(15)).count({ executor: local }));
  assert.equal(await kept.select('fare_amount').filter(col('fare_amount').gt(30)).count(), await taxi.filter(col('fare_amount').gt(30)).count({ executor: local }));
  const small = fromPolars(await taxi.groupBy('payment_type').agg(len().alias('trips')).collect({ executor: local }));
  const joined = await taxi.join(small, { on: 'payment_type' }).select('payment_type', 'trips').collect();
  assert.equal(joined.height, 8000);
});

test('mapPartitions with a module function runs on the workers', async () => {
  const fn = moduleFunction<typeof Udf.doubleFare>(new URL('../fixtures/dataframe/udf.js', import.meta.url), 'doubleFare');
  const mapped = taxi.mapPartitions(fn, { args: [3], meta: { fare_x: 'float64' } });
  const got = await mapped.collect();
  const want = await taxi.select(col('fare_amount').mul(3).alias('fare_x')).collect({ executor: local });
  assertFramesEqual(got, want, ['fare_x'], 'mapPartitions');
  assertFramesEqual(await mapped.collect({ executor: local }), want, ['fare_x'], 'mapPartitions locally');
});

test('a bad row fails the task on the worker and the client sees which file and bytes', async () => {
  const bad = writeText(tmp.dir, 'bad.csv', badRowCsv(5000));
  await assert.rejects(readCsv(bad, { sampleBytes: 2048 }).collect(), (err: unknown) => {
    const e = err as Error & { code?: string };
    assert.equal(e.code, 'ERR_TESSERA_TASK_FAILED');
    assert.match(e.message, /bad\.csv \(bytes \d+-\d+\)/);
    assert.match(e.message, /read-csv-[0-9a-f]{16}-0/, 'the task key names the op');
    return true;
  });
});
