/**
 * Issue 13: answers that were wrong, each pinned by a test that failed
 * before the fix (durations in microseconds, whole-frame aggregations over
 * several partitions, variance with a large offset) and pandas' semantics
 * by default (nulls in query, nUnique, groupBy, sort and join; floats cast
 * to strings). The differential suite against pandas itself is
 * pandas-oracle.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { col, fromPolars, len, readCsv, DataFrameError } from '../../src/dataframe/index.js';
import { tempDir, writeText } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

const tmp = tempDir();
after(() => tmp.cleanup());

test('the difference of two parsed datetime columns is a microsecond duration', async () => {
  const path = writeText(tmp.dir, 'dates.csv', 'a,b\n2015-01-01 00:00:00,2015-01-01 00:00:01\n2015-01-02 00:00:00,2015-01-02 01:30:00\n2015-01-03 00:00:00,\n');
  const df = readCsv(path, { parseDates: ['a', 'b'] });
  const diff = df.withColumns(col('b').sub(col('a')).alias('d'));
  assert.equal(diff.dtypes.d, 'duration[us]');
  const got = await diff.select(col('d').cast('int64')).collect();
  assert.deepEqual(got.getColumn('d').toArray().map((v) => (v === null ? null : Number(v))), [1e6, 5400e6, null]);
  // Every unit round-trips through the schema.
  for (const unit of ['ms', 'us', 'ns'] as const) {
    const t = fromPolars(pl.DataFrame({ x: [1, 2] }), { npartitions: 2 }).withColumns(col('x').cast(`duration[${unit}]`).alias('d'));
    assert.equal(t.dtypes.d, `duration[${unit}]`);
    assert.equal((await t.collect()).height, 2);
  }
});

test('a float cast to a string is the shortest text that reads back (Python repr)', async () => {
  const values = [0.1, 1.0, 1e-4, 9.99e-5, 1e-5, -1.5e-5, 1.25e-6, 1e16, 9999999999999998, 1e100, 5e-324, -Infinity, NaN, null];
  const expected = ['0.1', '1.0', '0.0001', '9.99e-05', '1e-05', '-1.5e-05', '1.25e-06', '1e+16', '9999999999999998.0', '1e+100', '5e-324', '-inf', 'nan', null];
  const df = fromPolars(pl.DataFrame({ x: pl.Series('x', values, pl.Float64) }), { npartitions: 3 });
  assert.deepEqual((await df.select(col('x').cast('string')).collect()).getColumn('x').toArray(), expected);
  assert.deepEqual((await df.cast({ x: 'string' }).collect()).getColumn('x').toArray(), expected);
  const f32 = fromPolars(pl.DataFrame({ x: pl.Series('x', [0.1, 1 / 3, 1e-5], pl.Float32) }));
  assert.deepEqual((await f32.cast({ x: 'string' }).collect()).getColumn('x').toArray(), ['0.1', '0.33333334', '1e-05']);
});

/** Deterministic standard normal values (mulberry32 + Box-Muller). */
function normals(n: number, seed: number): number[] {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 2 ** 32;
  };
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/** Sample variance by two passes (the textbook stable way). */
function sampleVariance(xs: number[]): number {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
}

function close(actual: unknown, expected: number, rel: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what}: ${String(actual)}`);
  assert.ok(Math.abs((actual as number) - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${String(actual)} vs ${expected}`);
}

test('groupBy var/std combine partial moments stably: values 1e8 + N(0, 1)', async () => {
  const n = 4000;
  const noise = normals(n, 13);
  const k = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'a' : 'b'));
  const x = noise.map((z) => 1e8 + z);
  const df = fromPolars(pl.DataFrame({ k, x }), { npartitions: 16 });
  const got = (await df.groupBy('k').splitEvery(4).agg(col('x').var().alias('v'), col('x').std().alias('s'), col('x').mean().alias('m')).sort('k').collect()).toRecords();
  for (const [i, key] of ['a', 'b'].entries()) {
    const xs = x.filter((_, j) => k[j] === key);
    const v = sampleVariance(xs);
    assert.ok(Math.abs(v - 1) < 0.1, `the reference itself is near 1: ${v}`);
    close(got[i]!.v, v, 1e-9, `var of ${key}`);
    close(got[i]!.s, Math.sqrt(v), 1e-9, `std of ${key}`);
    close(got[i]!.m, xs.reduce((s, y) => s + y, 0) / xs.length, 1e-12, `mean of ${key}`);
  }
  // The same over the whole frame, and groups of one value have no sample variance.
  const whole = (await df.select(col('x').var()).collect()).getColumn('x').toArray()[0];
  close(whole, sampleVariance(x), 1e-9, 'whole-frame var');
  const single = await fromPolars(pl.DataFrame({ k: ['a', 'b', 'b'], x: [1, 2, 4] }), { npartitions: 3 }).groupBy('k').agg(col('x').var()).sort('k').collect();
  assert.deepEqual(single.getColumn('x').toArray(), [null, 2]);
});

test('select with aggregations reduces every partition to one row', async () => {
  const f = Array.from({ length: 50 }, (_, i) => i);
  const g = f.map((i) => (i % 7 === 0 ? null : i / 4));
  const df = fromPolars(pl.DataFrame({ f: pl.Series('f', f, pl.Int64), g: pl.Series('g', g, pl.Float64) }), { npartitions: 64 });
  const out = df.select(col('f').sum(), col('g').mean(), col('f').min().alias('lo'), col('f').max().alias('hi'), col('g').count().alias('n'), len(),
    col('f').first().alias('first'), col('f').last().alias('last'), col('g').std().alias('sd'), col('f').sum().div(len()).alias('avg'));
  assert.equal(out.npartitions, 1);
  assert.match(out.explain(), /groupby-partial: 64/);
  const row = (await out.collect()).toRecords();
  assert.equal(row.length, 1);
  const gs = g.filter((v): v is number => v !== null);
  const r = row[0]!;
  assert.equal(Number(r.f), 1225);
  close(r.g, gs.reduce((s, v) => s + v, 0) / gs.length, 1e-12, 'mean');
  assert.deepEqual([Number(r.lo), Number(r.hi), Number(r.n), Number(r.len), Number(r.first), Number(r.last)], [0, 49, gs.length, 50, 0, 49]);
  close(r.sd, Math.sqrt(sampleVariance(gs)), 1e-12, 'std');
  close(r.avg, 24.5, 1e-12, 'sum / len');
  // The split form ends with the types one process gives.
  assert.deepEqual(out.dtypes, (await df.repartition(1).select(col('f').sum(), col('g').mean(), col('f').min().alias('lo'), col('f').max().alias('hi'),
    col('g').count().alias('n'), len(), col('f').first().alias('first'), col('f').last().alias('last'), col('g').std().alias('sd'), col('f').sum().div(len()).alias('avg'))).dtypes);
  // Aggregations without a split form gather the partitions into one task: still one row.
  const med = await df.select(col('f').median(), col('g').nUnique().alias('u')).collect();
  assert.deepEqual(med.toRecords(), [{ f: 24.5, u: gs.length }]);
});

test('aggregations that cannot be combined across partitions are refused, never answered per partition', () => {
  const df = fromPolars(pl.DataFrame({ f: [1, 2, 3] }), { npartitions: 2 });
  assert.throws(() => df.select(col('f'), col('f').sum().alias('s')), (e: Error) => e instanceof DataFrameError && /outside an aggregation/.test(e.message));
  assert.throws(() => df.select(col('f').sub(col('f').mean())), /outside an aggregation/);
  assert.throws(() => df.select(col('f').sum().sum()), /aggregates an aggregation/);
  assert.throws(() => df.filter(col('f').gt(col('f').mean())), /computed per partition/);
});

/** A small frame with nulls in every column, spread over several partitions. */
function withNulls() {
  return fromPolars(
    pl.DataFrame({
      a: pl.Series('a', [1, null, 5, 7, null, 5], pl.Int64),
      s: pl.Series('s', ['x', null, 'y', 'x', 'z', null], pl.String),
      v: pl.Series('v', [1.5, 2.5, null, 4.5, 5.5, 6.5], pl.Float64),
    }),
    { npartitions: 3 },
  );
}

test('query() keeps the rows pandas keeps when a value is null', async () => {
  const df = withNulls();
  const rows = async (q: string): Promise<number> => (await df.query(q).collect()).height;
  assert.equal(await rows('a != 5'), 4, 'a != 5 keeps the two nulls');
  assert.equal(await rows('not (a == 5)'), 4);
  assert.equal(await rows('~(a > 1 or a < 1)'), 3, 'a == 1 and the two nulls');
  assert.equal(await rows('s != "x"'), 4);
  assert.equal(await rows('s not in ["x", "y"]'), 3);
  assert.equal(await rows('s in ["x", "y"]'), 3);
  assert.equal(await rows('a == 5'), 2, 'null is never equal');
  assert.equal(await rows('a > 1 and s != "q"'), 3);
  assert.equal(await rows('not (a > 1 and v > 2)'), 4);
  // Expressions keep Polars' rule (a comparison with null is null, and filter drops it).
  assert.equal((await df.filter(col('a').neq(5)).collect()).height, 2);
});

test('nUnique, groupBy, sort and join treat nulls as pandas does', async () => {
  const df = withNulls();
  assert.deepEqual((await df.select(col('s').nUnique()).collect()).toRecords(), [{ s: 3 }], 'nUnique does not count null');
  const g = await df.groupBy('a').agg(col('v').sum(), len()).sort('a').collect();
  assert.deepEqual(g.toRecords().map((r) => [r.a === null ? null : Number(r.a), r.v, r.len]), [[1, 1.5, 1], [5, 6.5, 2], [7, 4.5, 1]], 'null keys are dropped');
  const kept = await df.groupBy(['a'], { dropna: false }).agg(col('v').sum(), len()).sort('a').collect();
  assert.deepEqual(kept.toRecords().map((r) => [r.a === null ? null : Number(r.a), r.v, r.len]), [[1, 1.5, 1], [5, 6.5, 2], [7, 4.5, 1], [null, 8, 2]], 'dropna: false keeps them');
  const two = await df.groupBy('a', 's').agg(len()).collect();
  assert.equal(two.height, 3, 'a row with a null in any key is dropped');
  const sorted = await df.sort('a').collect();
  assert.deepEqual(sorted.getColumn('a').toArray().map((v) => (v === null ? null : Number(v))), [1, 5, 5, 7, null, null], 'nulls last');
  const desc = await df.sort('a', { descending: true }).collect();
  assert.deepEqual(desc.getColumn('a').toArray().map((v) => (v === null ? null : Number(v))), [7, 5, 5, 1, null, null], 'nulls last descending too');
  const first = await df.sort('a', { nullsLast: false }).collect();
  assert.equal(first.getColumn('a').toArray()[0], null);
  const right = fromPolars(pl.DataFrame({ s: pl.Series('s', [null, 'x', 'w'], pl.String), w: [10, 20, 30] }), { npartitions: 2 });
  for (const broadcast of [true, false]) {
    const inner = await df.join(right, { on: 's', broadcast }).sort(['s', 'a']).collect();
    assert.deepEqual(inner.select('s', 'a', 'w').toRecords().map((r) => [r.s, r.a === null ? null : Number(r.a), r.w]),
      [['x', 1, 20], ['x', 7, 20], [null, 5, 10], [null, null, 10]], `null keys match (broadcast ${broadcast})`);
    const sql = await df.join(right, { on: 's', broadcast, nullsEqual: false }).collect();
    assert.equal(sql.height, 2, 'nullsEqual: false: null matches nothing');
    const left = await df.join(right, { on: 's', how: 'left', broadcast }).collect();
    assert.equal(left.height, 6);
    assert.deepEqual(left.columns, ['a', 's', 'v', 'w']);
  }
});
