/**
 * src/native: koffi's direct load (the start-up shortcut every MPI rank
 * takes) must give the same working addon koffi's own entry gives, and must
 * still be taken on the platforms it is meant for, so that a koffi upgrade
 * which moves the addon shows up here rather than as a slower start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { koffi, koffiLoadedDirectly } from '../../src/native/koffi.js';
import { populatePages } from '../../src/native/libc.js';

const require = createRequire(import.meta.url);
const koffiVersion = (JSON.parse(readFileSync(join(dirname(require.resolve('koffi')), 'package.json'), 'utf8')) as { version: string }).version;

test('koffi() is the addon of the installed koffi, and it calls into libc', () => {
  const k = koffi() as ReturnType<typeof koffi> & { version: string };
  assert.equal(k.version, koffiVersion);
  const libc = k.load('libc.so.6');
  const getpid = libc.func('int getpid()') as () => number;
  assert.equal(getpid(), process.pid);
});

test("on glibc Linux the addon loads directly, skipping koffi's entry", (t) => {
  const musl = process.platform === 'linux' && readdirSync('/lib').some((f) => f.startsWith('ld-musl-'));
  if (process.platform !== 'linux' || musl) {
    // Not a skip: the other platforms are meant to take koffi's own loader.
    assert.equal(koffiLoadedDirectly(), false);
    t.diagnostic(`koffi's own loader on ${process.platform}${musl ? ' with a musl loader present' : ''}, as intended`);
    return;
  }
  assert.equal(koffiLoadedDirectly(), true, `@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node was not used: has koffi ${koffiVersion} moved its addon?`);
});

test('populatePages faults a fresh buffer in at once, and the buffer reads and writes as before', () => {
  const buf = Buffer.from(new SharedArrayBuffer(1 << 20));
  // This suite runs on Linux 5.14+ with glibc (Debian's), where the call exists: false here is a regression.
  assert.equal(populatePages(buf), true);
  assert.equal(buf.every((b) => b === 0), true);
  buf.fill(7, 1000, 5000);
  assert.equal(buf[999], 0);
  assert.equal(buf[1000], 7);
  assert.equal(buf[4999], 7);
  assert.equal(populatePages(Buffer.alloc(100)), false, 'a buffer smaller than two pages is left alone');
});
