/**
 * Loading Polars (nodejs-polars), and the types of what its native binding
 * hands out.
 *
 * The engine talks to nodejs-polars' native binding (`bin/native-polars.js`)
 * for expressions and lazy frames rather than to the JS wrapper: the wrapper
 * builds an object with hundreds of closures for every expression node
 * (measured at 2-7 ms per node on this machine, against microseconds
 * natively), which would cost more than reading a partition. The binding's
 * shape is pinned with the package version (0.24.1, see package.json); the
 * wrapper is still used for frames handed to user code and for I/O helpers.
 *
 * Polars is loaded lazily, on the first call, because its thread pool is
 * sized from POLARS_MAX_THREADS when the library loads: a worker sets that
 * from its nthreads before anything here runs.
 */

import { createRequire } from 'node:module';
import { EngineError } from '../../errors.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** A native Polars expression. */
export type NExpr = any;
/** A native Polars lazy frame. */
export type NLazy = any;
/** A native Polars frame. */
export type NFrame = any;
/** A nodejs-polars DataFrame (the wrapper), as handed to user code. */
export type PolarsDataFrame = import('nodejs-polars').pl.DataFrame;

interface Loaded {
  pl: any;
  N: any;
  wrapFrame: (native: NFrame) => PolarsDataFrame;
}

let loaded: Loaded | undefined;
const require = createRequire(import.meta.url);

/** The Polars modules, loaded on first use. */
export function polars(): Loaded {
  if (loaded) return loaded;
  try {
    const pl = require('nodejs-polars');
    const N = require('nodejs-polars/bin/native-polars.js');
    const { _DataFrame } = require('nodejs-polars/bin/dataframe.js') as { _DataFrame: (n: NFrame) => PolarsDataFrame };
    if (!N || typeof N.col !== 'function') throw new Error('the native binding loaded but has no col()');
    loaded = { pl, N, wrapFrame: _DataFrame };
    return loaded;
  } catch (err) {
    const libc = process.platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : process.platform === 'win32' ? '-msvc' : '';
    const binary = `nodejs-polars-${process.platform}-${process.arch}${libc}`;
    throw new EngineError(
      `the dataframe engine could not be loaded: nodejs-polars needs its native binary for this platform (${binary}), ` +
        `and loading it failed (${(err as Error).message.split('\n')[0]}). Run 'npm ci' in the project (package.json pins ` +
        `nodejs-polars 0.24.1 and the Linux x64 binary), or install the binary with 'npm install ${binary}@0.24.1'. ` +
        `Note that npm silently skips optional platform packages whose 'engines' field excludes the running Node version`,
      { cause: err },
    );
  }
}

function isMusl(): boolean {
  try {
    const report = (process.report?.getReport() ?? {}) as { header?: { glibcVersionRuntime?: string } };
    return !report.header?.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/**
 * Whether Polars is already loaded in this process (its thread count is then
 * fixed), by us or by anyone else's require: the CommonJS cache is shared.
 */
export function isLoaded(): boolean {
  if (loaded !== undefined) return true;
  try {
    return require.cache[require.resolve('nodejs-polars/bin/native-polars.js')] !== undefined;
  } catch {
    return false;
  }
}
