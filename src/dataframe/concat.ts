/**
 * concat([a, b, ...]): the frames' rows one after another, as pandas'
 * pd.concat (axis 0). The partitions of each frame are kept as they are,
 * in order (no data moves); each frame's columns are lined up with the
 * result's by name: a column a frame lacks is null there, and a column
 * whose types differ takes a type both fit (integers widen, an integer
 * meets a float as float64) or is refused with both types named.
 */

import { DataFrameError } from '../errors.js';
import { isFloatType, isIntegerType, type DType, type Schema } from './dtypes.js';
import { col, lit, type ExprNode } from './expr.js';
import { DataFrame } from './frame.js';
import type { PlanNode } from './plan.js';
import { opSchema } from './plan.js';

const INT_BITS: Partial<Record<DType, number>> = { int8: 8, int16: 16, int32: 32, int64: 64, uint8: 8, uint16: 16, uint32: 32, uint64: 64 };

/** A type both `a` and `b` fit (pandas' and NumPy's promotion, within what stays a column type), or null. */
export function commonType(a: DType, b: DType): DType | null {
  if (a === b) return a;
  if (a === 'null') return b;
  if (b === 'null') return a;
  if (isIntegerType(a) && isIntegerType(b)) {
    const signedA = a.startsWith('int');
    const signedB = b.startsWith('int');
    const bits = Math.max(INT_BITS[a]!, INT_BITS[b]!);
    if (signedA === signedB) return `${signedA ? 'int' : 'uint'}${bits}` as DType;
    // Signed meets unsigned: a signed type wider than the unsigned one; none is wider than uint64.
    const unsignedBits = INT_BITS[signedA ? b : a]!;
    const need = Math.max(unsignedBits * 2, INT_BITS[signedA ? a : b]!);
    return need <= 64 ? (`int${need}` as DType) : 'float64';
  }
  if ((isFloatType(a) || isIntegerType(a)) && (isFloatType(b) || isIntegerType(b))) return 'float64';
  return null;
}

/** The result's columns: every frame's, in the order they first appear, each with a type all its frames fit. */
export function concatSchema(schemas: readonly Schema[]): Schema {
  const out: Schema = {};
  schemas.forEach((schema, i) => {
    for (const [c, t] of Object.entries(schema)) {
      const prev = out[c];
      const common = prev === undefined ? t : commonType(prev, t);
      if (common === null) {
        const seen = schemas.slice(0, i + 1).flatMap((s, j) => (s[c] === undefined ? [] : [`${s[c]} (frame ${j})`]));
        throw new DataFrameError(
          `concat: column '${c}' is ${seen.join(', ')}, which have no common type; cast one of them first (e.g. frame.cast({ ${JSON.stringify(c)}: '${prev}' }))`,
        );
      }
      out[c] = common;
    }
  });
  return out;
}

/** `input` with exactly the columns of `schema`, in its order (nulls for those it lacks); itself where it has them already. */
function aligned(input: PlanNode, schema: Schema): PlanNode {
  const cols = Object.keys(schema);
  const have = input.schema;
  if (Object.keys(have).join('\u0000') === cols.join('\u0000') && cols.every((c) => have[c] === schema[c])) return input;
  const exprs: ExprNode[] = cols.map((c) => {
    const t = schema[c]!;
    if (!(c in have)) return lit(null, t).alias(c).node;
    return have[c] === t ? col(c).node : col(c).cast(t).alias(c).node;
  });
  const op = { op: 'select', exprs } as const;
  return { kind: 'op', input, op, schema: opSchema(have, op) };
}

/**
 * The rows of every frame, one frame after another (pandas' pd.concat,
 * axis 0): the result's partitions are the frames' partitions, in order.
 */
export function concat(frames: readonly DataFrame[]): DataFrame {
  if (!Array.isArray(frames)) throw new DataFrameError('concat takes a list of frames: concat([a, b])');
  frames.forEach((f, i) => {
    if (!(f instanceof DataFrame)) throw new DataFrameError(`concat: item ${i} is not a DataFrame`);
  });
  if (frames.length === 0) throw new DataFrameError('concat needs at least one frame');
  if (frames.length === 1) return frames[0]!;
  const schema = concatSchema(frames.map((f) => f.plan.schema));
  const inputs = frames.map((f) => aligned(f.plan, schema));
  return new DataFrame({ kind: 'concat', inputs, schema });
}
