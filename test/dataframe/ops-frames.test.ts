/**
 * Frame-level operations: joins of every how (which side may be broadcast,
 * filters over them), concat, and window operations across partitions.
 * pandas' own answers for these are in pandas-oracle.test.ts; here: the
 * plan choices, the errors, and the cases the oracle's data does not reach.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { col, concat, cumCount, fromPolars, lit, DataFrameError, type DataFrame, type PolarsDataFrame } from '../../src/dataframe/index.js';
import { random } from '../fixtures/random.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

/** Rows as JSON strings, sorted: a result compared as a set of rows (duplicates counted). */
function rowSet(df: PolarsDataFrame): string[] {
  return (df.toRecords() as Record<string, unknown>[]).map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))).sort();
}

/** Same rows in the same order; floats within 1e-12 relative (a running sum adds per-partition totals in another order). */
function assertSameRows(actual: PolarsDataFrame, expected: PolarsDataFrame, what: string): void {
  assert.deepEqual(actual.columns, expected.columns, `${what}: columns`);
  const a = actual.toRecords() as Record<string, unknown>[];
  const e = expected.toRecords() as Record<string, unknown>[];
  assert.equal(a.length, e.length, `${what}: rows`);
  a.forEach((row, i) => {
    for (const c of actual.columns) {
      const x = row[c];
      const y = e[i]![c];
      const close = typeof x === 'number' && typeof y === 'number' && Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y));
      if (!close) assert.deepEqual(x, y, `${what}: row ${i} column ${c}`);
    }
  });
}

function keyed(seed: number, rows: number, keys: number): PolarsDataFrame {
  const u = random(seed);
  const k: (number | null)[] = [];
  const v: number[] = [];
  for (let i = 0; i < rows; i++) {
    k.push(u() < 0.1 ? null : Math.floor(u() * keys));
    v.push(i);
  }
  return pl.DataFrame({ k: pl.Series('k', k, pl.Int64), v: pl.Series('v', v, pl.Int64) });
}

const big = keyed(1, 400, 30);
const small = keyed(2, 40, 40).rename({ v: 'w' });

async function oneProcess(frame: (l: DataFrame, r: DataFrame) => DataFrame): Promise<PolarsDataFrame> {
  return frame(fromPolars(big), fromPolars(small)).collect();
}

test('joins: each how broadcasts only a side whose unmatched rows stay once, and equals the one-partition join', async () => {
  const cases: { how: 'inner' | 'left' | 'right' | 'outer'; bigLeft: boolean; plan: RegExp }[] = [
    { how: 'inner', bigLeft: true, plan: /broadcast right/ },
    { how: 'inner', bigLeft: false, plan: /broadcast left/ },
    { how: 'left', bigLeft: true, plan: /broadcast right/ },
    { how: 'left', bigLeft: false, plan: /hash shuffle/ },
    { how: 'right', bigLeft: true, plan: /hash shuffle/ },
    { how: 'right', bigLeft: false, plan: /broadcast left/ },
    { how: 'outer', bigLeft: true, plan: /hash shuffle/ },
    { how: 'outer', bigLeft: false, plan: /hash shuffle/ },
  ];
  for (const c of cases) {
    const b = fromPolars(big, { npartitions: 5 });
    const s = fromPolars(small);
    const ours = c.bigLeft ? b.join(s, { on: 'k', how: c.how }) : s.join(b, { on: 'k', how: c.how });
    assert.match(ours.explain(), c.plan, `${c.how} join, big side ${c.bigLeft ? 'left' : 'right'}`);
    const expected = await oneProcess((l, r) => (c.bigLeft ? l.join(r, { on: 'k', how: c.how }) : r.join(l, { on: 'k', how: c.how })));
    const got = await ours.collect();
    assert.deepEqual(got.columns, expected.columns, `${c.how}: columns`);
    assert.deepEqual(rowSet(got), rowSet(expected), `${c.how} join, big side ${c.bigLeft ? 'left' : 'right'}`);
  }
  // Both sides in one partition: one join, whatever the how.
  assert.match(fromPolars(big).join(fromPolars(small), { on: 'k', how: 'outer' }).explain(), /broadcast right/);
});

test('joins: an outer join of two single-partition sides is computed once; the one-process join is checked by hand', async () => {
  const l = pl.DataFrame({ k: pl.Series('k', [1, 2, null], pl.Int64), x: pl.Series('x', [10, 20, 30], pl.Int64) });
  const r = pl.DataFrame({ rk: pl.Series('rk', [2, 3, null], pl.Int64), x: pl.Series('x', [5, 6, 7], pl.Int64) });
  const out = await fromPolars(l).join(fromPolars(r), { leftOn: 'k', rightOn: 'rk', how: 'outer' }).collect();
  assert.deepEqual(out.columns, ['k', 'x', 'rk', 'x_right']);
  assert.deepEqual(rowSet(out), rowSet(pl.DataFrame({
    k: pl.Series('k', [1, 2, null, null], pl.Int64),
    x: pl.Series('x', [10, 20, 30, null], pl.Int64),
    rk: pl.Series('rk', [null, 2, null, 3], pl.Int64),
    x_right: pl.Series('x_right', [null, 5, 7, 6], pl.Int64),
  })));
});

test('joins: a filter above a right or outer join stays above it where moving it would keep unmatched rows', async () => {
  const b = fromPolars(big, { npartitions: 3 });
  const s = fromPolars(small, { npartitions: 2 });
  for (const how of ['left', 'right', 'outer'] as const) {
    const onLeft = b.join(s, { on: 'k', how }).filter(col('v').lt(200));
    const onRight = b.join(s, { on: 'k', how }).filter(col('w').lt(20));
    const whole = await b.join(s, { on: 'k', how }).collect();
    assert.deepEqual(rowSet(await onLeft.collect()), rowSet(whole.filter(pl.col('v').lt(200))), `${how}: filter on a left column`);
    assert.deepEqual(rowSet(await onRight.collect()), rowSet(whole.filter(pl.col('w').lt(20))), `${how}: filter on a right column`);
  }
});

test('joins: bad key options say what to pass', () => {
  const b = fromPolars(big, { npartitions: 2 });
  const s = fromPolars(small, { npartitions: 2 });
  const err = (re: RegExp) => (e: unknown) => e instanceof DataFrameError && re.test(e.message);
  assert.throws(() => b.join(s, { on: 'k', leftOn: 'k', rightOn: 'k' }), err(/either on, or leftOn with rightOn/));
  assert.throws(() => b.join(s, { leftOn: 'k' }), err(/leftOn: 'a', rightOn: 'b'/));
  assert.throws(() => b.join(s, { leftOn: ['k', 'v'], rightOn: ['k'] }), err(/leftOn names 2 column\(s\) but rightOn 1/));
  assert.throws(() => b.join(s, { on: 'k', how: 'cross' as 'inner' }), err(/how must be one of 'inner', 'left', 'right', 'outer'/));
  assert.throws(() => b.join(s, { leftOn: 'v', rightOn: 'nope' }), err(/'nope' not found/));
  assert.throws(() => b.join(s.cast({ k: 'float64' }), { on: 'k' }), err(/key 'k' is int64 on the left but float64 on the right/));
  // The right 'v' would become 'v_right', a left column's name already.
  assert.throws(() => b.withColumns(col('v').alias('v_right')).join(s.rename({ w: 'v' }), { on: 'k' }), err(/two columns named 'v_right'; pass another suffix/));
  assert.throws(() => b.join(s, { on: 'k', how: 'outer', broadcast: true }), err(/broadcast: true cannot be used for this outer join of 2 and 2 partitions/));
  assert.throws(() => b.join(s, { on: 'k', hw: 'left' } as never), err(/unknown option 'hw' \(did you mean 'how'\?\)/));
});

test('concat keeps every partition where it is: no task moves rows, and head reads only the first frame', async () => {
  const a = fromPolars(big, { npartitions: 3 });
  const b = fromPolars(small.rename({ w: 'v' }), { npartitions: 2 });
  const both = concat([a, b]);
  assert.equal(both.npartitions, 5);
  const plan = both.explain();
  assert.match(plan, /concat 2 frames/);
  assert.doesNotMatch(plan, /shuffle|repartition/);
  const got = await both.collect();
  assert.deepEqual(got.toRecords(), pl.concat([big, small.rename({ w: 'v' })]).toRecords());
  // Filters and projections reach every frame.
  const filtered = await concat([a, b.select('v', 'k')]).filter(col('v').lt(10)).select('v').collect();
  assert.deepEqual(filtered.getColumn('v').toArray().map(Number), [...Array(10).keys(), ...Array(10).keys()]);
  assert.equal(await concat([a, b]).count(), 440);
});

test('concat unifies types like pandas where they have a common type, and names the column otherwise', async () => {
  const ints = fromPolars(pl.DataFrame({ a: pl.Series('a', [1, 2], pl.Int32), b: pl.Series('b', [1, 2], pl.UInt32) }));
  const wider = fromPolars(pl.DataFrame({ a: pl.Series('a', [3], pl.Int64), b: pl.Series('b', [-3], pl.Int8) }));
  const floats = fromPolars(pl.DataFrame({ a: pl.Series('a', [0.5], pl.Float32) }));
  assert.deepEqual(concat([ints, wider]).dtypes, { a: 'int64', b: 'int64' });
  const mixed = concat([ints, floats]);
  assert.deepEqual(mixed.dtypes, { a: 'float64', b: 'uint32' });
  assert.deepEqual((await mixed.collect()).toRecords(), [{ a: 1, b: 1 }, { a: 2, b: 2 }, { a: 0.5, b: null }]);
  const strings = fromPolars(pl.DataFrame({ a: ['x'] }));
  assert.throws(() => concat([ints, floats, strings]), (e: unknown) => e instanceof DataFrameError &&
    /column 'a' is int32 \(frame 0\), float32 \(frame 1\), string \(frame 2\), which have no common type; cast one of them first/.test(e.message));
  assert.throws(() => concat([]), /concat needs at least one frame/);
  assert.throws(() => concat([ints, lit(1) as never]), /item 1 is not a DataFrame/);
  assert.equal(concat([ints]), ints);
});

test('window functions across partitions: tiny and empty partitions, negative shifts, head, equal to one partition', async () => {
  const u = random(5);
  const x = Array.from({ length: 300 }, () => (u() < 0.1 ? null : Math.round(u() * 1000) / 10));
  const frame = pl.DataFrame({ i: pl.Series('i', Array.from({ length: 300 }, (_, i) => i), pl.Int64), x: pl.Series('x', x, pl.Float64) });
  const exprs = [
    col('x').shift(3).alias('s3'), col('x').shift(-7).alias('lead7'), col('x').diff(2).alias('d2'), col('x').cumSum().alias('cs'),
    col('x').cumMax().alias('cmax'), col('x').cumMin().alias('cmin'), col('x').rolling(9).sum().alias('r9'), col('x').rolling(4, { minPeriods: 1 }).max().alias('rmax'),
  ];
  // Most partitions empty after the filter: halos and totals pass through them.
  const keep = col('i').mod(17).lt(3).or(col('i').gt(250));
  const expected = await fromPolars(frame).filter(keep).withColumns(...exprs).collect();
  const many = fromPolars(frame, { npartitions: 60 }).filter(keep).withColumns(...exprs);
  const plan = many.explain();
  assert.match(plan, /window \[.*\] \(8 row\(s\) from before each partition, 7 row\(s\) from after, 3 total\(s\) carried\)/);
  assert.doesNotMatch(plan, /shuffle/);
  assertSameRows(await many.collect(), expected, 'collect');
  assertSameRows(await many.head(20), expected.head(20), 'head');
  assert.equal(await many.count(), expected.height);
});

test('window functions are refused where they would be computed per partition, with what to do instead', () => {
  const f = fromPolars(big, { npartitions: 3 });
  const err = (re: RegExp) => (e: unknown) => e instanceof DataFrameError && re.test(e.message);
  assert.throws(() => f.filter(col('v').shift(1).gt(3)), err(/reads neighbouring rows; compute it first with withColumns/));
  assert.throws(() => f.groupBy('k').agg(col('v').cumSum().sum()), err(/reads neighbouring rows, which may be in other partitions/));
  assert.throws(() => f.select(col('v').cumSum().shift(1)), err(/a window function of another .* is not supported; compute the inner one first/));
  assert.throws(() => f.select(col('v').shift(1), col('v').sum()), err(/aggregates the whole frame; compute window functions and aggregations in separate steps/));
  assert.throws(() => col('v').rolling(0), err(/window must be a positive integer/));
  assert.throws(() => col('v').rolling(3, { minPeriods: 4 }), err(/minPeriods must be an integer from 1 to the window \(3\)/));
  assert.throws(() => col('v').rolling(3, { minPeriod: 1 } as never), err(/unknown option 'minPeriod'/));
  assert.throws(() => col('v').shift(1.5), err(/periods must be an integer/));
});

test('per-group window functions (.over): equal to one partition with empty partitions between, and their errors', async () => {
  const exprs = [
    col('v').shift(2).over('k').alias('s2'), col('v').shift(-1).over('k').alias('lead'), col('v').cumSum().over('k').alias('cs'),
    col('v').cumMin().over('k').alias('cmin'), col('v').rolling(3).sum().over('k').alias('r3'), col('v').diff(1).alias('d_all'),
    cumCount().over('k').alias('n_before'), cumCount().alias('row'),
  ];
  const keep = col('v').mod(50).lt(20);
  const expected = await fromPolars(big).filter(keep).withColumns(...exprs).collect();
  const many = fromPolars(big, { npartitions: 40 }).filter(keep).withColumns(...exprs);
  // One step per set of keys: the per-group halo is the last rows of each group.
  assert.equal(many.explain().match(/window \[/g)?.length, 2);
  assertSameRows(await many.collect(), expected, 'per group');
  const f = fromPolars(big, { npartitions: 2 });
  const err = (re: RegExp) => (e: unknown) => e instanceof DataFrameError && re.test(e.message);
  assert.throws(() => col('v').add(1).over('k'), err(/over\(\) applies to a window function/));
  assert.throws(() => f.withColumns(col('v').shift(1).over('k').sub(col('v').shift(1)).alias('z')), err(/mixes window functions over different groups \(k and the whole frame\)/));
  assert.throws(() => f.withColumns(col('v').shift(1).over('nope')), err(/over: column\(s\) 'nope' not found/));
});
