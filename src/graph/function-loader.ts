/**
 * Turns a FunctionSpec (function-spec.ts, made by functions.ts on the client)
 * back into a callable: inside a worker's executor thread, and on the
 * scheduler for client.runOnScheduler(). Each thread compiles an inline
 * function or imports a module once and reuses it, so a graph of 100,000
 * tasks of the same function pays the compile or import once per thread,
 * not per task.
 */

import { compileFunction, importModule } from '../boot/host.js';
import { FunctionError } from '../errors.js';
import type { AnyFunction } from './function-spec.js';
import type { FunctionSpec } from '../protocol/messages.js';

/**
 * Node built-in modules an inline function may use without importing them,
 * under these names. The client's free-variable check allows exactly these,
 * so `client.run(() => os.hostname())` works although the client script
 * imported `os` itself.
 */
export const INJECTED_MODULE_NAMES = ['os', 'fs', 'path', 'crypto', 'util', 'zlib', 'url', 'child_process'] as const;

/**
 * esbuild's keepNames (used by tsx and most bundlers) rewrites nested
 * functions as `__name(fn, "fn")`, calling a helper defined at the top of the
 * client's module. Workers provide a stand-in with the same behaviour.
 */
export const NAME_SHIM = '__name';

const RESERVED = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await arguments eval undefined NaN ' +
    'Infinity').split(' '),
);

/**
 * Whether a function's name can be declared as a strict-mode `const` on the
 * worker, which is what lets an arrow function refer to itself by the name
 * of the variable it was assigned to.
 */
export function isBindableName(name: string): boolean {
  return /^[A-Za-z_$][\w$]*$/.test(name) && !RESERVED.has(name);
}

function nameShim<T extends object>(target: T, value: string): T {
  try {
    Object.defineProperty(target, 'name', { value, configurable: true });
  } catch {
    // Naming is cosmetic; a frozen function still runs.
  }
  return target;
}

let builtins: Promise<unknown[]> | undefined;

function loadBuiltins(): Promise<unknown[]> {
  // `.default` is the CommonJS exports object, i.e. what `import os from
  // 'node:os'` gives the user on the client; it has every member.
  builtins ??= Promise.all(
    INJECTED_MODULE_NAMES.map(async (name) => ((await importModule(`node:${name}`)) as { default: unknown }).default),
  );
  return builtins;
}

/**
 * Inline sources are keyed by text, so a client that generates a fresh
 * function per task (a new closure-free lambda each time) would grow the
 * cache without bound; past this many entries the oldest are dropped.
 */
const MAX_CACHED = 2048;

const loaded = new Map<string, AnyFunction>();
const pending = new Map<string, Promise<AnyFunction>>();

/** One string per distinct function a spec describes. */
export function functionKey(spec: FunctionSpec): string {
  // The name is part of the key: `const inc = x => x + 1` and
  // `const up = x => x + 1` share a source but are named differently.
  return spec.kind === 'inline' ? `i:${spec.name}\0${spec.source}` : `m:${spec.url}#${spec.export}`;
}

/**
 * The function for a spec this thread has already loaded, or undefined.
 * Lets the executor's hot path skip a promise per task.
 */
export function cachedFunction(spec: FunctionSpec): AnyFunction | undefined {
  return loaded.get(functionKey(spec));
}

/** Compiles or imports the function a spec names; once per thread and spec. */
export function loadFunction(spec: FunctionSpec): Promise<AnyFunction> {
  const key = functionKey(spec);
  const hit = loaded.get(key);
  if (hit !== undefined) return Promise.resolve(hit);
  let inFlight = pending.get(key);
  if (inFlight === undefined) {
    inFlight = (spec.kind === 'inline' ? compileInline(spec) : importExport(spec)).then(
      (fn) => {
        pending.delete(key);
        if (loaded.size >= MAX_CACHED) {
          const oldest = loaded.keys().next();
          if (oldest.done !== true) loaded.delete(oldest.value);
        }
        loaded.set(key, fn);
        return fn;
      },
      (err: unknown) => {
        // Not cached: a module fixed on the shared file system (or a
        // transient import failure) can load on the next attempt.
        pending.delete(key);
        throw err;
      },
    );
    pending.set(key, inFlight);
  }
  return inFlight;
}

function describeName(name: string): string {
  return name ? `function "${name}"` : 'an anonymous function';
}

async function compileInline(spec: Extract<FunctionSpec, { kind: 'inline' }>): Promise<AnyFunction> {
  const modules = await loadBuiltins();
  // Re-binding the name the function had on the client keeps it in worker
  // stack traces and makes `const fib = (n) => ... fib(n - 1) ...` work
  // (the client check lets such a self-reference through). The block lets
  // the binding shadow an injected module of the same name. Names that cannot
  // be bound still name the function as a property key; a computed key
  // avoids the `__proto__: value` special case.
  let body: string;
  if (isBindableName(spec.name)) {
    body = `{ const ${spec.name} = (${spec.source}\n); return ${spec.name}; }`;
  } else if (spec.name) {
    const key = JSON.stringify(spec.name);
    body = `return ({ [${key}]: (${spec.source}\n) })[${key}];`;
  } else {
    body = `return (${spec.source}\n);`;
  }
  let factory: (...args: unknown[]) => unknown;
  try {
    // Functions written in ES modules and TypeScript are strict, so compile
    // strict; only source that is not valid strict code (a sloppy script's
    // `with`, legacy octal) falls back to sloppy mode.
    factory = compileFunction(...INJECTED_MODULE_NAMES, NAME_SHIM, `"use strict";\n${body}`);
  } catch (strictErr) {
    if (!(strictErr instanceof SyntaxError)) throw strictErr;
    try {
      factory = compileFunction(...INJECTED_MODULE_NAMES, NAME_SHIM, body);
    } catch (err) {
      throw new FunctionError(
        `could not compile ${describeName(spec.name)} on the worker: ${(err as Error).message}. ` +
          `The client and workers must run the same Node.js version; if they do, submit the function ` +
          `from a module with moduleFunction(url, 'name') instead`,
        { cause: err },
      );
    }
  }
  const fn = factory(...modules, nameShim);
  if (typeof fn !== 'function') {
    throw new FunctionError(
      `the source shipped for ${describeName(spec.name)} evaluated to ${typeof fn}, not a function`,
    );
  }
  return fn as AnyFunction;
}

function importHint(err: unknown, url: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' || /\.[mc]?tsx?$/.test(url)) {
    return 'Workers run plain Node.js: point the URL at the compiled .js file, not the TypeScript source';
  }
  if (code === 'ERR_MODULE_NOT_FOUND') {
    return 'Workers import the module from their own file system, so the file (and its dependencies) must ' +
      'exist at this path on every worker host, e.g. on a shared file system';
  }
  return 'Fix the module so that it imports cleanly (try `node -e "import(process.argv[1])" <url>` on a worker host)';
}

function listFunctionExports(ns: Record<string, unknown>): string {
  const names = Object.keys(ns).filter((k) => typeof ns[k] === 'function' && !isClass(ns[k]));
  return names.length ? names.join(', ') : '(none)';
}

function isClass(value: unknown): boolean {
  return typeof value === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(value));
}

async function importExport(spec: Extract<FunctionSpec, { kind: 'module' }>): Promise<AnyFunction> {
  let ns: Record<string, unknown>;
  try {
    ns = (await importModule(spec.url)) as Record<string, unknown>;
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    throw new FunctionError(
      `could not import module ${spec.url} (for its export "${spec.export}"): ${cause}. ${importHint(err, spec.url)}`,
      { cause: err },
    );
  }
  if (!Object.prototype.hasOwnProperty.call(ns, spec.export)) {
    const others = Object.keys(ns).filter((k) => typeof ns[k] !== 'function' || isClass(ns[k]));
    throw new FunctionError(
      `module ${spec.url} has no export named "${spec.export}"; its function exports are: ` +
        `${listFunctionExports(ns)}${others.length ? ` (other exports: ${others.join(', ')})` : ''}. ` +
        `Export the function from the module, or fix the name passed to moduleFunction()/remoteModule()`,
    );
  }
  const value = ns[spec.export];
  if (typeof value !== 'function' || isClass(value)) {
    const what = isClass(value) ? 'a class' : value === null ? 'null' : `a ${typeof value}`;
    throw new FunctionError(
      `export "${spec.export}" of module ${spec.url} is ${what}, not a function, so it cannot run as a task; ` +
        `its function exports are: ${listFunctionExports(ns)}`,
    );
  }
  return value as AnyFunction;
}
