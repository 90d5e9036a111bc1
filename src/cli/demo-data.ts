/**
 * `tessera-compute demo-data`: writes NYC-yellow-taxi-2015-like CSV files for demos,
 * tests and benchmarks (see src/tools/demo-data/rows.ts for what the data
 * looks like).
 */

import { parseArgs } from 'node:util';
import { APPROX_BYTES_PER_ROW, generateDemoData } from '../tools/demo-data/index.js';
import { InvalidArgumentError } from '../errors.js';

const HELP = `Usage: tessera-compute demo-data [--rows N | --size SIZE] [--files K] [--out DIR] [--seed S]

Generate CSV files shaped like the NYC yellow taxi trip records of 2015 (the
real header and value distributions, with the real data's mess: zero
coordinates, negative and absurd fares, 0 or 7+ passengers, empty fields).
The same seed always gives the same bytes.

Options:
  --rows N     total rows, spread evenly over the files (default 1000000)
  --size SIZE  instead of --rows: about this much CSV in total (e.g. 1GB, 500MB)
  --files K    number of files, one month of 2015 each (default 1)
  --out DIR    output directory, created if missing (default ./demo-data)
  --seed S     random seed (default 42)
  --quiet      print nothing but errors
  -h, --help   show this help`;

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

function parseSize(text: string): number {
  const m = /^\s*([\d.]+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] || 'b').toLowerCase()];
  if (!m || unit === undefined || !Number.isFinite(Number(m[1]))) throw new InvalidArgumentError(`cannot read size '${text}' (try 500MB or 1GB)`);
  return Number(m[1]) * unit;
}

function parseCount(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`--${name} must be an integer >= ${min}, got '${text}'`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        rows: { type: 'string' },
        size: { type: 'string' },
        files: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`tessera-compute demo-data: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let rows: number;
  let files: number;
  let seed: number;
  try {
    if (values.rows !== undefined && values.size !== undefined) throw new InvalidArgumentError('give --rows or --size, not both');
    files = parseCount('files', values.files, 1, 1);
    seed = parseCount('seed', values.seed, 42, 0);
    rows = values.size !== undefined
      ? Math.max(0, Math.round(parseSize(values.size) / APPROX_BYTES_PER_ROW))
      : parseCount('rows', values.rows, 1_000_000, 0);
  } catch (err) {
    console.error(`tessera-compute demo-data: ${(err as Error).message}`);
    return 2;
  }
  const out = values.out ?? 'demo-data';
  const tty = process.stderr.isTTY && !values.quiet;
  let lastReport = 0;
  const result = await generateDemoData({
    rows,
    files,
    out,
    seed,
    onProgress: (bytes) => {
      const now = Date.now();
      if (tty && now - lastReport > 200) {
        lastReport = now;
        process.stderr.write(`\r  ${(bytes / 1e6).toFixed(0)} MB written`);
      }
    },
  });
  if (tty) process.stderr.write('\r\x1b[K');
  if (!values.quiet) {
    const mb = result.bytes / 1e6;
    console.log(
      `wrote ${result.rows.toLocaleString('en-US')} rows in ${result.files.length} file(s), ${mb.toFixed(1)} MB, to ${out} ` +
        `in ${result.seconds.toFixed(2)} s (${(mb / Math.max(result.seconds, 1e-9)).toFixed(0)} MB/s)`,
    );
  }
  return 0;
}
