/**
 * The expression compiler: Tessera expression trees (expr.ts) as native
 * Polars expressions, typed against the frame they run on; and the casts and
 * literals they share with the pipeline ops.
 */

import { EngineError, DataFrameError } from '../../errors.js';
import type { DType, Schema } from '../dtypes.js';
import { isFloatType, isIntegerType, isNumericType } from '../dtypes.js';
import type { ExprNode, LiteralValue } from '../expr.js';
import { formatExpr } from '../expr.js';
import { polars, type NExpr, type NFrame } from './load.js';
import { engineError } from './polars-error.js';
import { seriesType, toPolarsType } from './schema.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** Compiles expression trees against the schema of the frame they run on. */
export class ExprCompiler {
  /**
   * `windows`: the frame is a partition with its neighbours' rows around it
   * (a window step, window.ts), so window functions may be computed; anywhere
   * else they would silently be computed per partition, and are refused.
   * `ownRows` is true for the partition's own rows, where rows from before
   * it are there (cumulative functions leave those out: the carry has them).
   */
  constructor(
    private readonly zero: NFrame,
    private readonly schema: Schema,
    private readonly windows: false | { readonly ownRows: NExpr | null } = false,
  ) {}

  /** The type an expression has on this frame, asked of Polars on zero rows. */
  dtypeOf(e: NExpr): DType {
    try {
      const out = this.zero.lazy().select([e.alias('__tessera_t')]).collectSync('auto');
      return seriesType(out.getColumns()[0], '__tessera_t');
    } catch (err) {
      throw engineError(err, 'type-checking an expression');
    }
  }

  compile(node: ExprNode): NExpr {
    const { N } = polars();
    switch (node.op) {
      case 'col':
        if (!(node.name in this.schema)) {
          throw new DataFrameError(`column '${node.name}' not found; the columns are ${Object.keys(this.schema).map((c) => `'${c}'`).join(', ')}`);
        }
        return N.col(node.name);
      case 'lit':
        return node.dtype ? typedLiteral(node.value, node.dtype) : defaultLiteral(node.value);
      case 'len':
        return N.len();
      case 'alias':
        return this.compile(node.arg).alias(node.name);
      case 'binary':
        return this.binary(node.fn, node.left, node.right);
      case 'unary':
        return this.unary(node.fn, node.arg);
      case 'round':
        return this.compile(node.arg).round(node.decimals, 'halftoeven');
      case 'cast': {
        const a = this.compile(node.arg);
        return castTo(a, this.dtypeOf(a), node.dtype, node.strict);
      }
      case 'dt': {
        const a = this.compile(node.arg);
        switch (node.fn) {
          case 'year': return a.year();
          case 'month': return a.month();
          case 'day': return a.day();
          case 'hour': return a.hour();
          case 'minute': return a.minute();
          case 'second': return a.second();
          case 'weekday': return a.weekday();
          case 'ordinalDay': return a.ordinalDay();
          case 'millisecond': return a.nanosecond().floordiv(typedLiteral(1_000_000, 'int32'));
        }
        break;
      }
      case 'quantile':
        return this.compile(node.arg).quantile(typedLiteral(node.q, 'float64'), 'linear');
      case 'dtCall':
        return this.datetimeCall(node);
      case 'str':
        return this.stringCall(node);
      case 'fillNull': {
        const a = this.compile(node.arg);
        return a.fillNull(this.operand(node.value, a));
      }
      case 'isIn': {
        const a = this.compile(node.arg);
        const t = this.dtypeOf(a);
        const { pl } = polars();
        const values = pl.Series('', node.values as unknown[]).cast(toPolarsType(t), false);
        return a.isIn(N.lit(values._s), false);
      }
      case 'when':
        return this.when(node);
      case 'window':
        if (!this.windows) {
          throw new DataFrameError(
            `${formatExpr(node)} reads neighbouring rows, which may be in other partitions: use it in withColumns() or select() of a DataFrame ` +
              `(then filter or group by the column it makes), not inside filter, groupBy or an aggregation`,
          );
        }
        return this.window(node);
      case 'agg': {
        const a = this.compile(node.arg);
        switch (node.fn) {
          case 'sum': return a.sum();
          case 'mean': return a.mean();
          case 'min': return a.min();
          case 'max': return a.max();
          case 'count': return a.count();
          // Distinct non-null values, as pandas' nunique() (dropna=True); Polars counts null as a value.
          case 'nUnique': return a.dropNulls().nUnique();
          case 'first': return a.first();
          case 'last': return a.last();
          case 'std': return this.sampleVariance(a, true);
          case 'var': return this.sampleVariance(a, false);
          case 'median': return a.median();
        }
      }
    }
    throw new EngineError(`cannot compile expression ${formatExpr(node)}`);
  }

  /** A window function over the rows of this frame; a cumulative one adds the total carried from the partitions before. */
  private window(node: Extract<ExprNode, { op: 'window' }>): NExpr {
    const { N } = polars();
    const own = this.windows ? this.windows.ownRows : null;
    let a = this.compile(node.arg);
    if (node.fn === 'cumCount') {
      // 1 for each of the partition's own rows (any column's isNotNull-or-true is a column of trues), counted up.
      const first = Object.keys(this.schema)[0]!;
      const one = N.col(first).isNull().or(N.lit(true)).cast(toPolarsType('int64'), true);
      a = own ? N.when(own).then(one).otherwise(N.lit(0).cast(toPolarsType('int64'), true)) : one;
    } else if (own && node.carry !== undefined) a = N.when(own).then(a).otherwise(N.lit(null));
    const rolling = { windowSize: node.n, weights: undefined, minPeriods: node.minPeriods ?? node.n, center: false };
    // The first partition has nothing before it: no carry column.
    const carry = node.carry === undefined || !(node.carry in this.schema) ? null : N.col(node.carry);
    // A running max/min with the carried one: a null row stays null; no carry (all earlier values null) leaves it.
    const extreme = (run: NExpr, better: (x: NExpr, y: NExpr) => NExpr): NExpr =>
      carry === null ? run : N.when(run.isNull().or(carry.isNull()).or(better(run, carry))).then(run).otherwise(carry);
    // Per group: the function within each group; a row with a null key is in no group (pandas' groupby drops it).
    const keys = node.over ?? [];
    const per = (e: NExpr): NExpr => (keys.length ? e.over(keys.map((k) => N.col(k))) : e);
    let out: NExpr;
    switch (node.fn) {
      case 'shift': out = per(a.shift(N.lit(node.n))); break;
      case 'diff': out = per(a.sub(a.shift(N.lit(node.n)))); break;
      case 'cumSum': {
        const run = per(a.cumSum(false));
        // The carried total may be wider (Polars sums small integers as int64): keep the running sum's type.
        // A group the partitions before never had has no carry row: nothing to add.
        out = carry === null ? run : run.add(carry.fillNull(N.lit(0))).cast(toPolarsType(this.dtypeOf(run)), true);
        break;
      }
      case 'cumCount': {
        // Rows before this one: the count so far less itself, plus the rows of the partitions before.
        const run = per(a.cumSum(false)).sub(N.lit(1).cast(toPolarsType('int64'), true));
        out = carry === null ? run : run.add(carry.fillNull(N.lit(0)).cast(toPolarsType('int64'), true));
        break;
      }
      case 'cumMax': out = extreme(per(a.cumMax(false)), (x, y) => x.gtEq(y)); break;
      case 'cumMin': out = extreme(per(a.cumMin(false)), (x, y) => x.ltEq(y)); break;
      case 'rollingSum': out = per(a.rollingSum(rolling)); break;
      case 'rollingMean': out = per(a.rollingMean(rolling)); break;
      case 'rollingMin': out = per(a.rollingMin(rolling)); break;
      case 'rollingMax': out = per(a.rollingMax(rolling)); break;
    }
    if (keys.length === 0) return out;
    const inGroup = keys.map((k) => N.col(k).isNotNull()).reduce((x: NExpr, y: NExpr) => x.and(y));
    return N.when(inGroup).then(out).otherwise(N.lit(null));
  }

  /**
   * Sample variance (or its root) by two passes over values shifted by a
   * reference near their mean (min + mean(x - min)), corrected for what
   * rounding that reference loses: sum((x - m)^2) - sum(x - m)^2 / n.
   * Polars' own var loses about 1e-8 relative on values such as
   * 1e8 + N(0, 1); this agrees with the exact value to ~1e-12, and with the
   * split form groupby.ts combines across partitions. Float32 stays float32.
   */
  private sampleVariance(a: NExpr, root: boolean): NExpr {
    const { N } = polars();
    const t = this.dtypeOf(a);
    const f64 = toPolarsType('float64');
    const x = a.cast(f64, true);
    const ref = x.min().add(x.sub(x.min()).mean());
    const d = x.sub(ref);
    const n = x.count().cast(f64, true);
    const m2 = d.pow(2).sum().sub(d.sum().pow(2).truediv(n));
    let v = N.when(n.gt(typedLiteral(1, 'float64'))).then(m2.truediv(n.sub(typedLiteral(1, 'float64')))).otherwise(N.lit(null).cast(f64, true));
    if (root) v = v.pow(0.5);
    return t === 'float32' ? v.cast(toPolarsType('float32'), true) : v;
  }

  /** floor, ceil and round to a fixed frequency (by integer arithmetic on the stored value, as pandas), date, strftime. */
  private datetimeCall(node: Extract<ExprNode, { op: 'dtCall' }>): NExpr {
    const a = this.compile(node.arg);
    const t = this.dtypeOf(a);
    const unit = /^datetime\[(ms|us|ns)\]$/.exec(t)?.[1];
    if (!unit) throw new DataFrameError(`dt.${node.fn}() needs a datetime column; ${formatExpr(node.arg)} is ${t}`);
    if (node.fn === 'date') return a.cast(toPolarsType('date'), true);
    if (node.fn === 'strftime') return a.strftime(pythonToChronoFormat(node.format!));
    const every = node.every! * { ms: 1e-3, us: 1, ns: 1e3 }[unit as 'ms' | 'us' | 'ns'];
    if (!Number.isInteger(every) || every < 1) throw new DataFrameError(`dt.${node.fn}(): a frequency of ${node.every} microseconds is finer than the column's unit (${t})`);
    const { N } = polars();
    const i64 = (v: number): NExpr => typedLiteral(v, 'int64');
    const x = a.cast(toPolarsType('int64'), true);
    const q = x.floordiv(i64(every));
    const r = x.sub(q.mul(i64(every)));
    let steps: NExpr;
    if (node.fn === 'floor') steps = q;
    else if (node.fn === 'ceil') steps = q.add(N.when(r.gt(i64(0))).then(i64(1)).otherwise(i64(0)));
    else {
      // Half-way goes to the even multiple, as pandas' round (and NumPy's).
      const up = r.mul(i64(2)).gt(i64(every)).or(r.mul(i64(2)).eq(i64(every)).and(q.rem(i64(2)).neq(i64(0))));
      steps = q.add(N.when(up).then(i64(1)).otherwise(i64(0)));
    }
    return steps.mul(i64(every)).cast(toPolarsType(t), true);
  }

  /** The `.str` functions with pandas' semantics (see StringNamespace). */
  private stringCall(node: Extract<ExprNode, { op: 'str' }>): NExpr {
    const { N } = polars();
    const compiled = this.compile(node.arg);
    const t = this.dtypeOf(compiled);
    if (t !== 'string' && t !== 'category') throw new DataFrameError(`str.${node.fn}() needs a string column; ${formatExpr(node.arg)} is ${t} (cast it to 'string' first)`);
    // On a category the functions see its text, as pandas' .str does.
    const a = t === 'category' ? compiled.cast(toPolarsType('string'), true) : compiled;
    const [p0, p1, p2] = node.args;
    const text = (v: LiteralValue | undefined): NExpr => N.lit(v as string);
    switch (node.fn) {
      case 'contains': return a.strContains(text(p0), p1 === false, true);
      case 'startsWith': return a.strStartsWith(text(p0));
      case 'endsWith': return a.strEndsWith(text(p0));
      case 'lower': return a.strToLowercase();
      case 'upper': return a.strToUppercase();
      case 'strip': return a.strStripChars(N.lit(p0 ?? null), true, true);
      case 'lstrip': return a.strStripChars(N.lit(p0 ?? null), true, false);
      case 'rstrip': return a.strStripChars(N.lit(p0 ?? null), false, true);
      case 'len': return a.strLengths().cast(toPolarsType('int64'), true);
      case 'slice': return pythonSlice(a, p0 as number, p1 as number | null);
      case 'replace':
        return p2 === true ? a.strReplaceAll(text(p0), N.lit(pythonToRustReplacement(p1 as string)), false) : a.strReplaceAll(text(p0), text(p1), true);
      case 'split':
        // No separator: runs of whitespace, and none at the ends, as Python's str.split().
        if (p0 === null) return a.strStripChars(N.lit(null), true, true).strReplaceAll(N.lit('\\s+'), N.lit(' '), false).strSplit(N.lit(' '), false);
        return a.strSplit(text(p0), false);
      case 'extract': return a.strExtract(text(p0), p1 as number);
    }
  }

  /**
   * An operand next to `other`: an untyped numeric literal takes other's
   * type (Python Polars' "dynamic" literals), so float32 * 2 stays float32.
   */
  private operand(node: ExprNode, other: NExpr): NExpr {
    if (node.op === 'lit' && node.dtype === undefined && typeof node.value === 'number') {
      return typedLiteral(node.value, literalTypeNextTo(node.value, this.dtypeOf(other)));
    }
    if (node.op === 'lit' && node.dtype === undefined && typeof node.value === 'string') {
      // A string next to a datetime is a datetime, as in pandas: pickup > '2015-01-05'.
      const t = this.dtypeOf(other);
      if (t.startsWith('datetime') || t === 'date') {
        const ms = parseNaiveDatetime(node.value);
        if (ms === undefined) throw new DataFrameError(`cannot read '${node.value}' as a datetime (use e.g. '2015-01-05' or '2015-01-05 10:30:00')`);
        return typedLiteral(ms, 'datetime[ms]').cast(toPolarsType(t), true);
      }
    }
    return this.compile(node);
  }

  private binary(fn: string, left: ExprNode, right: ExprNode): NExpr {
    if (fn === 'pow') {
      const base = this.compile(left);
      if (right.op === 'lit' && typeof right.value === 'number') return base.pow(right.value);
      throw new DataFrameError(`pow(): the exponent must be a number, got ${formatExpr(right)}`);
    }
    const leftIsDyn = left.op === 'lit' && left.dtype === undefined && typeof left.value === 'number';
    let l: NExpr;
    let r: NExpr;
    if (leftIsDyn) {
      r = this.compile(right);
      l = this.operand(left, r);
    } else {
      l = this.compile(left);
      r = this.operand(right, l);
    }
    // Polars divides by a scalar by multiplying with its reciprocal, which
    // is not IEEE division: in float32, -73.970001 / 0.01 gives -7397 where
    // NumPy (pandas) gives -7397.0005, so x // 0.01 landed a step apart. A
    // divisor as long as the column takes the exact element-wise kernel.
    const scalar = r;
    if ((fn === 'div' || fn === 'floorDiv' || fn === 'mod') && right.op === 'lit') {
      const { N } = polars();
      r = N.when(l.isNull()).then(r).otherwise(r);
    }
    switch (fn) {
      case 'add': return l.add(r);
      case 'sub': return l.sub(r);
      case 'mul': return l.mul(r);
      case 'div': return l.truediv(r);
      case 'floorDiv': return this.floorDivide(l, r, scalar, false);
      case 'mod': return this.floorDivide(l, r, scalar, true);
      case 'eq': return l.eq(r);
      case 'neq': return l.neq(r);
      case 'gt': return l.gt(r);
      case 'gtEq': return l.gtEq(r);
      case 'lt': return l.lt(r);
      case 'ltEq': return l.ltEq(r);
      case 'and': return l.and(r);
      case 'or': return l.or(r);
    }
    throw new EngineError(`unknown binary operator ${fn}`);
  }

  /**
   * Floor division and remainder. Integers: Polars' (floored, as Python's).
   * Floats: NumPy's floor_divide and remainder (pandas' `//` and `%`): the
   * floor F of the exact quotient, and a - F * b. floor(a / b) is one too
   * high where a / b rounds up to a whole number (1 // 0.1 is 9: 0.1 is a
   * little above 1/10), which the sign of the exact a - q * b tells; that
   * remainder is also the `%` (Polars' own float `%`, a - b * floor(a / b),
   * gives 0 for 1 % 0.1, pandas 0.09999999999999995). Each input appears a
   * few times in the expression, never nested (Polars copies repeated
   * sub-expressions).
   */
  private floorDivide(l: NExpr, r: NExpr, rScalar: NExpr, remainder: boolean): NExpr {
    const t = this.dtypeOf(remainder ? l.rem(r) : l.floordiv(r));
    if (!isFloatType(t)) return remainder ? l.rem(r) : l.floordiv(r);
    const { N } = polars();
    const f64 = toPolarsType('float64');
    const c = (v: number): NExpr => typedLiteral(v, 'float64');
    const q = l.cast(toPolarsType(t), true).truediv(r.cast(toPolarsType(t), true)).floor().cast(f64, true);
    const a = l.cast(f64, true);
    // Products are exact IEEE with a scalar too: only the division needs r as a column.
    const b = rScalar.cast(f64, true);
    const rest = exactRemainder(a, b, q);
    // q is too high when a - q * b has the other sign than b (and is not zero).
    const tooHigh = rest.neq(c(0)).and(rest.lt(c(0)).neq(b.lt(c(0))));
    if (remainder) return N.when(tooHigh).then(rest.add(b)).otherwise(rest).cast(toPolarsType(t), true);
    return q.sub(tooHigh.cast(f64, true)).cast(toPolarsType(t), true);
  }

  private unary(fn: string, argNode: ExprNode): NExpr {
    const a = this.compile(argNode);
    switch (fn) {
      case 'not': return a.not();
      case 'neg': {
        const t = this.dtypeOf(a);
        return typedLiteral(0, isNumericType(t) ? t : 'float64').sub(a);
      }
      case 'isNull': return a.isNull();
      case 'isNotNull': return a.isNotNull();
      case 'isNan': return a.isNan();
      case 'sin': return a.sin();
      case 'cos': return a.cos();
      case 'tan': return a.tan();
      case 'arcsin': return a.arcsin();
      case 'arccos': return a.arccos();
      case 'arctan': return a.arctan();
      // The binding has no sqrt; x ** 0.5 keeps float32 as float32, as sqrt does.
      case 'sqrt': return isIntegerType(this.dtypeOf(a)) ? a.cast(toPolarsType('float64'), true).pow(0.5) : a.pow(0.5);
      case 'exp': return a.exp();
      case 'log': return a.log(Math.E);
      case 'floor': return a.floor();
      case 'ceil': return a.ceil();
      case 'abs': return a.abs();
    }
    throw new EngineError(`unknown function ${fn}`);
  }

  private when(node: Extract<ExprNode, { op: 'when' }>): NExpr {
    const { N } = polars();
    // Untyped numeric literals among the branch values take the type of the
    // first typed value, or int32/float64 when all are literals.
    const values = [...node.branches.map((b) => b.then), ...(node.otherwise ? [node.otherwise] : [])];
    const typed = values.find((v) => !(v.op === 'lit' && v.dtype === undefined));
    let dynType: DType | undefined;
    if (typed) dynType = this.dtypeOf(this.compile(typed));
    else if (values.some((v) => v.op === 'lit' && typeof v.value === 'number')) {
      dynType = values.every((v) => v.op !== 'lit' || typeof v.value !== 'number' || Number.isInteger(v.value)) ? 'int32' : 'float64';
    }
    const value = (v: ExprNode): NExpr =>
      v.op === 'lit' && v.dtype === undefined && typeof v.value === 'number' && dynType
        ? typedLiteral(v.value, literalTypeNextTo(v.value, dynType))
        : this.compile(v);
    let chain: any = N.when(this.compile(node.branches[0]!.when)).then(value(node.branches[0]!.then));
    for (const b of node.branches.slice(1)) chain = chain.when(this.compile(b.when)).then(value(b.then));
    if (node.otherwise) return chain.otherwise(value(node.otherwise));
    const nullValue = dynType ? N.lit(null).cast(toPolarsType(dynType), true) : N.lit(null);
    return chain.otherwise(nullValue);
  }
}

/**
 * A cast. Floats become the text Python's repr() gives (what pandas'
 * astype(str) writes): the shortest digits that read back to the same
 * value, so 0.1 is "0.1" and 1.0 is "1.0". Polars already writes the
 * shortest digits and agrees with repr on where scientific notation starts
 * above (1e+16), but writes 1e-5..1e-4 positionally ("0.00001" for
 * "1e-05"), pads exponents to no width ("2.5e-7" for "2.5e-07") and spells
 * NaN "NaN": those three are rewritten. Nulls stay null (pandas writes
 * "nan" for a missing float: see the docs).
 */
export function castTo(e: NExpr, from: DType, to: DType, strict: boolean): NExpr {
  const out = e.cast(toPolarsType(to), strict);
  if (to !== 'string' || !isFloatType(from)) return out;
  const { N } = polars();
  const re = (text: NExpr, pattern: string, replacement: string): NExpr => text.strReplace(N.lit(pattern), N.lit(replacement), false, 1);
  let text = out;
  text = re(text, '^(-?)0\\.0000([1-9])$', '${1}${2}e-05');
  text = re(text, '^(-?)0\\.0000([1-9])([0-9]+)$', '${1}${2}.${3}e-05');
  text = re(text, 'e([+-])([0-9])$', 'e${1}0${2}');
  return re(text, '^NaN$', 'nan');
}

/**
 * a - q * b for float64 expressions (q a whole number near a / b): q * b as
 * an exact sum p + e (Dekker's product by Veltkamp splitting), then
 * (a - p) - e, exact where the result is representable and a - p is
 * (Sterbenz: p within a factor 2 of a), with the right sign for quotients below 2^53.
 */
function exactRemainder(a: NExpr, b: NExpr, q: NExpr): NExpr {
  const c = (v: number): NExpr => typedLiteral(v, 'float64');
  const split = (x: NExpr): [NExpr, NExpr] => {
    const big = x.mul(c(134217729));
    const hi = big.sub(big.sub(x));
    return [hi, x.sub(hi)];
  };
  // q is a whole number: its high part is the nearest multiple of 2^26 (0 for |q| < 2^25), by exact steps.
  const qh = q.mul(c(2 ** -26)).round(0, 'halftoeven').mul(c(2 ** 26));
  const ql = q.sub(qh);
  const [bh, bl] = split(b);
  const p = q.mul(b);
  const e = qh.mul(bh).sub(p).add(qh.mul(bl)).add(ql.mul(bh)).add(ql.mul(bl));
  return a.sub(p).sub(e);
}

/** Characters [start, stop) by Python's slice rules (negative from the end, clamped to the text). */
function pythonSlice(a: NExpr, start: number, stop: number | null): NExpr {
  const { N } = polars();
  const i64 = (v: number): NExpr => typedLiteral(v, 'int64');
  if (start >= 0 && stop === null) return a.strSlice(i64(start), N.lit(null));
  if (start >= 0 && stop !== null && stop >= 0) return a.strSlice(i64(start), i64(Math.max(0, stop - start)));
  const n = a.strLengths().cast(toPolarsType('int64'), true);
  const atLeast0 = (e: NExpr): NExpr => N.when(e.lt(i64(0))).then(i64(0)).otherwise(e);
  const s = start < 0 ? atLeast0(n.add(i64(start))) : i64(start);
  const e = stop === null ? n : stop < 0 ? atLeast0(n.add(i64(stop))) : i64(stop);
  return a.strSlice(s, atLeast0(e.sub(s)));
}

/** A Python re replacement (\\1, \\g<name>, \\g<1>) in Rust regex's spelling (\${1}, \${name}); a literal $ doubled. */
function pythonToRustReplacement(repl: string): string {
  return repl.replace(/\\g<(\w+)>|\\(\d{1,2})|\\(.)|\$/gs, (m, name: string | undefined, num: string | undefined, ch: string | undefined) => {
    if (name !== undefined) return `\${${name}}`;
    if (num !== undefined) return `\${${num}}`;
    if (ch !== undefined) return ({ n: '\n', t: '\t', r: '\r', '\\': '\\' } as Record<string, string>)[ch] ?? m;
    return '$$';
  });
}

/** A C/Python strftime format in chrono's spelling: only %f differs (Python: microseconds, 6 digits; chrono: nanoseconds). */
function pythonToChronoFormat(format: string): string {
  return format.replace(/%(.)/gs, (m, c: string) => (c === 'f' ? '%6f' : m));
}

/** Epoch milliseconds of a naive (zone-less) datetime string, read as UTC like Polars' naive datetimes. */
function parseNaiveDatetime(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '0'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), Number(frac.padEnd(3, '0')));
  return Number.isNaN(ms) ? undefined : ms;
}

/** The type an untyped numeric literal takes next to an operand of type `other`. */
function literalTypeNextTo(value: number, other: DType): DType {
  if (isFloatType(other)) return other;
  if (isIntegerType(other)) {
    if (!Number.isInteger(value)) return 'float64';
    return fitsInteger(value, other) ? other : 'int64';
  }
  return Number.isInteger(value) ? 'int32' : 'float64';
}

export function fitsInteger(v: number, t: DType): boolean {
  const bits = Number(/\d+/.exec(t)![0]);
  if (t.startsWith('u')) return v >= 0 && v < 2 ** bits;
  return v >= -(2 ** (bits - 1)) && v < 2 ** (bits - 1);
}

function defaultLiteral(value: LiteralValue): NExpr {
  const { N } = polars();
  if (typeof value === 'number') return typedLiteral(value, Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? 'int32' : 'float64');
  return N.lit(value);
}

export function typedLiteral(value: LiteralValue, t: DType): NExpr {
  const { N } = polars();
  if (value === null) return N.lit(null).cast(toPolarsType(t), true);
  if (t.startsWith('datetime') && typeof value === 'number') {
    // Literal datetimes travel as epoch milliseconds.
    return N.lit(new Date(value)).cast(toPolarsType(t), true);
  }
  if (isNumericType(t) && typeof value === 'string') return N.lit(Number(value)).cast(toPolarsType(t), true);
  return N.lit(value).cast(toPolarsType(t), true);
}
