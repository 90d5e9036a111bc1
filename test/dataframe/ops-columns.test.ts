/**
 * The everyday column-level operations of issue 13 part 3 (dropNulls, the
 * .str and .dt namespaces, valueCounts, nLargest/nSmallest, tail, whole-frame
 * reductions and describe, the category type) and the CSV datetime fix:
 * behaviour over several partitions and the errors for bad input. Their
 * agreement with pandas itself is checked in pandas-oracle.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { col, readCsv, DataFrameError } from '../../src/dataframe/index.js';
import { tempDir, writeText } from './helpers.js';

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
