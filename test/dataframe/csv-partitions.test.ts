import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { partitionCsvFile, planCsvPartitions, readCsvFileInfo } from '../../src/dataframe/io/csv-partitions.js';
import { readCsv, DataFrameError } from '../../src/dataframe/index.js';
import { QUOTED_CSV, SIMPLE_CSV, OTHER_HEADER_CSV, badRowCsv } from '../fixtures/dataframe/csv.js';
import { assertFramesEqual, tempDir, writeText, taxiData } from './helpers.js';

test('byte ranges cover the data exactly once and start at line starts', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeText(dir, 'simple.csv', SIMPLE_CSV);
    const bytes = readFileSync(path);
    const info = readCsvFileInfo(path, true);
    assert.equal(info.header, 'id,name,note,amount');
    for (const blocksize of [1, 2, 17, 64, 333, 1000, 4096, bytes.length]) {
      const parts = partitionCsvFile(info, { blocksize });
      assert.equal(parts[0]!.start, info.dataStart);
      assert.equal(parts[parts.length - 1]!.end, bytes.length);
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        assert.ok(p.end > p.start, `empty range at blocksize ${blocksize}`);
        if (i > 0) {
          assert.equal(p.start, parts[i - 1]!.end, 'ranges are contiguous');
          assert.equal(bytes[p.start - 1], 10, 'each range starts after a newline');
        }
      }
    }
  } finally {
    cleanup();
  }
});

test('partitions of one file reproduce exactly the rows of the whole file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeText(dir, 'simple.csv', SIMPLE_CSV);
    const whole = await readCsv(path, { blocksize: null }).collect();
    assert.equal(whole.height, 200);
    for (const blocksize of [1, 50, 257, 1000, 3000]) {
      const df = readCsv(path, { blocksize });
      assert.ok(blocksize > 3000 || df.npartitions > 1);
      assertFramesEqual(await df.collect(), whole, ['id'], `blocksize ${blocksize}`);
    }
  } finally {
    cleanup();
  }
});

test('quoted fields with commas, doubled quotes and newlines; CRLF; no final newline', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeText(dir, 'quoted.csv', QUOTED_CSV);
    const whole = await readCsv(path, { blocksize: null }).collect();
    assert.equal(whole.height, 7);
    const rows = whole.sort('id').toRecords() as Record<string, unknown>[];
    assert.equal(rows[1]!.name, 'beta, with comma');
    assert.equal(rows[1]!.note, 'two\nlines');
    assert.equal(rows[2]!.note, 'she said "hi"');
    assert.equal(rows[4]!.note, 'x,y\n\nz');
    assert.equal(rows[5]!.note, null);
    assert.equal(rows[6]!.note, 'last "one"');
    assert.equal(rows[6]!.amount, 7.125, 'the final line without a newline is read');
    const size = statSync(path).size;
    for (let blocksize = 1; blocksize <= size; blocksize += 3) {
      const df = readCsv(path, { blocksize, newlinesInQuotes: true });
      assertFramesEqual(await df.collect(), whole, ['id'], `blocksize ${blocksize}`);
    }
  } finally {
    cleanup();
  }
});

test('generated taxi files cut into many ranges keep every row once', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = await taxiData(dir, 3000, 2);
    const whole = await readCsv(`${data}/*.csv`, { blocksize: null }).collect();
    const split = readCsv(`${data}/*.csv`, { blocksize: 20_000 });
    assert.ok(split.npartitions >= 10, `npartitions ${split.npartitions}`);
    const parts = await split.collect();
    assert.equal(parts.height, 3000);
    assertFramesEqual(parts, whole, ['tpep_pickup_datetime', 'tpep_dropoff_datetime', 'total_amount', 'trip_distance', 'pickup_longitude'], 'taxi');
  } finally {
    cleanup();
  }
});

test('clear errors naming the file: missing files, header conflicts, bad rows', async () => {
  const { dir, cleanup } = tempDir();
  try {
    assert.throws(() => readCsv(`${dir}/nothing-*.csv`), (e: unknown) => e instanceof DataFrameError && /no files match/.test(e.message));
    assert.throws(() => readCsv(`${dir}/missing.csv`), (e: unknown) => e instanceof DataFrameError && e.message.includes('missing.csv'));
    const a = writeText(dir, 'a.csv', SIMPLE_CSV);
    const b = writeText(dir, 'b.csv', OTHER_HEADER_CSV);
    assert.throws(
      () => planCsvPartitions([a, b]),
      (e: unknown) => e instanceof DataFrameError && e.message.includes('a.csv') && e.message.includes('b.csv') && e.message.includes('comment'),
    );
    const bad = writeText(dir, 'bad.csv', badRowCsv(20_000));
    const df = readCsv(bad, { sampleBytes: 4096 });
    assert.equal(df.dtypes.v, 'int64');
    await assert.rejects(df.collect(), (e: unknown) => {
      assert.ok(e instanceof DataFrameError, String(e));
      assert.match(e.message, /bad\.csv/);
      assert.match(e.message, /not-a-number|oops/);
      assert.match(e.message, /dtypes/);
      return true;
    });
    // The fixes the message suggests work.
    assert.equal((await readCsv(bad, { sampleBytes: 4096, ignoreErrors: true }).count()), 20_001);
    assert.equal((await readCsv(bad, { dtypes: { k: 'string', v: 'string' } }).collect()).height, 20_001);
  } finally {
    cleanup();
  }
});

test('blocksize null keeps one partition per file; the default is 64 MiB', () => {
  const info = { path: '/x.csv', size: 200 * 1024 * 1024, header: 'a', dataStart: 2 };
  assert.deepEqual(partitionCsvFile(info, { blocksize: null }), [{ path: '/x.csv', start: 2, end: info.size }]);
  assert.deepEqual(partitionCsvFile(info, { blocksize: 0 }), [{ path: '/x.csv', start: 2, end: info.size }]);
  assert.equal(partitionCsvFile({ ...info, size: 1000 }, {}).length, 1);
});

test('globs across directories, null markers, header-less files, header-only files', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(`${dir}/sub/deeper`, { recursive: true });
    writeText(dir, 'sub/one.csv', 'a,b\n1,x\n2,NA\n');
    writeText(dir, 'sub/empty.csv', 'a,b\n');
    writeText(dir, 'sub/deeper/two.csv', 'a,b\n3,y\n');
    const all = readCsv(`${dir}/sub/**/*.csv`, { nullValues: ['NA'] });
    assert.equal(all.npartitions, 3);
    assert.deepEqual((await all.collect()).sort('a').toRecords(), [{ a: 1, b: 'x' }, { a: 2, b: null }, { a: 3, b: 'y' }]);
    assert.equal(await readCsv(`${dir}/sub/empty.csv`).count(), 0);
    writeText(dir, 'raw.txt', '5;q\n6;r');
    const named = readCsv(`${dir}/raw.txt`, { header: false, sep: ';', names: ['n', 's'] });
    assert.deepEqual(named.dtypes, { n: 'int64', s: 'string' });
    assert.deepEqual((await named.collect()).toRecords(), [{ n: 5, s: 'q' }, { n: 6, s: 'r' }]);
    assert.deepEqual(readCsv(`${dir}/raw.txt`, { header: false, sep: ';' }).columns, ['column_1', 'column_2']);
    assert.throws(() => readCsv(`${dir}/raw.txt`, { header: false, sep: ';', names: ['only'] }), /names gives 1 column names but .* has 2 columns/);
    assert.throws(() => readCsv(`${dir}/sub/one.csv`, { dtypes: { nope: 'int32' } }), /dtypes names column\(s\) 'nope' not in/);
  } finally {
    cleanup();
  }
});
