/**
 * Where a dataframe's task graph runs. Two executors:
 *
 * - DistributedExecutor: every task becomes a Delayed with the key the
 *   lowering chose, calling an export of tasks.ts as a module function; the
 *   scheduler places the tasks and results move worker to worker.
 * - LocalExecutor: runs the same tasks in this process, dependencies first,
 *   a few at a time (Polars itself is multi-threaded), dropping each result
 *   once nothing else needs it and yielding to the event loop between tasks
 *   (Polars frees native memory only then).
 *
 * Actions pick the executor the way Dask picks a scheduler: the one passed
 * explicitly, else a default set with setDefaultExecutor, else the current
 * Client if one is connected, else a LocalExecutor.
 */

import { Client } from '../client/client.js';
import type { Future } from '../client/future.js';
import { Delayed } from '../graph/delayed.js';
import { moduleFunction, serializeFunction } from '../graph/functions.js';
import { encodeArgs, KeyRef } from '../graph/serialize.js';
import { DataFrameError } from '../errors.js';
import { checkOptions } from './options.js';
import type { GraphTask, TaskGraph, TaskInput, TaskRef } from './lower.js';
import type { PersistedPart } from './plan.js';
import * as tasks from './tasks.js';

export interface RunOptions {
  /** Called as output partitions complete. */
  onProgress?: (done: number, total: number) => void;
}

export interface Executor {
  /** 'local' or 'distributed', for reports. */
  readonly kind: 'local' | 'distributed';
  /** Runs what `outputs` need and returns their values, in order. */
  compute(graph: TaskGraph, outputs: readonly TaskInput[], options?: RunOptions): Promise<unknown[]>;
  /** Runs what `outputs` need and keeps the results where they are. */
  persist(graph: TaskGraph, outputs: readonly TaskInput[], options?: RunOptions): Promise<PersistedPart[]>;
}

function isRef(x: TaskInput): x is TaskRef {
  return x.kind === 'task';
}

/** Tasks needed for `outputs`, dependencies first. */
function needed(graph: TaskGraph, outputs: readonly TaskInput[]): GraphTask[] {
  const order: GraphTask[] = [];
  const seen = new Set<string>();
  const visit = (root: string): void => {
    const stack: { key: string; i: number }[] = [{ key: root, i: 0 }];
    seen.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const task = graph.tasks.get(top.key);
      if (!task) throw new DataFrameError(`internal: task ${top.key} is not in the graph`);
      const deps = task.inputs.filter(isRef);
      if (top.i < deps.length) {
        const d = deps[top.i++]!.key;
        if (!seen.has(d)) {
          seen.add(d);
          stack.push({ key: d, i: 0 });
        }
        continue;
      }
      stack.pop();
      order.push(task);
    }
  };
  for (const o of outputs) if (isRef(o) && !seen.has(o.key)) visit(o.key);
  return order;
}

type TaskFunctions = Record<GraphTask['fn'], (...args: unknown[]) => unknown>;

// ------------------------------------------------------------------ local

export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;
  private readonly concurrency: number;

  constructor(options: { concurrency?: number } = {}) {
    checkOptions('LocalExecutor', options, ['concurrency']);
    this.concurrency = Math.max(1, options.concurrency ?? 1);
  }

  private async run(graph: TaskGraph, outputs: readonly TaskInput[], options: RunOptions): Promise<Map<string, unknown>> {
    const order = needed(graph, outputs);
    const results = new Map<string, unknown>();
    // How many pending tasks (and outputs) still need each result.
    const uses = new Map<string, number>();
    const bump = (k: string): void => void uses.set(k, (uses.get(k) ?? 0) + 1);
    for (const t of order) for (const i of t.inputs) if (isRef(i)) bump(i.key);
    const outputKeys = new Set(outputs.filter(isRef).map((o) => o.key));
    const total = outputKeys.size;
    let doneOutputs = 0;
    const remaining = new Map<string, number>();
    const dependents = new Map<string, GraphTask[]>();
    for (const t of order) {
      const deps = new Set(t.inputs.filter(isRef).map((i) => i.key));
      remaining.set(t.key, deps.size);
      for (const d of deps) {
        let list = dependents.get(d);
        if (!list) dependents.set(d, (list = []));
        list.push(t);
      }
    }
    const ready = order.filter((t) => remaining.get(t.key) === 0);
    const fns = tasks as unknown as TaskFunctions;
    let running = 0;
    let failure: unknown;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        if (failure !== undefined) {
          if (running === 0) resolve();
          return;
        }
        if (ready.length === 0 && running === 0) {
          resolve();
          return;
        }
        while (running < this.concurrency && ready.length) {
          const task = ready.shift()!;
          running++;
          const args = [task.params, ...task.inputs.map((i) => (isRef(i) ? results.get(i.key) : i.persisted))];
          Promise.resolve()
            .then(() => fns[task.fn]!(...args))
            .then(
              (value) => {
                results.set(task.key, value);
                for (const i of task.inputs) {
                  if (!isRef(i)) continue;
                  const left = (uses.get(i.key) ?? 1) - 1;
                  uses.set(i.key, left);
                  if (left === 0 && !outputKeys.has(i.key)) results.delete(i.key);
                }
                if (outputKeys.has(task.key)) options.onProgress?.(++doneOutputs, total);
                for (const d of dependents.get(task.key) ?? []) {
                  const r = remaining.get(d.key)! - 1;
                  remaining.set(d.key, r);
                  if (r === 0) ready.push(d);
                }
              },
              (err: unknown) => {
                failure ??= err;
              },
            )
            .finally(() => {
              running--;
              // Yield so Polars can release the memory of the finished query before the next starts.
              setImmediate(pump);
            });
        }
      };
      pump();
    });
    if (failure !== undefined) throw failure;
    return results;
  }

  async compute(graph: TaskGraph, outputs: readonly TaskInput[], options: RunOptions = {}): Promise<unknown[]> {
    const results = await this.run(graph, outputs, options);
    return outputs.map((o) => (isRef(o) ? results.get(o.key) : o.persisted));
  }

  async persist(graph: TaskGraph, outputs: readonly TaskInput[], options: RunOptions = {}): Promise<PersistedPart[]> {
    const values = await this.compute(graph, outputs, options);
    return outputs.map((o, i) => ({ key: o.key, handle: values[i] }));
  }
}

// ------------------------------------------------------------ distributed

export class DistributedExecutor implements Executor {
  readonly kind = 'distributed' as const;
  constructor(readonly client: Client) {}

  /** The Delayed (or Future) standing for each output, built bottom-up. */
  private delayeds(graph: TaskGraph, outputs: readonly TaskInput[]): KeyRef[] {
    const built = new Map<string, Delayed>();
    const make = (key: string, fn: GraphTask['fn'], args: unknown[]): Delayed => {
      const spec = serializeFunction(moduleFunction(tasks.TASKS_MODULE_URL, fn));
      const { bytes, refs } = encodeArgs(args);
      const d = new Delayed(key, spec, bytes, refs);
      built.set(key, d);
      return d;
    };
    const resolve = (i: TaskInput): KeyRef => {
      if (isRef(i)) return built.get(i.key)!;
      if (i.persisted instanceof KeyRef) return i.persisted;
      // Data held by the client (fromPolars) enters the graph once, through an identity task.
      return built.get(i.key) ?? make(i.key, 'identity', [i.persisted]);
    };
    for (const task of needed(graph, outputs)) make(task.key, task.fn, [task.params, ...task.inputs.map(resolve)]);
    return outputs.map(resolve);
  }

  private submit(graph: TaskGraph, outputs: readonly TaskInput[], options: RunOptions): Future<unknown>[] {
    const refs = this.delayeds(graph, outputs);
    const fresh = refs.filter((r): r is Delayed => r instanceof Delayed);
    const computed = fresh.length ? (this.client.compute(fresh) as Future<unknown>[]) : [];
    const byKey = new Map(computed.map((f) => [f.key, f]));
    const futures = refs.map((r) => (r instanceof Delayed ? byKey.get(r.key)! : (r as Future<unknown>)));
    if (options.onProgress) {
      let done = 0;
      const total = futures.length;
      for (const f of futures) f.state.wait().then(() => options.onProgress!(++done, total), () => undefined);
    }
    return futures;
  }

  async compute(graph: TaskGraph, outputs: readonly TaskInput[], options: RunOptions = {}): Promise<unknown[]> {
    const futures = this.submit(graph, outputs, options);
    try {
      return await this.client.gather(futures);
    } finally {
      // Only release what this call created; persisted inputs belong to their DataFrame.
      this.client.release(futures.filter((_, i) => !isPersistedFuture(outputs[i]!)));
    }
  }

  async persist(graph: TaskGraph, outputs: readonly TaskInput[], options: RunOptions = {}): Promise<PersistedPart[]> {
    const futures = this.submit(graph, outputs, options);
    await Promise.all(futures.map((f) => f.state.wait()));
    return futures.map((f) => ({ key: f.key, handle: f }));
  }
}

function isPersistedFuture(i: TaskInput): boolean {
  return !isRef(i) && i.persisted instanceof KeyRef;
}

// --------------------------------------------------------------- choosing

let defaultExecutor: Executor | null = null;

/** Makes every dataframe action use `executor` (null restores the automatic choice). */
export function setDefaultExecutor(executor: Executor | null): void {
  defaultExecutor = executor;
}

/** The executor an action uses when none is passed. */
export function currentExecutor(): Executor {
  if (defaultExecutor) return defaultExecutor;
  let client: Client | undefined;
  try {
    client = Client.current();
  } catch {
    client = undefined;
  }
  return client ? new DistributedExecutor(client) : new LocalExecutor();
}
