/**
 * Options objects are checked at run time as well as by TypeScript: a
 * misspelled option (`readCsv(p, { usecol: [...] })`) from JavaScript, or
 * through a variable whose type TypeScript cannot narrow, would otherwise
 * be silently ignored and the call would do something other than asked.
 */

import { DataFrameError } from '../errors.js';

/**
 * Throws when `options` has a key not in `known`, naming the option and
 * the method and listing the options it takes (and the nearest known name,
 * for a typo). `undefined` and null options (an omitted argument) pass.
 */
export function checkOptions(method: string, options: unknown, known: readonly string[]): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new DataFrameError(`${method}: options must be an object such as { ${known[0] ?? ''}: ... }, got ${Array.isArray(options) ? 'an array' : typeof options}`);
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const hints = unknown.map((k) => nearest(k, known)).filter((h): h is string => h !== null);
  throw new DataFrameError(
    `${method}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}` +
      `${hints.length ? ` (did you mean ${[...new Set(hints)].map((h) => `'${h}'`).join(', ')}?)` : ''}; ` +
      `${method} takes ${known.length ? known.join(', ') : 'no options'}`,
  );
}

/** The known name within edit distance 2 of `name` (case-insensitive), if there is one. */
function nearest(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The option names of an options interface, as a list checked against the
 * interface by the compiler: a name missing here or not in T is a type
 * error, so the run-time check cannot drift from the types.
 */
export function optionNames<T extends object>(names: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}
