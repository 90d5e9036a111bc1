/** Task keys: the group a key belongs to (what the dashboard and the scheduler's task groups aggregate by). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyGroup, taskKey, uniqueToken } from '../../src/graph/keys.js';

test('keyGroup drops trailing tokens (8+ lower-case hex digits) and indices, keeping the first piece', () => {
  const cases: [string, string][] = [
    ['read-csv-1a2b3c4d-3', 'read-csv'],
    ['inc-0123456789abcdef0123', 'inc'],
    ['x-1-2-3', 'x'],
    ['shuffle-transfer-abcdef0123-7', 'shuffle-transfer'],
    ['a-b-c', 'a-b-c'],
    ['x-ABCDEF12', 'x-ABCDEF12'], // upper case is not a token
    ['x-abcdef1', 'x-abcdef1'], // 7 hex digits are a name, not a token
    ['x-abcdefg1', 'x-abcdefg1'],
    ['a--1', 'a-'], // an empty piece stops the scan
    ['a-1-', 'a-1-'],
    ['12-34', '12'],
    ['1', '1'],
    ['-1', ''],
    ['a', 'a'],
    ['', ''],
  ];
  for (const [key, group] of cases) assert.equal(keyGroup(key), group, key);
  assert.equal(keyGroup(taskKey('trivial', uniqueToken())), 'trivial');
});
