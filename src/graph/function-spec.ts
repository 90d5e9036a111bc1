/**
 * How a function travels to a worker. Two ways (DESIGN.md "Functions"):
 * inline functions go as source text after a free-variable check on the
 * client; module functions go as a module URL plus export name and are
 * `import()`ed by the worker, which is how real code with dependencies and
 * types reaches workers. FunctionSpec, the form a function has on the wire,
 * is a protocol type (src/protocol/messages.ts).
 */
import type { FunctionSpec } from '../protocol/messages.js';


// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (...args: any[]) => any;

/**
 * A typed reference to an exported function of a module. The phantom `__fn`
 * member carries the function's type so `client.submit(ref, ...args)`
 * checks arguments and result types on the client.
 */
export interface ModuleFunction<F extends AnyFunction = AnyFunction> {
  readonly kind: 'module';
  readonly url: string;
  readonly export: string;
  readonly __fn?: F;
}

/** What `submit`, `map` and `delayed` accept as the function to run. */
export type TaskFunction<F extends AnyFunction = AnyFunction> = F | ModuleFunction<F>;

/** The plain function type behind a TaskFunction. */
export type FunctionOf<T> = T extends ModuleFunction<infer F> ? F : T extends AnyFunction ? T : never;

/**
 * The runtime form of the references moduleFunction() and remoteModule()
 * give out. A class rather than a plain object so that one passed as a task
 * argument (or inside one) can be told apart from user data that merely has
 * the same three fields: only these are rebuilt as callable functions on the
 * worker.
 */
export class ModuleFunctionRef implements ModuleFunction {
  readonly kind = 'module' as const;
  readonly url: string;
  readonly export: string;
  constructor(url: string, exportName: string) {
    this.url = url;
    this.export = exportName;
    Object.freeze(this);
  }
}

export function isModuleFunction(x: unknown): x is ModuleFunction {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'module' &&
    typeof (x as { url?: unknown }).url === 'string' && typeof (x as { export?: unknown }).export === 'string';
}
