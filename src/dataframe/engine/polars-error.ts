/** Polars' own errors, as Tessera errors that say what the engine was doing. */

import { EngineError, DataFrameError } from '../../errors.js';

/** Wraps a Polars error with what was being done, keeping its first lines. */
export function engineError(err: unknown, doing: string): Error {
  if (err instanceof DataFrameError || err instanceof EngineError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new EngineError(`Polars failed ${doing}: ${msg.split('\n').slice(0, 6).join('\n')}`, { cause: err });
}
