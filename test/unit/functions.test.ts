// Function shipping: what serializeFunction accepts and refuses on the
// client, and that what it produces compiles and runs through the worker's
// loadFunction with the same results as calling the function locally.

import assert from 'node:assert/strict';
import child_process from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import url, { fileURLToPath } from 'node:url';
import util from 'node:util';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';

import ts from 'typescript';

import { errorToInfo } from '../../src/comm/comm.js';
import { ClosureError, FunctionError, InvalidArgumentError, TaskError, TesseraError } from '../../src/errors.js';
import { decodeArgs, deserializeValue, encodeArgs, serializeValue } from '../../src/graph/serialize.js';
import type { AnyFunction, FunctionOf, ModuleFunction } from '../../src/graph/function-spec.js';
import type { FunctionSpec } from '../../src/protocol/messages.js';
import { functionName, moduleFunction, remoteModule, serializeFunction } from '../../src/graph/functions.js';
import { cachedFunction, loadFunction } from '../../src/graph/function-loader.js';

const tasksUrl = new URL('../fixtures/functions/tasks.js', import.meta.url);
type Tasks = typeof import('../fixtures/functions/tasks.js');

/** What a worker would get: the function rebuilt from its spec alone. */
async function shipped<F extends AnyFunction>(fn: F): Promise<F> {
  return (await loadFunction(serializeFunction(fn))) as F;
}

async function collect<T>(it: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

function closureError(fn: AnyFunction): ClosureError {
  try {
    serializeFunction(fn);
  } catch (err) {
    assert.ok(err instanceof ClosureError, `expected ClosureError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_TESSERA_CLOSURE');
    return err;
  }
  assert.fail(`serializeFunction accepted ${fn.toString()}`);
}

/** 1-based line:column of the nth occurrence of `needle` in the function's own source. */
function positionIn(fn: AnyFunction, needle: string, nth = 0): string {
  const src = Function.prototype.toString.call(fn);
  let at = -1;
  for (let i = 0; i <= nth; i++) at = src.indexOf(needle, at + 1);
  assert.ok(at >= 0, `${needle} not in ${src}`);
  const before = src.slice(0, at).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

// ---------------------------------------------------------------------------
// Fixtures for syntactic forms
// ---------------------------------------------------------------------------

function addDecl(a: number, b: number): number {
  return a + b;
}
async function asyncDecl(x: number): Promise<number> {
  await Promise.resolve();
  return x * 3;
}
function* genDecl(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i * i;
}
async function* asyncGenDecl(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield await Promise.resolve(i + 10);
}
const namedExpr = function square(x: number): number {
  return x * x;
};
const anonExpr = function (x: number): number {
  return -x;
};
const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));

const methods = {
  inc(x: number): number {
    return x + 1;
  },
  async ainc(x: number): Promise<number> {
    return x + 2;
  },
  *gen(n: number): Generator<number> {
    yield n;
    yield n + 1;
  },
  async *agen(n: number): AsyncGenerator<number> {
    yield n * 10;
  },
  'quoted key'(s: string): string {
    return s.toUpperCase();
  },
  [Symbol.for('tessera.test')](x: number): number {
    return x - 1;
  },
  async(x: number): number {
    return x + 5;
  },
  get(x: number): number {
    return x * 7;
  },
};

class Shapes {
  static area(w: number, h: number): number {
    return w * h;
  }
  perimeter(w: number, h: number): number {
    return 2 * (w + h);
  }
  static async later(x: number): Promise<number> {
    return x;
  }
  static *range(n: number): Generator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
}

describe('serializeFunction: accepted forms compile and run like local calls', () => {
  const cases: Array<[string, AnyFunction, unknown[]]> = [
    ['function declaration', addDecl, [2, 3]],
    ['async function', asyncDecl, [4]],
    ['named function expression', namedExpr, [9]],
    ['anonymous function expression', anonExpr, [9]],
    ['arrow, expression body', (x: number) => x + 1, [1]],
    ['arrow, single bare parameter', ((x: number) => x * 2) as AnyFunction, [21]],
    ['arrow, block body', (x: number) => {
      const y = x * 2;
      return y + 1;
    }, [5]],
    ['async arrow', async (x: number) => (await Promise.resolve(x)) + 1, [1]],
    ['arrow with destructuring and defaults', ({ a, b = 2 }: { a: number; b?: number }, ...rest: number[]) =>
      a + b + rest.length, [{ a: 1 }, 7, 8]],
    ['recursive arrow (refers to its own variable)', fib, [10]],
    ['object method shorthand', methods.inc, [1]],
    ['async method', methods.ainc, [1]],
    ['method named "quoted key"', methods['quoted key'], ['abc']],
    ['method with a computed symbol key', methods[Symbol.for('tessera.test')], [5]],
    ['method named async', methods.async, [1]],
    ['method named get', methods.get, [2]],
    ['static class method', Shapes.area, [3, 4]],
    ['class instance method not using this', Shapes.prototype.perimeter, [3, 4]],
    ['async static class method', Shapes.later, ['x']],
    ['nested function with its own this', () => {
      function own(this: unknown) {
        return typeof this;
      }
      return own.call(5);
    }, []],
    ['nested class', (n: number) => {
      class Box {
        constructor(readonly v: number) {}
        double() {
          return this.v * 2;
        }
      }
      return new Box(n).double();
    }, [21]],
    ['parameter shadowing an injected module name', (path: string) => path.length, ['abc']],
    ['new Function source', new Function('a', 'b', 'return a * b') as AnyFunction, [6, 7]],
  ];
  for (const [label, fn, args] of cases) {
    test(label, async () => {
      const remote = await shipped(fn);
      assert.equal(typeof remote, 'function');
      assert.notEqual(remote, fn);
      assert.deepEqual(await remote(...args), await fn(...args));
    });
  }

  const generators: Array<[string, AnyFunction, unknown[]]> = [
    ['generator function', genDecl, [4]],
    ['async generator function', asyncGenDecl, [3]],
    ['generator method', methods.gen, [1]],
    ['async generator method', methods.agen, [2]],
    ['static generator method', Shapes.range, [3]],
  ];
  for (const [label, fn, args] of generators) {
    test(label, async () => {
      const remote = await shipped(fn);
      assert.deepEqual(await collect(remote(...args)), await collect(fn(...args)));
    });
  }

  test('keeps the name the function had on the client', async () => {
    const inc = (x: number) => x + 1;
    assert.equal((await shipped(inc)).name, 'inc');
    assert.equal((await shipped(methods.inc)).name, 'inc');
    assert.equal((await shipped(addDecl)).name, 'addDecl');
    const spec = serializeFunction(inc);
    // A plain copy: the spec itself carries the mark the wire codec shares specs by (protocol/function-specs.ts).
    assert.deepEqual({ ...spec }, { kind: 'inline', source: '(x) => x + 1', name: 'inc' });
  });

  test('runs in a real worker thread', async () => {
    const run = (spec: FunctionSpec, args: unknown[]) =>
      new Promise<{ ok: boolean; value?: unknown; code?: string; message?: string }>((resolve, reject) => {
        const w = new Worker(new URL('../fixtures/functions/load-in-worker.js', import.meta.url), {
          workerData: { spec, args },
        });
        w.once('message', (m) => {
          resolve(m as { ok: boolean });
          void w.terminate();
        });
        w.once('error', reject);
      });
    const r1 = await run(serializeFunction((n: number) => `${os.hostname()}:${path.join('a', 'b')}:${n}`), [3]);
    assert.deepEqual(r1, { ok: true, value: `${os.hostname()}:${path.join('a', 'b')}:3` });
    const r2 = await run(serializeFunction(moduleFunction(tasksUrl, 'add')), [2, 40]);
    assert.deepEqual(r2, { ok: true, value: 42 });
    const r3 = await run(serializeFunction(moduleFunction(tasksUrl, 'nope')), []);
    assert.equal(r3.ok, false);
    assert.equal(r3.code, 'ERR_TESSERA_FUNCTION');
  });
});

describe('serializeFunction: globals, built-in modules and dynamic import are allowed', () => {
  test('JS and Node globals', async () => {
    const fn = (xs: number[]) => [
      Math.max(...xs),
      JSON.stringify(xs),
      typeof process.pid,
      Buffer.from('ab').length,
      structuredClone({ a: [1] }),
      new URL('http://example.com/x').host,
      new TextEncoder().encode('é').length,
      Number.isNaN(NaN),
      undefined,
      Infinity,
      typeof setTimeout,
      typeof queueMicrotask,
      typeof fetch,
      globalThis === global,
      new Map([[1, 2]]).size,
    ];
    assert.deepEqual((await shipped(fn))([1, 5, 2]), fn([1, 5, 2]));
  });

  test('os, fs, path, crypto, util, zlib, url and child_process are injected under their usual names', async () => {
    const fn = () => [
      os.hostname(),
      path.join('a', 'b'),
      typeof fs.readFileSync,
      crypto.createHash('sha256').update('x').digest('hex'),
      util.format('%d items', 3),
      zlib.gunzipSync(zlib.gzipSync('hi')).toString(),
      url.fileURLToPath('file:///tmp/x'),
      typeof child_process.spawn,
    ];
    assert.deepEqual((await shipped(fn))(), fn());
  });

  test('await import() inside the function', async () => {
    const fn = async () => (await import('node:os')).hostname();
    assert.equal(await (await shipped(fn))(), os.hostname());
  });

  test("esbuild's __name helper works on the worker", async () => {
    // What tsx/esbuild keepNames emits for a nested named function.
    const fn = new Function('x', 'const g = __name(() => x + 1, "g"); return [g.name, g(1)]') as AnyFunction;
    assert.deepEqual((await shipped(fn))(1), ['g', 2]);
  });
});

describe('serializeFunction: refusals', () => {
  test('a captured local is refused and named', () => {
    const factor = 3;
    const scale = (x: number) => x * factor;
    const err = closureError(scale);
    assert.equal(err.functionName, 'scale');
    assert.deepEqual(err.variables.map((v) => v.name), ['factor']);
    assert.match(err.message, new RegExp(`factor \\(${positionIn(scale, 'factor')}\\)`));
    assert.match(err.message, /function "scale"/);
    assert.match(err.message, /add factor as a parameter, \(x, factor\) => …, and pass it as an argument of the task/);
    assert.match(err.message, /submit remoteModule\(new URL\('\.\/tasks\.js', import\.meta\.url\)\)\.scale\./);
  });

  test('several captured variables are all named with every position', () => {
    const offset = 1;
    const factor = 2;
    const several = (x: number) => {
      const y = x * factor;
      return y + offset + factor;
    };
    const err = closureError(several);
    assert.deepEqual([...new Set(err.variables.map((v) => v.name))].sort(), ['factor', 'offset']);
    const f1 = positionIn(several, 'factor', 0);
    const f2 = positionIn(several, 'factor', 1);
    const o1 = positionIn(several, 'offset', 0);
    assert.ok(err.message.includes(`factor (${f1}, ${f2})`), err.message);
    assert.ok(err.message.includes(`offset (${o1})`), err.message);
    assert.match(err.message, /pass them as arguments/i);
  });

  test('captured imports and module-level helpers are refused', () => {
    const usesImport = () => fileURLToPath('file:///x');
    assert.deepEqual(closureError(usesImport).variables.map((v) => v.name), ['fileURLToPath']);
    const usesHelper = (a: number) => addDecl(a, 1);
    assert.deepEqual(closureError(usesHelper).variables.map((v) => v.name), ['addDecl']);
  });

  test('a global added by the user after startup counts as captured', () => {
    (globalThis as Record<string, unknown>)['tesseraTestLateGlobal'] = 1;
    try {
      const fn = new Function('return tesseraTestLateGlobal') as AnyFunction;
      assert.deepEqual(closureError(fn).variables.map((v) => v.name), ['tesseraTestLateGlobal']);
    } finally {
      delete (globalThis as Record<string, unknown>)['tesseraTestLateGlobal'];
    }
  });

  test('require gets a hint to use import()', () => {
    const err = closureError(new Function('return require("node:os")') as AnyFunction);
    assert.match(err.message, /await import\(/);
  });

  test('this in an arrow function is refused', () => {
    class Holder {
      value = 3;
      task() {
        return () => this.value;
      }
    }
    const err = closureError(new Holder().task());
    assert.match(err.message, /uses this/);
    assert.match(err.message, /arrow function/);
  });

  test('this in a regular function or method is refused', () => {
    function usesThis(this: { v: number }) {
      return this.v;
    }
    assert.match(closureError(usesThis).message, /uses this \(2:\d+\), which would be undefined on the worker/);
    const obj = { v: 1, get2() { return this.v; } };
    assert.match(closureError(obj.get2).message, /uses this/);
  });

  test('super is refused', () => {
    class Base {
      m() {
        return 1;
      }
    }
    class Derived extends Base {
      override m() {
        return super.m() + 1;
      }
    }
    assert.match(closureError(Derived.prototype.m).message, /uses super/);
  });

  test('import.meta is refused', () => {
    assert.match(closureError(() => import.meta.url).message, /import\.meta/);
  });

  test("an arrow using its enclosing function's arguments is refused", () => {
    function outer(..._args: number[]) {
      return () => arguments.length;
    }
    const err = closureError(outer(1, 2));
    assert.deepEqual(err.variables.map((v) => v.name), ['arguments']);
    assert.match(err.message, /rest parameters/);
  });

  test('a function using its own arguments is fine', async () => {
    function count() {
      return arguments.length;
    }
    assert.equal((await shipped(count as AnyFunction))(1, 2, 3), 3);
  });

  const unsupported: Array<[string, unknown, RegExp]> = [
    ['native function', Math.max, /function "max" is native code .* Wrap it in a function of your own/],
    ['bound function', addDecl.bind(null, 1), /bound function.*Submit the original function and pass the bound values/],
    ['class', Shapes, /class "Shapes" cannot run as a task/],
    ['getter', Object.getOwnPropertyDescriptor({ get x() { return 1; } }, 'x')!.get, /property getter/],
    ['setter', Object.getOwnPropertyDescriptor({ set x(_v: number) {} }, 'x')!.set, /property setter/],
    ['proxy of a function', new Proxy(() => 1, {}), /native code/],
  ];
  for (const [label, value, message] of unsupported) {
    test(`${label} is refused with ERR_TESSERA_FUNCTION`, () => {
      assert.throws(
        () => serializeFunction(value as AnyFunction),
        (err: unknown) => err instanceof FunctionError && err.code === 'ERR_TESSERA_FUNCTION' && message.test(err.message),
      );
    });
  }

  test('a value that is not a function is refused', () => {
    assert.throws(() => serializeFunction(42 as unknown as AnyFunction), InvalidArgumentError);
    assert.throws(() => serializeFunction({ kind: 'module' } as unknown as AnyFunction), InvalidArgumentError);
  });
});

describe('serializeFunction: caching', () => {
  test('the same function gives the same frozen spec', () => {
    const fn = (x: number) => x + 1;
    const a = serializeFunction(fn);
    assert.equal(serializeFunction(fn), a);
    assert.ok(Object.isFrozen(a));
  });

  test('a worker thread compiles a spec once', async () => {
    const spec = serializeFunction((x: number) => x * 3);
    const a = await loadFunction(spec);
    assert.equal(await loadFunction({ ...spec }), a);
    assert.equal(cachedFunction({ ...spec }), a);
  });

  test('the same source under different names is two functions', async () => {
    const up = (x: number) => x + 1;
    const inc = (x: number) => x + 1;
    assert.equal((await shipped(up)).name, 'up');
    assert.equal((await shipped(inc)).name, 'inc');
  });
});

describe('module functions', () => {
  test('moduleFunction references load and run', async () => {
    const inc = moduleFunction<Tasks['inc']>(tasksUrl, 'inc');
    // A class instance (so that one passed as an argument is recognised), with these fields.
    assert.deepEqual({ ...inc }, { kind: 'module', url: tasksUrl.href, export: 'inc' });
    assert.deepEqual({ ...serializeFunction(inc) }, { kind: 'module', url: tasksUrl.href, export: 'inc' });
    assert.equal((await loadFunction(serializeFunction(inc)))(41), 42);
    assert.equal(await (await loadFunction(serializeFunction(moduleFunction(tasksUrl, 'slowDouble'))))(4), 8);
    assert.equal((await loadFunction(serializeFunction(moduleFunction(tasksUrl, 'default'))))('x'), 'hello x');
  });

  test('paths become file URLs; relative and non-file specifiers are refused', () => {
    const file = fileURLToPath(tasksUrl);
    assert.equal(moduleFunction(file, 'inc').url, tasksUrl.href);
    assert.equal(moduleFunction(tasksUrl.href, 'inc').url, tasksUrl.href);
    assert.throws(() => moduleFunction('./tasks.js', 'inc'), /new URL\('\.\/tasks\.js', import\.meta\.url\)/);
    assert.throws(() => moduleFunction('lodash', 'map'), InvalidArgumentError);
    assert.throws(() => moduleFunction('https://example.com/t.js', 'inc'), /not a file: URL/);
    assert.throws(() => moduleFunction(tasksUrl, ''), /export name/);
    assert.throws(
      () => serializeFunction({ kind: 'module', url: 'tasks.js', export: 'inc' }),
      InvalidArgumentError,
    );
  });

  test('remoteModule gives typed references to every function export', async () => {
    const tasks = remoteModule<Tasks>(tasksUrl);
    const incRef: ModuleFunction<(x: number) => number> = tasks.inc;
    const addRef: ModuleFunction<(a: number, b: number) => number> = tasks.add;
    const greetRef: ModuleFunction<(name: string) => string> = tasks.default;
    // Type-level: the plain function type is recovered exactly.
    const sameType: Equal<FunctionOf<typeof tasks.slowDouble>, (x: number) => Promise<number>> = true;
    assert.ok(sameType);
    // @ts-expect-error `answer` is a number export, not a function
    void tasks.answer;
    // @ts-expect-error no such export
    void tasks.missing;
    // @ts-expect-error argument types are checked through the reference
    const wrong: ModuleFunction<(x: string) => number> = tasks.inc;
    void wrong;

    assert.equal(tasks.inc, incRef);
    assert.deepEqual({ ...incRef }, { kind: 'module', url: tasksUrl.href, export: 'inc' });
    assert.equal((await loadFunction(serializeFunction(addRef)))(1, 2), 3);
    assert.equal((await loadFunction(serializeFunction(greetRef)))('y'), 'hello y');
    assert.equal((tasks as unknown as { then?: unknown }).then, undefined);
    assert.equal(await tasks, tasks, 'awaiting the module view by mistake must not hang');
    assert.throws(() => remoteModule('./tasks.js'), InvalidArgumentError);
  });

  test('a missing export names the module and lists what exists', async () => {
    await assert.rejects(loadFunction(serializeFunction(moduleFunction(tasksUrl, 'incr'))), (err: unknown) => {
      assert.ok(err instanceof FunctionError);
      assert.equal(err.code, 'ERR_TESSERA_FUNCTION');
      assert.ok(err.message.includes(tasksUrl.href), err.message);
      assert.match(err.message, /no export named "incr"/);
      assert.match(err.message, /function exports are: add, default, inc, slowDouble \(other exports: Counter, answer\)/);
      return true;
    });
  });

  test('a non-function export is refused, classes included', async () => {
    await assert.rejects(
      loadFunction(serializeFunction(moduleFunction(tasksUrl, 'answer'))),
      /export "answer" of module .* is a number, not a function.*function exports are: .*inc/,
    );
    await assert.rejects(
      loadFunction(serializeFunction(moduleFunction(tasksUrl, 'Counter'))),
      /export "Counter" of module .* is a class/,
    );
  });

  test('a module that fails to import names the URL and the cause', async () => {
    const broken = new URL('../fixtures/functions/broken.js', import.meta.url);
    await assert.rejects(loadFunction(serializeFunction(moduleFunction(broken, 'f'))), (err: unknown) => {
      assert.ok(err instanceof FunctionError);
      assert.ok(err.message.includes(broken.href), err.message);
      assert.match(err.message, /fixture module fails on import/);
      assert.ok(err.cause instanceof Error);
      return true;
    });
  });

  test('a module that does not exist says where workers look for it', async () => {
    const missing = new URL('../fixtures/functions/no-such-module.js', import.meta.url);
    const spec = serializeFunction(moduleFunction(missing, 'f'));
    await assert.rejects(loadFunction(spec), /could not import module .*no-such-module\.js.*every worker host/);
    // Failures are not cached: the file may appear on the shared file system later.
    await assert.rejects(loadFunction(spec), /could not import module/);
    const ts = new URL('../fixtures/functions/tasks.ts', import.meta.url);
    await assert.rejects(loadFunction(serializeFunction(moduleFunction(ts, 'inc'))), /compiled \.js file/);
  });
});

describe('functionName', () => {
  test('names for keys', () => {
    assert.equal(functionName(serializeFunction(addDecl)), 'addDecl');
    assert.equal(functionName(serializeFunction((x: number) => x)), 'lambda');
    const inc = (x: number) => x + 1;
    assert.equal(functionName(serializeFunction(inc)), 'inc');
    assert.equal(functionName(serializeFunction(new Function('return 1') as AnyFunction)), 'lambda');
    assert.equal(functionName(serializeFunction(methods['quoted key'])), 'quoted_key');
    assert.equal(functionName(moduleFunction(tasksUrl, 'inc') as unknown as FunctionSpec), 'inc');
    assert.equal(functionName(serializeFunction(moduleFunction(tasksUrl, 'default'))), 'tasks');
  });
});

// ---------------------------------------------------------------------------
// Values keep their meaning (issue 11)
// ---------------------------------------------------------------------------

/** What the worker's executor thread does with the bytes: decode, loading shipped functions first if needed. */
async function roundTrip(args: unknown[]): Promise<unknown[]> {
  const { bytes } = encodeArgs(args);
  return await decodeArgs(bytes, new Map());
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return assert.fail('expected a throw');
}

describe('functions as task arguments', () => {
  test('top-level, nested and repeated functions come back callable', async () => {
    const double = (v: number) => v * 2;
    const [f, opts, list, n] = (await roundTrip([
      (y: number) => y + 1,
      { ops: { double, named: function triple(v: number) { return v * 3; } } },
      [double, double],
      5,
    ])) as [
      (y: number) => number,
      { ops: { double: (v: number) => number; named: (v: number) => number } },
      Array<(v: number) => number>,
      number,
    ];
    assert.equal(f(2), 3);
    assert.equal(opts.ops.double(21), 42);
    assert.equal(opts.ops.named(2), 6);
    assert.equal(opts.ops.named.name, 'triple');
    assert.deepEqual(list.map((g) => g(4)), [8, 8]);
    assert.equal(n, 5);
  });

  test('once this thread has loaded them, decoding is synchronous', async () => {
    const { bytes } = encodeArgs([(s: string) => s.toUpperCase()]);
    const first = decodeArgs(bytes, new Map());
    assert.ok(first instanceof Promise, 'the first decode compiles the function');
    assert.equal(((await first)[0] as (s: string) => string)('a'), 'A');
    const second = decodeArgs(bytes, new Map());
    assert.ok(Array.isArray(second), 'a loaded function costs no promise');
    assert.equal((second[0] as (s: string) => string)('b'), 'B');
  });

  test('a module-level helper passed as an argument works (NREL\'s slowinc with its sleep helper)', async () => {
    const inc = (x: number, helper: typeof addDecl) => helper(x, 1);
    const [fn, helper] = (await roundTrip([inc, addDecl])) as [typeof inc, typeof addDecl];
    assert.equal(fn(41, helper), 42);
  });

  test('remoteModule and moduleFunction references arrive as the imported functions', async () => {
    const tasks = remoteModule<Tasks>(tasksUrl);
    const [inc, nested] = (await roundTrip([tasks.inc, { add: moduleFunction(tasksUrl, 'add') }])) as [
      (x: number) => number,
      { add: (a: number, b: number) => number },
    ];
    assert.equal(inc(1), 2);
    assert.equal(nested.add(2, 3), 5);
    // User data that merely has the same fields stays data.
    const look = { kind: 'module', url: tasksUrl.href, export: 'inc' };
    assert.deepEqual(await roundTrip([look]), [look]);
    // Outside arguments (a result holding one) a reference stays a reference, usable as a task function.
    const back = deserializeValue(serializeValue({ fn: tasks.inc })) as { fn: unknown };
    assert.deepEqual({ ...(back.fn as object) }, { ...tasks.inc });
    assert.deepEqual(serializeFunction(back.fn as ModuleFunction), serializeFunction(tasks.inc));
  });

  test('a captured variable in a function argument is refused with where the function is', () => {
    const factor = 3;
    const err = thrownBy(() => encodeArgs([1, { scale: (y: number) => y * factor }]));
    assert.ok(err instanceof ClosureError, String(err));
    assert.equal(err.code, 'ERR_TESSERA_CLOSURE');
    assert.deepEqual(err.variables.map((v) => v.name), ['factor']);
    assert.match(err.message, /^function "scale" at args\[1\]\.scale in the task's arguments cannot be shipped to workers: it uses factor \(1:\d+\)/);
    assert.match(err.message, /add factor as a parameter, \(y, factor\) => …, and have the task pass it in/);
    assert.match(err.message, /pass remoteModule\(new URL\('\.\/tasks\.js', import\.meta\.url\)\)\.scale in its place/);
  });

  test('a native or bound function argument is refused with where it is', () => {
    const err = thrownBy(() => encodeArgs([[0, addDecl.bind(null, 1)]]));
    assert.ok(err instanceof FunctionError, String(err));
    assert.match(err.message, /at args\[0\]\[1\] in the task's arguments is a bound function/);
  });

  test('a function in a result is a serialization error naming its path', () => {
    const err = thrownBy(() => serializeValue({ rows: [1, { fmt: (x: number) => x }] }));
    assert.ok(err instanceof TesseraError, String(err));
    assert.equal(err.code, 'ERR_TESSERA_SERIALIZE');
    assert.match(err.message, /a task result: it contains function "fmt" at result\.rows\[1\]\.fmt, and results must be data/);
    const inMap = thrownBy(() => serializeValue(new Map([['k', () => 1]])));
    assert.match((inMap as Error).message, /at result\.get\("k"\)/);
    assert.match((thrownBy(() => serializeValue(() => 1)) as Error).message, /an anonymous function at result,/);
  });
});

describe('closure errors for module-level helpers', () => {
  // NREL's Dask example, ported: `function sleep(ms) {...}` at the top of the
  // script and `const inc = delayed((x) => { sleep(1); return x + 1; })`.
  test('say the two ways out, naming the variable, in one short paragraph', () => {
    const inc = (x: number) => {
      addDecl(1, 1);
      return x + 1;
    };
    const err = closureError(inc);
    assert.deepEqual(err.variables.map((v) => v.name), ['addDecl']);
    assert.equal(
      err.message,
      `function "inc" cannot be shipped to workers: it uses addDecl (${positionIn(inc, 'addDecl')}), defined ` +
        `outside it, and workers receive only the function's source text. Either add addDecl as a parameter, ` +
        `(x, addDecl) => …, and pass it as an argument of the task (functions can be arguments too), or export ` +
        `the function from a module that defines addDecl too and submit ` +
        `remoteModule(new URL('./tasks.js', import.meta.url)).inc.`,
    );
    assert.ok(!err.message.includes('\n'));
  });

  test('the suggested parameter goes before a rest parameter, and names without a value get their hint only', () => {
    const rest = (...xs: number[]) => addDecl(xs.length, 0);
    assert.match(closureError(rest).message, /\(addDecl, \.\.\.xs\) => …/);
    const err = closureError(new Function('return require("node:os")') as AnyFunction);
    assert.doesNotMatch(err.message, /add require as a parameter/);
    assert.match(err.message, /await import\(/);
  });
});

/** Compiles `code` with TypeScript as a CommonJS module and returns its exports, as a tsc-built client would hold them. */
function compileTs(code: string, options: ts.CompilerOptions): Record<string, AnyFunction> {
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.CommonJS, ...options } }).outputText;
  const exports: Record<string, AnyFunction> = {};
  new Function('exports', 'require', js)(exports, () => ({}));
  return exports;
}

describe('TypeScript compiled for a target below ES2017', () => {
  const code = 'export const load = async (x: number) => { await null; return x + 1; };\n' +
    'export async function loadNamed(x: number) { return x; }';
  for (const target of [ts.ScriptTarget.ES2015, ts.ScriptTarget.ES5]) {
    test(`async functions compiled for ${ts.ScriptTarget[target]} are refused with the tsconfig fix`, () => {
      const compiled = compileTs(code, { target });
      for (const fn of [compiled['load']!, compiled['loadNamed']!]) {
        assert.match(Function.prototype.toString.call(fn), /__awaiter/);
        const err = closureError(fn);
        assert.equal(err.variables[0]!.name, '__awaiter');
        assert.match(err.message, /it was compiled for a target below ES2017, so it calls __awaiter/);
        assert.match(err.message, /Set `target` to ES2017 or later in tsconfig\.json/);
        assert.doesNotMatch(err.message, /uses this|as a parameter/, 'the generic advice would be wrong here');
      }
    });
  }

  test('with importHelpers (tslib) too; the same code compiled for ES2017 ships and runs', async () => {
    const fn = new Function('tslib_1', 'return (x) => (0, tslib_1.__awaiter)(void 0, void 0, void 0, function* () { return x; })')(
      {},
    ) as AnyFunction;
    assert.match(closureError(fn).message, /target below ES2017/);
    // Only calls count: a property that happens to have a helper's name is data.
    assert.deepEqual(await (await shipped(() => ({ __awaiter: 1 })))(), { __awaiter: 1 });
    const compiled = compileTs(code, { target: ts.ScriptTarget.ES2017 });
    assert.equal(await (await shipped(compiled['load']!))(1), 2);
  });
});

describe('thrown values on their way to the client', () => {
  /** What the client builds from what the executor thread sends (structured clone in between). */
  function asTaskError(thrown: unknown): TaskError {
    const info = structuredClone(errorToInfo(thrown));
    return new TaskError('t-1', info.name, info.message, info.stack, info);
  }

  test('a thrown plain object keeps its fields and reads well', () => {
    const err = asTaskError({ code: 42, reason: 'bad row' });
    assert.deepEqual(err.thrown, { code: 42, reason: 'bad row' });
    assert.deepEqual(err.fields, { code: 42, reason: 'bad row' });
    assert.equal(err.threwNonError, true);
    assert.equal(err.message, "task t-1 failed: it threw { code: 42, reason: 'bad row' }, which is not an Error (the value is in err.thrown)");
  });

  test('thrown strings, numbers and undefined arrive as themselves', () => {
    assert.equal(asTaskError('no rows').thrown, 'no rows');
    assert.match(asTaskError('no rows').message, /it threw 'no rows'/);
    assert.equal(asTaskError(7).thrown, 7);
    const u = asTaskError(undefined);
    assert.equal(u.threwNonError, true);
    assert.equal(u.thrown, undefined);
  });

  test('an Error subclass keeps its extra fields; functions and cycles in them become text', () => {
    class RowError extends Error {
      override name = 'RowError';
      code = 'E_ROW';
      row = { id: 3, cells: [1, 2] };
      self: unknown = this;
      fix = () => 1;
    }
    const err = asTaskError(new RowError('bad row 3'));
    assert.equal(err.remoteName, 'RowError');
    assert.equal(err.threwNonError, false);
    assert.equal(err.fields['code'], 'E_ROW');
    assert.deepEqual(err.fields['row'], { id: 3, cells: [1, 2] });
    assert.equal((err.fields['self'] as Record<string, unknown>)['self'], '[Circular]');
    assert.equal(err.fields['fix'], '[Function: fix]');
    assert.match(err.message, /RowError: bad row 3/);
  });
});

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
