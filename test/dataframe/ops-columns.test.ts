/**
 * The everyday column-level operations of issue 13 part 3 (dropNulls, the
 * .str and .dt namespaces, valueCounts, nLargest/nSmallest, tail, whole-frame
 * reductions and describe, the category type) and the CSV datetime fix:
 * behaviour over several partitions and the errors for bad input. Their
 * agreement with pandas itself is checked in pandas-oracle.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { col, fromPolars, lit, readCsv, readParquet, DataFrameError } from '../../src/dataframe/index.js';
import { tempDir, writeText } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

const tmp = tempDir('tessera-ops-');
after(() => tmp.cleanup());

test('readCsv parses datetimes whose fractional seconds come and go (the first value has none)', async () => {
  const path = writeText(tmp.dir, 'frac.csv', 'a,t\n1,2015-01-01 00:00:00\n2,2015-01-01 00:00:01.5\n3,2015-01-01T00:00:02.123456\n4,2015-01-02\n5,\n6, 2015-01-02 10:30\n');
  for (const blocksize of [null, 30]) {
    const df = readCsv(path, { parseDates: ['t'], blocksize });
    const got = await df.collect();
    const us = (got.getColumn('t').toArray() as unknown as (Date | null)[]).map((d) => (d === null ? null : d.getTime()));
    const base = Date.UTC(2015, 0, 1);
    assert.deepEqual(us, [base, base + 1500, base + 2123, base + 86400e3, null, base + 86400e3 + 37800e3], `blocksize ${blocksize}`);
  }
  // The fraction is kept to the microsecond.
  const micros = await readCsv(path, { parseDates: ['t'] }).filter('a == 3').select(col('t').cast('int64')).collect();
  assert.equal(Number(micros.getColumn('t').toArray()[0]), Date.UTC(2015, 0, 1, 0, 0, 2) * 1000 + 123456);
});

test('readCsv names a value that is no datetime; ignoreErrors reads it as null', async () => {
  const path = writeText(tmp.dir, 'bad-dates.csv', 'a,t\n1,2015-01-01 00:00:00\n2,2015-01-0x\n');
  await assert.rejects(readCsv(path, { parseDates: ['t'] }).collect(), (e: Error) => e instanceof DataFrameError && /'2015-01-0x' in column 't' is not a datetime/.test(e.message));
  const got = await readCsv(path, { parseDates: ['t'], ignoreErrors: true }).collect();
  assert.deepEqual((got.getColumn('t').toArray() as unknown as (Date | null)[]).map((d) => (d === null ? null : d.getTime())), [Date.UTC(2015, 0, 1), null]);
});

/** A small frame over 3 partitions: rows 0-3, 4-7, 8-9. */
function frame(): ReturnType<typeof fromPolars> {
  return fromPolars(
    pl.DataFrame({
      id: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      k: [3, null, 1, 3, 2, 3, null, 1, 2, 3],
      x: pl.Series('x', [1.5, NaN, null, 4, 0.5, 2, 3, null, 9, -1], pl.Float64),
      s: ['a b', null, ' Xy ', 'a.b.c', 'déf', '', null, 'abc', 'x1y2', 'ZZ'],
    }),
    { npartitions: 3 },
  );
}

const values = async (df: ReturnType<typeof fromPolars>, c: string): Promise<unknown[]> => (await df.collect()).getColumn(c).toArray() as unknown[];

test('dropNulls: how any/all, subset, thresh; NaN counts as missing', async () => {
  const df = frame();
  assert.deepEqual(await values(df.dropNulls(), 'id'), [0, 3, 4, 5, 8, 9]);
  assert.deepEqual(await values(df.dropNulls({ subset: 'x' }), 'id'), [0, 3, 4, 5, 6, 8, 9]);
  assert.deepEqual(await values(df.dropNulls({ subset: ['k', 'x'], how: 'all' }), 'id'), [0, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(await values(df.dropNulls({ subset: ['k', 'x', 's'], thresh: 2 }), 'id'), [0, 2, 3, 4, 5, 7, 8, 9]);
  assert.throws(() => df.dropNulls({ subset: ['nope'] }), /dropNulls subset: column\(s\) 'nope' not found/);
  assert.throws(() => df.dropNulls({ how: 'some' } as unknown as { how: 'any' }), /how must be 'any' or 'all'/);
  assert.throws(() => df.dropNulls({ how: 'all', thresh: 1 }), /give how or thresh, not both/);
});

test('.str functions keep nulls null, count characters and use Python slice and replacement rules', async () => {
  const df = frame().select(
    col('s').str.len().alias('len'),
    col('s').str.slice(-2).alias('last2'),
    col('s').str.slice(1, -1).alias('mid'),
    col('s').str.strip().alias('strip'),
    col('s').str.upper().alias('up'),
    col('s').str.contains('[0-9]').alias('digit'),
    col('s').str.contains('.', { regex: false }).alias('dot'),
    col('s').str.replace('.', '$', {}).alias('lit'),
    col('s').str.replace('([a-z])([0-9])', '\\2\\1', { regex: true }).alias('swap'),
    col('s').str.split('.').alias('parts'),
    col('s').str.split().alias('words'),
    col('s').str.extract('([a-z])([0-9])', 2).alias('second'),
  );
  assert.equal(df.dtypes.parts, 'list[string]');
  assert.equal(df.dtypes.len, 'int64');
  const r = (await df.collect()).toRecords() as Record<string, unknown>[];
  assert.deepEqual(r.map((x) => x.len), [3, null, 4, 5, 3, 0, null, 3, 4, 2]);
  assert.deepEqual(r.map((x) => x.last2), [' b', null, 'y ', '.c', 'éf', '', null, 'bc', 'y2', 'ZZ']);
  assert.deepEqual(r.map((x) => x.mid), [' ', null, 'Xy', '.b.', 'é', '', null, 'b', '1y', '']);
  assert.deepEqual(r.map((x) => x.strip), ['a b', null, 'Xy', 'a.b.c', 'déf', '', null, 'abc', 'x1y2', 'ZZ']);
  assert.deepEqual(r.map((x) => x.up)[4], 'DÉF');
  assert.deepEqual(r.map((x) => x.digit), [false, null, false, false, false, false, null, false, true, false]);
  assert.deepEqual(r.map((x) => x.dot), [false, null, false, true, false, false, null, false, false, false]);
  assert.equal(r[3]!.lit, 'a$b$c');
  assert.equal(r[8]!.swap, '1x2y');
  assert.deepEqual(r[3]!.parts, ['a', 'b', 'c']);
  assert.deepEqual(r[2]!.words, ['Xy']);
  assert.equal(r[1]!.words, null);
  assert.deepEqual(r.map((x) => x.second), [null, null, null, null, null, null, null, null, '1', null]);
  assert.throws(() => frame().select(col('k').str.upper()).dtypes, /str.upper\(\) needs a string column; col\("k"\) is float64/);
  assert.throws(() => col('s').str.contains('a', { regx: true } as object), /str.contains: unknown option 'regx'/);
  assert.throws(() => col('s').str.slice(1.5), /start must be an integer/);
});

test('.dt floor, ceil and round count from the epoch and round halves to even; strftime uses Python codes', async () => {
  const t = [Date.UTC(2015, 0, 1, 10, 7, 30), Date.UTC(2015, 0, 1, 10, 22, 30), Date.UTC(1969, 11, 31, 23, 59, 1), Date.UTC(2015, 0, 1, 10, 15, 0, 250)];
  const df = fromPolars(pl.DataFrame({ t: pl.Series('t', t.map((v) => new Date(v)), pl.Datetime('ms')) }), { npartitions: 2 }).select(
    col('t').dt.floor('15min').alias('floor'),
    col('t').dt.ceil('15min').alias('ceil'),
    col('t').dt.round('1min').alias('round'),
    col('t').dt.date().alias('date'),
    col('t').dt.strftime('%Y-%m-%d %H:%M:%S.%f').alias('text'),
  );
  assert.equal(df.dtypes.floor, 'datetime[ms]');
  assert.equal(df.dtypes.date, 'date');
  const r = (await df.collect()).toRecords() as Record<string, unknown>[];
  const ms = (k: string): number[] => r.map((x) => (x[k] as Date).getTime());
  assert.deepEqual(ms('floor'), [Date.UTC(2015, 0, 1, 10, 0), Date.UTC(2015, 0, 1, 10, 15), Date.UTC(1969, 11, 31, 23, 45), Date.UTC(2015, 0, 1, 10, 15)]);
  assert.deepEqual(ms('ceil'), [Date.UTC(2015, 0, 1, 10, 15), Date.UTC(2015, 0, 1, 10, 30), Date.UTC(1970, 0, 1), Date.UTC(2015, 0, 1, 10, 30)]);
  // 10:07:30 is half-way: 10:08 is the even minute; 10:22:30 goes to 10:22.
  assert.deepEqual(ms('round'), [Date.UTC(2015, 0, 1, 10, 8), Date.UTC(2015, 0, 1, 10, 22), Date.UTC(1969, 11, 31, 23, 59), Date.UTC(2015, 0, 1, 10, 15)]);
  assert.equal(r[3]!.text, '2015-01-01 10:15:00.250000');
  assert.throws(() => col('t').dt.floor('M'), /'M' is not a fixed frequency/);
  assert.throws(() => frame().select(col('s').dt.floor('1H')).dtypes, /needs a datetime column/);
});

test('valueCounts, nLargest, nSmallest, tail over several partitions', async () => {
  const df = frame();
  const vc = await df.valueCounts('k').collect();
  assert.deepEqual(vc.toRecords(), [{ k: 3, count: 4 }, { k: 1, count: 2 }, { k: 2, count: 2 }]);
  const withNull = await df.valueCounts('k', { dropna: false, ascending: true }).collect();
  assert.deepEqual(withNull.getColumn('count').toArray(), [2, 2, 2, 4]);
  assert.deepEqual(withNull.getColumn('k').toArray(), [1, 2, null, 3]);
  const p = await df.valueCounts('k', { normalize: true }).collect();
  assert.deepEqual(p.getColumn('proportion').toArray(), [0.5, 0.25, 0.25]);
  // keep='first': of the four 3s, the first two in row order.
  assert.deepEqual(await values(df.nLargest(2, 'k'), 'id'), [0, 3]);
  assert.deepEqual(await values(df.nLargest(5, ['k', 'id']), 'id'), [9, 5, 3, 0, 8]);
  assert.deepEqual(await values(df.nSmallest(3, 'k'), 'id'), [2, 7, 4]);
  assert.deepEqual(await values(df.nSmallest(20, 'k'), 'id'), [2, 7, 4, 8, 0, 3, 5, 9, 1, 6]);
  // NaN is missing, as in pandas: after every number, in row order with the nulls.
  assert.deepEqual(await values(df.nLargest(10, 'x'), 'id'), [8, 3, 6, 5, 0, 4, 9, 1, 2, 7]);
  assert.deepEqual(await values(df.nSmallest(3, 'x'), 'id'), [9, 4, 0]);
  assert.deepEqual(df.nLargest(1, 'x').columns, ['id', 'k', 'x', 's']);
  assert.deepEqual((await df.tail(5)).getColumn('id').toArray(), [5, 6, 7, 8, 9]);
  assert.deepEqual((await df.tail(2)).getColumn('id').toArray(), [8, 9]);
  assert.equal((await df.tail(0)).height, 0);
  assert.deepEqual((await df.tail(50)).getColumn('id').toArray(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.throws(() => df.valueCounts('k', { sorted: true } as object), /valueCounts: unknown option 'sorted'/);
  assert.throws(() => df.nLargest(-1, 'k'), /n must be a non-negative integer/);
  await assert.rejects(df.tail(1, { n: 1 } as object), /tail: unknown option 'n'/);
});

test('whole-frame reductions give one row; describe has exact quantiles', async () => {
  const df = fromPolars(pl.DataFrame({ a: [1, 2, 3, 4, null], b: [1.5, 2.5, null, 10, -1], s: ['x', 'y', 'z', null, 'w'] }), { npartitions: 3 });
  assert.deepEqual((await df.sum().collect()).toRecords(), [{ a: 10, b: 13 }]);
  assert.deepEqual((await df.mean().collect()).toRecords(), [{ a: 2.5, b: 3.25 }]);
  assert.deepEqual((await df.min().collect()).toRecords(), [{ a: 1, b: -1, s: 'w' }]);
  assert.deepEqual((await df.max().collect()).toRecords(), [{ a: 4, b: 10, s: 'z' }]);
  assert.deepEqual((await df.countNonNull().collect()).toRecords(), [{ a: 4, b: 4, s: 4 }]);
  const v = (await df.var().collect()).toRecords()[0] as Record<string, number>;
  assert.ok(Math.abs(v.a! - 5 / 3) < 1e-12);
  const d = await df.describe();
  assert.deepEqual(d.columns, ['statistic', 'a', 'b']);
  assert.deepEqual(d.getColumn('statistic').toArray(), ['count', 'mean', 'std', 'min', '25%', '50%', '75%', 'max']);
  // NumPy's linear interpolation: 1 2 3 4 -> 1.75, 2.5, 3.25.
  assert.deepEqual(d.getColumn('a').toArray().filter((_, i) => [0, 1, 3, 4, 5, 6, 7].includes(i)), [4, 2.5, 1, 1.75, 2.5, 3.25, 4]);
  assert.throws(() => fromPolars(pl.DataFrame({ s: ['x'] })).sum(), /sum\(\): the frame has no column it applies to/);
  await assert.rejects(fromPolars(pl.DataFrame({ s: ['x'] })).describe(), /describe\(\): the frame has no numeric column/);
});

test('x / 0.01 is IEEE division (Polars multiplies by the reciprocal of a scalar divisor)', async () => {
  const df = fromPolars(pl.DataFrame({ x: pl.Series('x', [-73.970001, 40.75], pl.Float32) }));
  const got = await df.select(col('x').div(0.01).alias('q'), col('x').floorDiv(0.01).alias('f'), lit(7).div(col('x')).alias('r')).collect();
  // NumPy in float32: -73.970001 / 0.01 = -7397.0005 (x * 100 would give -7397).
  assert.deepEqual(got.getColumn('q').toArray(), [-7397.00048828125, 4075]);
  assert.deepEqual(got.getColumn('f').toArray(), [-7398, 4075]);
});

test('floorDiv and mod on floats are the exact floor quotient and remainder, as pandas // and % (NumPy)', async () => {
  const df = fromPolars(pl.DataFrame({ a: [1, 63.29, -63.29, 7.5, -7.5, 1e8 + 0.3, 2, -2, 0] }), { npartitions: 2 });
  const got = await df.select(col('a').floorDiv(0.1).alias('tenth'), col('a').floorDiv(0.01).alias('hundredth'), col('a').floorDiv(-0.3).alias('neg'), col('a').floorDiv(0).alias('zero')).collect();
  // pandas' values (Series([...]) // 0.1 etc.). 0.1 is a little above 1/10, so 1 // 0.1 is 9 (floor(1 / 0.1) would be 10).
  assert.deepEqual(got.getColumn('tenth').toArray(), [9, 632, -633, 74, -75, 1000000002, 19, -20, 0]);
  assert.deepEqual(got.getColumn('hundredth').toArray(), [99, 6328, -6329, 749, -750, 10000000029, 199, -200, 0]);
  assert.deepEqual(got.getColumn('neg').toArray(), [-4, -211, 210, -26, 25, -333333335, -7, 6, -0]);
  assert.deepEqual(got.getColumn('zero').toArray().slice(6), [Infinity, -Infinity, NaN]);
  const rest = await df.select(col('a').mod(0.1).alias('tenth'), col('a').mod(-0.3).alias('neg'), col('a').mod(0).alias('zero')).collect();
  assert.deepEqual(rest.getColumn('tenth').toArray().slice(0, 4), [0.09999999999999995, 0.08999999999999564, 0.010000000000004367, 0.09999999999999959]);
  assert.deepEqual(rest.getColumn('neg').toArray().slice(0, 4), [-0.19999999999999996, -0.00999999999999851, -0.2900000000000015, -0.2999999999999997]);
  assert.ok((rest.getColumn('zero').toArray() as number[]).every(Number.isNaN));
});

test('category columns keep their values across partitions that number them differently', async () => {
  // Partition 0 meets 'b' first, partition 1 'c': the codes differ, the values must not.
  const path = writeText(tmp.dir, 'cat.csv', 'c,n\nb,1\na,2\nb,3\nc,4\na,5\nc,6\n');
  const df = readCsv(path, { dtypes: { c: 'category' }, blocksize: 14 });
  assert.ok(df.npartitions >= 2, `${df.npartitions} partitions`);
  assert.equal(df.dtypes.c, 'category');
  assert.deepEqual((await df.collect()).getColumn('c').toArray(), ['b', 'a', 'b', 'c', 'a', 'c']);
  const sums = await df.groupBy('c').agg(col('n').sum()).sort('c').collect();
  assert.deepEqual(sums.toRecords(), [{ c: 'a', n: 7 }, { c: 'b', n: 4 }, { c: 'c', n: 10 }]);
  assert.deepEqual((await df.sort('c', { descending: true }).collect()).getColumn('n').toArray(), [4, 6, 1, 3, 2, 5]);
  assert.deepEqual((await df.filter(col('c').eq('c')).collect()).getColumn('n').toArray(), [4, 6]);
  const other = fromPolars(pl.DataFrame({ c: ['c', 'a'], label: ['C', 'A'] }), { npartitions: 2 }).cast({ c: 'category' });
  const joined = await df.join(other, { on: 'c', broadcast: false }).sort('n').collect();
  assert.deepEqual(joined.getColumn('label').toArray(), ['A', 'C', 'A', 'C']);
  const dir = `${tmp.dir}/cat-parquet`;
  await df.toParquet(dir);
  const back = readParquet(dir);
  assert.equal(back.dtypes.c, 'category');
  assert.deepEqual((await back.collect()).getColumn('c').toArray(), ['b', 'a', 'b', 'c', 'a', 'c']);
  assert.deepEqual((await df.select(col('c').nUnique()).collect()).getColumn('c').toArray(), [3]);
  assert.deepEqual((await df.select(col('c').str.upper()).collect()).getColumn('c').toArray(), ['B', 'A', 'B', 'C', 'A', 'C']);
});

test('the new methods refuse an option they do not know, in TypeScript and at run time', async () => {
  const df = frame();
  // @ts-expect-error a misspelled option is a type error
  assert.throws(() => df.dropNulls({ subsets: ['k'] }), /dropNulls: unknown option 'subsets' \(did you mean 'subset'\?\); dropNulls takes subset, how, thresh/);
  // @ts-expect-error
  assert.throws(() => df.valueCounts('k', { normalise: true }), /valueCounts: unknown option 'normalise' \(did you mean 'normalize'\?\)/);
  // @ts-expect-error
  assert.throws(() => col('s').str.contains('a', { case: false }), /str.contains: unknown option 'case'; str.contains takes regex/);
  // @ts-expect-error
  assert.throws(() => col('s').str.replace('a', 'b', { n: 1 }), /str.replace: unknown option 'n'/);
  // @ts-expect-error
  await assert.rejects(df.tail(2, { exector: null }), /tail: unknown option 'exector' \(did you mean 'executor'\?\)/);
  // @ts-expect-error
  await assert.rejects(df.describe({ percentiles: [0.1] }), /describe: unknown option 'percentiles'/);
});
