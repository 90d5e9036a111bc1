/**
 * The two things code in the bundle (src/boot/bundle.ts) cannot do itself:
 * import() a module named only at run time (a user's module, a node:
 * builtin), and compile a function whose body may import() (a user function
 * run on the scheduler). Node 20 runs such an import() only for code that
 * came from a real module file, not for code V8 restored from a code cache,
 * so the bundle's loader hands in its own. Compiled as tsc wrote it, the
 * defaults below are that real module.
 */
export interface Host {
  importModule(specifier: string): Promise<unknown>;
  /** `new Function(...params, body)`, compiled where import() works. */
  compileFunction(...paramsAndBody: string[]): (...args: unknown[]) => unknown;
}

/**
 * The default, used as tsc compiled this module. In the bundle the loader
 * replaces it before any entry runs; scripts/build-bundle.js allows this one
 * import() (found by the function's name) and no other.
 */
function importFromThisModule(specifier: string): Promise<unknown> {
  return import(specifier);
}

let host: Host = {
  importModule: importFromThisModule,
  compileFunction: (...paramsAndBody) => new Function(...paramsAndBody) as (...args: unknown[]) => unknown,
};

/** @internal Called once by the bundle's loader. */
export function setHost(h: Host): void {
  host = h;
}

export function importModule(specifier: string): Promise<unknown> {
  return host.importModule(specifier);
}

export function compileFunction(...paramsAndBody: string[]): (...args: unknown[]) => unknown {
  return host.compileFunction(...paramsAndBody);
}
