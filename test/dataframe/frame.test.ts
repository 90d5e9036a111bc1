import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { col, len, lit, readCsv, readParquet, fromPolars, DataFrameError, type DataFrame, type PolarsDataFrame } from '../../src/dataframe/index.js';
import { assertFramesEqual, taxiData, tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

let tmp: { dir: string; cleanup: () => void };
let data: string;
let taxi: DataFrame;
let base: PolarsDataFrame;

before(async () => {
  tmp = tempDir();
  data = await taxiData(tmp.dir, 6000, 2);
  taxi = readCsv(`${data}/*.csv`, { blocksize: 120_000, parseDates: ['tpep_pickup_datetime', 'tpep_dropoff_datetime'] });
  // The one-process reference: the same files read whole, in one partition each.
  base = await readCsv(`${data}/*.csv`, { blocksize: null, parseDates: ['tpep_pickup_datetime', 'tpep_dropoff_datetime'] }).collect();
});

after(() => tmp.cleanup());

const KEY = ['tpep_pickup_datetime', 'tpep_dropoff_datetime', 'total_amount', 'trip_distance', 'pickup_longitude', 'pickup_latitude'];

test('the reader plans several partitions and knows the schema without reading data', () => {
  assert.ok(taxi.npartitions >= 6, `npartitions ${taxi.npartitions}`);
  assert.equal(taxi.columns.length, 19);
  assert.equal(taxi.dtypes.tpep_pickup_datetime, 'datetime[us]');
  assert.equal(taxi.dtypes.fare_amount, 'float64');
  assert.equal(taxi.dtypes.store_and_fwd_flag, 'string');
  assert.match(String(taxi), /DataFrame\(npartitions=\d+, columns=\[VendorID: int64/);
});

test('partition-wise operations equal the same operations in one process', async () => {
  const ours = taxi
    .query('fare_amount > 0 and passenger_count < 6')
    .rename({ tpep_pickup_datetime: 'pickup', RateCodeID: 'rate_code' })
    .drop('store_and_fwd_flag', 'extra')
    .withColumns(col('pickup').dt.hour().alias('hour'), { fare2: col('fare_amount').mul(2), one: 1 })
    .cast({ passenger_count: 'int32', trip_distance: 'float32' })
    .fillNull(-1);
  let ref = base
    .filter(pl.col('fare_amount').gt(0).and(pl.col('passenger_count').lt(6)))
    .rename({ tpep_pickup_datetime: 'pickup', RateCodeID: 'rate_code' })
    .drop('store_and_fwd_flag', 'extra')
    .withColumns(pl.col('pickup').date.hour().alias('hour'), pl.col('fare_amount').mul(2).alias('fare2'), pl.lit(1).cast(pl.Int32).alias('one'))
    .withColumns(pl.col('passenger_count').cast(pl.Int32), pl.col('trip_distance').cast(pl.Float32));
  // fillNull(-1) on the numeric columns, keeping each column's type.
  const numeric = ref.columns.filter((_, k) => /Int|Float/.test(String(ref.dtypes[k])));
  ref = ref.withColumns(...numeric.map((c) => pl.col(c).fillNull(pl.lit(-1).cast(ref.getColumn(c).dtype))));
  const got = await ours.collect();
  assertFramesEqual(got, ref, ['pickup', 'tpep_dropoff_datetime', 'total_amount', 'trip_distance', 'pickup_longitude', 'pickup_latitude']);
  assert.ok(got.getColumn('rate_code').toArray().includes(-1), 'nulls were filled');
  assert.equal(await ours.count(), ref.height);
});

test('head reads the first rows in order, count reads only what filters need', async () => {
  const head = await taxi.head(7);
  assert.equal(head.height, 7);
  assert.deepEqual(head.toRecords(), base.head(7).toRecords());
  const filtered = taxi.filter(col('tip_amount').gt(2));
  const h = await filtered.head(5000);
  assert.equal(h.height, base.filter(pl.col('tip_amount').gt(2)).height, 'head past the first partition gathers from the next ones');
  assert.equal(await taxi.count(), 6000);
  assert.match(taxi.filter(col('tip_amount').gt(2)).explain(), /read-csv/);
});

test('groupBy/agg in a tree of partials equals a one-process group-by', async () => {
  const aggs = [col('fare_amount').sum().alias('fare_sum'), col('fare_amount').mean().alias('fare_mean'), col('tip_amount').min(), col('tip_amount').max().alias('tip_max'),
    col('RateCodeID').count().alias('rate_n'), len(), col('trip_distance').std().alias('dist_std'), col('trip_distance').var().alias('dist_var')];
  // dropna: false keeps null keys as a group, as Polars' own group-by (the reference) does.
  const ours = taxi.groupBy('passenger_count', 'payment_type', { dropna: false }).splitEvery(2).agg(...aggs);
  assert.equal(ours.npartitions, 1);
  assert.match(ours.explain(), /groupby-combine/);
  const ref = base.groupBy(['passenger_count', 'payment_type']).agg(
    pl.col('fare_amount').sum().alias('fare_sum'), pl.col('fare_amount').mean().alias('fare_mean'), pl.col('tip_amount').min(), pl.col('tip_amount').max().alias('tip_max'),
    pl.col('RateCodeID').count().alias('rate_n'), pl.len(), pl.col('trip_distance').std().alias('dist_std'), pl.col('trip_distance').var().alias('dist_var'));
  const got = await ours.collect();
  assert.deepEqual(got.columns, ref.columns);
  assert.deepEqual(ours.columns, ref.columns);
  const a = got.sort(['passenger_count', 'payment_type']).toRecords() as Record<string, number>[];
  const e = ref.sort(['passenger_count', 'payment_type']).toRecords() as Record<string, number>[];
  assert.equal(a.length, e.length);
  for (let i = 0; i < a.length; i++) {
    for (const c of got.columns) {
      const x = a[i]![c]!;
      const y = e[i]![c]!;
      if (y === null || x === null) assert.equal(x, y, `${c} row ${i}`);
      else assert.ok(Math.abs(Number(x) - Number(y)) <= 1e-7 * Math.max(1, Math.abs(Number(y))), `${c} row ${i}: ${x} vs ${y}`);
    }
  }
  // Shortcuts and an aggregation that cannot be split (all rows meet in one task).
  const n = await taxi.groupBy('VendorID').len().collect();
  assert.equal((n.getColumn('len').toArray() as number[]).reduce((s, x) => s + x, 0), 6000);
  const nu = await taxi.groupBy('VendorID').agg(col('payment_type').nUnique()).collect();
  assert.deepEqual(nu.sort('VendorID').toRecords(), base.groupBy('VendorID').agg(pl.col('payment_type').nUnique()).sort('VendorID').toRecords());
});

test('joins: broadcast and hash-partitioned, inner and left, equal a one-process join', async () => {
  const rates = pl.DataFrame({ RateCodeID: [1, 2, 5, 99], rate_name: ['standard', 'jfk', 'negotiated', 'unknown'] }).withColumns(pl.col('RateCodeID').cast(pl.Int64));
  const small = fromPolars(rates);
  for (const how of ['inner', 'left'] as const) {
    const ours = taxi.join(small, { on: 'RateCodeID', how });
    assert.match(ours.explain(), /broadcast right/);
    assertFramesEqual(await ours.collect(), base.join(rates, { on: 'RateCodeID', how }), KEY, `broadcast ${how}`);
  }
  // The single-partition side on the left of an inner join is broadcast too; columns keep left-first order.
  const swapped = small.join(taxi.select('RateCodeID', 'fare_amount', 'total_amount', 'trip_distance'), { on: 'RateCodeID' });
  assert.match(swapped.explain(), /broadcast left/);
  assertFramesEqual(await swapped.collect(), rates.join(base.select('RateCodeID', 'fare_amount', 'total_amount', 'trip_distance'), { on: 'RateCodeID' }),
    ['RateCodeID', 'fare_amount', 'total_amount', 'trip_distance'], 'swapped');
  // Both sides partitioned: a hash shuffle on two keys, with a colliding column name.
  const byDay = taxi.withColumns(col('tpep_pickup_datetime').dt.day().alias('day'))
    .groupBy('day', 'VendorID').agg(col('fare_amount').mean().alias('mean_fare'), col('tip_amount').sum().alias('tip_amount'))
    .repartition(3);
  const left = taxi.withColumns(col('tpep_pickup_datetime').dt.day().alias('day'));
  for (const how of ['inner', 'left'] as const) {
    const ours = left.join(byDay, { on: ['day', 'VendorID'], how });
    assert.match(ours.explain(), /hash shuffle/);
    const refRight = base.withColumns(pl.col('tpep_pickup_datetime').date.day().alias('day'))
      .groupBy(['day', 'VendorID']).agg(pl.col('fare_amount').mean().alias('mean_fare'), pl.col('tip_amount').sum().alias('tip_amount'));
    const ref = base.withColumns(pl.col('tpep_pickup_datetime').date.day().alias('day')).join(refRight, { on: ['day', 'VendorID'], how });
    const got = await ours.collect();
    assert.ok(got.columns.includes('tip_amount_right'));
    assertFramesEqual(got, ref, KEY, `hash ${how}`);
  }
});

test('sort: a global order over partitions, several keys, both directions, nulls', async () => {
  const n = 3000;
  const ids = Array.from({ length: n }, (_, i) => (i * 7919) % n);
  const frame = pl.DataFrame({
    id: ids,
    k: ids.map((i) => (i % 13 === 0 ? null : i % 37)),
    s: ids.map((i) => `s${i % 11}`),
    v: ids.map((i) => Math.sin(i)),
  }).withColumns(pl.col('id').cast(pl.Int64), pl.col('k').cast(pl.Int32));
  const df = fromPolars(frame, { npartitions: 5 });
  const cases: [string[], boolean[], boolean][] = [
    [['v'], [false], false],
    [['k', 'id'], [false, false], false],
    [['k', 'id'], [true, true], true],
    [['s', 'k', 'id'], [true, false, true], false],
  ];
  for (const [by, descending, nullsLast] of cases) {
    const ours = df.sort(by, { descending, nullsLast });
    assert.equal(ours.npartitions, 5);
    const got = await ours.collect();
    let ref = frame;
    for (let i = by.length - 1; i >= 0; i--) ref = ref.sort(by[i]!, descending[i], nullsLast, true);
    assert.deepEqual(got.getColumn('id').toArray(), ref.getColumn('id').toArray(), `sort by ${by} ${descending} nullsLast=${nullsLast}`);
  }
});

test('repartition keeps rows and order; mapPartitions runs per partition; persist keeps results', async () => {
  const frame = pl.DataFrame({ id: Array.from({ length: 100 }, (_, i) => i) });
  const df = fromPolars(frame, { npartitions: 4 });
  for (const n of [1, 3, 7, 10]) {
    const r = df.repartition(n);
    assert.equal(r.npartitions, n);
    assert.deepEqual((await r.collect()).getColumn('id').toArray(), frame.getColumn('id').toArray(), `repartition(${n})`);
  }
  const mapped = df.mapPartitions((part) => part.withColumns(part.getColumn('id').mul(10).alias('x')).head(2));
  assert.deepEqual(mapped.columns, ['id', 'x']);
  assert.equal(mapped.dtypes.x, 'float64');
  assert.deepEqual((await mapped.collect()).getColumn('x').toArray(), [0, 10, 250, 260, 500, 510, 750, 760]);
  assert.throws(() => df.mapPartitions(async (part) => part), /needs meta/);
  const withMeta = df.mapPartitions(async (part) => part.head(1), { meta: { id: 'float64' } });
  assert.equal(await withMeta.count(), 4);
  const outside = 10;
  assert.throws(() => df.mapPartitions((part) => part.head(outside), { meta: { id: 'float64' } }), /outside/);
  const persisted = await taxi.filter(col('fare_amount').gt(10)).persist();
  assert.equal(persisted.plan.kind, 'persisted');
  assert.equal(await persisted.count(), base.filter(pl.col('fare_amount').gt(10)).height);
  assert.equal(await persisted.select('fare_amount').filter(col('fare_amount').gt(20)).count(), base.filter(pl.col('fare_amount').gt(20)).height);
});

test('toParquet and toCsv write one file per partition that read back the same', async () => {
  const out = join(tmp.dir, 'out');
  const df = taxi.select('VendorID', 'tpep_pickup_datetime', 'fare_amount', 'total_amount', 'trip_distance').withColumns(lit('x').alias('tag'));
  const written = await df.toParquet(join(out, 'pq'));
  assert.equal(written.length, df.npartitions);
  assert.deepEqual(written.map((w) => w.path.replace(/.*\//, '')), written.map((_, i) => `part.${i}.parquet`));
  assert.equal(written.reduce((s, w) => s + w.rows, 0), 6000);
  const back = readParquet(join(out, 'pq'));
  assert.deepEqual(back.dtypes, df.dtypes);
  assert.equal(back.npartitions, df.npartitions);
  const KEY5 = ['tpep_pickup_datetime', 'total_amount', 'trip_distance', 'fare_amount'];
  assertFramesEqual(await back.collect(), await df.collect(), KEY5, 'parquet');
  assert.equal(await back.filter(col('fare_amount').gt(30)).count(), base.filter(pl.col('fare_amount').gt(30)).height);
  const csv = await df.toCsv(join(out, 'csv'));
  assert.equal(csv.length, df.npartitions);
  assert.match(readFileSync(csv[0]!.path, 'utf8').split('\n')[0]!, /^VendorID,tpep_pickup_datetime,fare_amount/);
  const csvBack = await readCsv(join(out, 'csv'), { parseDates: ['tpep_pickup_datetime'] }).collect();
  assert.equal(csvBack.height, 6000);
  // Writing again replaces the parts instead of mixing old and new files.
  await df.repartition(2).toParquet(join(out, 'pq'));
  assert.equal(readParquet(join(out, 'pq')).npartitions, 2);
  assert.throws(() => readParquet(join(out, 'none')), DataFrameError);
});
