/** Shared helpers for the dataframe tests: temporary directories, small generated taxi data, frame comparisons. */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDemoData } from '../../src/tools/demo-data/index.js';
import type { PolarsDataFrame } from '../../src/dataframe/index.js';

export function tempDir(prefix = 'tessera-df-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeText(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Generates `rows` taxi rows in `files` files under dir/taxi (one thread: test data is small). */
export async function taxiData(dir: string, rows: number, files: number, seed = 7): Promise<string> {
  const out = join(dir, 'taxi');
  await generateDemoData({ rows, files, out, seed, threads: 1 });
  return out;
}

/** Rows of a frame as plain objects, sorted by the given columns (for order-insensitive comparisons). */
export function sortedRows(df: PolarsDataFrame, by: string[]): Record<string, unknown>[] {
  return (df.sort(by).toRecords() as Record<string, unknown>[]);
}

/** Asserts two frames have the same columns, types and rows (after sorting by `by`), floats within rel 1e-9. */
export function assertFramesEqual(actual: PolarsDataFrame, expected: PolarsDataFrame, by: string[], message = ''): void {
  assert.deepEqual(actual.columns, expected.columns, `${message} columns`);
  assert.deepEqual(
    actual.dtypes.map(String),
    expected.dtypes.map(String),
    `${message} dtypes`,
  );
  assert.equal(actual.height, expected.height, `${message} row count`);
  const a = sortedRows(actual, by);
  const e = sortedRows(expected, by);
  for (let i = 0; i < a.length; i++) {
    for (const c of actual.columns) {
      const x = a[i]![c];
      const y = e[i]![c];
      if (typeof x === 'number' && typeof y === 'number' && !Number.isInteger(y)) {
        assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${message} row ${i} column ${c}: ${x} != ${y}`);
      } else assert.deepEqual(x, y, `${message} row ${i} column ${c}`);
    }
  }
}
