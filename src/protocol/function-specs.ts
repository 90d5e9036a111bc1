/**
 * Function specs as the wire codec shares them. A graph chunk of 10,000
 * tasks of one function, or a batch of compute-task messages, would
 * otherwise carry (and decode) the same spec once per task: for a module
 * function about 80 bytes and 4 µs of decoding per task, for an inline
 * function its whole source text. A spec made by `wireFunctionSpec` is
 * written in full the first time a message mentions it and by its index in
 * that message afterwards (protocol/codec.ts); decoding gives every task of
 * the message the same object. Specs built as plain objects still encode,
 * in full each time.
 */
import type { FunctionSpec } from './messages.js';

/** The prototype that marks a spec as shareable; it adds no behaviour. */
export class WireFunctionSpec {}

/** The same spec, marked so the codec writes it once per message. */
export function wireFunctionSpec<T extends FunctionSpec>(spec: T): T {
  if (spec instanceof WireFunctionSpec) return spec;
  return Object.freeze(Object.assign(new WireFunctionSpec(), spec)) as unknown as T;
}
