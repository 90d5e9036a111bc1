import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery, QueryError } from '../../src/dataframe/query.js';
import { col, lit } from '../../src/dataframe/expr.js';

const q = (s: string, opts = {}) => parseQuery(s, opts).toString();

test('comparisons join with and/or; and binds tighter than or', () => {
  assert.equal(q('a > 1 or b < 2 and c == 3'), q('a > 1 or (b < 2 and c == 3)'));
  assert.equal(q('a > 1 or b < 2 and c == 3'), col('a').gt(1).or(col('b').lt(2).and(col('c').eq(3))).toString());
  assert.notEqual(q('(a > 1 or b < 2) and c == 3'), q('a > 1 or b < 2 and c == 3'));
});

test('& and | bind like and/or (pandas.eval), not tighter than comparisons as in Python', () => {
  assert.equal(q('a > 1 & b < 2 | c == 3'), q('a > 1 and b < 2 or c == 3'));
});

test('not binds looser than comparisons and tighter than and', () => {
  assert.equal(q('not a == 1 and b'), col('a').eq(1).fillNull(false).not().and(col('b')).toString());
  assert.equal(q('~(a == 1)'), col('a').eq(1).fillNull(false).not().toString());
});

test('arithmetic precedence, unary minus, powers and parentheses', () => {
  assert.equal(q('a + b * 2 > -3'), col('a').add(col('b').mul(2)).gt(-3).toString());
  assert.equal(q('(a + b) * 2 >= 10 // 3 % 2'), col('a').add(col('b')).mul(2).gtEq(lit(10).floorDiv(3).mod(2)).toString());
  assert.equal(q('a ** 2 < 4'), col('a').pow(2).lt(4).toString());
  assert.equal(q('-a < 0'), col('a').neg().lt(0).toString());
});

test('chained comparisons mean a < b and b < c', () => {
  assert.equal(q('0 < a <= 5'), lit(0).lt(col('a')).and(col('a').ltEq(5)).toString());
});

test('literals: numbers, strings, booleans, backquoted names, lists and @variables', () => {
  assert.equal(q(`name == 'x' or name != "y"`), col('name').eq('x').or(col('name').neq('y').fillNull(true)).toString());
  assert.equal(q('1.5e3 < x and x < .5 and x < 0x10'), lit(1500).lt(col('x')).and(col('x').lt(0.5)).and(col('x').lt(16)).toString());
  assert.equal(q('flag == True and other == False'), col('flag').eq(true).and(col('other').eq(false)).toString());
  assert.equal(q('`trip distance` > 1'), col('trip distance').gt(1).toString());
  assert.equal(q('x in [1, 2, 3]'), col('x').isIn([1, 2, 3]).fillNull(false).toString());
  assert.equal(q('x not in @bad', { locals: { bad: [4, 5] } }), col('x').isIn([4, 5]).fillNull(false).not().toString());
  assert.equal(q('x > @limit', { locals: { limit: 10 } }), col('x').gt(10).toString());
});

test('the original prep query parses to the expected tree', () => {
  const frags = ['fare_amount > 0 and fare_amount < 500', 'passenger_count > 0 and passenger_count < 6'];
  const e = parseQuery(frags.join(' and '));
  assert.equal(
    e.toString(),
    col('fare_amount').gt(0).and(col('fare_amount').lt(500)).and(col('passenger_count').gt(0)).and(col('passenger_count').lt(6)).toString(),
  );
  // Expressions are JSON data.
  assert.deepEqual(JSON.parse(JSON.stringify(e)), e.node);
});

function errorAt(query: string, position: number, pattern: RegExp, opts = {}): void {
  assert.throws(
    () => parseQuery(query, opts),
    (err: unknown) => {
      assert.ok(err instanceof QueryError, `expected a QueryError, got ${String(err)}`);
      assert.equal(err.code, 'ERR_TESSERA_DATAFRAME');
      assert.equal(err.position, position, `position for ${JSON.stringify(query)}: ${err.message}`);
      assert.match(err.message, pattern);
      // The message shows the query and a caret under the position.
      const lines = err.message.split('\n');
      assert.equal(lines[1], `  ${query}`);
      assert.equal(lines[2], `  ${' '.repeat(position)}^`);
      return true;
    },
  );
}

test('syntax errors point at the offending position', () => {
  errorAt('fare_amount > 0 and and x', 20, /expected a value but found the keyword 'and'/);
  errorAt('(a > 1', 6, /expected '\)' to close the '\(' at position 0/);
  errorAt('a > 1)', 5, /unexpected '\)'/);
  errorAt('a > 1 b < 2', 6, /is an 'and' or 'or' missing/);
  errorAt('a = 1', 2, /use '==' to compare/);
  errorAt('a > ', 4, /ends where a value was expected/);
  errorAt("name == 'abc", 8, /unterminated string/);
  errorAt('a > 1 and b ? 2', 12, /unexpected character '\?'/);
  errorAt('x > @nope', 4, /unknown variable '@nope'/);
  errorAt('fare > 0', 0, /unknown column 'fare'/, { columns: ['fare_amount'] });
  errorAt('', 0, /empty/);
  errorAt('abs(x) > 1', 3, /function calls/);
});
