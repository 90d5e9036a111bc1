/**
 * Issue 13, the I/O options that used to run and do nothing: readCsv's
 * usecols, readParquet's filters, toParquet's partitionOn (and reading hive
 * folders back), toCsv's singleFile and repartition's partitionSize. Run on
 * a LocalCluster with several partitions; the comparisons with pandas
 * itself are in pandas-oracle.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, LocalCluster } from '../../src/index.js';
import { col, DataFrameError, fromPolars, readCsv, readParquet, type DataFrame, type ParquetFilters, type PolarsDataFrame } from '../../src/dataframe/index.js';
import { explainPipeline } from '../../src/dataframe/engine/index.js';
import { Lowerer } from '../../src/dataframe/lower.js';
import { optimize } from '../../src/dataframe/plan.js';
import { tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

let cluster: LocalCluster;
let client: Client;
let tmp: { dir: string; cleanup: () => void };
/** 1200 rows over 4 partitions: id, year (3 values), month (2), s (strings with nulls), x (floats). */
let frame: DataFrame;
const N = 1200;

before(async () => {
  tmp = tempDir('tessera-io-options-');
  const ids = Array.from({ length: N }, (_, i) => i);
  frame = fromPolars(
    pl.DataFrame([
      pl.Series('id', ids, pl.Int64),
      pl.Series('year', ids.map((i) => 2015 + (i % 3)), pl.Int64),
      pl.Series('month', ids.map((i) => 1 + ((i >> 2) % 2)), pl.Int64),
      pl.Series('s', ids.map((i) => (i % 7 === 0 ? null : `s${i % 5}`)), pl.String),
      pl.Series('x', ids.map((i) => (i * 37) % 101 / 4), pl.Float64),
    ]),
    { npartitions: 4 },
  );
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  client = await Client.connect(cluster);
});

after(async () => {
  await client?.shutdown();
  await cluster?.close();
  tmp?.cleanup();
});

let fresh = 0;
function newDir(): string {
  const d = join(tmp.dir, `case-${fresh++}`);
  mkdirSync(d);
  return d;
}

function rows(df: PolarsDataFrame, by = 'id'): Record<string, unknown>[] {
  return df.sort(by).toRecords() as Record<string, unknown>[];
}

function isDataFrameError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DataFrameError, `a DataFrameError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

// ------------------------------------------------------------ usecols

test('readCsv usecols reads only those columns, in file order, and never parses the others', async () => {
  const dir = newDir();
  const lines = ['a,bad,b,c'];
  for (let i = 0; i < 500; i++) lines.push(`${i},${i === 321 ? 'oops' : i},s${i % 3},${i / 2}`);
  const path = join(dir, 'u.csv');
  writeFileSync(path, lines.join('\n') + '\n');
  const blocksize = 1500;
  // Read whole, column 'bad' (typed int64) fails on its one text value.
  await assert.rejects(readCsv(path, { blocksize, dtypes: { bad: 'int64' } }).collect(), /cannot read/);
  const df = readCsv(path, { blocksize, dtypes: { bad: 'int64' }, usecols: ['c', 'a'] });
  assert.ok(df.npartitions >= 4, `${df.npartitions} partitions`);
  assert.deepEqual(df.columns, ['a', 'c'], 'file order, as pandas');
  const got = await df.collect();
  assert.equal(got.height, 500);
  assert.deepEqual(got.columns, ['a', 'c']);
  assert.deepEqual(got.getColumn('c').toArray().slice(0, 3), [0, 0.5, 1]);
  // The projection is the reader's: each partition task parses two columns.
  const parts = new Lowerer().lower(optimize(df.plan));
  for (const p of parts) assert.deepEqual(p.pipeline.source.kind === 'csv' && p.pipeline.source.columns, ['a', 'c']);
  assert.match(df.explain(), /read-csv .* columns \[a, c\]/);
  // Counting and further selections stay within usecols.
  assert.equal(await df.count(), 500);
  assert.deepEqual((await df.select('c').head(2)).toRecords(), [{ c: 0 }, { c: 0.5 }]);
  assert.throws(() => df.select('b'), /not found|b/);
  assert.throws(() => readCsv(path, { usecols: ['a', 'zz'] }), isDataFrameError(/readCsv: usecols names column\(s\) 'zz' not in .*u\.csv; its columns are a, bad, b, c/));
  assert.throws(() => readCsv(path, { usecols: [] }), isDataFrameError(/usecols must be a non-empty list of column names.*a, bad, b, c/));
  // With header: false the names are the given ones.
  const plain = join(dir, 'plain.csv');
  writeFileSync(plain, '1,2,3\n4,5,6\n');
  assert.deepEqual((await readCsv(plain, { header: false, names: ['p', 'q', 'r'], usecols: ['r', 'p'] }).collect()).toRecords(), [{ p: 1, r: 3 }, { p: 4, r: 6 }]);
});

// ------------------------------------------------------------ filters

test('readParquet filters give the rows filtering after reading gives, and run inside the Parquet scan', async () => {
  const dir = join(newDir(), 'flat');
  await frame.toParquet(dir);
  const cases: [ParquetFilters, ReturnType<typeof col>][] = [
    [[['x', '>', 12]], col('x').gt(12)],
    [[['year', '==', 2016], ['s', 'in', ['s1', 's2']]], col('year').eq(2016).and(col('s').isIn(['s1', 's2']))],
    [[['s', 'not in', ['s1']], ['x', '<=', 3]], col('s').isIn(['s1']).not().and(col('x').ltEq(3))],
    [[['s', '!=', 's0']], col('s').neq('s0')],
    [[[['year', '=', 2015], ['month', '>=', 2]], [['x', '<', 1]]], col('year').eq(2015).and(col('month').gtEq(2)).or(col('x').lt(1))],
    [[], col('id').gtEq(0)],
  ];
  for (const [filters, expr] of cases) {
    const ours = await readParquet(dir, { filters }).collect();
    const after = await readParquet(dir).filter(expr).collect();
    assert.ok(ours.height > 0 && ours.height <= N, `${JSON.stringify(filters)}: ${ours.height} rows`);
    assert.deepEqual(rows(ours), rows(after), JSON.stringify(filters));
  }
  // pyarrow's rule: a null matches no term, so != drops the nulls of s too.
  const neq = await readParquet(dir, { filters: [['s', '!=', 's0']] }).collect();
  assert.equal(neq.getColumn('s').nullCount(), 0);
  // The predicate is in Polars' Parquet scan (applied while decoding, row groups skipped by statistics).
  const filtered = readParquet(dir, { filters: [['x', '>', 12], ['year', '==', 2016]] });
  const part = new Lowerer().lower(optimize(filtered.plan))[0]!;
  const plan = await explainPipeline(part.pipeline, [], { loadFunction: async () => assert.fail('no functions'), readRange: async () => assert.fail('no CSV') });
  assert.match(plan, /Parquet SCAN[\s\S]*SELECTION: .*col\("x"\)\) > \(12/, plan);
  // Mistakes are named.
  assert.throws(() => readParquet(dir, { filters: [['zz', '==', 1]] }), isDataFrameError(/names column 'zz'.*its columns are id, year, month, s, x/));
  assert.throws(() => readParquet(dir, { filters: [['x', '~', 1]] as unknown as ParquetFilters }), isDataFrameError(/unknown filter operator "~".*'not in'/));
  assert.throws(() => readParquet(dir, { filters: [['s', 'in', 's1']] }), isDataFrameError(/'in' takes a list of values/));
  assert.throws(() => readParquet(dir, { filters: [['x', '>', 'abc']] }), isDataFrameError(/filters .* do not fit the column types \(x: float64\).*cannot compare string/));
});

// ------------------------------------------------------------ partitionOn

test('toParquet partitionOn writes hive folders without the partition columns; readParquet restores them, typed', async () => {
  const out = join(newDir(), 'hive');
  const written = await frame.toParquet(out, { partitionOn: ['year', 'month'] });
  assert.deepEqual(readdirSync(out).sort(), ['year=2015', 'year=2016', 'year=2017']);
  for (const y of ['year=2015', 'year=2016', 'year=2017']) {
    assert.deepEqual(readdirSync(join(out, y)).sort(), ['month=1', 'month=2']);
    for (const m of ['month=1', 'month=2']) assert.deepEqual(readdirSync(join(out, y, m)).sort(), ['part.0.parquet', 'part.1.parquet', 'part.2.parquet', 'part.3.parquet']);
  }
  assert.equal(written.length, 24);
  assert.equal(written.reduce((s, w) => s + w.rows, 0), N);
  assert.ok(written.every((w) => existsSync(w.path) && w.path.startsWith(out)), 'results name the final paths');
  // One file alone has no partition columns.
  assert.deepEqual(readParquet(join(out, 'year=2016', 'month=2', 'part.1.parquet')).columns, ['id', 's', 'x']);
  const back = readParquet(out);
  assert.deepEqual(back.dtypes, { id: 'int64', s: 'string', x: 'float64', year: 'int64', month: 'int64' }, 'partition columns last, integers as integers');
  assert.equal(back.npartitions, 24);
  assert.deepEqual(rows(await back.collect()), rows(await frame.select('id', 's', 'x', 'year', 'month').collect()));
  // Only partition columns, or a count, still read every row.
  assert.equal(await back.count(), N);
  assert.deepEqual((await back.select('month', 'year').collect()).height, N);
  // A string partition column with nulls: URL-safe folders, null in its own folder, read back as strings.
  const byS = join(newDir(), 'by-s');
  await frame.toParquet(byS, { partitionOn: ['s'] });
  assert.deepEqual(readdirSync(byS).sort(), ['s=__HIVE_DEFAULT_PARTITION__', 's=s0', 's=s1', 's=s2', 's=s3', 's=s4']);
  const sBack = readParquet(byS);
  assert.equal(sBack.dtypes.s, 'string');
  assert.deepEqual(rows(await sBack.select('id', 'year', 'month', 'x', 's').collect()), rows(await frame.select('id', 'year', 'month', 'x', 's').collect()));
  // Values with characters that are not safe in a folder name round-trip.
  const odd = fromPolars(pl.DataFrame({ k: ['a/b', 'c=d', '50%', '007'], v: [1, 2, 3, 4] }), { npartitions: 2 });
  const oddDir = join(newDir(), 'odd');
  await odd.toParquet(oddDir, { partitionOn: ['k'] });
  assert.equal(readdirSync(oddDir).length, 4);
  const oddBack = readParquet(oddDir);
  assert.equal(oddBack.dtypes.k, 'string', "'007' and 'a/b' together are strings");
  assert.deepEqual(rows(await oddBack.collect(), 'v').map((r) => r.k), ['a/b', 'c=d', '50%', '007']);
  // Mistakes.
  await assert.rejects(frame.toParquet(join(newDir(), 'x'), { partitionOn: ['nope'] }), isDataFrameError(/partitionOn: column\(s\) 'nope' not found/));
  await assert.rejects(frame.select('year').toParquet(join(newDir(), 'x'), { partitionOn: ['year'] }), isDataFrameError(/without columns/));
});

test('readParquet filters on a partition column skip whole folders; results equal filtering after reading', async () => {
  const out = join(newDir(), 'hive');
  await frame.toParquet(out, { partitionOn: ['year', 'month'] });
  const only2016 = readParquet(out, { filters: [['year', '==', 2016]] });
  assert.equal(only2016.npartitions, 8, 'the 16 files of other years are never opened');
  assert.match(only2016.explain(), /read-parquet 8 file\(s\) in hive folders \[year, month\]/);
  assert.ok(new Lowerer().lower(optimize(only2016.plan)).every((p) => p.pipeline.source.kind === 'parquet' && p.pipeline.source.path.includes('year=2016')));
  const cases: [ParquetFilters, ReturnType<typeof col>, number][] = [
    [[['year', '==', 2016]], col('year').eq(2016), 8],
    [[['year', '>', 2015], ['month', '==', 2], ['x', '<', 10]], col('year').gt(2015).and(col('month').eq(2)).and(col('x').lt(10)), 8],
    [[[['year', '==', 2015], ['month', '==', 1]], [['year', '==', 2017], ['s', 'in', ['s1']]]], col('year').eq(2015).and(col('month').eq(1)).or(col('year').eq(2017).and(col('s').isIn(['s1']))), 12],
    [[['month', 'not in', [1]]], col('month').isIn([1]).not(), 12],
    [[['year', '==', 1999]], col('year').eq(1999), 1],
  ];
  for (const [filters, expr, files] of cases) {
    const df = readParquet(out, { filters });
    assert.equal(df.npartitions, files, `${JSON.stringify(filters)}: files read`);
    assert.deepEqual(rows(await df.collect()), rows(await readParquet(out).filter(expr).collect()), JSON.stringify(filters));
  }
  assert.equal((await readParquet(out, { filters: [['year', '==', 1999]] }).collect()).height, 0);
  // A filter written later (expression or query) skips folders the same way when the plan runs.
  const later = readParquet(out).query('year == 2017 and x > 3').filter(col('month').eq(1));
  assert.match(later.explain(), /read-parquet 4 file\(s\)/);
  assert.deepEqual(rows(await later.collect()), rows(await frame.filter(col('year').eq(2017).and(col('x').gt(3)).and(col('month').eq(1))).select('id', 's', 'x', 'year', 'month').collect()));
});

test('the write target takes key=value folders as Tessera output, and still refuses anything else', async () => {
  const parent = newDir();
  const out = join(parent, 'out');
  await frame.toParquet(out, { partitionOn: ['year'] });
  // Partitioned output replaces partitioned output, and plain part files replace it too.
  await frame.toParquet(out, { partitionOn: ['month'] });
  assert.deepEqual(readdirSync(out).sort(), ['month=1', 'month=2']);
  await frame.toParquet(out);
  assert.deepEqual(readdirSync(out).sort(), ['part.0.parquet', 'part.1.parquet', 'part.2.parquet', 'part.3.parquet']);
  await frame.toParquet(out, { partitionOn: ['year'] });
  assert.deepEqual(readdirSync(out).sort(), ['year=2015', 'year=2016', 'year=2017']);
  assert.deepEqual(readdirSync(parent), ['out'], 'no temporary folders left');
  // Someone else's file inside a partition folder, or a folder that is not key=value: refused, nothing deleted.
  writeFileSync(join(out, 'year=2016', 'notes.txt'), 'mine');
  await assert.rejects(frame.toParquet(out, { partitionOn: ['year'] }), isDataFrameError(/will not replace .*year=2016\/notes\.txt/));
  assert.equal(readFileSync(join(out, 'year=2016', 'notes.txt'), 'utf8'), 'mine');
  const other = join(parent, 'other');
  mkdirSync(join(other, 'plain'), { recursive: true });
  await assert.rejects(frame.toParquet(other, { partitionOn: ['year'] }), isDataFrameError(/will not replace .*plain\//));
  // A plan reading a hive tree may not write into it.
  const own = join(parent, 'own');
  await frame.toParquet(own, { partitionOn: ['year'] });
  await assert.rejects(readParquet(own).toParquet(own, { partitionOn: ['year'] }), isDataFrameError(/read from that folder/));
  assert.equal(await readParquet(own).count(), N);
});

// ------------------------------------------------------------ singleFile

test('toCsv singleFile writes one file: the header once, every partition in order, atomically', async () => {
  const parent = newDir();
  const path = join(parent, 'all.csv');
  // An empty partition in the middle and at the start must not add lines.
  const df = frame.filter(col('id').lt(100).or(col('id').gtEq(900)));
  const [result] = await df.toCsv(path, { singleFile: true });
  assert.deepEqual(readdirSync(parent), ['all.csv'], 'only the file, no temporary folder');
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  assert.equal(lines[0], 'id,year,month,s,x');
  assert.equal(lines.filter((l) => l.startsWith('id,')).length, 1, 'the header once');
  assert.equal(lines.length, 1 + 400 + 1, 'the rows and a final newline');
  assert.equal(lines.at(-1), '');
  assert.deepEqual(lines.slice(1, -1).map((l) => Number(l.split(',')[0])), [...Array(100).keys(), ...Array.from({ length: 300 }, (_, i) => 900 + i)], 'partitions in order');
  assert.deepEqual(result, { path, rows: 400, bytes: Buffer.byteLength(text) });
  // Read back: the same rows.
  assert.deepEqual(rows(await readCsv(path).collect()), rows(await df.collect()));
  // Written again: replaced whole.
  await frame.filter(col('id').lt(3)).toCsv(path, { singleFile: true });
  assert.equal(readFileSync(path, 'utf8').split('\n').length, 1 + 3 + 1);
  assert.deepEqual(readdirSync(parent), ['all.csv']);
  // A failing partition leaves the previous file as it was.
  const before = readFileSync(path);
  const failing = frame.mapPartitions((part) => {
    if (part.height > 0 && Number(part.getColumn('id').max()) >= 1000) throw new Error('fails on purpose');
    return part;
  });
  await assert.rejects(failing.toCsv(path, { singleFile: true }), /fails on purpose/);
  assert.ok(readFileSync(path).equals(before), 'the previous file is byte-identical');
  assert.deepEqual(readdirSync(parent), ['all.csv'], 'no temporary folder after a failure');
  // A folder at the path is refused, and so is writing over its own input.
  await assert.rejects(frame.toCsv(parent, { singleFile: true }), isDataFrameError(/cannot write a single file to .*: it is a folder/));
  await assert.rejects(readCsv(path).toCsv(path, { singleFile: true }), isDataFrameError(/read from that file/));
  // Without singleFile, a folder of part files as before.
  const folder = join(parent, 'parts');
  await frame.toCsv(folder);
  assert.equal(readdirSync(folder).length, 4);
});

// ------------------------------------------------------------ partitionSize

test('repartition({ partitionSize }) makes partitions of about that many bytes, rows in order', async () => {
  const ids = Array.from({ length: 60_000 }, (_, i) => i);
  const big = fromPolars(pl.DataFrame([pl.Series('id', ids, pl.Int64), pl.Series('v', ids.map((i) => i / 7), pl.Float64)]), { npartitions: 3 });
  const total = (big.plan.kind === 'persisted' ? big.plan.parts : []).reduce((s, p) => s + p.bytes!, 0);
  assert.ok(total > 900_000 && total < 1_100_000, `about 16 bytes a row: ${total}`);
  for (const [size, expected] of [[100_000, 12], ['250kB', 6], [400_000, 3], ['2MB', 1]] as const) {
    const r = big.repartition({ partitionSize: size });
    assert.equal(r.npartitions, expected, `partitionSize ${size}`);
    const persisted = await r.persist();
    const bytes = persisted.plan.kind === 'persisted' ? persisted.plan.parts.map((p) => p.bytes!) : [];
    const target = typeof size === 'number' ? size : size === '250kB' ? 250_000 : 2_000_000;
    for (const b of bytes) assert.ok(b <= target * 1.02 && b >= Math.min(total, target) / 2.5, `partitionSize ${size}: a partition of ${b} bytes`);
    const all = await persisted.collect();
    assert.ok(all.getColumn('id').toArray().every((v, i) => Number(v) === i), 'row order kept');
  }
  // Small partitions are joined: 12 of ~83 kB into ~250 kB.
  const small = (await big.repartition(12).persist()).repartition({ partitionSize: '250kB' });
  assert.equal(small.npartitions, 4);
  assert.match(small.explain(), /repartition into 4 of about 250000 bytes/);
  // From a file: CSV byte ranges; from Parquet: row counts times measured bytes per row.
  const dir = newDir();
  const csv = join(dir, 'big.csv');
  await big.toCsv(csv, { singleFile: true });
  const fromCsv = readCsv(csv, { blocksize: null }).repartition({ partitionSize: 200_000 });
  assert.ok(fromCsv.npartitions >= 4, `${fromCsv.npartitions} partitions from one CSV file`);
  assert.equal(await fromCsv.count(), 60_000);
  await big.toParquet(join(dir, 'pq'));
  const fromParquet = readParquet(join(dir, 'pq')).repartition({ partitionSize: 250_000 });
  assert.equal(fromParquet.npartitions, 6);
  const pqBytes = (await fromParquet.persist()).plan;
  assert.ok(pqBytes.kind === 'persisted' && pqBytes.parts.every((p) => p.bytes! <= 255_000), 'Parquet estimates hold');
  // One of the two options, and a size that reads.
  assert.throws(() => big.repartition({ npartitions: 2, partitionSize: 10 }), isDataFrameError(/either npartitions or partitionSize, not both/));
  assert.throws(() => big.repartition({}), isDataFrameError(/either npartitions or partitionSize/));
  assert.throws(() => big.repartition({ partitionSize: 'lots' }), isDataFrameError(/cannot read the size 'lots'/));
  assert.throws(() => big.repartition({ partitionSize: 0 }), isDataFrameError(/partitionSize must be a positive/));
});
