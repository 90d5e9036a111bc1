/**
 * The columns of a join's result, as pandas' merge names and orders them
 * (with suffixes=('', suffix)): the left frame's columns in order, then
 * the right frame's. A key pair with the same name on both sides is one
 * column, at the left key's place, holding the key of whichever side has
 * the row (pandas' merge on=...); a pair with different names
 * (leftOn/rightOn) keeps both columns, each null where its side has no row.
 * A right column whose name a left column has takes the suffix.
 *
 * Plain data, no engine: the engine builds the result from it, and the
 * optimizer uses it to see which input columns an output column comes from.
 */

import { DataFrameError } from '../errors.js';

export type JoinHow = 'inner' | 'left' | 'right' | 'outer';

export const JOIN_HOWS: readonly JoinHow[] = ['inner', 'left', 'right', 'outer'];

/** One output column: from a left column, a right column, or (a shared key) both. */
export interface JoinColumn {
  readonly name: string;
  readonly left?: string;
  readonly right?: string;
}

export function joinColumns(
  leftCols: readonly string[],
  rightCols: readonly string[],
  leftOn: readonly string[],
  rightOn: readonly string[],
  suffix: string,
): JoinColumn[] {
  const shared = new Map<string, string>();
  leftOn.forEach((l, i) => {
    if (rightOn[i] === l) shared.set(l, l);
  });
  const out: JoinColumn[] = leftCols.map((c) => (shared.has(c) ? { name: c, left: c, right: c } : { name: c, left: c }));
  const left = new Set(leftCols);
  for (const c of rightCols) {
    if (shared.has(c)) continue;
    out.push({ name: left.has(c) ? c + suffix : c, right: c });
  }
  const seen = new Set<string>();
  for (const c of out) {
    if (seen.has(c.name)) {
      throw new DataFrameError(`join: the result would have two columns named '${c.name}'; pass another suffix or rename one of them first`);
    }
    seen.add(c.name);
  }
  return out;
}
