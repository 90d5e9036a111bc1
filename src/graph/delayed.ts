/**
 * Delayed: lazy task graphs built by calling wrapped functions, as in
 * dask.delayed. `delayed(fn)(a, b)` records a task whose arguments may be
 * other Delayed values or Futures anywhere inside arrays and objects; nothing
 * runs until `compute`/`persist`.
 */
import { KeyRef, encodeArgs } from './serialize.js';
import { serializeFunction, functionName } from './functions.js';
import type { AnyFunction, FunctionOf, ModuleFunction, TaskFunction } from './function-spec.js';
import type { FunctionSpec, TaskDef } from '../protocol/messages.js';
import { safeName, taskKey, tokenize, uniqueToken } from './keys.js';
import { TesseraError } from '../errors.js';

/**
 * How Delayed.compute() reaches the current client. The client module
 * registers it when it loads (src/client/client.ts): the client builds on
 * graph/, so graph/ cannot import the client. A program that has a connected
 * client has loaded that module, so the hook is always there when it matters.
 */
let computeWithCurrentClient: ((value: Delayed<unknown>) => Promise<unknown>) | undefined;

/** @internal called once by src/client/client.ts */
export function setDelayedCompute(compute: (value: Delayed<unknown>) => Promise<unknown>): void {
  computeWithCurrentClient = compute;
}

/**
 * An argument position accepts the value itself, a Delayed of it, or a
 * Future of it; where a function is expected, also a module function
 * reference (remoteModule), which the worker imports and passes as the function.
 */
export type Lazy<T> =
  | T
  | KeyRef
  | (T extends AnyFunction ? ModuleFunction<T> : never)
  | (T extends readonly (infer U)[] ? Lazy<U>[] : never);
export type LazyArgs<P extends readonly unknown[]> = { [K in keyof P]: Lazy<P[K]> };

export class Delayed<T = unknown> extends KeyRef {
  /** @internal phantom for the result type */
  declare readonly __result?: T;

  constructor(
    readonly key: string,
    readonly fn: FunctionSpec,
    readonly args: Uint8Array,
    readonly refs: KeyRef[],
    readonly retries = 0,
  ) {
    super();
  }

  /** Computes this value with the current client. */
  async compute(): Promise<T> {
    if (!computeWithCurrentClient) {
      throw new TesseraError('ERR_TESSERA_NO_CLIENT', 'no connected client: call `await Client.connect(cluster)` first');
    }
    return (await computeWithCurrentClient(this)) as T;
  }

  override toString(): string {
    return `Delayed('${this.key}')`;
  }
}

export interface DelayedOptions {
  /** Key prefix (defaults to the function's name); the task group shown in the dashboard. */
  name?: string;
  /** Same function and arguments give the same key, so the work is shared (default false, as Dask). */
  pure?: boolean;
  retries?: number;
}

export function delayed<TF extends TaskFunction>(
  fn: TF,
  opts: DelayedOptions = {},
): (...args: LazyArgs<Parameters<FunctionOf<TF>>>) => Delayed<Awaited<ReturnType<FunctionOf<TF>>>> {
  const spec = serializeFunction(fn as TaskFunction<AnyFunction>);
  const name = safeName(opts.name ?? functionName(spec));
  const specId = spec.kind === 'inline' ? spec.source : `${spec.url}#${spec.export}`;
  return (...args) => {
    const { bytes, refs } = encodeArgs(args);
    const key = taskKey(name, opts.pure ? tokenize(specId, bytes) : uniqueToken());
    return new Delayed(key, spec, bytes, refs, opts.retries ?? 0);
  };
}

/**
 * The tasks needed to compute `outputs`, dependencies first (depth-first
 * post-order from the outputs, which keeps memory low when executed in this
 * order). Futures are leaves: already submitted, not part of the graph.
 */
export function collectGraph(outputs: readonly KeyRef[]): TaskDef[] {
  const out: TaskDef[] = [];
  const seen = new Set<string>();
  const stack: { node: Delayed; next: number }[] = [];
  for (const root of outputs) {
    if (!(root instanceof Delayed) || seen.has(root.key)) continue;
    seen.add(root.key);
    stack.push({ node: root, next: 0 });
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const refs = top.node.refs;
      if (top.next < refs.length) {
        const child = refs[top.next++]!;
        if (child instanceof Delayed && !seen.has(child.key)) {
          seen.add(child.key);
          stack.push({ node: child, next: 0 });
        }
        continue;
      }
      stack.pop();
      const n = top.node;
      out.push({ key: n.key, fn: n.fn, args: n.args, deps: n.refs.map((r) => r.key), ...(n.retries ? { retries: n.retries } : {}) });
    }
  }
  return out;
}

export { uniqueToken };
