import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { col, fromPolars, readCsv, setEngineThreads } from '../../src/dataframe/index.js';
import { optimize, type PlanNode } from '../../src/dataframe/plan.js';
import { bundle, unbundle, bundleCount } from '../../src/dataframe/bundle.js';
import { tempDir, writeText } from './helpers.js';
import { SIMPLE_CSV } from '../fixtures/dataframe/csv.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

test('a missing Polars binary gives ERR_TESSERA_ENGINE saying which package to install', () => {
  const { dir, cleanup } = tempDir();
  try {
    // Make every load of nodejs-polars fail, as when npm skipped the platform binary.
    const preload = writeText(dir, 'no-polars.cjs', `
      const Module = require('module');
      const load = Module._load;
      Module._load = function (request, ...rest) {
        if (String(request).includes('nodejs-polars')) throw new Error("Cannot find module 'nodejs-polars-linux-x64-gnu'");
        return load.call(this, request, ...rest);
      };`);
    const engine = new URL('../../src/dataframe/engine/load.js', import.meta.url).href;
    const script = `import(${JSON.stringify(engine)}).then((m) => { try { m.polars(); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } });`;
    const r = spawnSync(process.execPath, ['--require', preload, '--input-type=module', '-e', script], { encoding: 'utf8' });
    const out = JSON.parse(r.stdout.trim()) as { code: string; message: string };
    assert.equal(out.code, 'ERR_TESSERA_ENGINE');
    assert.match(out.message, /nodejs-polars-linux-x64-gnu|nodejs-polars-\w+-\w+/);
    assert.match(out.message, /npm ci/);
  } finally {
    cleanup();
  }
});

test('the engine thread count can be set before first use, and is refused afterwards', () => {
  // Polars is already loaded in this process (other tests ran queries or imported it above).
  void pl;
  fromPolars(pl.DataFrame({ a: [1] })).dtypes;
  const current = process.env.POLARS_MAX_THREADS;
  if (current) setEngineThreads(Number(current));
  assert.throws(() => setEngineThreads(Number(current ?? 1) + 7), /already running/);
  assert.throws(() => setEngineThreads(0), /positive integer/);
});

test('bundles hold pieces that are read back as views', () => {
  const b = bundle([Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defg')]);
  assert.equal(bundleCount(b), 3);
  assert.equal(unbundle(b, 0).toString(), 'abc');
  assert.equal(unbundle(b, 1).length, 0);
  assert.equal(unbundle(b, 2).toString(), 'defg');
  assert.throws(() => unbundle(b, 3), /piece 3 of a bundle of 3/);
});

test('the optimizer prunes columns down to the reader and pushes filters below sorts, joins and group-bys', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeText(dir, 'simple.csv', SIMPLE_CSV);
    const df = readCsv(path, { blocksize: 1000 });
    const q = df.select('id', 'amount').sort('amount').filter(col('id').gt(5));
    const plan = optimize(q.plan);
    assert.equal(plan.kind, 'sort', 'the filter moved below the sort');
    const reader = (n: PlanNode): PlanNode => (n.kind === 'csv' ? n : reader((n as { input: PlanNode }).input));
    assert.deepEqual(Object.keys(reader(plan).schema), ['id', 'amount'], 'only the used columns are read');

    const g = df.groupBy('name').agg(col('amount').sum()).filter(col('name').eq('name3'));
    assert.equal(optimize(g.plan).kind, 'groupBy', 'a filter on group keys runs before the group-by');
    const h = df.groupBy('name').agg(col('amount').sum()).filter(col('amount').gt(1));
    assert.equal(optimize(h.plan).kind, 'op', 'a filter on aggregates stays after it');

    const other = fromPolars(pl.DataFrame({ id: [1, 2, 3], extra: ['x', 'y', 'z'] }).withColumns(pl.col('id').cast(pl.Int64)));
    const j = df.join(other, { on: 'id' }).filter(col('amount').gt(3)).select('id', 'extra');
    const jp = optimize(j.plan);
    const join = (jp as { input: PlanNode }).input;
    assert.equal(join.kind, 'join');
    if (join.kind === 'join') {
      assert.equal(join.left.kind, 'op', 'the filter on a left column moved into the left side');
      assert.deepEqual(Object.keys(reader(join.left).schema), ['id', 'amount']);
    }
    // count() reads a single column when nothing else is needed.
    assert.deepEqual(Object.keys(reader(optimize(df.plan, [])).schema), ['id']);
  } finally {
    cleanup();
  }
});
