import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCsv, col } from '../../src/dataframe/index.js';
import { generateDemoData, NYC_TAXI_2015_COLUMNS } from '../../src/tools/demo-data/index.js';
import { run } from '../../src/cli/demo-data.js';
import { tempDir } from '../dataframe/helpers.js';

test('generated files have the 2015 header, the asked row count, and the same bytes for the same seed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const a = await generateDemoData({ rows: 30_001, files: 3, out: join(dir, 'a'), seed: 5, threads: 1 });
    const b = await generateDemoData({ rows: 30_001, files: 3, out: join(dir, 'b'), seed: 5, threads: 2 });
    const c = await generateDemoData({ rows: 30_001, files: 3, out: join(dir, 'c'), seed: 6, threads: 1 });
    assert.equal(a.rows, 30_001);
    assert.deepEqual(readdirSync(join(dir, 'a')).sort(), ['yellow_tripdata_2015-01.csv', 'yellow_tripdata_2015-02.csv', 'yellow_tripdata_2015-03.csv']);
    for (const f of readdirSync(join(dir, 'a'))) {
      const x = readFileSync(join(dir, 'a', f));
      assert.ok(x.equals(readFileSync(join(dir, 'b', f))), `${f}: same seed, same bytes (whatever the thread count)`);
      assert.ok(!x.equals(readFileSync(join(dir, 'c', f))), `${f}: another seed, other bytes`);
      assert.equal(x.toString('latin1', 0, x.indexOf(10)), NYC_TAXI_2015_COLUMNS.join(','));
    }
    const lines = readFileSync(a.files[0]!, 'latin1').trimEnd().split('\n');
    assert.equal(lines.length, 1 + 10_001);
    assert.ok(lines.slice(1).every((l) => l.split(',').length === 19));
    assert.ok(lines.slice(1).every((l) => l.slice(2, 9) === '2015-01'), 'file 0 holds January');
  } finally {
    cleanup();
  }
});

test('the data has realistic values and the real data\'s mess', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await generateDemoData({ rows: 60_000, files: 1, out: dir, seed: 1, threads: 1 });
    const df = readCsv(dir);
    const all = await df.collect();
    const count = async (q: string) => df.query(q).count();
    assert.ok((await count('pickup_longitude == 0 and pickup_latitude == 0')) > 300, 'zero coordinates');
    assert.ok((await count('fare_amount < 0')) > 5, 'negative fares');
    assert.ok((await count('fare_amount > 500')) > 0, 'huge fares');
    assert.ok((await count('passenger_count == 0')) > 50, 'zero passengers');
    assert.ok((await count('passenger_count >= 7')) > 0, 'seven or more passengers');
    assert.ok((await df.filter(col('RateCodeID').isNull()).count()) > 10, 'empty rate codes');
    assert.ok((await df.filter(col('passenger_count').isNull()).count()) > 5, 'empty passenger counts');
    const fares = all.getColumn('fare_amount');
    assert.ok((fares.median() as number) > 6 && (fares.median() as number) < 15, `median fare ${fares.median()}`);
    const dist = all.getColumn('trip_distance');
    assert.ok((dist.median() as number) > 1 && (dist.median() as number) < 3, `median distance ${dist.median()}`);
    const card = await count('payment_type == 1');
    assert.ok(card / 60_000 > 0.55 && card / 60_000 < 0.7, 'about 62% card payments');
    assert.equal(await count('payment_type == 2 and tip_amount > 0'), 0, 'no recorded tips on cash');
  } finally {
    cleanup();
  }
});

test('the CLI: --help, options, errors', async () => {
  const { dir, cleanup } = tempDir();
  const log = console.log;
  const err = console.error;
  const out: string[] = [];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void out.push(a.join(' '));
  try {
    assert.equal(await run(['--help']), 0);
    assert.match(out.join('\n'), /--rows N[\s\S]*--files K[\s\S]*--out DIR[\s\S]*--seed S/);
    assert.equal(await run(['--rows', '2500', '--files', '2', '--out', dir, '--seed', '3']), 0);
    assert.match(out.join('\n'), /wrote 2,500 rows in 2 file\(s\)/);
    assert.equal(readdirSync(dir).length, 2);
    assert.equal(await run(['--rows', 'many']), 2);
    assert.equal(await run(['--bogus']), 2);
    assert.equal(await run(['--rows', '5', '--size', '1MB']), 2);
  } finally {
    console.log = log;
    console.error = err;
    cleanup();
  }
});
