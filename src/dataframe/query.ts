/**
 * pandas' `DataFrame.query` syntax, parsed into an expression tree:
 *
 *   fare_amount > 0 and fare_amount < 500 and not (`trip distance` == 0)
 *
 * Grammar, loosest binding first (as pandas.eval, where `&`/`|` bind like
 * `and`/`or` rather than tighter than comparisons as in plain Python):
 *
 *   or      := and (('or' | '|') and)*
 *   and     := not (('and' | '&') not)*
 *   not     := ('not' | '~') not | compare
 *   compare := sum ((< <= > >= == != | in | not in) sum)*   chained: a < b < c
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/' | '//' | '%') unary)*
 *   unary   := '-' unary | '+' unary | power
 *   power   := atom ('**' unary)?
 *   atom    := number | 'string' | "string" | name | `any name` | @variable
 *            | True | False | None | ( or ) | [ literal, ... ]
 *
 * Errors carry the position and show the query with a caret under it.
 *
 * Nulls follow pandas, where a comparison with a missing value (NaN, None,
 * NaT) is False, except `!=`, which is True: so `a != 5`, `not (a == 5)`
 * and `s not in ['x']` keep the rows where the value is missing, as pandas
 * does (Polars' comparisons give null there, and a filter drops null).
 * Only three places need rewriting for that: `!=` becomes
 * `(a != 5).fillNull(true)`, the operand of `not` gets `.fillNull(false)`
 * and so does `in`. Everywhere else null and False already behave alike
 * in a filter: and/or of null with anything are null (dropped, as False
 * would be) or decided by the other side. A null never matches a list
 * (`x in [1, None]`), as for pandas' float columns.
 */

import { DataFrameError, QueryError } from '../errors.js';

// Declared with every other error in errors.ts; exported here too, where it always was.
export { QueryError };
import { col, Expr, lit, type LiteralValue } from './expr.js';

type TokenKind = 'num' | 'str' | 'name' | 'op' | 'var' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  value?: number | string;
  pos: number;
}

const OPERATORS = ['**', '//', '<=', '>=', '==', '!=', '<', '>', '+', '-', '*', '/', '%', '(', ')', '[', ']', ',', '&', '|', '~'];

function tokenize(q: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(q[i + 1] ?? ''))) {
      const m = /^(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?\.?)/.exec(q.slice(i));
      const text = m![0];
      const value = Number(text.replace(/_/g, ''));
      if (!Number.isFinite(value)) throw new QueryError(q, start, `cannot read the number '${text}'`);
      tokens.push({ kind: 'num', text, value, pos: start });
      i += text.length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let value = '';
      while (j < q.length && q[j] !== c) {
        if (q[j] === '\\' && j + 1 < q.length) {
          const e = q[j + 1]!;
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
        } else value += q[j++];
      }
      if (j >= q.length) throw new QueryError(q, start, 'unterminated string (a closing quote is missing)');
      tokens.push({ kind: 'str', text: q.slice(i, j + 1), value, pos: start });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = q.indexOf('`', i + 1);
      if (j < 0) throw new QueryError(q, start, 'unterminated backquoted name (a closing ` is missing)');
      if (j === i + 1) throw new QueryError(q, start, 'empty backquoted name');
      tokens.push({ kind: 'name', text: q.slice(i, j + 1), value: q.slice(i + 1, j), pos: start });
      i = j + 1;
      continue;
    }
    if (c === '@') {
      const m = /^@([A-Za-z_][A-Za-z0-9_]*)/.exec(q.slice(i));
      if (!m) throw new QueryError(q, start, "expected a variable name after '@'");
      tokens.push({ kind: 'var', text: m[0], value: m[1]!, pos: start });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(q.slice(i))!;
      tokens.push({ kind: 'name', text: m[0], value: m[0], pos: start });
      i += m[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => q.startsWith(o, i));
    if (op) {
      tokens.push({ kind: 'op', text: op, pos: start });
      i += op.length;
      continue;
    }
    if (c === '=') throw new QueryError(q, start, "'=' is assignment; use '==' to compare");
    throw new QueryError(q, start, `unexpected character '${c}'`);
  }
  tokens.push({ kind: 'end', text: '', pos: q.length });
  return tokens;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'True', 'False', 'None', 'true', 'false']);

const COMPARE: Record<string, 'lt' | 'ltEq' | 'gt' | 'gtEq' | 'eq' | 'neq'> = {
  '<': 'lt', '<=': 'ltEq', '>': 'gt', '>=': 'gtEq', '==': 'eq', '!=': 'neq',
};

export interface QueryOptions {
  /** Values for `@name` references, as pandas' local variables. */
  locals?: Record<string, LiteralValue | readonly LiteralValue[]>;
  /** When given, names that are not columns are reported with the position. */
  columns?: readonly string[];
}

/** Parses a pandas-style query into an expression (a boolean predicate). */
export function parseQuery(query: string, options: QueryOptions = {}): Expr {
  if (typeof query !== 'string') throw new DataFrameError(`query must be a string, got ${typeof query}`);
  const tokens = tokenize(query);
  let p = 0;
  const peek = (): Token => tokens[p]!;
  const next = (): Token => tokens[p++]!;
  const isWord = (t: Token, w: string): boolean => t.kind === 'name' && t.text === w;
  const isOp = (t: Token, o: string): boolean => t.kind === 'op' && t.text === o;
  const fail = (t: Token, problem: string): never => {
    throw new QueryError(query, t.pos, problem);
  };
  const describe = (t: Token): string => (t.kind === 'end' ? 'the end of the query' : `'${t.text}'`);

  // A value in the tree is an expression or a list literal (only valid after `in`).
  type Value = { expr: Expr; pos: number } | { list: LiteralValue[]; pos: number };
  const asExpr = (v: Value): Expr => {
    if ('list' in v) throw new QueryError(query, v.pos, "a list is only allowed after 'in' or 'not in'");
    return v.expr;
  };

  const parseOr = (): Value => {
    let left = parseAnd();
    while (isWord(peek(), 'or') || isOp(peek(), '|')) {
      next();
      const right = parseAnd();
      left = { expr: asExpr(left).or(asExpr(right)), pos: left.pos };
    }
    return left;
  };
  const parseAnd = (): Value => {
    let left = parseNot();
    while (isWord(peek(), 'and') || isOp(peek(), '&')) {
      next();
      const right = parseNot();
      left = { expr: asExpr(left).and(asExpr(right)), pos: left.pos };
    }
    return left;
  };
  const parseNot = (): Value => {
    const t = peek();
    if (isWord(t, 'not') || isOp(t, '~')) {
      next();
      const inner = parseNot();
      return { expr: asExpr(inner).fillNull(false).not(), pos: t.pos };
    }
    return parseCompare();
  };
  const parseCompare = (): Value => {
    const first = parseSum();
    let left = first;
    let result: Expr | undefined;
    for (;;) {
      const t = peek();
      let make: ((a: Expr, b: Value) => Expr) | undefined;
      if (t.kind === 'op' && COMPARE[t.text]) {
        const fn = COMPARE[t.text]!;
        next();
        make = fn === 'neq' ? (a, b) => a.neq(asExpr(b)).fillNull(true) : (a, b) => a[fn](asExpr(b));
      } else if (isWord(t, 'in')) {
        next();
        make = (a, b) => membership(a, b, false);
      } else if (isWord(t, 'not') && isWord(tokens[p + 1]!, 'in')) {
        next();
        next();
        make = (a, b) => membership(a, b, true);
      } else break;
      const right = parseSum();
      const cmp = make(asExpr(left), right);
      // Chained comparisons mean what they mean in Python: a < b < c is a < b and b < c.
      result = result ? result.and(cmp) : cmp;
      left = right;
    }
    return result ? { expr: result, pos: first.pos } : first;
  };
  const membership = (a: Expr, b: Value, negate: boolean): Expr => {
    let values: LiteralValue[];
    if ('list' in b) values = b.list;
    else {
      const node = b.expr.node;
      if (node.op !== 'lit') throw new QueryError(query, b.pos, "expected a list such as [1, 2] or an @variable after 'in'");
      values = [node.value];
    }
    const e = a.isIn(values).fillNull(false);
    return negate ? e.not() : e;
  };
  const parseSum = (): Value => {
    let left = parseProduct();
    while (isOp(peek(), '+') || isOp(peek(), '-')) {
      const op = next().text;
      const right = parseProduct();
      left = { expr: op === '+' ? asExpr(left).add(asExpr(right)) : asExpr(left).sub(asExpr(right)), pos: left.pos };
    }
    return left;
  };
  const parseProduct = (): Value => {
    let left = parseUnary();
    for (;;) {
      const t = peek();
      if (!(isOp(t, '*') || isOp(t, '/') || isOp(t, '//') || isOp(t, '%'))) break;
      next();
      const right = asExpr(parseUnary());
      const l = asExpr(left);
      const e = t.text === '*' ? l.mul(right) : t.text === '/' ? l.div(right) : t.text === '//' ? l.floorDiv(right) : l.mod(right);
      left = { expr: e, pos: left.pos };
    }
    return left;
  };
  const parseUnary = (): Value => {
    const t = peek();
    if (isOp(t, '-')) {
      next();
      const inner = parseUnary();
      const e = asExpr(inner);
      // Fold -literal into a negative literal, so `x > -75` compares with the number -75.
      if (e.node.op === 'lit' && typeof e.node.value === 'number' && e.node.dtype === undefined) return { expr: lit(-e.node.value), pos: t.pos };
      return { expr: e.neg(), pos: t.pos };
    }
    if (isOp(t, '+')) {
      next();
      return parseUnary();
    }
    return parsePower();
  };
  const parsePower = (): Value => {
    const base = parseAtom();
    if (isOp(peek(), '**')) {
      const op = next();
      const exponent = asExpr(parseUnary());
      if (exponent.node.op !== 'lit' || typeof exponent.node.value !== 'number') fail(op, "the exponent of '**' must be a number");
      return { expr: asExpr(base).pow(exponent), pos: base.pos };
    }
    return base;
  };
  const parseAtom = (): Value => {
    const t = peek();
    switch (t.kind) {
      case 'num':
        next();
        return { expr: lit(t.value as number), pos: t.pos };
      case 'str':
        next();
        return { expr: lit(t.value as string), pos: t.pos };
      case 'var': {
        next();
        const name = t.value as string;
        const locals = options.locals ?? {};
        if (!(name in locals)) fail(t, `unknown variable '@${name}' (pass it in the locals option)`);
        const v = locals[name];
        if (Array.isArray(v)) return { list: [...(v as LiteralValue[])], pos: t.pos };
        return { expr: lit(v as LiteralValue), pos: t.pos };
      }
      case 'name': {
        const backquoted = t.text.startsWith('`');
        if (!backquoted) {
          if (t.text === 'True' || t.text === 'true') {
            next();
            return { expr: lit(true), pos: t.pos };
          }
          if (t.text === 'False' || t.text === 'false') {
            next();
            return { expr: lit(false), pos: t.pos };
          }
          if (t.text === 'None') {
            next();
            return { expr: lit(null), pos: t.pos };
          }
          if (KEYWORDS.has(t.text)) fail(t, `expected a value but found the keyword '${t.text}'`);
        }
        next();
        const name = t.value as string;
        if (options.columns && !options.columns.includes(name)) {
          fail(t, `unknown column '${name}' (the columns are ${options.columns.map((c) => `'${c}'`).join(', ')})`);
        }
        if (isOp(peek(), '(')) fail(peek(), `function calls such as ${name}(...) are not supported in a query; use expressions (col(...)) instead`);
        return { expr: col(name), pos: t.pos };
      }
      case 'op':
        if (t.text === '(') {
          next();
          if (isOp(peek(), ')')) fail(peek(), "expected an expression inside '()'");
          const inner = parseOr();
          const close = peek();
          if (!isOp(close, ')')) fail(close, `expected ')' to close the '(' at position ${t.pos}, found ${describe(close)}`);
          next();
          return { ...inner, pos: t.pos };
        }
        if (t.text === '[') {
          next();
          const values: LiteralValue[] = [];
          while (!isOp(peek(), ']')) {
            const item = parseUnary();
            const e = asExpr(item);
            if (e.node.op !== 'lit') fail(tokens[p - 1]!, 'a list may only hold literal values');
            values.push((e.node as { value: LiteralValue }).value);
            if (isOp(peek(), ',')) next();
            else if (!isOp(peek(), ']')) fail(peek(), `expected ',' or ']' in the list, found ${describe(peek())}`);
          }
          next();
          return { list: values, pos: t.pos };
        }
        return fail(t, `expected a value but found ${describe(t)}`);
      case 'end':
        return fail(t, 'the query ends where a value was expected');
    }
  };
  if (peek().kind === 'end') fail(peek(), 'the query is empty');
  const result = parseOr();
  const rest = peek();
  if (rest.kind !== 'end') {
    const prev = tokens[p - 1];
    const hint = rest.kind === 'name' || rest.kind === 'num' || rest.kind === 'str' ? ` (is an 'and' or 'or' missing after ${prev ? `'${prev.text}'` : 'the previous value'}?)` : '';
    fail(rest, `unexpected ${describe(rest)}${hint}`);
  }
  return asExpr(result);
}
