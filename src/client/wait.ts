/** Waiting on groups of futures: `wait` (all or first) and `asCompleted` (in completion order). */
import type { Future } from './future.js';
import { TimeoutError } from '../errors.js';

export interface WaitResult<T> {
  done: Future<T>[];
  notDone: Future<T>[];
}

/** Waits until all (or the first of) the futures finish, fail or are cancelled. Never throws task errors. */
export async function wait<T>(
  futures: readonly Future<T>[],
  opts: { returnWhen?: 'ALL_COMPLETED' | 'FIRST_COMPLETED'; timeoutMs?: number } = {},
): Promise<WaitResult<T>> {
  const settle = futures.map((f) => f.state.wait().then(() => f, () => f));
  const all = opts.returnWhen === 'FIRST_COMPLETED' ? Promise.race(settle) : Promise.all(settle);
  if (opts.timeoutMs !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([all, new Promise((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`futures not complete within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      })]);
    } finally {
      clearTimeout(timer);
    }
  } else await all;
  return { done: futures.filter((f) => f.done()), notDone: futures.filter((f) => !f.done()) };
}

/** Yields futures as they complete (finished, erred or cancelled), in completion order. */
export async function* asCompleted<T>(futures: Iterable<Future<T>>): AsyncGenerator<Future<T>> {
  const pending = new Map<Future<T>, Promise<Future<T>>>();
  for (const f of futures) pending.set(f, f.state.wait().then(() => f, () => f));
  while (pending.size) {
    const f = await Promise.race(pending.values());
    pending.delete(f);
    yield f;
  }
}
