/**
 * The netns box itself: nodes with their own hostnames and two interfaces
 * (eth0 first), cut/restore, the process check, teardown that leaves
 * nothing, leftovers of a crashed run removed by the next one, and a clear
 * refusal without root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanStale, NetnsBox } from '../fixtures/netns/box.js';
import { closeBox, NODE, openBox } from './helpers.js';

const BOX_JS = fileURLToPath(new URL('../fixtures/netns/box.js', import.meta.url));

test('nodes have their own hostname, eth0 then ib0, reach each other; a cut node does not; down() leaves nothing', { timeout: 60_000 }, () => {
  const box = openBox(2);
  try {
    const [n1, n2] = box.nodes as [typeof box.nodes[0], typeof box.nodes[0]];
    const r = box.run(n2, NODE, ['-e', `const os = require('os'); console.log(JSON.stringify({ host: os.hostname(), ifs: Object.entries(os.networkInterfaces()).map(([n, e]) => [n, e.filter((x) => x.family === 'IPv4').map((x) => x.address)]) }))`]);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as { host: string; ifs: [string, string[]][] };
    assert.equal(seen.host, 'n2');
    assert.deepEqual(seen.ifs.filter(([n]) => n !== 'lo'), [['eth0', ['10.98.0.12']], ['ib0', ['10.99.0.12']]], 'eth0 is the first interface');
    const probe = (to: string) => box.run(n1, NODE, ['-e', `const c = require('net').connect(7, '${to}'); c.on('error', (e) => { console.log(e.code); process.exit(0) }); setTimeout(() => { console.log('silent'); process.exit(0) }, 1500)`]).stdout.trim();
    // Nothing listens on port 7: a reachable node refuses at once, a cut one stays silent.
    assert.equal(probe(n2.ip.ib0), 'ECONNREFUSED');
    box.cut(n2);
    assert.match(probe(n2.ip.ib0), /silent|EHOSTUNREACH/);
    box.restore(n2);
    assert.equal(probe(n2.ip.ib0), 'ECONNREFUSED');
    const sleeper = box.spawn(n2, 'sleep', ['30'], { stdio: 'ignore' });
    for (let i = 0; i < 50 && !box.processes().some((p) => p.includes('sleep 30')); i++) spawnSync('sleep', ['0.1']);
    assert.ok(box.processes().some((p) => p.startsWith('n2: ') && p.includes('sleep 30')), 'a process on a node is seen');
    const killed = box.down();
    assert.ok(killed.some((p) => p.includes('sleep 30')), 'down() kills and reports what was left on the nodes');
    assert.deepEqual(box.remains(), []);
    void sleeper;
  } finally {
    box.down();
  }
  // An empty box goes down without complaint.
  closeBox(openBox(1));
});

test('a run killed before down() leaves its box; the next run with the prefix removes it, a live run\'s box is left alone', { timeout: 60_000 }, () => {
  const live = NetnsBox.up({ nodes: 1, prefix: 'tnk' });
  try {
    const crashed = spawnSync(NODE, ['--input-type=module', '-e', `
      const { NetnsBox } = await import(${JSON.stringify(BOX_JS)});
      const box = NetnsBox.up({ nodes: 2, prefix: 'tnk' });
      console.log(box.base);
      process.kill(process.pid, 'SIGKILL');   // no exit handler runs
    `], { encoding: 'utf8', timeout: 30_000 });
    const base = crashed.stdout.trim();
    assert.match(base, /^tnk_[0-9a-z]+-0$/, crashed.stderr);
    assert.ok(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(`${base}-n1`), 'the killed run left its namespaces');
    const removed = cleanStale('tnk');
    assert.ok(removed.includes(`netns ${base}-n1`) && removed.includes(`netns ${base}-n2`), removed.join(', '));
    assert.ok(removed.some((r) => r === `link ${base}bi`), removed.join(', '));
    const after = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout + spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.ok(!after.includes(base), 'nothing of the killed run remains');
    assert.deepEqual(live.remains().filter((r) => r.startsWith('netns')), [`netns ${live.nodes[0]!.netns}`], 'the live box was left alone');
  } finally {
    closeBox(live);
  }
});

test('without root the box refuses, saying what it needs', { timeout: 30_000 }, () => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', NODE, '--input-type=module', '-e', `
    const { NetnsBox } = await import(${JSON.stringify(BOX_JS)});
    try { NetnsBox.up({ nodes: 1, prefix: 'tnp' }); console.log('built'); } catch (e) { console.log(e.message); }
  `], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /needs root \(CAP_NET_ADMIN and CAP_SYS_ADMIN\)/, r.stdout);
  assert.match(r.stdout, /runs as uid 65534, not root/, r.stdout);
});
