/** Sizes users write ('64MB', '256MiB', or bytes), for blocksize and partitionSize. */
import { DataFrameError } from '../../errors.js';

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

export function parseBytes(x: number | string): number {
  if (typeof x === 'number') return x;
  const m = /^\s*([\d.]+)\s*([a-z]*)\s*$/i.exec(x);
  const unit = UNITS[(m?.[2] || 'b').toLowerCase()];
  if (!m || unit === undefined) throw new DataFrameError(`cannot read the size '${x}' (use bytes or e.g. '64MB', '256MiB')`);
  return Math.round(Number(m[1]) * unit);
}
