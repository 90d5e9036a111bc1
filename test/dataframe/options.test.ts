/**
 * Issue 13: an option a method does not know is an error, never silently
 * ignored: a TypeScript error for a literal (the @ts-expect-error lines
 * below fail the build if the types let it through) and a run-time error
 * naming the option and the method and listing the known ones (for
 * JavaScript callers and options built in variables).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { col, DataFrameError, fromPolars, LocalExecutor, readCsv, readParquet } from '../../src/dataframe/index.js';
import { tempDir, writeText } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

const tmp = tempDir('tessera-options-');
after(() => tmp.cleanup());

function unknownOption(method: string, option: string, listed: string[]): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DataFrameError, `a DataFrameError, got ${String(err)}`);
    assert.match(err.message, new RegExp(`^${method}: unknown option '${option}'`));
    for (const k of listed) assert.ok(err.message.includes(k), `${err.message} lists ${k}`);
    return true;
  };
}

test('every dataframe method with an options object refuses an option it does not know', async () => {
  const path = writeText(tmp.dir, 'a.csv', 'a,b\n1,x\n2,y\n');
  const df = fromPolars(pl.DataFrame({ a: [1, 2, 3], b: ['x', 'y', 'z'] }), { npartitions: 2 });
  // A variable of a wider type: what TypeScript cannot check.
  const bad = { usecol: ['a'] } as object;
  assert.throws(() => readCsv(path, bad), unknownOption('readCsv', 'usecol', ['blocksize', 'parseDates', 'usecols']));
  assert.throws(() => readCsv(path, bad), /did you mean 'usecols'\?/);
  assert.throws(() => readParquet(path, { filter: [] } as object), unknownOption('readParquet', 'filter', ['columns', 'filters']));
  assert.throws(() => fromPolars(pl.DataFrame({ a: [1] }), { nparts: 2 } as object), unknownOption('fromPolars', 'nparts', ['npartitions']));
  assert.throws(() => df.filter('a > 1', { local: {} } as object), unknownOption('filter', 'local', ['locals']));
  assert.throws(() => df.query('a > 1', { local: {} } as object), unknownOption('query', 'local', ['locals']));
  assert.throws(() => df.cast({ a: 'float64' }, { strct: false } as object), unknownOption('cast', 'strct', ['strict']));
  assert.throws(() => df.fillNull(0, { cols: ['a'] } as object), unknownOption('fillNull', 'cols', ['columns']));
  assert.throws(() => df.mapPartitions((f) => f, { metadata: {} } as object), unknownOption('mapPartitions', 'metadata', ['args', 'meta']));
  assert.throws(() => df.groupBy('a', { dropNa: false } as object), unknownOption('groupBy', 'dropNa', ['dropna']));
  assert.throws(() => df.join(df, { on: 'a', left_on: 'a' } as unknown as { on: string }), unknownOption('join', 'left_on', ['on', 'how', 'suffix', 'broadcast', 'nullsEqual']));
  assert.throws(() => df.sort('a', { ascending: false } as object), unknownOption('sort', 'ascending', ['descending', 'nullsLast']));
  assert.throws(() => df.repartition({ npartitions: 2, partition_size: 1 } as unknown as { npartitions: number }), unknownOption('repartition', 'partition_size', ['npartitions', 'partitionSize']));
  await assert.rejects(df.collect({ exectuor: null } as object), unknownOption('collect', 'exectuor', ['executor', 'onProgress']));
  await assert.rejects(df.persist({ progress: null } as object), unknownOption('persist', 'progress', ['executor', 'onProgress']));
  await assert.rejects(df.head(2, { n: 3 } as object), unknownOption('head', 'n', ['executor']));
  await assert.rejects(df.count({ x: 1 } as object), unknownOption('count', 'x', ['executor']));
  await assert.rejects(df.toParquet(`${tmp.dir}/p`, { partition_on: ['a'] } as object), unknownOption('toParquet', 'partition_on', ['compression', 'partitionOn']));
  await assert.rejects(df.toCsv(`${tmp.dir}/c`, { single_file: true } as object), unknownOption('toCsv', 'single_file', ['singleFile']));
  assert.throws(() => new LocalExecutor({ concurency: 2 } as object), unknownOption('LocalExecutor', 'concurency', ['concurrency']));
  // Options that are not an object at all.
  assert.throws(() => readCsv(path, ['a'] as object), /readCsv: options must be an object/);
});

test('the option types are exact: an unknown literal key does not compile', () => {
  const df = fromPolars(pl.DataFrame({ a: [1, 2] }));
  // Each call is type-checked, never run: the function is only defined.
  const neverRun = (): unknown[] => [
    // @ts-expect-error usecol is not a readCsv option
    readCsv('x.csv', { usecol: ['a'] }),
    // @ts-expect-error filter is not a readParquet option
    readParquet('x', { filter: [] }),
    // @ts-expect-error nparts is not a fromPolars option
    fromPolars(pl.DataFrame({ a: [1] }), { nparts: 2 }),
    // @ts-expect-error left_on is not a join option
    df.join(df, { on: 'a', left_on: 'a' }),
    // @ts-expect-error ascending is not a sort option
    df.sort('a', { ascending: false }),
    // @ts-expect-error dropNa is not a groupBy option
    df.groupBy('a', { dropNa: false }),
    // @ts-expect-error strct is not a cast option
    df.cast({ a: 'int64' }, { strct: false }),
    // @ts-expect-error cols is not a fillNull option
    df.fillNull(0, { cols: ['a'] }),
    // @ts-expect-error local is not a query option
    df.query('a > 1', { local: {} }),
    // @ts-expect-error exectuor is not an action option
    df.collect({ exectuor: null }),
    // @ts-expect-error n is not an action option
    df.head(1, { n: 1 }),
    // @ts-expect-error partition_on is not a toParquet option
    df.toParquet('out', { partition_on: ['a'] }),
    // @ts-expect-error single_file is not a toCsv option
    df.toCsv('out', { single_file: true }),
    // @ts-expect-error partition_size is not a repartition option
    df.repartition({ partition_size: '1MB' }),
    col('a'),
  ];
  assert.equal(typeof neverRun, 'function');
});
