/** The scheduler copies a graph message's argument bytes out of the received frame, into one buffer per message. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactArgs, detachArgs } from '../../src/scheduler/arg-arena.js';
import type { TaskDef } from '../../src/protocol/messages.js';

test('compactArgs: every task keeps exactly its bytes, in one buffer that shares nothing with the frame', () => {
  const frame = new Uint8Array(1000).map((_, i) => i % 251);
  const fn = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
  const spans = [[0, 3], [10, 10], [20, 60], [100, 1000], [5, 6]] as const;
  const defs: TaskDef[] = spans.map(([a, b], i) => ({ key: `t${i}`, fn, args: frame.subarray(a, b), deps: [] }));
  compactArgs(defs);
  const buffer = defs[0]!.args.buffer;
  assert.notEqual(buffer, frame.buffer);
  for (const [i, [a, b]] of spans.entries()) {
    assert.equal(defs[i]!.args.buffer, buffer, 'one buffer for the message');
    assert.deepEqual([...defs[i]!.args], [...frame.subarray(a, b)]);
  }
  assert.equal(buffer.byteLength, spans.reduce((n, [a, b]) => n + b - a, 0), 'just the argument bytes');
  frame.fill(0);
  assert.deepEqual([...defs[2]!.args], [...new Uint8Array(1000).map((_, i) => i % 251).subarray(20, 60)], 'a copy, not a view of the frame');
});

test('detachArgs: a run keeps its bytes in a copy of its own', () => {
  const frame = new Uint8Array(64).map((_, i) => i);
  const fn = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
  const run = { at: 0, fn, keys: ['a', 'b'], args: frame.subarray(8, 16), ends: Uint32Array.from([3, 8]) };
  detachArgs([], [run]);
  assert.notEqual(run.args.buffer, frame.buffer);
  assert.deepEqual([...run.args], [8, 9, 10, 11, 12, 13, 14, 15]);
});
