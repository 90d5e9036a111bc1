/**
 * toParquet/toCsv lose nothing: a write replaces its output folder only once
 * every partition is written, never deletes files Tessera did not write,
 * refuses to overwrite its own input, and says which path is wrong and why.
 * Each case runs in this process and on a LocalCluster's worker processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { abandonWriteTarget } from '../../src/dataframe/io/write-target.js';
import { Client, LocalCluster } from '../../src/index.js';
import {
  DataFrameError, DistributedExecutor, LocalExecutor, fromPolars, readCsv, readParquet, type DataFrame, type Executor,
} from '../../src/dataframe/index.js';
import { tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars').default;

let cluster: LocalCluster;
let client: Client;
let tmp: { dir: string; cleanup: () => void };
let frame: DataFrame;
let executors: [string, Executor][];

before(async () => {
  tmp = tempDir('tessera-write-');
  const ids = Array.from({ length: 100 }, (_, i) => i);
  frame = fromPolars(pl.DataFrame({ id: ids, name: ids.map((i) => `row ${i}`) }), { npartitions: 4 });
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  client = await Client.connect(cluster);
  executors = [
    ['local', new LocalExecutor()],
    ['distributed', new DistributedExecutor(client)],
  ];
});

after(async () => {
  await client?.shutdown();
  await cluster?.close();
  tmp?.cleanup();
});

let fresh = 0;
/** A new, empty folder to hold a test's output folder (so stray siblings are visible). */
function parentDir(): string {
  const d = join(tmp.dir, `case-${fresh++}`);
  mkdirSync(d);
  return d;
}

/** Every entry of a folder with its bytes (a subfolder by its name only). */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name)).map((e) => [e.name, e.isDirectory() ? Buffer.from('<folder>') : readFileSync(join(dir, e.name))]));
}

function assertSameFiles(dir: string, before: Map<string, Buffer>, message: string): void {
  const now = snapshot(dir);
  assert.deepEqual([...now.keys()], [...before.keys()], `${message}: the same files`);
  for (const [f, bytes] of before) assert.ok(now.get(f)!.equals(bytes), `${message}: ${f} is byte-identical`);
}

function assertNoTemporaryFolders(parent: string): void {
  const stray = readdirSync(parent).filter((f) => f.includes('tessera-tmp') || f.includes('tessera-old'));
  assert.deepEqual(stray, [], `no temporary folders left in ${parent}`);
}

function isDataFrameError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DataFrameError, `a DataFrameError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_TESSERA_DATAFRAME');
    assert.match(err.message, pattern);
    return true;
  };
}

function escape(path: string): string {
  return path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A partition function that fails on the partition holding the last ids (inline: shipped as source). */
function failingLastPartition(df: DataFrame): DataFrame {
  return df.mapPartitions((part) => {
    if (part.height > 0 && Number(part.getColumn('id').max()) >= 75) throw new Error('this partition fails on purpose');
    return part;
  });
}

test('reading a folder and writing into it is refused before anything runs, and the input is intact', async () => {
  for (const [name, executor] of executors) {
    const out = join(parentDir(), 'out');
    await frame.toParquet(out, { executor });
    const before = snapshot(out);
    const pattern = new RegExp(`will not write to ${escape(out)}.*read from that folder \\(${escape(join(out, 'part.0.parquet'))}.*write to another folder`);
    await assert.rejects(readParquet(`${out}/*.parquet`).toParquet(`${out}/`, { executor }), isDataFrameError(pattern), name);
    await assert.rejects(readParquet(out).toCsv(out, { executor }), isDataFrameError(pattern), name);
    // A folder above the input holds it too.
    await assert.rejects(readParquet(out).filter('id > 3').toParquet(join(out, '..'), { executor }), isDataFrameError(/read from that folder/), name);
    assertSameFiles(out, before, `${name}: the input`);
    assertNoTemporaryFolders(join(out, '..'));
    // Another folder is fine, and reads back the same rows.
    const copy = join(out, '..', 'copy');
    await readParquet(out).toParquet(copy, { executor });
    assert.equal(await readParquet(copy).count({ executor }), 100);
  }
});

test('a write that fails on one partition leaves the previous output byte-identical and no temporary folder', async () => {
  for (const [name, executor] of executors) {
    for (const kind of ['parquet', 'csv'] as const) {
      const parent = parentDir();
      const out = join(parent, 'out');
      const write = (df: DataFrame) => (kind === 'parquet' ? df.toParquet(out, { executor }) : df.toCsv(out, { executor }));
      await write(frame.repartition(3));
      const before = snapshot(out);
      await assert.rejects(write(failingLastPartition(frame)), /this partition fails on purpose/, `${name} ${kind}`);
      assertSameFiles(out, before, `${name} ${kind}: the previous output`);
      assertNoTemporaryFolders(parent);
      // A failed first write leaves no folder at all.
      const never = join(parent, 'never');
      await assert.rejects(failingLastPartition(frame).toCsv(never, { executor }), /fails on purpose/);
      assert.ok(!existsSync(never), `${name}: no output folder after a failed first write`);
      assertNoTemporaryFolders(parent);
    }
  }
});

test('rewriting an output folder replaces it completely', async () => {
  for (const [name, executor] of executors) {
    const parent = parentDir();
    const out = join(parent, 'out');
    await frame.toCsv(out, { executor });
    assert.deepEqual(readdirSync(out).sort(), ['part.0.csv', 'part.1.csv', 'part.2.csv', 'part.3.csv']);
    const written = await frame.repartition(2).toParquet(out, { executor });
    assert.deepEqual(readdirSync(out).sort(), ['part.0.parquet', 'part.1.parquet'], `${name}: no stale part files`);
    assert.deepEqual(written.map((w) => w.path), [join(out, 'part.0.parquet'), join(out, 'part.1.parquet')], `${name}: results name the final paths`);
    assert.equal(written.reduce((s, w) => s + w.rows, 0), 100);
    // The same plan written twice really writes twice (no result reused from the first write).
    await frame.toParquet(out, { executor });
    await frame.toParquet(out, { executor });
    assert.equal(readParquet(out).npartitions, 4);
    assert.equal(await readParquet(out).count({ executor }), 100);
    assert.throws(() => readCsv(out), /holds no \.csv/, 'the csv parts are gone');
    // An existing empty folder is written into as well.
    const empty = join(parent, 'empty');
    mkdirSync(empty);
    await frame.toCsv(empty, { executor });
    assert.equal(readdirSync(empty).length, 4);
    assertNoTemporaryFolders(parent);
  }
});

test("a folder holding files Tessera did not write is never replaced, and the user's files are kept", async () => {
  for (const [name, executor] of executors) {
    const parent = parentDir();
    const out = join(parent, 'out');
    await frame.toParquet(out, { executor });
    writeFileSync(join(out, 'README.md'), 'my notes\n');
    mkdirSync(join(out, 'plots'));
    const before = snapshot(out);
    const pattern = new RegExp(`will not replace ${escape(out)}: it holds 2 entries that Tessera did not write \\(README\\.md, plots/\\).*new or empty folder, or move those entries out`);
    await assert.rejects(frame.repartition(2).toParquet(out, { executor }), isDataFrameError(pattern), name);
    await assert.rejects(frame.toCsv(out, { executor }), isDataFrameError(pattern), name);
    assertSameFiles(out, before, `${name}: the folder`);
    assert.equal(readFileSync(join(out, 'README.md'), 'utf8'), 'my notes\n');
    assertNoTemporaryFolders(parent);
  }
});

test('a path that is a file, lies under a file, or cannot be written is refused with the path and what to do', async () => {
  const parent = parentDir();
  const file = join(parent, 'data.txt');
  writeFileSync(file, 'not a folder\n');
  for (const [name, executor] of executors) {
    await assert.rejects(frame.toParquet(file, { executor }), isDataFrameError(new RegExp(`cannot write to ${escape(file)}: it is a file, not a folder.*pick a folder path`)), name);
    await assert.rejects(frame.toCsv(file, { executor }), isDataFrameError(/it is a file, not a folder/), name);
    const under = join(file, 'out', 'deeper');
    await assert.rejects(frame.toParquet(under, { executor }), isDataFrameError(new RegExp(`cannot write to ${escape(under)}: ${escape(file)} is a file, not a folder.*not inside a file`)), name);
    // Root may write almost anywhere, but not new entries in sysfs.
    if (existsSync('/sys/kernel')) {
      const sys = '/sys/kernel/tessera-write-test';
      await assert.rejects(frame.toCsv(sys, { executor }), isDataFrameError(new RegExp(`cannot write to ${escape(sys)}: /sys/kernel does not allow creating entries in it \\(E[A-Z]+\\).*pick an output folder you can write to`)), name);
    }
    await assert.rejects(frame.toCsv('.', { executor }), isDataFrameError(/current working directory/), name);
  }
  assert.equal(readFileSync(file, 'utf8'), 'not a folder\n');
  assert.deepEqual(readdirSync(parent), ['data.txt']);
});

test("an abandoned write's temporary folder is removed even while a task of it is still making files there", async () => {
  const parent = tempDir('tessera-abandon-');
  after(parent.cleanup);
  const tmp = join(parent.dir, '.out.tessera-tmp-test');
  mkdirSync(tmp);
  // Still-running tasks of the abandoned job, as a separate process: for 200 ms it makes files in the folder as fast as it
  // can (so files appear while the folder is being removed), then stops, as the job's last task would.
  const writer = spawn(process.execPath, ['-e', `
    const { writeFileSync } = require('node:fs');
    const end = Date.now() + 200;
    for (let i = 0; Date.now() < end; i++) {
      try { writeFileSync(${JSON.stringify(tmp)} + '/part.' + i + '.csv', 'x'); } catch { /* the folder is gone: a task's write fails */ }
    }
  `], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => writer.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 10_000;
  while (readdirSync(tmp).length === 0) {
    if (Date.now() > deadline) throw new Error('the writer process made no file within 10 s');
    await new Promise((r) => setTimeout(r, 1));
  }
  abandonWriteTarget({ tmp });
  assert.equal(existsSync(tmp), false, 'the folder is gone, although files kept appearing while it was being removed');
  assert.equal(await exited, 0);
});
