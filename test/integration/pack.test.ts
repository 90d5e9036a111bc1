/**
 * The package as npm ships it: `npm pack` holds every entry point that
 * package.json names, the licence, and the sources its source maps point
 * at; and a tarball installed into a fresh project runs a user's script and
 * the `tessera-compute` command there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  scripts: Record<string, string>;
};

function npm(args: string[], cwd: string, timeoutMs = 300_000): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.equal(r.error, undefined, `npm ${args.join(' ')}: ${String(r.error)}`);
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The files `npm pack` would put in the tarball (the build already ran: prepack is checked separately). */
function packedFiles(): Set<string> {
  const out = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
  const [info] = JSON.parse(out) as { files: { path: string }[] }[];
  return new Set(info!.files.map((f) => f.path));
}

test('npm pack ships every entry point, the licence and the sources behind the source maps', { timeout: 120_000 }, () => {
  assert.match(manifest.scripts.prepack ?? '', /rmSync\('dist'.*npm run build/, 'a checkout builds from scratch before it is packed (prepack): no stale file of an earlier build is shipped');
  const files = packedFiles();
  const named = [manifest.main, manifest.types, ...Object.values(manifest.bin)];
  for (const target of Object.values(manifest.exports)) named.push(...(typeof target === 'string' ? [target] : Object.values(target)));
  for (const p of named) assert.ok(files.has(posix.normalize(p)), `${p} (named in package.json) is in the tarball`);
  assert.ok(files.has('LICENSE'), 'the licence is shipped');
  const maps = [...files].filter((f) => f.endsWith('.map'));
  assert.ok(maps.length > 0);
  for (const m of maps) {
    const map = JSON.parse(readFileSync(join(ROOT, m), 'utf8')) as { sources: string[] };
    for (const s of map.sources) {
      const source = posix.normalize(posix.join(posix.dirname(m), s));
      assert.ok(files.has(source), `${m} points at ${source}, which must be shipped too`);
    }
  }
});

test('the tarball installs into a new project, whose script and command run', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-install-'));
  try {
    const tarball = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as { filename: string }[];
    const project = join(dir, 'project');
    spawnSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
    // The dependencies come from npm's cache where `npm ci` put them; the registry otherwise.
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball[0]!.filename)], project);
    writeFileSync(join(project, 'job.js'), [
      "import { Client, LocalCluster } from 'tessera-compute';",
      "import { readCsv } from 'tessera-compute/dataframe';",
      "import { writeFileSync } from 'node:fs';",
      "const cluster = await LocalCluster.start({ nWorkers: 1, dashboardAddress: ':0' });",
      'const client = await Client.connect(cluster);',
      'console.log(`sum: ${await client.submit((a, b) => a + b, 20, 22).result()}`);',
      "writeFileSync('t.csv', 'a,b\\n1,2\\n3,4\\n');",
      "console.log(`rows: ${await readCsv('t.csv').count()}`);",
    ].join('\n'));
    const r = spawnSync(process.execPath, ['job.js'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^sum: 42$/m);
    assert.match(r.stdout, /^rows: 2$/m);
    const help = spawnSync('npx', ['--no-install', 'tessera-compute', '--help'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    assert.equal(help.status, 0, `${help.stdout}\n${help.stderr}`);
    assert.match(help.stdout, /Usage: tessera-compute <command>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
