/**
 * src/vendor: the build replaces the compiled re-export shims with bundles
 * (scripts/build-vendor.js), so importing them must not load the packages'
 * own module graphs, and the bundles must still work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse } from 'acorn';
import { Packr, Unpackr, addExtension } from '../../src/vendor/msgpackr.js';
import { analyze } from '../../src/vendor/eslint-scope.js';

const REGISTER = fileURLToPath(new URL('../fixtures/mpi/import-register.js', import.meta.url));
const VENDORED = ['msgpackr', 'eslint-scope'].map((name) => new URL(`../../src/vendor/${name}.js`, import.meta.url).href);

test('the vendored modules load as one file each, not through node_modules', () => {
  const script = VENDORED.map((u) => `await import(${JSON.stringify(u)});`).join('');
  const r = spawnSync(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const loaded = r.stderr.split('\n').filter((l) => l.startsWith('TESSERA_IMPORT ')).map((l) => l.slice(15));
  assert.ok(loaded.some((u) => u.endsWith('/src/vendor/msgpackr.js')), `the hook saw the imports:\n${r.stderr}`);
  const fromPackages = loaded.filter((u) => /node_modules\/(msgpackr|eslint-scope|estraverse|esrecurse)\//.test(u));
  assert.deepEqual(fromPackages, [], 'loaded from the packages instead of the bundles (did `npm run build` run scripts/build-vendor.js?)');
});

test('the msgpackr bundle round-trips values and extensions', () => {
  class Point {
    constructor(readonly x: number, readonly y: number) {}
  }
  addExtension({ Class: Point, type: 0x31, write: (p: Point) => [p.x, p.y], read: ([x, y]: [number, number]) => new Point(x, y) });
  const value = { s: 'text', n: 1.5, big: 2n ** 60n, bytes: new Uint8Array([1, 2, 3]), list: [null, true], p: new Point(3, 4) };
  const back = new Unpackr({ useRecords: false }).unpack(new Packr({ useRecords: false }).pack(value)) as typeof value;
  assert.equal(back.s, 'text');
  assert.equal(back.n, 1.5);
  assert.equal(back.big, 2n ** 60n);
  assert.deepEqual([...back.bytes], [1, 2, 3]);
  assert.deepEqual(back.list, [null, true]);
  assert.ok(back.p instanceof Point);
  assert.deepEqual([back.p.x, back.p.y], [3, 4]);
});

test('the eslint-scope bundle finds a captured variable', () => {
  const ast = parse('(x) => x + offset', { ecmaVersion: 'latest', sourceType: 'module', ranges: true });
  const scopes = analyze(ast as never, { ecmaVersion: 2022, sourceType: 'module' });
  const free = scopes.globalScope!.through.map((r) => r.identifier.name);
  assert.deepEqual(free, ['offset']);
});
