/**
 * The package as users import it: package.json's exports load the bundle
 * (dist/bundle) through src/boot/bundle.ts, with a V8 code cache. The
 * tests elsewhere import the compiled sources by path; these check that
 * the shipped form matches them and works, from a cold cache and a warm one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const JOB = fileURLToPath(new URL('../fixtures/package/job.js', import.meta.url));
const BUNDLE_DIR = new URL('../../bundle/', import.meta.url);
const LOADER = new URL('../../src/boot/bundle.js', import.meta.url).href;

const ENTRIES: [string, string][] = [
  ['tessera-compute', '../../src/index.js'],
  ['tessera-compute/mpi', '../../src/deploy/mpi/index.js'],
  ['tessera-compute/slurm', '../../src/deploy/slurm/index.js'],
  ['tessera-compute/dataframe', '../../src/dataframe/index.js'],
];

function bundleUrl(): URL {
  const files = readdirSync(BUNDLE_DIR).filter((f) => /^tessera-[0-9a-f]+\.cjs$/.test(f));
  assert.equal(files.length, 1, `one bundle in dist/bundle (run npm run build): ${files.join(', ')}`);
  return new URL(files[0]!, BUNDLE_DIR);
}

function run(args: string[], env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** How a fresh process loads the bundle with TESSERA_COMPILE_CACHE=`cache`. */
function loadState(cache: string): string {
  const script =
    `const { loadEntry, bundleStatus } = await import(${JSON.stringify(LOADER)});` +
    `const url = new URL(${JSON.stringify(bundleUrl().href)});` +
    `await loadEntry(url, 'mpi'); console.log('STATE', bundleStatus(url).cache);`;
  const r = run(['--input-type=module', '-e', script], { TESSERA_COMPILE_CACHE: cache });
  assert.equal(r.status, 0, r.out);
  return /STATE (\w+)/.exec(r.out)?.[1] ?? `no state in: ${r.out}`;
}

for (const [name, source] of ENTRIES) {
  test(`'${name}' exports what its source module exports`, async () => {
    const shipped = Object.keys(await import(name)).sort();
    const compiled = Object.keys(await import(source)).sort();
    assert.deepEqual(shipped, compiled);
  });
}

test('the compile cache: written by the first process, used by the next, off on request; old builds\' caches go', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cache-'));
  try {
    // Caches of other builds: one unused for 20 days, one used yesterday.
    const old = join(dir, 'tessera-0123456789abcdef-node20.0.0-v8-1-x64.cache');
    const recent = join(dir, 'tessera-fedcba9876543210-node20.0.0-v8-1-x64.cache');
    for (const [file, days] of [[old, 20], [recent, 1]] as const) {
      writeFileSync(file, 'x');
      const t = new Date(Date.now() - days * 24 * 3600 * 1000);
      utimesSync(file, t, t);
    }
    assert.equal(loadState(dir), 'miss');
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.cache') && f.includes(bundleUrl().pathname.split('/').pop()!.replace('.cjs', ''))).length, 1, 'the first process saved the compiled code at exit');
    assert.ok(!existsSync(old), 'a cache unused for 20 days is removed when a new one is saved');
    assert.ok(existsSync(recent), 'one used yesterday stays');
    assert.equal(loadState(dir), 'hit');
    assert.equal(loadState('off'), 'off');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cache directory others may write is not used: cached code runs as this process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cache-'));
  try {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    assert.equal(loadState(shared), 'off');
    assert.deepEqual(readdirSync(shared), [], 'nothing written there either');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a script importing only the package runs a LocalCluster, a dataframe job, scheduler-side code and the dashboard, cold and warm', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-package-'));
  try {
    const cache = join(dir, 'cache');
    for (const round of ['cold cache', 'warm cache']) {
      const work = join(dir, round.replace(' ', '-'));
      mkdirSync(work);
      const r = run([JOB, work], { TESSERA_COMPILE_CACHE: cache });
      assert.equal(r.status, 0, `${round}:\n${r.out}`);
      const line = r.out.split('\n').find((l) => l.startsWith('TESSERA_FIXTURE '));
      assert.ok(line, `${round}: no result line in:\n${r.out}`);
      const got = JSON.parse(line.slice('TESSERA_FIXTURE '.length)) as Record<string, unknown>;
      assert.deepEqual(got, { files: 3, rows: 168, platform: process.platform, squares: [1, 4, 9], workers: 2, dashboard: [200, 200] }, round);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two installs of the same build keep their own compile caches: stack traces name the running install\'s files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cache-installs-'));
  // A second install of the same build, next to the first so both resolve the same dependencies.
  const copy = new URL('../../bundle-second-install/', import.meta.url);
  try {
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(copy);
    for (const f of readdirSync(BUNDLE_DIR)) writeFileSync(new URL(f, copy), readFileSync(new URL(f, BUNDLE_DIR)));
    const stackFrom = (entry: URL): string => {
      const script = `const { Client } = await import(${JSON.stringify(entry.href)});` +
        'try { Client.current(); } catch (err) { console.log(err.stack); }';
      const r = run(['--input-type=module', '-e', script], { TESSERA_COMPILE_CACHE: dir });
      assert.equal(r.status, 0, r.out);
      return r.out;
    };
    const first = stackFrom(new URL('index.js', BUNDLE_DIR));
    assert.match(first, new RegExp(fileURLToPath(BUNDLE_DIR).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    const second = stackFrom(new URL('index.js', copy));
    assert.match(second, /bundle-second-install/, `the second install's stack names its own files:\n${second}`);
    assert.doesNotMatch(second, new RegExp(`${fileURLToPath(BUNDLE_DIR).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}tessera-`), second);
  } finally {
    rmSync(copy, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
