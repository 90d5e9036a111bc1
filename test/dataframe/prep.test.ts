/**
 * The NYC taxi preparation (examples/nyctaxi/prep.ts) against a reference
 * written plainly with nodejs-polars in one process, and its Parquet output
 * read back with a different reader (hyparquet).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { prepNycTaxi, readTaxiCsv } from '../../examples/nyctaxi/prep.js';
import { LocalExecutor } from '../../src/dataframe/index.js';
import { taxiData, tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;
type PlFrame = ReturnType<typeof pl.DataFrame>;

let tmp: { dir: string; cleanup: () => void };
let data: string;

before(async () => {
  tmp = tempDir();
  data = await taxiData(tmp.dir, 16_000, 2, 11);
});
after(() => tmp.cleanup());

/** The script's pipeline, spelled out with plain Polars on the whole files. */
function reference(dir: string): PlFrame {
  const f64 = pl.Float64;
  const schema = {
    VendorID: pl.Int64, tpep_pickup_datetime: pl.Datetime('us'), tpep_dropoff_datetime: pl.Datetime('us'), passenger_count: pl.Int64,
    trip_distance: f64, pickup_longitude: f64, pickup_latitude: f64, RateCodeID: pl.Int64, store_and_fwd_flag: pl.String,
    dropoff_longitude: f64, dropoff_latitude: f64, payment_type: pl.Int64, fare_amount: f64, extra: f64, mta_tax: f64,
    tip_amount: f64, tolls_amount: f64, improvement_surcharge: f64, total_amount: f64,
  };
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv')).sort().map((f) => pl.readCSV(join(dir, f), { schema, ignoreErrors: false }));
  let df = pl.concat(files);
  const c = (n: string) => pl.col(n);
  df = df.filter(
    c('fare_amount').gt(0).and(c('fare_amount').lt(500)).and(c('passenger_count').gt(0)).and(c('passenger_count').lt(6))
      .and(c('pickup_longitude').gt(-75)).and(c('pickup_longitude').lt(-73)).and(c('dropoff_longitude').gt(-75)).and(c('dropoff_longitude').lt(-73))
      .and(c('pickup_latitude').gt(40)).and(c('pickup_latitude').lt(42)).and(c('dropoff_latitude').gt(40)).and(c('dropoff_latitude').lt(42)),
  );
  df = df.rename({ tpep_pickup_datetime: 'pickup_datetime', tpep_dropoff_datetime: 'dropoff_datetime', RateCodeID: 'rate_code' });
  const f32 = ['trip_distance', 'pickup_longitude', 'pickup_latitude', 'dropoff_longitude', 'dropoff_latitude', 'fare_amount', 'tip_amount', 'total_amount'];
  const i32 = ['passenger_count', 'rate_code', 'payment_type'];
  df = df.select(
    c('VendorID').cast(pl.String), c('pickup_datetime').cast(pl.Datetime('ms')), c('dropoff_datetime').cast(pl.Datetime('ms')),
    c('passenger_count'), c('trip_distance'), c('pickup_longitude'), c('pickup_latitude'), c('rate_code'),
    c('dropoff_longitude'), c('dropoff_latitude'), c('payment_type'), c('fare_amount'), c('tip_amount'), c('total_amount'),
  );
  df = df.withColumns(...i32.map((n) => c(n).fillNull(-1).cast(pl.Int32)), ...f32.map((n) => c(n).fillNull(-1).cast(pl.Float32)));
  const rad = (n: string) => c(n).cast(f64).mul(Math.PI / 180);
  const a = rad('dropoff_latitude').sub(rad('pickup_latitude')).div(2).sin().pow(2)
    .add(rad('pickup_latitude').cos().mul(rad('dropoff_latitude').cos()).mul(rad('dropoff_longitude').sub(rad('pickup_longitude')).div(2).sin().pow(2)));
  df = df.withColumns(
    c('pickup_datetime').date.hour().cast(pl.Int32).alias('hour'),
    c('pickup_datetime').date.year().cast(pl.Int32).alias('year'),
    c('pickup_datetime').date.month().cast(pl.Int32).alias('month'),
    c('pickup_datetime').date.day().cast(pl.Int32).alias('day'),
    c('pickup_datetime').date.weekday().cast(pl.Int32).alias('day_of_week'),
    c('dropoff_datetime').sub(c('pickup_datetime')).alias('diff'),
    ...['pickup_latitude', 'pickup_longitude', 'dropoff_latitude', 'dropoff_longitude'].map((n) =>
      c(n).cast(f64).div(0.01).floor().mul(0.01).cast(pl.Float32).alias(`${n}_r`)),
    a.pow(0.5).arcsin().mul(2).mul(6371).cast(pl.Float32).alias('h_distance'),
  );
  return df.withColumns(c('day_of_week').gt(5).cast(pl.Int32).alias('is_weekend'));
}

const EXPECTED_TYPES: Record<string, string> = {
  VendorID: 'string', pickup_datetime: 'datetime[ms]', dropoff_datetime: 'datetime[ms]', passenger_count: 'int32', trip_distance: 'float32',
  pickup_longitude: 'float32', pickup_latitude: 'float32', rate_code: 'int32', dropoff_longitude: 'float32', dropoff_latitude: 'float32',
  payment_type: 'int32', fare_amount: 'float32', tip_amount: 'float32', total_amount: 'float32', hour: 'int32', year: 'int32', month: 'int32',
  day: 'int32', day_of_week: 'int32', diff: 'duration[ms]', pickup_latitude_r: 'float32', pickup_longitude_r: 'float32',
  dropoff_latitude_r: 'float32', dropoff_longitude_r: 'float32', h_distance: 'float32', is_weekend: 'int32',
};

/** Per-column sums of the numeric columns (durations and datetimes as milliseconds). */
function sums(rows: Record<string, unknown>[], columns: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of columns) out[c] = 0;
  for (const r of rows) {
    for (const c of columns) {
      const v = r[c];
      out[c]! += v instanceof Date ? v.getTime() : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0;
    }
  }
  return out;
}

test('the prep writes the rows, types and values of a one-process reference, and hyparquet reads them back', async () => {
  const df = prepNycTaxi(readTaxiCsv(`${data}/*.csv`, { blocksize: 300_000 }));
  assert.ok(df.npartitions >= 5, `npartitions ${df.npartitions}`);
  assert.deepEqual(df.dtypes, EXPECTED_TYPES);
  const out = join(tmp.dir, 'parquet');
  const written = await df.toParquet(out, { executor: new LocalExecutor({ concurrency: 2 }) });
  const ref = reference(data);
  assert.equal(written.reduce((s, w) => s + w.rows, 0), ref.height, 'row count');
  assert.ok(ref.height > 14_000 && ref.height < 16_000, `the filter drops the messy rows only (${ref.height})`);

  // Read back with hyparquet: one file per partition, the schema the port promises.
  const files = readdirSync(out).filter((f) => f.endsWith('.parquet'));
  assert.equal(files.length, df.npartitions);
  const rows: Record<string, unknown>[] = [];
  for (const f of files) {
    const buf = readFileSync(join(out, f));
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const meta = parquetMetadata(file);
    const leaves = meta.schema.slice(1);
    assert.deepEqual(leaves.map((s) => s.name), Object.keys(EXPECTED_TYPES));
    const physical = Object.fromEntries(leaves.map((s) => [s.name, s.type]));
    for (const [c, t] of Object.entries(EXPECTED_TYPES)) {
      const want = t === 'string' ? 'BYTE_ARRAY' : t === 'float32' ? 'FLOAT' : t === 'int32' ? 'INT32' : 'INT64';
      assert.equal(physical[c], want, `${f}: ${c}`);
    }
    const pickup = leaves.find((s) => s.name === 'pickup_datetime')!;
    assert.deepEqual(pickup.logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MILLIS' });
    rows.push(...((await parquetReadObjects({ file })) as Record<string, unknown>[]));
  }
  assert.equal(rows.length, ref.height);

  const numeric = Object.keys(EXPECTED_TYPES).filter((c) => c !== 'VendorID');
  const got = sums(rows, numeric);
  const want = sums(ref.toRecords() as Record<string, unknown>[], numeric);
  for (const c of numeric) {
    const exact = /int32|datetime|duration/.test(EXPECTED_TYPES[c]!) && !c.endsWith('_r');
    const tol = exact ? 0 : 1e-5 * Math.max(1, Math.abs(want[c]!));
    assert.ok(Math.abs(got[c]! - want[c]!) <= tol, `sum of ${c}: ${got[c]} vs ${want[c]}`);
    const mean = got[c]! / rows.length;
    assert.ok(Number.isFinite(mean), `mean of ${c}`);
  }
  const vendors = (rs: Record<string, unknown>[]) => rs.reduce<Record<string, number>>((acc, r) => ((acc[String(r.VendorID)] = (acc[String(r.VendorID)] ?? 0) + 1), acc), {});
  assert.deepEqual(vendors(rows), vendors(ref.toRecords() as Record<string, unknown>[]));
  // is_weekend marks Saturday and Sunday (ISO weekday 6 and 7).
  for (const r of rows.slice(0, 500)) assert.equal(r.is_weekend, (r.day_of_week as number) > 5 ? 1 : 0);
  assert.ok(rows.some((r) => r.rate_code === -1), 'empty rate codes became -1');
});

test('the prep on a single partition and on many partitions gives the same result', async () => {
  const one = await prepNycTaxi(readTaxiCsv(`${data}/*.csv`, { blocksize: null })).count();
  const many = await prepNycTaxi(readTaxiCsv(`${data}/*.csv`, { blocksize: 100_000 })).count();
  assert.equal(one, many);
  assert.equal(one, reference(data).height);
});
