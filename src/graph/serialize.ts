/**
 * Serialization of user values (task arguments and results).
 *
 * A Uint8Array/Buffer result travels as raw bytes, uncopied and never
 * re-encoded (dataframe partitions are Arrow IPC buffers); everything else is
 * msgpack with typed arrays, Maps, Sets, Dates and BigInts supported. Futures
 * and Delayed values inside task arguments are encoded as key references
 * (the KeyRef extension) and replaced by their results on the worker.
 */
import { Packr, addExtension } from '../vendor/msgpackr.js';
import type { SerializedValue } from '../protocol/messages.js';
import { TesseraError } from '../errors.js';

/** Anything that stands for a task's result by key: Future, Delayed. */
export abstract class KeyRef {
  abstract readonly key: string;
}

let collecting: Map<string, KeyRef> | null = null;
let resolving: Map<string, unknown> | null = null;

addExtension({
  Class: KeyRef,
  type: 0x55, // 'U'
  write(ref: KeyRef) {
    if (collecting) collecting.set(ref.key, ref);
    return ref.key;
  },
  read(key: string) {
    if (!resolving || !resolving.has(key)) {
      throw new TesseraError('ERR_TESSERA_MISSING_DATA', `argument refers to ${key}, whose value is not available here`);
    }
    return resolving.get(key);
  },
});

// Records (with their definitions inline in every message, so any process can
// decode any message) keep plain objects and Maps apart: objects come back as
// objects and Maps as Maps.
const packr = new Packr({ useRecords: true, maxSharedStructures: 0, mapsAsObjects: false, moreTypes: true });

function serializeError(err: unknown, what: string): never {
  throw new TesseraError('ERR_TESSERA_SERIALIZE', `could not serialize ${what}: ${(err as Error).message}. ` +
    `Values sent to and from tasks must be msgpack-able data (plain objects, arrays, numbers, strings, ` +
    `typed arrays, Buffers, Maps, Sets, Dates); functions and class instances with behaviour are not`);
}

/** Encodes a task's argument list; returns the bytes and the Futures/Delayed values it refers to. */
export function encodeArgs(args: readonly unknown[]): { bytes: Uint8Array; refs: KeyRef[] } {
  const refs = new Map<string, KeyRef>();
  collecting = refs;
  try {
    // pack() returns a view into msgpackr's reusable buffer: copy what we keep.
    return { bytes: copyBytes(packr.pack(args)), refs: [...refs.values()] };
  } catch (err) {
    return serializeError(err, 'the task arguments');
  } finally {
    collecting = null;
  }
}

/** Decodes an argument list, substituting dependency values for key references. */
export function decodeArgs(bytes: Uint8Array, values: Map<string, unknown>): unknown[] {
  resolving = values;
  try {
    return packr.unpack(bytes) as unknown[];
  } finally {
    resolving = null;
  }
}

export function serializeValue(value: unknown): SerializedValue {
  if (value instanceof Uint8Array) return { kind: 'bytes', frames: [value] };
  try {
    return { kind: 'msgpack', frames: [packr.pack(value)] };
  } catch (err) {
    return serializeError(err, 'a task result');
  }
}

export function deserializeValue(sv: SerializedValue): unknown {
  const f = sv.frames.length === 1 ? sv.frames[0]! : Buffer.concat(sv.frames);
  if (sv.kind === 'bytes') return Buffer.isBuffer(f) ? f : Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  return packr.unpack(f);
}

export function valueType(value: unknown): string {
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return 'Buffer';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'Object';
  return typeof value;
}

/**
 * A copy of the bytes in a buffer of their own. (Not `.slice()`: on a Node
 * Buffer that returns a view sharing the original memory.)
 */
export function copyBytes(f: Uint8Array): Uint8Array {
  return new Uint8Array(f);
}

export function serializedBytes(sv: SerializedValue): number {
  let n = 0;
  for (const f of sv.frames) n += f.byteLength;
  return n;
}
