/**
 * The browser code is bundled by esbuild, which strips types without checking
 * them, and the root tsc excludes it (no DOM lib there). Check it here with
 * its own tsconfig so a type error in the UI fails the suite.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers.js';

it('the dashboard UI type-checks against the DOM lib', { timeout: 120_000 }, () => {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(REPO_ROOT, 'src', 'dashboard', 'ui', 'tsconfig.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc -p src/dashboard/ui/tsconfig.json failed:\n${r.stdout}${r.stderr}`);
});
