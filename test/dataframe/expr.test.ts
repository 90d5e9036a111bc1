import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { col, lit, len, when, Expr, fromPolars, DataFrameError, type PolarsDataFrame } from '../../src/dataframe/index.js';
import { columnsOf, outputName } from '../../src/dataframe/expr.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

function sample(): PolarsDataFrame {
  return pl
    .DataFrame({
      i: [1, -7, 8, null],
      f: [1.5, -2.25, 0.004, 10],
      s: ['a', 'b', null, 'd'],
      t0: [new Date(Date.UTC(2015, 0, 3, 10, 20)), new Date(Date.UTC(2015, 5, 6, 23, 59)), new Date(Date.UTC(2016, 1, 29, 0, 0)), new Date(Date.UTC(2015, 11, 31, 12, 0))],
      t1: [new Date(Date.UTC(2015, 0, 3, 10, 50)), new Date(Date.UTC(2015, 5, 7, 0, 9)), new Date(Date.UTC(2016, 1, 29, 0, 0, 1)), new Date(Date.UTC(2016, 0, 1, 12, 0))],
    })
    .withColumns(pl.col('i').cast(pl.Int32), pl.col('f').cast(pl.Float32), pl.col('t0').cast(pl.Datetime('ms')), pl.col('t1').cast(pl.Datetime('ms')));
}

async function evaluate(...exprs: Expr[]): Promise<PolarsDataFrame> {
  return fromPolars(sample(), { npartitions: 2 }).select(...exprs).collect();
}

function values(df: PolarsDataFrame, name: string): unknown[] {
  return df.getColumn(name).toArray() as unknown[];
}

test('expressions are plain JSON and rebuild to the same expression', () => {
  const e = when(col('a').gt(1).and(col('b').isNull().not())).then(col('c').mul(2)).otherwise(lit(0)).alias('z');
  const json = JSON.parse(JSON.stringify(e));
  assert.deepEqual(json, e.node);
  assert.equal(Expr.fromJSON(json).toString(), e.toString());
  assert.equal(outputName(e.node), 'z');
  assert.deepEqual([...columnsOf(e.node)].sort(), ['a', 'b', 'c']);
  assert.equal(outputName(col('x').add(col('y')).node), 'x');
  assert.equal(outputName(lit(1).node), 'literal');
});

test('arithmetic, including true and floor division and modulo', async () => {
  const df = await evaluate(
    col('i').add(1).alias('add'),
    col('i').sub(col('i')).alias('sub'),
    col('i').mul(3).alias('mul'),
    col('i').div(2).alias('div'),
    col('i').floorDiv(2).alias('fdiv'),
    col('i').mod(3).alias('mod'),
    col('f').pow(2).alias('pow'),
  );
  assert.deepEqual(values(df, 'add'), [2, -6, 9, null]);
  assert.deepEqual(values(df, 'sub'), [0, 0, 0, null]);
  assert.deepEqual(values(df, 'mul'), [3, -21, 24, null]);
  assert.deepEqual(values(df, 'div'), [0.5, -3.5, 4, null]);
  assert.deepEqual(values(df, 'fdiv'), [0, -4, 4, null]);
  assert.deepEqual(values(df, 'mod'), [1, 2, 2, null]);
  const pow = values(df, 'pow') as number[];
  assert.ok(Math.abs(pow[1]! - 5.0625) < 1e-6);
});

test('untyped numeric literals take the other operand\'s type, as in Python Polars', async () => {
  const df = await evaluate(
    col('i').add(1).alias('int_plus_int'),
    col('f').mul(2).alias('f32_times_int'),
    col('f').div(0.01).alias('f32_div_float'),
    col('i').mul(1.5).alias('int_times_float'),
    col('i').div(2).alias('int_div_int'),
    lit(3).alias('lone_int'),
    lit(2.5).alias('lone_float'),
    col('f').mul(lit(2, 'float64')).alias('typed_literal'),
  );
  assert.deepEqual(fromPolars(df).dtypes, {
    int_plus_int: 'int32',
    f32_times_int: 'float32',
    f32_div_float: 'float32',
    int_times_float: 'float64',
    int_div_int: 'float64',
    lone_int: 'int32',
    lone_float: 'float64',
    typed_literal: 'float64',
  });
});

test('comparisons, boolean logic, null handling, membership', async () => {
  const df = await evaluate(
    col('i').gt(0).alias('gt'),
    col('i').ltEq(1).alias('lte'),
    col('i').eq(8).or(col('i').neq(-7).not()).alias('or'),
    col('i').isNull().alias('isnull'),
    col('i').fillNull(0).alias('filled'),
    col('s').fillNull('zz').alias('sfilled'),
    col('i').isIn([1, 8]).alias('isin'),
    col('s').eq('b').alias('streq'),
  );
  assert.deepEqual(values(df, 'gt'), [true, false, true, null]);
  assert.deepEqual(values(df, 'lte'), [true, true, false, null]);
  assert.deepEqual(values(df, 'or'), [false, true, true, null]);
  assert.deepEqual(values(df, 'isnull'), [false, false, false, true]);
  assert.deepEqual(values(df, 'filled'), [1, -7, 8, 0]);
  assert.deepEqual(values(df, 'sfilled'), ['a', 'b', 'zz', 'd']);
  assert.deepEqual(values(df, 'isin'), [true, false, true, null]);
  assert.deepEqual(values(df, 'streq'), [false, true, null, false]);
});

test('casts, math functions and rounding', async () => {
  const df = await evaluate(
    col('i').cast('float64').alias('c_f64'),
    col('f').cast('int32', false).alias('c_i32'),
    col('i').cast('string').alias('c_str'),
    col('i').cast('bool').alias('c_bool'),
    col('f').floor().alias('floor'),
    col('f').abs().alias('abs'),
    col('f').round(1).alias('round'),
    col('f').cast('float64').sqrt().alias('sqrt'),
    col('f').cast('float64').sin().alias('sin'),
    col('f').cast('float64').cos().alias('cos'),
    lit(0.5, 'float64').arcsin().alias('asin'),
    col('s').cast('string').alias('c_s'),
  );
  assert.deepEqual(values(df, 'c_f64'), [1, -7, 8, null]);
  assert.deepEqual(values(df, 'c_i32'), [1, -2, 0, 10]);
  assert.deepEqual(values(df, 'c_str'), ['1', '-7', '8', null]);
  assert.deepEqual(values(df, 'c_bool'), [true, true, true, null]);
  assert.deepEqual(values(df, 'floor'), [1, -3, 0, 10]);
  assert.deepEqual(values(df, 'abs'), [1.5, 2.25, Math.fround(0.004), 10]);
  assert.deepEqual(values(df, 'round'), [1.5, Math.fround(-2.2), 0, 10]);
  const sqrt = values(df, 'sqrt') as number[];
  assert.ok(Math.abs(sqrt[0]! - Math.sqrt(1.5)) < 1e-12 && Number.isNaN(sqrt[1]));
  assert.ok(Math.abs((values(df, 'sin') as number[])[0]! - Math.sin(1.5)) < 1e-12);
  assert.ok(Math.abs((values(df, 'cos') as number[])[0]! - Math.cos(1.5)) < 1e-12);
  assert.ok(Math.abs((values(df, 'asin') as number[])[0]! - Math.asin(0.5)) < 1e-12);
});

test('datetime parts and differences of datetimes', async () => {
  const df = await evaluate(
    col('t0').dt.year().alias('year'),
    col('t0').dt.month().alias('month'),
    col('t0').dt.day().alias('day'),
    col('t0').dt.hour().alias('hour'),
    col('t0').dt.minute().alias('minute'),
    col('t0').dt.weekday().alias('weekday'),
    col('t1').sub(col('t0')).alias('diff'),
    col('t1').sub(col('t0')).cast('int64').alias('diff_ms'),
    col('t0').cast('datetime[us]').alias('as_us'),
  );
  assert.deepEqual(values(df, 'year'), [2015, 2015, 2016, 2015]);
  assert.deepEqual(values(df, 'month'), [1, 6, 2, 12]);
  assert.deepEqual(values(df, 'day'), [3, 6, 29, 31]);
  assert.deepEqual(values(df, 'hour'), [10, 23, 0, 12]);
  assert.deepEqual(values(df, 'minute'), [20, 59, 0, 0]);
  // 2015-01-03 was a Saturday: ISO weekday 6.
  assert.deepEqual(values(df, 'weekday'), [6, 6, 1, 4]);
  assert.equal(fromPolars(df).dtypes.diff, 'duration[ms]');
  assert.deepEqual((values(df, 'diff_ms') as bigint[]).map(Number), [30 * 60_000, 10 * 60_000, 1000, 86_400_000]);
  assert.equal(fromPolars(df).dtypes.as_us, 'datetime[us]');
});

test('when/then/otherwise, chained, with and without otherwise', async () => {
  const df = await evaluate(
    when(col('i').gt(5)).then(lit('big')).when(col('i').gt(0)).then(lit('small')).otherwise(lit('neg')).alias('size'),
    when(col('f').gt(1)).then(1).otherwise(0).alias('flag'),
    when(col('f').gt(1)).then(col('f')).alias('f_or_null'),
  );
  assert.deepEqual(values(df, 'size'), ['small', 'neg', 'big', 'neg']);
  assert.deepEqual(values(df, 'flag'), [1, 0, 0, 1]);
  assert.equal(fromPolars(df).dtypes.flag, 'int32');
  assert.deepEqual(values(df, 'f_or_null'), [1.5, null, null, 10]);
});

test('unknown columns and bad arguments fail when the expression is used, naming the column', () => {
  const df = fromPolars(sample());
  assert.throws(() => df.select(col('nope')), (e: unknown) => e instanceof DataFrameError && /'nope' not found/.test(e.message));
  assert.throws(() => df.filter(col('nope').gt(1)), /'nope' not found/);
  assert.throws(() => df.withColumns(col('i').sum()), /aggregates/);
  assert.throws(() => col('i').cast('decimal' as never), /unknown data type 'decimal'/);
  assert.throws(() => df.groupBy('i').agg(col('f').add(1)), /one aggregation/);
  assert.ok(len());
});

test('strings compared with datetimes are read as datetimes, as in pandas queries', async () => {
  const df = fromPolars(sample(), { npartitions: 2 });
  assert.equal(await df.query("t0 > '2015-06-06'").count(), 3);
  assert.equal(await df.query("t0 >= '2015-06-06 23:59:00' and t0 < '2016-01-01'").count(), 2);
  assert.equal(await df.filter(col('t1').eq('2016-02-29T00:00:01')).count(), 1);
  // Checked when the plan is built, before anything runs.
  assert.throws(() => df.query("t0 > 'yesterday'"), /cannot read 'yesterday' as a datetime/);
});
