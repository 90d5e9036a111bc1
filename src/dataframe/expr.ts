/**
 * Column expressions as data. The fluent builder (`col('a').add(1).alias('b')`)
 * uses Polars' names; what it builds is a tree of plain JSON objects
 * (`ExprNode`) that travels to workers with the task and is rebuilt into
 * Polars expressions there, so no user code is shipped for expressions.
 *
 * Literals: a bare number in an expression (`col('x').mul(2)`) takes the
 * type of the other operand when the engine builds the query, as literals do
 * in Python Polars (float32 * 2 stays float32, int32 + 1 stays int32); give
 * `lit(2, 'float64')` to fix a literal's type. Strings are always literals
 * (use `col('name')` for a column).
 */

import { DataFrameError } from '../errors.js';
import { normalizeDType, type DType, type DTypeLike } from './dtypes.js';
import { checkOptions, optionNames } from './options.js';

export type LiteralValue = number | string | boolean | null;

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'floorDiv' | 'mod' | 'pow'
  | 'eq' | 'neq' | 'gt' | 'gtEq' | 'lt' | 'ltEq'
  | 'and' | 'or';

export type UnaryOp =
  | 'not' | 'neg' | 'isNull' | 'isNotNull' | 'isNan'
  | 'sin' | 'cos' | 'tan' | 'arcsin' | 'arccos' | 'arctan'
  | 'sqrt' | 'exp' | 'log' | 'floor' | 'ceil' | 'abs';

export type DatetimeField = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'millisecond' | 'weekday' | 'ordinalDay';

/** Functions of the `.str` namespace (expression text), named as pandas' `.str` methods. */
export type StrFn =
  | 'contains' | 'startsWith' | 'endsWith' | 'lower' | 'upper' | 'strip' | 'lstrip' | 'rstrip'
  | 'slice' | 'len' | 'replace' | 'split' | 'extract';

/** Datetime functions that take a frequency or format (the `.dt` namespace). */
export type DatetimeCall = 'floor' | 'ceil' | 'round' | 'date' | 'strftime';

export type AggOp = 'sum' | 'mean' | 'min' | 'max' | 'count' | 'nUnique' | 'first' | 'last' | 'std' | 'var' | 'median';

/**
 * Functions of a row's neighbours in the frame's row order (window.ts):
 * they read rows of the previous (or next) partitions, so only a window
 * step of the plan may compute them.
 */
export type WindowFn = 'shift' | 'diff' | 'cumSum' | 'cumMax' | 'cumMin' | 'cumCount' | 'rollingSum' | 'rollingMean' | 'rollingMin' | 'rollingMax';

export type ExprNode =
  | { readonly op: 'col'; readonly name: string }
  | { readonly op: 'lit'; readonly value: LiteralValue; readonly dtype?: DType }
  | { readonly op: 'binary'; readonly fn: BinaryOp; readonly left: ExprNode; readonly right: ExprNode }
  | { readonly op: 'unary'; readonly fn: UnaryOp; readonly arg: ExprNode }
  | { readonly op: 'round'; readonly arg: ExprNode; readonly decimals: number }
  | { readonly op: 'cast'; readonly arg: ExprNode; readonly dtype: DType; readonly strict: boolean }
  | { readonly op: 'dt'; readonly fn: DatetimeField; readonly arg: ExprNode }
  /** `every` is a fixed frequency in microseconds (floor, ceil, round); `format` a strftime format. */
  | { readonly op: 'dtCall'; readonly fn: DatetimeCall; readonly arg: ExprNode; readonly every?: number; readonly format?: string }
  /** Arguments by function: see StringNamespace. */
  | { readonly op: 'str'; readonly fn: StrFn; readonly arg: ExprNode; readonly args: readonly LiteralValue[] }
  | { readonly op: 'fillNull'; readonly arg: ExprNode; readonly value: ExprNode }
  | { readonly op: 'isIn'; readonly arg: ExprNode; readonly values: readonly LiteralValue[] }
  | { readonly op: 'when'; readonly branches: readonly { readonly when: ExprNode; readonly then: ExprNode }[]; readonly otherwise: ExprNode | null }
  | { readonly op: 'alias'; readonly arg: ExprNode; readonly name: string }
  | { readonly op: 'agg'; readonly fn: AggOp; readonly arg: ExprNode }
  /**
   * The q-quantile by linear interpolation (NumPy's and pandas' default).
   * Built only by describe(), over a frame in one partition: it needs every
   * value at once, so it is no aggregation groupBy or select could split.
   */
  | { readonly op: 'quantile'; readonly arg: ExprNode; readonly q: number }
  | { readonly op: 'len' }
  | {
      readonly op: 'window';
      readonly fn: WindowFn;
      readonly arg: ExprNode;
      /** shift/diff: periods (negative: from following rows); rolling: the window's length. */
      readonly n: number;
      /** rolling: fewer non-null values than this in a window give null (default n, as pandas). */
      readonly minPeriods?: number;
      /** cumulative functions, set when lowered: the column holding the total of the rows before this partition. */
      readonly carry?: string;
      /** Per group (pandas' groupby(keys).x.shift(...)): within the rows of equal keys; a row with a null key gives null. */
      readonly over?: readonly string[];
    };

/** What expression methods accept as an operand: an expression or a literal. */
export type ExprLike = Expr | LiteralValue | Date;

export function toNode(x: ExprLike): ExprNode {
  if (x instanceof Expr) return x.node;
  if (x instanceof Date) return { op: 'lit', value: x.getTime(), dtype: 'datetime[ms]' };
  if (x === null || typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') {
    // JSON has no Infinity or NaN: they travel as the strings Number() reads back.
    if (typeof x === 'number' && !Number.isFinite(x)) return { op: 'lit', value: String(x), dtype: 'float64' };
    return { op: 'lit', value: x };
  }
  throw new DataFrameError(`cannot use ${typeof x} ${String(x)} in an expression; use col(name), lit(value) or a number, string, boolean or null`);
}

/** Datetime parts of a datetime expression, as in Polars' `.dt` namespace. */
export class DatetimeNamespace {
  constructor(private readonly expr: Expr) {}
  private part(fn: DatetimeField): Expr {
    return new Expr({ op: 'dt', fn, arg: this.expr.node });
  }
  year(): Expr { return this.part('year'); }
  month(): Expr { return this.part('month'); }
  day(): Expr { return this.part('day'); }
  hour(): Expr { return this.part('hour'); }
  minute(): Expr { return this.part('minute'); }
  second(): Expr { return this.part('second'); }
  millisecond(): Expr { return this.part('millisecond'); }
  /** ISO weekday, as Polars: Monday = 1 ... Sunday = 7. Differs from pandas' `s.dt.weekday` (Monday = 0); pandas' ISO spelling is `s.dt.isocalendar().day`. */
  weekday(): Expr { return this.part('weekday'); }
  ordinalDay(): Expr { return this.part('ordinalDay'); }

  /**
   * Down to a multiple of a fixed frequency counted from 1970-01-01, as
   * pandas' `s.dt.floor('15min')`: a pandas frequency ('D', 'H'/'h',
   * 'T'/'min', 'S'/'s', 'L'/'ms', 'U'/'us', with a count: '15min', '2H').
   */
  floor(freq: string): Expr { return this.call('floor', { every: parseFrequency(freq, 'floor') }); }
  /** Up to a multiple of the frequency, as pandas' `s.dt.ceil(freq)`. */
  ceil(freq: string): Expr { return this.call('ceil', { every: parseFrequency(freq, 'ceil') }); }
  /** To the nearest multiple of the frequency, halves to the even multiple, as pandas' `s.dt.round(freq)`. */
  round(freq: string): Expr { return this.call('round', { every: parseFrequency(freq, 'round') }); }
  /**
   * The calendar date (a `date` column), as pandas' `s.dt.date` (which gives
   * Python date objects; `s.dt.normalize()` keeps datetimes).
   */
  date(): Expr { return this.call('date', {}); }
  /** Text by a C/Python format (`'%Y-%m-%d %H:%M'`), as pandas' `s.dt.strftime`; `%f` is microseconds, 6 digits, as in Python. */
  strftime(format: string): Expr {
    if (typeof format !== 'string') throw new DataFrameError(`dt.strftime(format): format must be a string such as '%Y-%m-%d', got ${typeof format}`);
    return this.call('strftime', { format });
  }
  private call(fn: DatetimeCall, params: { every?: number; format?: string }): Expr {
    return new Expr({ op: 'dtCall', fn, arg: this.expr.node, ...params });
  }
}

const FREQUENCY_MICROS: Record<string, number> = {
  D: 86_400e6, H: 3_600e6, h: 3_600e6, T: 60e6, min: 60e6, S: 1e6, s: 1e6, L: 1e3, ms: 1e3, U: 1, us: 1,
};

/** A pandas fixed frequency ('15min', 'H', '2D') in microseconds. */
function parseFrequency(freq: string, method: string): number {
  const m = typeof freq === 'string' ? /^\s*(\d*)\s*([A-Za-z]+)\s*$/.exec(freq) : null;
  const unit = m ? FREQUENCY_MICROS[m[2]!] : undefined;
  const count = m && m[1] !== '' ? Number(m[1]) : 1;
  if (!m || unit === undefined || count < 1) {
    throw new DataFrameError(
      `dt.${method}(freq): '${String(freq)}' is not a fixed frequency; use a count and one of D, H (h), T (min), S (s), L (ms), U (us), ` +
        `e.g. '15min' or '1H' (months and years have no fixed length, as in pandas)`,
    );
  }
  return count * unit;
}

export interface StrPatternOptions {
  /** Whether the pattern is a regular expression (default: true for contains, false for replace, as pandas 2). */
  regex?: boolean;
}

const STR_PATTERN_OPTIONS = optionNames<StrPatternOptions>({ regex: true });

/**
 * Text functions, as pandas' `.str` accessor: a null stays null (pandas'
 * NaN), whatever the function. Patterns are regular expressions in Rust's
 * `regex` syntax, which agrees with Python's `re` for the usual classes,
 * groups and quantifiers but has no look-around or back-references.
 */
export class StringNamespace {
  constructor(private readonly expr: Expr) {}
  private call(fn: StrFn, ...args: LiteralValue[]): Expr {
    return new Expr({ op: 'str', fn, arg: this.expr.node, args });
  }
  /** Whether the text matches the pattern anywhere: a regular expression unless `regex: false` (pandas' default is a regex too). */
  contains(pattern: string, options: StrPatternOptions = {}): Expr {
    checkOptions('str.contains', options, STR_PATTERN_OPTIONS);
    return this.call('contains', requireString(pattern, 'str.contains(pattern)'), options.regex ?? true);
  }
  startsWith(prefix: string): Expr { return this.call('startsWith', requireString(prefix, 'str.startsWith(prefix)')); }
  endsWith(suffix: string): Expr { return this.call('endsWith', requireString(suffix, 'str.endsWith(suffix)')); }
  lower(): Expr { return this.call('lower'); }
  upper(): Expr { return this.call('upper'); }
  /** Without leading and trailing whitespace, or without the characters in `chars` (pandas' to_strip). */
  strip(chars?: string): Expr { return this.call('strip', chars ?? null); }
  lstrip(chars?: string): Expr { return this.call('lstrip', chars ?? null); }
  rstrip(chars?: string): Expr { return this.call('rstrip', chars ?? null); }
  /** Characters [start, stop), with Python's rules: negative counts from the end, stop omitted is the end (pandas' `s.str.slice(start, stop)`, `s.str[start:stop]`). */
  slice(start: number, stop?: number): Expr {
    for (const [n, v] of [['start', start], ['stop', stop]] as const) {
      if (v !== undefined && !Number.isInteger(v)) throw new DataFrameError(`str.slice(start, stop): ${n} must be an integer, got ${String(v)}`);
    }
    return this.call('slice', start, stop ?? null);
  }
  /** The number of characters (Unicode code points), as pandas' `s.str.len()`. */
  len(): Expr { return this.call('len'); }
  /**
   * Every occurrence of `pattern` replaced, as pandas' `s.str.replace(pat, repl)`:
   * literal text by default (pandas 2's regex=False); with `regex: true` a
   * regular expression whose groups the replacement names as Python does (`\1`, `\g<name>`).
   */
  replace(pattern: string, replacement: string, options: StrPatternOptions = {}): Expr {
    checkOptions('str.replace', options, STR_PATTERN_OPTIONS);
    return this.call('replace', requireString(pattern, 'str.replace(pattern)'), requireString(replacement, 'str.replace(replacement)'), options.regex ?? false);
  }
  /** A list of the pieces between occurrences of `separator` (a literal), as pandas' `s.str.split(sep)`; whitespace runs without it. */
  split(separator?: string): Expr { return this.call('split', separator === undefined ? null : requireString(separator, 'str.split(separator)')); }
  /** The text of group `group` (1 = the first) of the first match of the pattern, or null, as pandas' `s.str.extract(pat, expand=False)`. */
  extract(pattern: string, group = 1): Expr {
    if (!Number.isInteger(group) || group < 0) throw new DataFrameError(`str.extract(pattern, group): group must be a non-negative integer, got ${group}`);
    return this.call('extract', requireString(pattern, 'str.extract(pattern)'), group);
  }
}

function requireString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new DataFrameError(`${what} must be a string, got ${v === null ? 'null' : typeof v}`);
  return v;
}

export class Expr {
  constructor(readonly node: ExprNode) {}

  static fromJSON(node: ExprNode): Expr {
    return new Expr(node);
  }

  toJSON(): ExprNode {
    return this.node;
  }

  toString(): string {
    return formatExpr(this.node);
  }

  private bin(fn: BinaryOp, other: ExprLike): Expr {
    return new Expr({ op: 'binary', fn, left: this.node, right: toNode(other) });
  }
  private un(fn: UnaryOp): Expr {
    return new Expr({ op: 'unary', fn, arg: this.node });
  }

  // Arithmetic. `div` is true division (int / int gives a float), as in Polars' `/`.
  add(other: ExprLike): Expr { return this.bin('add', other); }
  sub(other: ExprLike): Expr { return this.bin('sub', other); }
  mul(other: ExprLike): Expr { return this.bin('mul', other); }
  div(other: ExprLike): Expr { return this.bin('div', other); }
  floorDiv(other: ExprLike): Expr { return this.bin('floorDiv', other); }
  mod(other: ExprLike): Expr { return this.bin('mod', other); }
  pow(exponent: ExprLike): Expr { return this.bin('pow', exponent); }
  neg(): Expr { return this.un('neg'); }

  // Comparisons.
  eq(other: ExprLike): Expr { return this.bin('eq', other); }
  neq(other: ExprLike): Expr { return this.bin('neq', other); }
  gt(other: ExprLike): Expr { return this.bin('gt', other); }
  gtEq(other: ExprLike): Expr { return this.bin('gtEq', other); }
  lt(other: ExprLike): Expr { return this.bin('lt', other); }
  ltEq(other: ExprLike): Expr { return this.bin('ltEq', other); }
  isIn(values: readonly LiteralValue[]): Expr {
    return new Expr({ op: 'isIn', arg: this.node, values: [...values] });
  }

  // Boolean logic.
  and(other: ExprLike): Expr { return this.bin('and', other); }
  or(other: ExprLike): Expr { return this.bin('or', other); }
  not(): Expr { return this.un('not'); }

  // Missing values.
  isNull(): Expr { return this.un('isNull'); }
  isNotNull(): Expr { return this.un('isNotNull'); }
  isNan(): Expr { return this.un('isNan'); }
  fillNull(value: ExprLike): Expr {
    return new Expr({ op: 'fillNull', arg: this.node, value: toNode(value) });
  }

  // Types.
  /** Converts to `dtype`; with `strict` (the default) a value that cannot be converted is an error, otherwise null. */
  cast(dtype: DTypeLike, strict = true): Expr {
    return new Expr({ op: 'cast', arg: this.node, dtype: normalizeDType(dtype), strict });
  }

  // Math.
  sin(): Expr { return this.un('sin'); }
  cos(): Expr { return this.un('cos'); }
  tan(): Expr { return this.un('tan'); }
  arcsin(): Expr { return this.un('arcsin'); }
  arccos(): Expr { return this.un('arccos'); }
  arctan(): Expr { return this.un('arctan'); }
  sqrt(): Expr { return this.un('sqrt'); }
  exp(): Expr { return this.un('exp'); }
  /** Natural logarithm. */
  log(): Expr { return this.un('log'); }
  floor(): Expr { return this.un('floor'); }
  ceil(): Expr { return this.un('ceil'); }
  abs(): Expr { return this.un('abs'); }
  round(decimals = 0): Expr {
    if (!Number.isInteger(decimals) || decimals < 0) throw new DataFrameError(`round(decimals): decimals must be a non-negative integer, got ${decimals}`);
    return new Expr({ op: 'round', arg: this.node, decimals });
  }

  /** Datetime parts. Differences of datetimes are `b.sub(a)` (a duration). */
  get dt(): DatetimeNamespace {
    return new DatetimeNamespace(this);
  }

  /** Text functions (pandas' `.str`). */
  get str(): StringNamespace {
    return new StringNamespace(this);
  }

  /** Names the result column. */
  alias(name: string): Expr {
    return new Expr({ op: 'alias', arg: this.node, name });
  }

  // ---- window functions: frame-level operations across partitions (window.ts)
  /** The value `periods` rows earlier in the frame (later, when negative); null where there is none. pandas' `shift`. */
  shift(periods = 1): Expr {
    return this.windowFn('shift', periods);
  }
  /** This value minus the one `periods` rows earlier (pandas' `diff`); a duration for datetimes. */
  diff(periods = 1): Expr {
    return this.windowFn('diff', periods);
  }
  /** Running total in the frame's row order; a null stays null and is skipped (pandas' `cumsum`). */
  cumSum(): Expr { return this.windowFn('cumSum', 0); }
  /** Running maximum (pandas' `cummax`). */
  cumMax(): Expr { return this.windowFn('cumMax', 0); }
  /** Running minimum (pandas' `cummin`). */
  cumMin(): Expr { return this.windowFn('cumMin', 0); }
  /** A window of `window` rows ending at each row (pandas' `rolling(window)`): `.sum() .mean() .min() .max()`. */
  rolling(window: number, options: RollingOptions = {}): Rolling {
    return new Rolling(this, window, options);
  }
  /**
   * A window function per group, as pandas' `df.groupby(keys).x.shift(1)`
   * (Polars' `over`): `col('x').cumSum().over('k')`. Rows with a null key
   * give null (pandas' groupby drops them).
   */
  over(...keys: (string | readonly string[])[]): Expr {
    const k = keys.flat() as string[];
    if (this.node.op !== 'window') throw new DataFrameError(`over() applies to a window function, such as col('x').shift(1).over('k'); got ${formatExpr(this.node)}`);
    if (k.length === 0 || k.some((c) => typeof c !== 'string' || c === '')) throw new DataFrameError('over() needs the key column name(s)');
    if (this.node.over) throw new DataFrameError(`${formatExpr(this.node)} is already per group`);
    return new Expr({ ...this.node, over: k });
  }
  private windowFn(fn: WindowFn, n: number): Expr {
    if (!Number.isInteger(n)) throw new DataFrameError(`${fn}: periods must be an integer, got ${n}`);
    return new Expr({ op: 'window', fn, arg: this.node, n });
  }

  // Aggregations, for groupBy(...).agg(...).
  sum(): Expr { return this.agg('sum'); }
  mean(): Expr { return this.agg('mean'); }
  min(): Expr { return this.agg('min'); }
  max(): Expr { return this.agg('max'); }
  /** Number of non-null values. */
  count(): Expr { return this.agg('count'); }
  /** Distinct non-null values, as pandas' nunique() (dropna=True). */
  nUnique(): Expr { return this.agg('nUnique'); }
  first(): Expr { return this.agg('first'); }
  last(): Expr { return this.agg('last'); }
  std(): Expr { return this.agg('std'); }
  var(): Expr { return this.agg('var'); }
  median(): Expr { return this.agg('median'); }
  private agg(fn: AggOp): Expr {
    return new Expr({ op: 'agg', fn, arg: this.node });
  }
}

export interface RollingOptions {
  /** Fewer non-null values than this in a window give null (default: the window's length, as pandas). */
  minPeriods?: number;
}

/** `expr.rolling(window)`, waiting for its aggregation. */
export class Rolling {
  constructor(private readonly expr: Expr, private readonly window: number, private readonly options: RollingOptions) {
    if (!Number.isInteger(window) || window < 1) throw new DataFrameError(`rolling(window): window must be a positive integer, got ${window}`);
    const known = ['minPeriods'];
    const unknown = Object.keys(options ?? {}).filter((k) => !known.includes(k));
    if (unknown.length) throw new DataFrameError(`rolling: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; rolling takes minPeriods`);
    const m = options.minPeriods;
    if (m !== undefined && (!Number.isInteger(m) || m < 1 || m > window)) {
      throw new DataFrameError(`rolling: minPeriods must be an integer from 1 to the window (${window}), got ${m}`);
    }
  }
  private fn(fn: WindowFn): Expr {
    const m = this.options.minPeriods;
    return new Expr({ op: 'window', fn, arg: this.expr.node, n: this.window, ...(m === undefined ? {} : { minPeriods: m }) });
  }
  sum(): Expr { return this.fn('rollingSum'); }
  mean(): Expr { return this.fn('rollingMean'); }
  min(): Expr { return this.fn('rollingMin'); }
  max(): Expr { return this.fn('rollingMax'); }
}

/** A column by name. */
export function col(name: string): Expr {
  if (typeof name !== 'string' || name === '') throw new DataFrameError('col(name): name must be a non-empty string');
  return new Expr({ op: 'col', name });
}

/** A literal; without `dtype` a number takes the type of the other operand (see the module comment). */
export function lit(value: LiteralValue | Date, dtype?: DTypeLike): Expr {
  const node = toNode(value);
  if (dtype === undefined) return new Expr(node);
  if (node.op !== 'lit') throw new DataFrameError('lit(): expected a literal value');
  return new Expr({ op: 'lit', value: node.value, dtype: normalizeDType(dtype) });
}

/** The number of rows (in a group, inside agg). */
export function len(): Expr {
  return new Expr({ op: 'len' });
}

/**
 * The number of rows before each row (0, 1, 2, ...) in the frame's row
 * order; per group with `.over('k')`: pandas' `df.groupby('k').cumcount()`.
 */
export function cumCount(): Expr {
  return new Expr({ op: 'window', fn: 'cumCount', arg: { op: 'lit', value: 1 }, n: 0 });
}

/** Conditional expression: when(a).then(x).when(b).then(y).otherwise(z), as in Polars. */
export function when(condition: ExprLike): When {
  return new When([], toNode(condition));
}

export class When {
  constructor(
    private readonly branches: readonly { when: ExprNode; then: ExprNode }[],
    private readonly condition: ExprNode,
  ) {}
  then(value: ExprLike): Then {
    return new Then([...this.branches, { when: this.condition, then: toNode(value) }]);
  }
}

/** A when/then chain; usable as an expression (unmatched rows are null) or continued. */
export class Then extends Expr {
  constructor(private readonly branches: readonly { when: ExprNode; then: ExprNode }[]) {
    super({ op: 'when', branches, otherwise: null });
  }
  when(condition: ExprLike): When {
    return new When(this.branches, toNode(condition));
  }
  otherwise(value: ExprLike): Expr {
    return new Expr({ op: 'when', branches: this.branches, otherwise: toNode(value) });
  }
}

/** Accepts a column name or an expression. */
export function toExpr(x: string | Expr): Expr {
  return typeof x === 'string' ? col(x) : x;
}

/**
 * The name of the column an expression produces, by Polars' rule: an alias,
 * else the leftmost column it reads, else 'literal' (or 'len').
 */
export function outputName(node: ExprNode): string {
  switch (node.op) {
    case 'col':
      return node.name;
    case 'alias':
      return node.name;
    case 'lit':
      return 'literal';
    case 'len':
      return 'len';
    case 'binary':
      return outputName(node.left);
    case 'when':
      return outputName(node.branches[0]!.then);
    default:
      return outputName(node.arg);
  }
}

/** Every column an expression reads. */
export function columnsOf(node: ExprNode, into = new Set<string>()): Set<string> {
  if (node.op === 'col') into.add(node.name);
  else for (const c of exprChildren(node)) columnsOf(c, into);
  // A per-group window function reads its key columns too.
  if (node.op === 'window' && node.over) for (const k of node.over) into.add(k);
  return into;
}

/** The direct child expressions of a node (none for columns, literals and len()). */
export function exprChildren(n: ExprNode): ExprNode[] {
  switch (n.op) {
    case 'col':
    case 'lit':
    case 'len':
      return [];
    case 'binary':
      return [n.left, n.right];
    case 'when':
      return [...n.branches.flatMap((b) => [b.when, b.then]), ...(n.otherwise ? [n.otherwise] : [])];
    case 'fillNull':
      return [n.arg, n.value];
    default:
      return [n.arg];
  }
}

/** The node with each direct child expression replaced by f(child): the one place that knows every node's shape. */
export function mapExprChildren(node: ExprNode, f: (n: ExprNode) => ExprNode): ExprNode {
  switch (node.op) {
    case 'col':
    case 'lit':
    case 'len':
      return node;
    case 'binary':
      return { ...node, left: f(node.left), right: f(node.right) };
    case 'when':
      return { ...node, branches: node.branches.map((b) => ({ when: f(b.when), then: f(b.then) })), otherwise: node.otherwise ? f(node.otherwise) : null };
    case 'fillNull':
      return { ...node, arg: f(node.arg), value: f(node.value) };
    default:
      return { ...node, arg: f(node.arg) } as ExprNode;
  }
}

/** Rewrites column references (for renames pushed below an expression). */
export function renameColumns(node: ExprNode, mapping: (name: string) => string): ExprNode {
  if (node.op === 'col') return { op: 'col', name: mapping(node.name) };
  const out = mapExprChildren(node, (n) => renameColumns(n, mapping));
  return out.op === 'window' && out.over ? { ...out, over: out.over.map(mapping) } : out;
}

/** Whether an expression reads neighbouring rows (a window function anywhere in it). */
export function containsWindow(node: ExprNode): boolean {
  return node.op === 'window' || exprChildren(node).some(containsWindow);
}

export function containsAgg(node: ExprNode): boolean {
  return node.op === 'agg' || node.op === 'len' || node.op === 'quantile' || exprChildren(node).some(containsAgg);
}

const BINARY_SYMBOL: Record<BinaryOp, string> = {
  add: '+', sub: '-', mul: '*', div: '/', floorDiv: '//', mod: '%', pow: '**',
  eq: '==', neq: '!=', gt: '>', gtEq: '>=', lt: '<', ltEq: '<=', and: '&', or: '|',
};

/** A readable rendering, in Polars' style: `[(col("a")) + (dyn int: 1)]` becomes `(col("a") + 1)`. */
export function formatExpr(node: ExprNode): string {
  switch (node.op) {
    case 'col':
      return `col(${JSON.stringify(node.name)})`;
    case 'lit':
      return node.dtype ? `lit(${JSON.stringify(node.value)}, ${node.dtype})` : JSON.stringify(node.value);
    case 'len':
      return 'len()';
    case 'binary':
      return `(${formatExpr(node.left)} ${BINARY_SYMBOL[node.fn]} ${formatExpr(node.right)})`;
    case 'unary':
      return `${formatExpr(node.arg)}.${node.fn}()`;
    case 'round':
      return `${formatExpr(node.arg)}.round(${node.decimals})`;
    case 'cast':
      return `${formatExpr(node.arg)}.cast(${node.dtype})`;
    case 'dt':
      return `${formatExpr(node.arg)}.dt.${node.fn}()`;
    case 'dtCall':
      return `${formatExpr(node.arg)}.dt.${node.fn}(${node.format !== undefined ? JSON.stringify(node.format) : node.every !== undefined ? `${node.every}us` : ''})`;
    case 'str':
      return `${formatExpr(node.arg)}.str.${node.fn}(${node.args.map((a) => JSON.stringify(a)).join(', ')})`;
    case 'fillNull':
      return `${formatExpr(node.arg)}.fillNull(${formatExpr(node.value)})`;
    case 'isIn':
      return `${formatExpr(node.arg)}.isIn(${JSON.stringify(node.values)})`;
    case 'when':
      return (
        node.branches.map((b, i) => `${i === 0 ? 'when' : '.when'}(${formatExpr(b.when)}).then(${formatExpr(b.then)})`).join('') +
        (node.otherwise ? `.otherwise(${formatExpr(node.otherwise)})` : '')
      );
    case 'alias':
      return `${formatExpr(node.arg)}.alias(${JSON.stringify(node.name)})`;
    case 'agg':
      return `${formatExpr(node.arg)}.${node.fn}()`;
    case 'window': {
      const over = node.over ? `.over(${node.over.map((k) => JSON.stringify(k)).join(', ')})` : '';
      if (node.fn.startsWith('rolling')) {
        const m = node.minPeriods === undefined ? '' : `, { minPeriods: ${node.minPeriods} }`;
        return `${formatExpr(node.arg)}.rolling(${node.n}${m}).${node.fn.slice('rolling'.length).toLowerCase()}()${over}`;
      }
      if (node.fn === 'cumCount') return `cumCount()${over}`;
      return (node.fn === 'shift' || node.fn === 'diff' ? `${formatExpr(node.arg)}.${node.fn}(${node.n})` : `${formatExpr(node.arg)}.${node.fn}()`) + over;
    }
    case 'quantile':
      return `${formatExpr(node.arg)}.quantile(${node.q})`;
  }
}
