/** The V8 heap limits executor threads get from their worker's memory limit (src/worker/memory.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_YOUNG_GENERATION_MB, MEMORY_PAUSE, MIN_OLD_GENERATION_MB, MIN_YOUNG_GENERATION_MB, MEMORY_TERMINATE, PROCESS_RESERVE_MB,
  executorResourceLimits, parseMemoryLimit,
} from '../../src/worker/memory.js';
import { formatLimit } from '../../src/util/bytes.js';

const MiB = 2 ** 20;

test('no memory limit: no heap limits (V8 defaults)', () => {
  assert.equal(executorResourceLimits(0, 1), undefined);
  assert.equal(executorResourceLimits(Number.NaN, 4), undefined);
  assert.equal(executorResourceLimits(Number.POSITIVE_INFINITY, 4), undefined);
});

test('one thread: its heap fits under the pause threshold once the process reserve is set aside', () => {
  const limit = parseMemoryLimit('200MB');
  const l = executorResourceLimits(limit, 1)!;
  const heap = l.maxOldGenerationSizeMb + l.maxYoungGenerationSizeMb;
  assert.ok(heap <= (limit / MiB) * MEMORY_PAUSE - PROCESS_RESERVE_MB + 1, `heap ${heap} MiB`);
  // So the thread's limit is reached before the nanny's (95%) with the reserve included.
  assert.ok(heap + PROCESS_RESERVE_MB < (limit / MiB) * MEMORY_TERMINATE);
  assert.ok(l.maxOldGenerationSizeMb >= MIN_OLD_GENERATION_MB);
});

test('threads share the limit: each gets about 1/n of what one thread would', () => {
  const limit = parseMemoryLimit('8GB');
  const one = executorResourceLimits(limit, 1)!;
  const four = executorResourceLimits(limit, 4)!;
  const sum4 = 4 * (four.maxOldGenerationSizeMb + four.maxYoungGenerationSizeMb);
  const sum1 = one.maxOldGenerationSizeMb + one.maxYoungGenerationSizeMb;
  assert.ok(Math.abs(sum4 - sum1) <= 4, `4 threads ${sum4} MiB vs 1 thread ${sum1} MiB`);
  assert.ok(four.maxOldGenerationSizeMb < one.maxOldGenerationSizeMb);
});

test('tiny limits and many threads still get the minimums', () => {
  for (const [limit, n] of [[10e6, 1], [200e6, 64], [1, 1]] as const) {
    const l = executorResourceLimits(limit, n)!;
    assert.equal(l.maxOldGenerationSizeMb, MIN_OLD_GENERATION_MB, `${limit} bytes, ${n} threads`);
    assert.equal(l.maxYoungGenerationSizeMb, MIN_YOUNG_GENERATION_MB);
  }
});

test('the young generation is bounded above; the old generation grows with the limit', () => {
  const l = executorResourceLimits(parseMemoryLimit('64GB'), 1)!;
  assert.equal(l.maxYoungGenerationSizeMb, MAX_YOUNG_GENERATION_MB);
  assert.ok(l.maxOldGenerationSizeMb > 40_000);
  // A fractional thread count is a whole thread; zero is one.
  assert.deepEqual(executorResourceLimits(4e9, 0), executorResourceLimits(4e9, 1));
  assert.deepEqual(executorResourceLimits(4e9, 2.5), executorResourceLimits(4e9, 2));
});

test('formatLimit shows the limit as written and in binary units', () => {
  assert.equal(formatLimit(200e6), '200 MB (191 MiB)');
  assert.equal(formatLimit(4e9), '4 GB (3.73 GiB)');
});
