/**
 * The window step of a pipeline (the `window` op, planned by window.ts):
 * window functions computed over one partition with rows of its
 * neighbours around it, of which only the partition's own rows are kept.
 */

import type { Schema } from '../dtypes.js';
import type { OpSpec } from '../pipeline.js';
import { ExprCompiler } from './expressions.js';
import { ipcHeight, ipcToNative } from './ipc.js';
import { polars, type NExpr, type NLazy } from './load.js';
import { nativeSchema, zeroFrame, type Built } from './schema.js';

type WindowOp = Extract<OpSpec, { op: 'window' }>;

const ROW = '__tessera_row';

/** The window op on `lf` (its schema `schema`); with the task's inputs, its halo rows are cut off and the carried totals joined in. */
export function applyWindow(lf: NLazy, schema: Schema, op: WindowOp, inputs?: readonly Uint8Array[]): Built {
  const { N } = polars();
  const carry = op.carry !== null && inputs ? ipcToNative(inputs[op.carry]!) : null;
  // The halos' heights (small frames) say which rows are the partition's own; the partition itself is never decoded for that.
  const height = (i: number | null): number => (i === null || !inputs ? 0 : ipcHeight(inputs[i]!));
  const keep = op.main !== null && inputs ? { offset: height(op.before), tail: height(op.after) } : null;
  const carryCols = carry ? nativeSchema(carry.head(0)) : {};
  const build = (frame: NLazy, carryFrame: NLazy | null): NLazy => {
    let out = frame;
    let s = schema;
    let ownRows: NExpr | null = null;
    const drop = Object.keys(carryCols).filter((c) => !op.keys.includes(c));
    const grouped = carryFrame && op.keys.length > 0;
    if (keep || grouped) {
      out = out.withRowIndex(ROW, 0);
      s = { ...s, [ROW]: 'uint32' };
      if (keep && keep.offset > 0) ownRows = N.col(ROW).gtEq(N.lit(keep.offset));
      drop.push(ROW);
    }
    if (carryFrame && grouped) {
      // One row of totals per group, beside each row of that group; the join may reorder rows: sort them back.
      const keys = () => op.keys.map((k) => N.col(k));
      out = out.join(carryFrame, keys(), keys(), true, false, 'left', '__tessera_dup', true, 'm:m', [], []).sortByExprs([N.col(ROW)], false, true, true);
      s = { ...s, ...carryCols };
    } else if (carryFrame) {
      // One row of totals, beside every row.
      out = out.join(carryFrame, [], [], true, false, 'cross', '__tessera_dup', false, 'm:m', [], []);
      s = { ...s, ...carryCols };
    }
    const ex = new ExprCompiler(zeroFrame(s), s, { ownRows });
    out = out.withColumns(op.exprs.map((e) => ex.compile(e)));
    if (keep) out = out.filter(N.col(ROW).gtEq(N.lit(keep.offset)).and(N.col(ROW).lt(N.len().sub(N.lit(keep.tail)))));
    return drop.length ? out.dropColumns(drop) : out;
  };
  const result = build(lf, carry ? carry.lazy() : null);
  const zero = build(zeroFrame(schema).lazy(), carry ? zeroFrame(carryCols).lazy() : null);
  return { lf: result, schema: nativeSchema(zero.collectSync('auto')) };
}
