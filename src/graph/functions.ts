/**
 * Client side of function shipping (DESIGN.md "Functions"): turns what the
 * user passes to submit/map/delayed into a FunctionSpec, refusing inline
 * functions that could not run on a worker, which only ever receives their
 * source text.
 */

import { parse, type Node as AcornNode, type Options as ParseOptions } from 'acorn';
import { analyze } from '../vendor/eslint-scope.js';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';

import { ClosureError, FunctionError, InvalidArgumentError, type CapturedVariable } from '../errors.js';
import { INJECTED_MODULE_NAMES, NAME_SHIM, isBindableName } from './function-loader.js';
import { setFunctionEncoder } from './serialize.js';
import {
  ModuleFunctionRef,
  isModuleFunction,
  type AnyFunction,
  type ModuleFunction,
  type TaskFunction,
} from './function-spec.js';
import type { FunctionSpec } from '../protocol/messages.js';
import { wireFunctionSpec } from '../protocol/function-specs.js';

// ---------------------------------------------------------------------------
// Names an inline function may use without defining them
// ---------------------------------------------------------------------------

/**
 * Listed explicitly as well as read from globalThis so the allow-list does
 * not depend on what the client process happens to have loaded (e.g. `fetch`
 * or `navigator` are lazy getters on some Node versions).
 */
const STANDARD_GLOBALS = [
  'globalThis', 'undefined', 'NaN', 'Infinity',
  'Object', 'Function', 'Array', 'Number', 'Boolean', 'String', 'Symbol', 'BigInt', 'Date', 'RegExp',
  'Promise', 'Proxy', 'Reflect', 'JSON', 'Math', 'Intl', 'Atomics', 'WebAssembly',
  'Error', 'AggregateError', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError',
  'Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef', 'FinalizationRegistry', 'Iterator',
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array',
  'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'Uint8ClampedArray', 'BigUint64Array',
  'BigInt64Array',
  'parseFloat', 'parseInt', 'isFinite', 'isNaN', 'decodeURI', 'decodeURIComponent', 'encodeURI',
  'encodeURIComponent', 'escape', 'unescape', 'eval',
  // Node and web platform globals present in worker threads too.
  'console', 'process', 'global', 'Buffer', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder',
  'structuredClone', 'fetch', 'Headers', 'Request', 'Response', 'FormData', 'Blob', 'File',
  'AbortController', 'AbortSignal', 'Event', 'EventTarget', 'CustomEvent', 'DOMException',
  'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
  'queueMicrotask', 'atob', 'btoa', 'performance', 'crypto', 'navigator',
  'MessageChannel', 'MessagePort', 'MessageEvent', 'BroadcastChannel',
  'ReadableStream', 'WritableStream', 'TransformStream', 'CompressionStream', 'DecompressionStream',
  'TextEncoderStream', 'TextDecoderStream',
];

/**
 * Snapshot taken when this module loads, i.e. before the user's own module
 * body runs: a global the user adds later (`globalThis.config = ...`) exists
 * only in the client process, so it must count as captured.
 */
const ALLOWED_FREE_NAMES: ReadonlySet<string> = new Set([
  ...Object.getOwnPropertyNames(globalThis),
  ...STANDARD_GLOBALS,
  ...INJECTED_MODULE_NAMES,
  NAME_SHIM,
]);

/** Extra advice for names that exist in CommonJS modules but not on workers. */
const NAME_HINTS: Readonly<Record<string, string>> = {
  require: "`require` does not exist on workers; load modules inside the function with `await import('name')`",
  module: '`module` is a CommonJS local of the client script and does not exist on workers',
  exports: '`exports` is a CommonJS local of the client script and does not exist on workers',
  __dirname: '`__dirname` is the client script\'s directory; pass the path as an argument',
  __filename: '`__filename` is the client script\'s path; pass it as an argument',
  arguments: 'In an arrow function `arguments` belongs to the enclosing function; take rest parameters (...args) instead',
};

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

const specCache = new WeakMap<object, FunctionSpec>();

/**
 * Where a function to ship was found, for the wording of errors: the task's
 * own function, or a function passed inside its arguments (`path` as
 * `args[1].helper`).
 */
export type FunctionRole = { readonly kind: 'task' } | { readonly kind: 'argument'; readonly path: string };

const TASK_ROLE: FunctionRole = Object.freeze({ kind: 'task' });

/**
 * The FunctionSpec for a task function: a module reference as is, a plain
 * function as source text after checking it uses nothing from the scope it
 * was defined in. Results are cached per function object, so submitting the
 * same function many times costs one WeakMap lookup after the first.
 * Functions inside task arguments go through here too (serialize.ts), with
 * `role` naming where in the arguments they were found.
 *
 * @throws ClosureError (ERR_TESSERA_CLOSURE) when the function captures a
 *   local variable or uses `this`, `super`, `import.meta` or an enclosing
 *   function's `arguments`, or was compiled by TypeScript for a target that
 *   needs helpers defined in the client's module (`__awaiter`).
 * @throws FunctionError (ERR_TESSERA_FUNCTION) for native, bound, class,
 *   getter and setter values.
 */
export function serializeFunction(fn: TaskFunction, role: FunctionRole = TASK_ROLE): FunctionSpec {
  const hit = specCache.get(fn);
  if (hit !== undefined) return hit;
  let spec: FunctionSpec;
  if (typeof fn === 'function') {
    spec = wireFunctionSpec(inlineSpec(fn, role));
  } else if (isModuleFunction(fn)) {
    spec = wireFunctionSpec({ kind: 'module', url: toModuleUrl(fn.url), export: checkExportName(fn.export) });
  } else {
    throw new InvalidArgumentError(
      `expected a function or a module function reference (moduleFunction(url, 'name')), got ${describeValue(fn)}`,
    );
  }
  specCache.set(fn, spec);
  return spec;
}

/**
 * A typed reference to `exportName` of the module at `url`, which workers
 * `import()` themselves. `url` must be an absolute file: URL or path; for a
 * module next to the calling one use `new URL('./tasks.js', import.meta.url)`.
 */
export function moduleFunction<F extends AnyFunction = AnyFunction>(
  url: string | URL,
  exportName: string,
): ModuleFunction<F> {
  return new ModuleFunctionRef(toModuleUrl(url), checkExportName(exportName));
}

/** Every function export of module type M as a typed ModuleFunction. */
export type RemoteModule<M> = {
  readonly [K in keyof M & string as M[K] extends AnyFunction ? K : never]: ModuleFunction<
    Extract<M[K], AnyFunction>
  >;
};

/**
 * A typed view of a module's function exports for submitting to workers:
 *
 * ```ts
 * const tasks = remoteModule<typeof import('./tasks.js')>(new URL('./tasks.js', import.meta.url));
 * client.submit(tasks.inc, 1); // Future<number>, argument types checked
 * ```
 *
 * The module is not imported on the client; a wrong export name is reported
 * by the worker that tries to load it. `then` is never an export here, so
 * awaiting the object by mistake does not hang.
 */
export function remoteModule<M>(url: string | URL): RemoteModule<M> {
  const href = toModuleUrl(url);
  const refs = new Map<string, ModuleFunction>();
  const target = Object.create(null) as object;
  return new Proxy(target, {
    get(_target, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      let ref = refs.get(prop);
      if (ref === undefined) {
        ref = new ModuleFunctionRef(href, prop);
        refs.set(prop, ref);
      }
      return ref;
    },
    set() {
      return false;
    },
    defineProperty() {
      return false;
    },
  }) as RemoteModule<M>;
}

/**
 * A short name for keys and the dashboard: the function's name, the export
 * name (the file's base name for a default export), or 'lambda'.
 */
export function functionName(spec: FunctionSpec): string {
  let raw: string;
  if (spec.kind === 'inline') raw = spec.name === 'anonymous' ? '' : spec.name;
  else if (spec.export === 'default') raw = /([^/]+?)(\.[^./]*)?$/.exec(new URL(spec.url).pathname)?.[1] ?? '';
  else raw = spec.export;
  // Keys are split on '-' and shown in URLs, so keep only plain characters.
  const clean = raw.replace(/[^A-Za-z0-9_$.]+/g, '_').replace(/^_+|_+$/g, '');
  return clean || 'lambda';
}

// ---------------------------------------------------------------------------
// Module references
// ---------------------------------------------------------------------------

function toModuleUrl(url: string | URL): string {
  let parsed: URL;
  if (url instanceof URL) {
    parsed = url;
  } else if (typeof url === 'string' && url !== '') {
    if (isAbsolute(url)) return pathToFileURL(url).href;
    if (!/^[A-Za-z][A-Za-z0-9+.-]+:/.test(url)) {
      throw new InvalidArgumentError(
        `module "${url}" is not an absolute file URL or path, and workers cannot resolve it relative to your ` +
          `script. For a module next to yours use new URL('${url}', import.meta.url); for a package, write a ` +
          `module of your own that imports it and export the function from there`,
      );
    }
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidArgumentError(`module URL "${url}" is not a valid URL`);
    }
  } else {
    throw new InvalidArgumentError(`module URL must be a file: URL or an absolute path, got ${describeValue(url)}`);
  }
  if (parsed.protocol !== 'file:') {
    throw new InvalidArgumentError(
      `module URL ${parsed.href} is not a file: URL; workers import modules from their own file system ` +
        `(a shared file system on a cluster), so pass a file: URL or an absolute path`,
    );
  }
  return parsed.href;
}

function checkExportName(name: unknown): string {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`export name must be a non-empty string, got ${describeValue(name)}`);
  }
  return name;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
  if (typeof v === 'object') return `an object (${Object.prototype.toString.call(v)})`;
  return `a ${typeof v}`;
}

// ---------------------------------------------------------------------------
// Inline functions
// ---------------------------------------------------------------------------

/** The acorn nodes this module looks into, typed loosely: it only reads them. */
interface AstNode extends AcornNode {
  [field: string]: unknown;
}

/** A parsed function together with the text that was parsed to find it. */
interface ParsedForm {
  /** The text given to acorn: the function's source plus a wrapper. */
  readonly wrapped: string;
  /** Where the function's own source starts in `wrapped`. */
  readonly offset: number;
  readonly program: AstNode;
  readonly fnNode: AstNode;
  /** JavaScript expression that evaluates to the function on a worker. */
  readonly expression: string;
}

const NATIVE_SOURCE = /\{\s*\[native code\]\s*\}\s*$/;

/** The module a user would move the function to, in suggestions. */
const EXAMPLE_MODULE = "remoteModule(new URL('./tasks.js', import.meta.url))";

/** What to use instead: the function exported from a module, by reference. */
function moduleSuggestion(name: string, role: FunctionRole): string {
  const ref = `${EXAMPLE_MODULE}.${isBindableName(name) && name !== 'anonymous' ? name : 'myTask'}`;
  return role.kind === 'task' ? `submit ${ref}` : `pass ${ref} in its place`;
}

function displayName(name: string): string {
  return name && name !== 'anonymous' ? `function "${name}"` : 'an anonymous function';
}

/** The refused function as the message's subject: the task's, or one found in its arguments. */
function subject(name: string, role: FunctionRole): string {
  return role.kind === 'task' ? displayName(name) : `${displayName(name)} at ${role.path} in the task's arguments`;
}

function inlineSpec(fn: AnyFunction, role: FunctionRole): FunctionSpec {
  // Function.prototype.toString, not fn.toString: a user override is not the source.
  const source = Function.prototype.toString.call(fn);
  const name = typeof fn.name === 'string' ? fn.name : '';
  if (NATIVE_SOURCE.test(source)) {
    if (name.startsWith('bound ')) {
      throw new FunctionError(
        `${subject(name, role)} is a bound function; its target and bound arguments live only in this process. ` +
          (role.kind === 'task'
            ? 'Submit the original function and pass the bound values as arguments: client.submit(fn, a, b)'
            : 'Pass the original function and the bound values as arguments instead'),
      );
    }
    throw new FunctionError(
      `${subject(name, role)} is native code (a built-in or a proxy) and has no source to ship. ` +
        `Wrap it in a function of your own, e.g. (xs) => Math.max(...xs)`,
    );
  }
  const form = parseForm(source, name, role);
  // Before the other checks: TypeScript's async helper also passes `this`,
  // which would otherwise be reported first and hide the real cause.
  checkCompilerHelpers(form, name, role);
  checkContext(form, name, role);
  checkFreeVariables(form, name, role);
  return { kind: 'inline', source: form.expression, name };
}

const PARSE_BASE: Omit<ParseOptions, 'sourceType'> = {
  ecmaVersion: 'latest',
  allowAwaitOutsideFunction: true,
  allowHashBang: false,
  // eslint-scope needs ranges to decide where bindings start.
  ranges: true,
};

function tryParse(text: string): AstNode | undefined {
  // Script first: it accepts sloppy-mode functions. `import.meta` only
  // parses as a module, and is then refused with a specific message.
  for (const sourceType of ['script', 'module'] as const) {
    try {
      return parse(text, { ...PARSE_BASE, sourceType }) as unknown as AstNode;
    } catch {
      // try the next source type
    }
  }
  return undefined;
}

function onlyExpression(program: AstNode): AstNode | undefined {
  const body = program['body'] as AstNode[];
  if (body.length !== 1 || body[0]?.type !== 'ExpressionStatement') return undefined;
  return body[0]['expression'] as AstNode;
}

/**
 * Finds which syntactic form `source` (a Function.prototype.toString result)
 * is, by trying it as an expression, then as an object-literal method, then
 * as a class method (the only place `#private` names parse).
 */
function parseForm(source: string, name: string, role: FunctionRole): ParsedForm {
  {
    const wrapped = `(${source}\n)`;
    const program = tryParse(wrapped);
    const expr = program && onlyExpression(program);
    if (program && expr) {
      if (expr.type === 'ClassExpression') {
        throw new FunctionError(
          `${name ? `class "${name}"` : 'an anonymous class'}` +
            (role.kind === 'task' ? ' cannot run as a task; submit a function' : ` at ${role.path} in the task's ` +
              'arguments cannot be shipped to workers; pass a function instead') +
            ' (it may construct the class if the class comes from a module it imports)',
        );
      }
      if (expr.type === 'FunctionExpression' || expr.type === 'ArrowFunctionExpression') {
        return { wrapped, offset: 1, program, fnNode: expr, expression: source };
      }
    }
  }
  for (const [open, close] of [['({', '\n})'], ['(class{', '\n})']] as const) {
    const wrapped = `${open}${source}${close}`;
    const program = tryParse(wrapped);
    const expr = program && onlyExpression(program);
    if (!program || !expr) continue;
    const members = (expr.type === 'ObjectExpression' ? expr['properties'] : (expr['body'] as AstNode)?.['body']) as
      | AstNode[]
      | undefined;
    const member = members?.length === 1 ? members[0] : undefined;
    if (!member) continue;
    const kind = member['kind'] as string;
    const value = member['value'] as AstNode;
    if (kind === 'get' || kind === 'set') {
      throw new FunctionError(
        `${subject(name, role)} is a property ${kind === 'get' ? 'getter' : 'setter'} and cannot be shipped to ` +
          `workers; use a function that takes the object as an argument`,
      );
    }
    if (value?.type !== 'FunctionExpression' || (member.type === 'Property' && member['method'] !== true)) continue;
    return {
      wrapped,
      offset: open.length,
      program,
      fnNode: value,
      expression: methodExpression(wrapped, member, value, name),
    };
  }
  throw new FunctionError(
    `could not parse the source of ${subject(name, role)} to ship it to workers ` +
      `(it begins ${JSON.stringify(source.slice(0, 80))}). Export the function from a module and ` +
      `${moduleSuggestion(name, role)}`,
  );
}

/**
 * Methods are not expressions on their own. Re-home the method in an object
 * literal under a plain string key (computed and #private keys cannot be
 * reproduced on the worker) and read it back out, which keeps method
 * semantics: no own name binding inside the body, not constructible.
 */
function methodExpression(wrapped: string, member: AstNode, value: AstNode, name: string): string {
  const key = member['key'] as AstNode;
  let keyName: string;
  if (member['computed'] === true) keyName = name;
  else if (key.type === 'Identifier' || key.type === 'PrivateIdentifier') keyName = key['name'] as string;
  else keyName = String(key['value']);
  const keyLiteral = JSON.stringify(keyName);
  const head = `${value['async'] === true ? 'async ' : ''}${value['generator'] === true ? '*' : ''}`;
  return `({ ${head}[${keyLiteral}]${wrapped.slice(value.start, value.end)} })[${keyLiteral}]`;
}

/** 1-based line and column of `offset` within `text`. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 0x2028 || c === 0x2029 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function isAstNode(x: unknown): x is AstNode {
  return typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

type ContextUse = { readonly what: 'this' | 'super' | 'import.meta'; readonly start: number };

/**
 * Finds `this` and `super` that belong to the shipped function itself (or,
 * for an arrow, to the scope around it) rather than to a nested function or
 * class, and any `import.meta`, which always means the client's module.
 */
function findContextUses(fnNode: AstNode): ContextUse[] {
  const uses: ContextUse[] = [];
  const visit = (node: unknown, own: boolean): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child, own);
      return;
    }
    if (!isAstNode(node)) return;
    switch (node.type) {
      case 'ThisExpression':
      case 'Super':
        if (own) uses.push({ what: node.type === 'Super' ? 'super' : 'this', start: node.start });
        return;
      case 'MetaProperty':
        if ((node['meta'] as AstNode)['name'] === 'import') uses.push({ what: 'import.meta', start: node.start });
        return;
      case 'FunctionExpression':
      case 'FunctionDeclaration':
      case 'StaticBlock':
        own = false;
        break;
      case 'PropertyDefinition':
        // A field's key is evaluated in the outer `this`, its initialiser in the instance's.
        visit(node['key'], own);
        visit(node['value'], false);
        return;
    }
    for (const field in node) {
      if (field === 'type' || field === 'start' || field === 'end' || field === 'range' || field === 'loc') continue;
      visit(node[field], own);
    }
  };
  visit(fnNode['params'], true);
  visit(fnNode['body'], true);
  return uses;
}

/**
 * Helpers TypeScript writes at the top of each compiled file when `target`
 * is too old for the syntax used (async functions, generators, object
 * spread and rest, private fields), with the lowest target that needs none.
 * A function using one depends on the client's module, so it cannot ship.
 */
const COMPILER_HELPERS: Readonly<Record<string, string>> = {
  __awaiter: 'ES2017',
  __generator: 'ES2017',
  __asyncGenerator: 'ES2018',
  __asyncValues: 'ES2018',
  __await: 'ES2018',
  __asyncDelegator: 'ES2018',
  __rest: 'ES2018',
  __assign: 'ES2018',
  __spreadArray: 'ES2015',
  __read: 'ES2015',
  __values: 'ES2015',
  __classPrivateFieldGet: 'ES2022',
  __classPrivateFieldSet: 'ES2022',
};

/** The helper a call's callee names: `__awaiter(...)`, `tslib_1.__awaiter(...)`, `(0, tslib_1.__awaiter)(...)`. */
function calledHelper(callee: AstNode): AstNode | undefined {
  let node = callee;
  if (node.type === 'SequenceExpression') node = (node['expressions'] as AstNode[]).at(-1)!;
  if (node.type === 'MemberExpression' && node['computed'] !== true) node = node['property'] as AstNode;
  return node.type === 'Identifier' && Object.hasOwn(COMPILER_HELPERS, node['name'] as string) ? node : undefined;
}

/**
 * Refuses a function that calls a TypeScript down-level helper, with the fix
 * (a newer `target`) instead of the generic closure advice, which would
 * suggest passing `__awaiter` as an argument. Property calls count too:
 * with `importHelpers` the call is `(0, tslib_1.__awaiter)(...)`.
 */
function checkCompilerHelpers(form: ParsedForm, name: string, role: FunctionRole): void {
  const found: { helper: string; start: number }[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (!isAstNode(node)) return;
    if (node.type === 'CallExpression') {
      const helper = calledHelper(node['callee'] as AstNode);
      if (helper) found.push({ helper: helper['name'] as string, start: helper.start });
    }
    for (const field in node) {
      if (field === 'type' || field === 'start' || field === 'end' || field === 'range' || field === 'loc') continue;
      visit(node[field]);
    }
  };
  visit(form.fnNode);
  if (found.length === 0) return;
  const helpers = [...new Set(found.map((f) => f.helper))];
  const target = helpers.map((h) => COMPILER_HELPERS[h]!).sort().at(-1)!;
  const source = form.wrapped.slice(form.offset);
  const variables = found.map((f) => ({ name: f.helper, ...lineColumn(source, f.start - form.offset) }));
  const first = variables[0]!;
  throw new ClosureError(
    name,
    `${subject(name, role)} cannot be shipped to workers: it was compiled for a target below ${target}, so it ` +
      `calls ${helpers.join(' and ')} (${first.line}:${first.column}), ${helpers.length === 1 ? 'a helper' : 'helpers'} ` +
      `that TypeScript writes at the top of the compiled file, and workers receive only the function's source ` +
      `text. Set \`target\` to ${target} or later in tsconfig.json (Node.js 20 supports ES2022) and rebuild.`,
    variables,
  );
}

/**
 * "(x, sleep) => …": the function's parameter list with `extra` added, to
 * show the fix in the user's own terms. Added before a rest parameter, which
 * must stay last.
 */
function withParameters(form: ParsedForm, name: string, extra: readonly string[]): string {
  const params = form.fnNode['params'] as AstNode[];
  const texts = params.map((p) => form.wrapped.slice(p.start, p.end));
  const rest = params.at(-1)?.type === 'RestElement' ? texts.pop() : undefined;
  const list = [...texts, ...extra, ...(rest === undefined ? [] : [rest])].join(', ');
  if (form.fnNode.type === 'ArrowFunctionExpression') return `(${list}) => …`;
  const fnName = isBindableName(name) ? ` ${name}` : '';
  return `function${fnName}(${list}) { … }`;
}

function checkContext(form: ParsedForm, name: string, role: FunctionRole): void {
  const uses = findContextUses(form.fnNode);
  if (uses.length === 0) return;
  const source = form.wrapped.slice(form.offset);
  const first = uses[0]!;
  const at = lineColumn(source, first.start - form.offset);
  const where = `(${at.line}:${at.column})`;
  const isArrow = form.fnNode.type === 'ArrowFunctionExpression';
  let why: string;
  if (first.what === 'import.meta') {
    why = `uses import.meta ${where}, which on a worker would not be the module it was written in. ` +
      `Pass the value you need (e.g. import.meta.url) as an argument`;
  } else if (first.what === 'super') {
    why = `uses super ${where}, which refers to a class or object that exists only in this process. ` +
      `Use a plain function and pass the object as a task argument`;
  } else {
    why = isArrow
      ? `uses this ${where}, which in an arrow function is the \`this\` of the code around it and is not ` +
        `shipped to workers`
      : `uses this ${where}, which would be undefined on the worker`;
    why += `. Take the object as a parameter and pass it as a task argument, or export the function from a ` +
      `module and ${moduleSuggestion(name, role)}.`;
  }
  throw new ClosureError(name, `${subject(name, role)} cannot be shipped to workers: it ${why}`, [
    { name: first.what, line: at.line, column: at.column },
  ]);
}

function checkFreeVariables(form: ParsedForm, name: string, role: FunctionRole): void {
  const manager = analyze(form.program as unknown as Parameters<typeof analyze>[0], {
    ecmaVersion: 2022,
    sourceType: form.program['sourceType'] === 'module' ? 'module' : 'script',
  });
  // A named function expression gets an extra outer scope that binds its own
  // name; what passes through the outermost scope is what it captures.
  const scope = manager.acquireAll(form.fnNode as unknown as Parameters<typeof manager.acquireAll>[0])?.[0];
  if (!scope) return;
  const source = form.wrapped.slice(form.offset);
  // `const fib = (n) => n < 2 ? n : fib(n - 1) + fib(n - 2)`: an anonymous
  // function's name comes from the variable it was assigned to, which almost
  // always still holds it, and the worker binds that name to the function.
  const fnNode = form.fnNode;
  const selfName = (fnNode.type === 'ArrowFunctionExpression' || (fnNode.type === 'FunctionExpression' &&
    fnNode['id'] == null && form.offset === 1)) && isBindableName(name) ? name : undefined;
  const captured = new Map<string, CapturedVariable[]>();
  for (const ref of scope.through) {
    const id = ref.identifier;
    const varName = id.name;
    if (varName === selfName) continue;
    // `arguments` reaches here only from an arrow function, where it is the
    // enclosing function's arguments: a capture like any other.
    if (varName !== 'arguments' && ALLOWED_FREE_NAMES.has(varName)) continue;
    const start = (id as { range?: [number, number] }).range?.[0] ?? 0;
    const at = lineColumn(source, start - form.offset);
    const list = captured.get(varName) ?? [];
    list.push({ name: varName, line: at.line, column: at.column });
    captured.set(varName, list);
  }
  if (captured.size === 0) return;
  const names = [...captured.keys()];
  const described = names
    .map((n) => `${n} (${captured.get(n)!.map((v) => `${v.line}:${v.column}`).join(', ')})`)
    .join(', ');
  const hints = names.filter((n) => n in NAME_HINTS).map((n) => ` ${NAME_HINTS[n]}.`).join('');
  // Names with a hint of their own (require, __dirname, ...) are not
  // values to pass along; the rest can become parameters.
  const passable = names.filter((n) => !(n in NAME_HINTS));
  let advice = '';
  if (passable.length > 0) {
    const list = passable.join(', ');
    const them = passable.length === 1 ? 'it' : 'them';
    const pass = role.kind === 'task'
      ? `pass ${them} as ${passable.length === 1 ? 'an argument' : 'arguments'} of the task (functions can be ` +
        `arguments too)`
      : `have the task pass ${them} in (${passable.length === 1 ? 'it' : 'they'} can be task arguments too)`;
    advice = ` Either add ${list} as ${passable.length === 1 ? 'a parameter' : 'parameters'}, ` +
      `${withParameters(form, name, passable)}, and ${pass}, or export the function from a module that ` +
      `defines ${list} too and ${moduleSuggestion(name, role)}.`;
  }
  const message =
    `${subject(name, role)} cannot be shipped to workers: it uses ${described}, defined outside it, and ` +
    `workers receive only the function's source text.${advice}${hints}`;
  throw new ClosureError(name, message, names.flatMap((n) => captured.get(n)!));
}

// Functions inside task arguments are shipped like task functions, with the
// same check (serialize.ts calls back here; see setFunctionEncoder).
setFunctionEncoder(serializeFunction);
