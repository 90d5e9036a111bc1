/**
 * `progress(futures)`: a live progress bar per task group in a terminal, and
 * plain periodic lines in batch logs (the renderer of progress.ts). Resolves
 * when every future has finished, failed or been cancelled. It lives with
 * the dashboard, which displays the client's futures; the client does not
 * depend on how they are displayed.
 */
import type { Future } from '../client/future.js';
import { keyGroup } from '../graph/keys.js';
import { renderProgress, type ProgressCounts, type ProgressOptions } from './progress.js';

export async function progress(futures: Future<unknown> | readonly Future<unknown>[], opts: ProgressOptions = {}): Promise<void> {
  const list = Array.isArray(futures) ? (futures as readonly Future<unknown>[]) : [futures as Future<unknown>];
  const groups = new Map<string, Future<unknown>[]>();
  for (const f of list) {
    const g = keyGroup(f.key);
    let arr = groups.get(g);
    if (!arr) groups.set(g, (arr = []));
    arr.push(f);
  }
  const counts = (): ProgressCounts[] =>
    [...groups].map(([name, fs]) => {
      let done = 0;
      let erred = 0;
      for (const f of fs) {
        if (f.status === 'finished') done++;
        else if (f.status === 'error' || f.status === 'cancelled') erred++;
      }
      return { name, total: fs.length, done, erred };
    });
  const handle = renderProgress(counts, opts);
  await Promise.all(list.map((f) => f.exception()));
  await handle.done;
}
