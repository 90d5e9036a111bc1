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
