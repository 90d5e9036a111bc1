/**
 * Waiting on groups of futures: `wait` (all or first) and `asCompleted` (in
 * completion order). Both register one small waiter on each pending key and
 * hold each connection once, never a promise per future: a user's
 * `wait(futures)` on a million futures must not cost a gigabyte of promises,
 * and `asCompleted` must not race every pending future again per result.
 */
import type { Future, KeyState, KeyWaiter } from './future.js';
import { TimeoutError } from '../errors.js';

export interface WaitResult<T> {
  done: Future<T>[];
  notDone: Future<T>[];
}

/** Holds open each distinct connection of the pending `states` (so the script does not exit while waiting); returns the release. */
function holdConnections(states: Iterable<KeyState>): () => void {
  const held = new Map<object, () => void>();
  for (const st of states) {
    const conn = st.resultConnection;
    if (conn && !held.has(conn)) held.set(conn, conn.hold());
  }
  return () => {
    for (const release of held.values()) release();
    held.clear();
  };
}

/** Waits until all (or the first of) the futures finish, fail or are cancelled. Never throws task errors. */
export async function wait<T>(
  futures: readonly Future<T>[],
  opts: { returnWhen?: 'ALL_COMPLETED' | 'FIRST_COMPLETED'; timeoutMs?: number } = {},
): Promise<WaitResult<T>> {
  const first = opts.returnWhen === 'FIRST_COMPLETED';
  const pendingStates: KeyState[] = [];
  let settledAlready = false;
  for (const f of futures) {
    if (f.done()) settledAlready = true;
    else pendingStates.push(f.state);
  }
  const satisfied = pendingStates.length === 0 || (first && settledAlready);
  if (!satisfied) {
    let release: () => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        let left = pendingStates.length;
        let ended = false;
        const one = () => {
          if (ended) return; // FIRST_COMPLETED: the other keys still call this waiter when they settle
          if (first || --left === 0) {
            ended = true;
            resolve();
          }
        };
        const waiter: KeyWaiter = { resolve: one, reject: one };
        for (const st of pendingStates) st.addWaiter(waiter, false);
        release = holdConnections(pendingStates);
        if (opts.timeoutMs !== undefined) {
          timer = setTimeout(() => {
            ended = true;
            reject(new TimeoutError(`futures not complete within ${opts.timeoutMs} ms (${left} of ${futures.length} still pending)`));
          }, opts.timeoutMs);
        }
      });
    } finally {
      clearTimeout(timer);
      release();
    }
  }
  return { done: futures.filter((f) => f.done()), notDone: futures.filter((f) => !f.done()) };
}

/** Yields futures as they complete (finished, erred or cancelled), in completion order; those already complete first. */
export async function* asCompleted<T>(futures: Iterable<Future<T>>): AsyncGenerator<Future<T>> {
  const all = [...futures];
  const ready: Future<T>[] = [];
  let wake: (() => void) | null = null;
  const pendingStates: KeyState[] = [];
  for (const f of all) {
    if (f.done()) {
      ready.push(f);
      continue;
    }
    pendingStates.push(f.state);
    const settled = () => {
      ready.push(f);
      const w = wake;
      wake = null;
      w?.();
    };
    f.state.addWaiter({ resolve: settled, reject: settled }, false);
  }
  const release = holdConnections(pendingStates);
  try {
    for (let next = 0; next < all.length; next++) {
      while (next >= ready.length) await new Promise<void>((resolve) => (wake = resolve));
      yield ready[next]!;
    }
  } finally {
    // Also when the caller stops early: the waiters left on the keys only append to `ready`.
    release();
  }
}
