/**
 * Serialization of user values (task arguments and results).
 *
 * A Uint8Array/Buffer result travels as raw bytes, uncopied and never
 * re-encoded (dataframe partitions are Arrow IPC buffers); everything else is
 * msgpack with typed arrays, Maps, Sets, Dates and BigInts supported. Futures
 * and Delayed values inside task arguments are encoded as key references
 * (the KeyRef extension) and replaced by their results on the worker.
 *
 * Functions inside task arguments travel as FunctionSpecs (the Function
 * extension), checked like submitted functions, and come back callable on
 * the worker. Functions anywhere else (a task's result, scattered data) are
 * refused with the path to the function: msgpack would otherwise write them
 * as nil and the value would arrive with `undefined` in their place.
 * Class instances travel as plain objects: their own fields arrive, their
 * methods and prototype do not.
 */
import { Packr, addExtension } from '../vendor/msgpackr.js';
import type { FunctionSpec, SerializedValue } from '../protocol/messages.js';
import { MissingDataError, TesseraError } from '../errors.js';
import { ModuleFunctionRef, type AnyFunction } from './function-spec.js';
import { cachedFunction, functionKey, loadFunction } from './function-loader.js';

/** Anything that stands for a task's result by key: Future, Delayed. */
export abstract class KeyRef {
  abstract readonly key: string;
}

let collecting: Map<string, KeyRef> | null = null;
const collectedRefs = new Map<string, KeyRef>();
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
      throw new MissingDataError(key, 'unavailable', `argument refers to ${key}, whose value is not available here`);
    }
    return resolving.get(key);
  },
});

/** Where a function found inside task arguments sits, for error messages: `args[1].helper`. */
export type ArgumentFunctionRole = { readonly kind: 'argument'; readonly path: string };

/**
 * Turns a function found in task arguments into its spec (serializeFunction,
 * with the closure check). Registered by graph/functions.ts rather than
 * imported, so that executor threads, which only decode, do not load the
 * JavaScript parser the check uses.
 */
type FunctionEncoder = (fn: AnyFunction, role?: ArgumentFunctionRole) => FunctionSpec;
let encodeFunction: FunctionEncoder | null = null;

/** @internal called once by graph/functions.ts */
export function setFunctionEncoder(encoder: FunctionEncoder): void {
  encodeFunction = encoder;
}

/** A function argument on its way out: msgpackr hands functions to `writeFunction`, which returns one of these. */
class ShippedFunction {
  constructor(readonly spec: FunctionSpec) {}
}

/** What a pack() call is encoding; decides what a function inside it becomes. */
let packing: 'args' | 'value' | null = null;
/** The function that failed to encode, so the caller can report where it was. */
let failedFunction: AnyFunction | null = null;

/**
 * While task arguments are being decoded: the functions already loaded for
 * specs met in them (beyond the loader's own cache), and the specs whose
 * functions still have to be compiled or imported. Module state rather than
 * an object per call: decoding is on every task's path.
 */
let decodingLoaded: ReadonlyMap<string, AnyFunction> | null = null;
let missingFunctions: FunctionSpec[] = [];
const NONE_LOADED: ReadonlyMap<string, AnyFunction> = new Map();

function readFunction(spec: FunctionSpec): unknown {
  if (decodingLoaded !== null) {
    const fn = (decodingLoaded.size ? decodingLoaded.get(functionKey(spec)) : undefined) ?? cachedFunction(spec);
    if (fn !== undefined) return fn;
    // Compiling or importing is asynchronous: decodeArgs loads what is
    // missing and decodes again.
    missingFunctions.push(spec);
    return undefined;
  }
  // Outside task arguments (a result or message holding a remoteModule
  // reference) a module function stays a reference, which can be passed on
  // as an argument of another task.
  if (spec.kind === 'module') return new ModuleFunctionRef(spec.url, spec.export);
  throw new TesseraError('ERR_TESSERA_SERIALIZE', `a shipped function (${spec.name || 'anonymous'}) can only be ` +
    `decoded as part of a task's arguments`);
}

const FUNCTION_EXTENSION = 0x46; // 'F'
addExtension({
  Class: ShippedFunction,
  type: FUNCTION_EXTENSION,
  write: (shipped: ShippedFunction) => shipped.spec,
  read: readFunction,
});
addExtension({
  Class: ModuleFunctionRef,
  type: FUNCTION_EXTENSION,
  write: (ref: ModuleFunctionRef) => ({ kind: 'module', url: ref.url, export: ref.export }),
  read: readFunction,
});

/** msgpackr's hook for values of type 'function' (without it they are written as nil). */
function writeFunction(fn: AnyFunction): ShippedFunction {
  if (packing === 'args' && encodeFunction) {
    try {
      return new ShippedFunction(encodeFunction(fn));
    } catch (err) {
      failedFunction = fn;
      throw err;
    }
  }
  failedFunction = fn;
  throw new FunctionInValue();
}

/** Thrown inside pack() at a function where functions cannot go; replaced by a message with its path. */
class FunctionInValue extends Error {}

// Records (with their definitions inline in every message, so any process can
// decode any message) keep plain objects and Maps apart: objects come back as
// objects and Maps as Maps.
const packr = new Packr({
  useRecords: true, maxSharedStructures: 0, mapsAsObjects: false, moreTypes: true,
  writeFunction: writeFunction as () => unknown,
});

const DATA_ONLY =
  'Values sent to and from tasks must be msgpack-able data (plain objects, arrays, numbers, strings, ' +
  'typed arrays, Buffers, Maps, Sets, Dates, BigInts); class instances arrive as plain objects with their own ' +
  'fields but without their methods';

function serializeError(err: unknown, what: string): never {
  throw new TesseraError('ERR_TESSERA_SERIALIZE', `could not serialize ${what}: ${(err as Error).message}. ` +
    DATA_ONLY);
}

/**
 * The path from `root` to `target` (`args[1].opts.fn`, `result.get("k")`),
 * or undefined. Only called on the error path: it walks the whole value.
 */
export function findPath(root: unknown, target: unknown, rootName: string): string | undefined {
  const seen = new Set<object>();
  const walk = (value: unknown, path: string): string | undefined => {
    if (value === target) return path;
    if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
    if (value instanceof KeyRef || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
    seen.add(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = walk(value[i], `${path}[${i}]`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    if (value instanceof Map) {
      for (const [k, v] of value) {
        const label = typeof k === 'string' ? JSON.stringify(k) : String(k);
        const found = walk(k, `${path}.keys() (${label})`) ?? walk(v, `${path}.get(${label})`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    if (value instanceof Set) {
      let i = 0;
      for (const v of value) {
        const found = walk(v, `${path} (Set entry ${i++})`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(value)) {
      const found = walk((value as Record<string, unknown>)[key], /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(root, rootName);
}

function describeFunction(fn: AnyFunction): string {
  return fn.name ? `function "${fn.name}"` : 'an anonymous function';
}

/** The refs of arguments that refer to nothing: one shared empty list, not one per item of a large map. */
const NO_REFS: KeyRef[] = Object.freeze([]) as unknown as KeyRef[];

/**
 * Encoded arguments are copied into shared slabs rather than each into an
 * ArrayBuffer of its own: an argument list is a few bytes, and a typed array
 * with its own buffer costs ~150 bytes of heap besides them, which a
 * million-item map() pays a million times. Larger lists get their own
 * buffer, so a kept slab pins at most ARG_SLAB_BYTES. Nothing transfers or
 * grows these buffers: they are only read (hashed into keys, sent).
 */
const ARG_SLAB_BYTES = 64 * 1024;
const ARG_SLAB_MAX_ITEM = 1024;
let argSlab = new ArrayBuffer(0);
let argSlabUsed = 0;

function keepArgBytes(f: Uint8Array): Uint8Array {
  const n = f.byteLength;
  if (n > ARG_SLAB_MAX_ITEM) return copyBytes(f);
  if (argSlabUsed + n > argSlab.byteLength) {
    argSlab = new ArrayBuffer(ARG_SLAB_BYTES);
    argSlabUsed = 0;
  }
  const out = new Uint8Array(argSlab, argSlabUsed, n);
  out.set(f);
  argSlabUsed += n;
  return out;
}

/**
 * Where packNumberArg writes: the bytes of the argument list `[n]`, valid
 * until its next call.
 */
export const numberArgBytes = new Uint8Array(10);
const numberArgView = new DataView(numberArgBytes.buffer);

/**
 * Writes the argument list `[value]` of a number into numberArgBytes and
 * returns its length, or returns 0 when `value` is not a number. The bytes
 * are exactly those packArgs([value]) gives (the smallest msgpack form the
 * encoder above chooses; a test compares them), so a map() over numbers
 * gets the same keys as submit() of the same values, without an encoder
 * call, a result object and a Buffer per item.
 */
export function packNumberArg(value: unknown): number {
  if (typeof value !== 'number') return 0;
  const t = numberArgBytes;
  t[0] = 0x91; // array of one
  if (value >>> 0 === value) {
    // (Records are on, so fixints stop at 63: 64..127 are record ids.)
    if (value < 64) {
      t[1] = value;
      return 2;
    }
    if (value < 256) {
      t[1] = 0xcc;
      t[2] = value;
      return 3;
    }
    if (value < 65536) {
      t[1] = 0xcd;
      numberArgView.setUint16(2, value);
      return 4;
    }
    t[1] = 0xce;
    numberArgView.setUint32(2, value);
    return 6;
  }
  if (value >> 0 === value) {
    if (value >= -32) {
      t[1] = 256 + value;
      return 2;
    }
    if (value >= -128) {
      t[1] = 0xd0;
      t[2] = value + 256;
      return 3;
    }
    if (value >= -32768) {
      t[1] = 0xd1;
      numberArgView.setInt16(2, value);
      return 4;
    }
    t[1] = 0xd2;
    numberArgView.setInt32(2, value);
    return 6;
  }
  t[1] = 0xcb;
  numberArgView.setFloat64(2, value);
  return 10;
}

/** Encodes a task's argument list; returns the bytes and the Futures/Delayed values it refers to. */
export function encodeArgs(args: readonly unknown[]): { bytes: Uint8Array; refs: KeyRef[] } {
  const packed = packArgs(args);
  // packArgs returns a view into msgpackr's reusable buffer: copy what we keep.
  return { bytes: keepArgBytes(packed.bytes), refs: packed.refs };
}

/**
 * encodeArgs without the copy: `bytes` is valid only until the next encoding
 * (for a caller that copies them somewhere of its own, as MapTasks does).
 */
export function packArgs(args: readonly unknown[]): { bytes: Uint8Array; refs: KeyRef[] } {
  // One map reused by every call (encoding is synchronous): most argument lists refer to nothing.
  // (Cleared only when used: clearing a Map allocates it a new table.)
  const refs = collectedRefs;
  collecting = refs;
  packing = 'args';
  failedFunction = null;
  try {
    return { bytes: packr.pack(args), refs: refs.size ? [...refs.values()] : NO_REFS };
  } catch (err) {
    const fn = failedFunction;
    if (fn !== null) {
      // The closure check's error, told where in the arguments the function is.
      const path = findPath(args, fn, 'args') ?? 'args';
      if (encodeFunction === null) {
        throw new TesseraError('ERR_TESSERA_SERIALIZE', `the task arguments contain ${describeFunction(fn)} at ` +
          `${path}, and functions in arguments can only be sent from a client`);
      }
      encodeFunction(fn, { kind: 'argument', path });
    }
    return serializeError(err, 'the task arguments');
  } finally {
    collecting = null;
    if (refs.size) refs.clear();
    packing = null;
    failedFunction = null;
  }
}

/** Decodes once; returns the arguments and the function specs it could not resolve yet. */
function unpackArgs(
  bytes: Uint8Array,
  values: Map<string, unknown>,
  loaded: ReadonlyMap<string, AnyFunction>,
): { args: unknown[]; missing: FunctionSpec[] } {
  resolving = values;
  decodingLoaded = loaded;
  try {
    const args = packr.unpack(bytes) as unknown[];
    const missing = missingFunctions;
    if (missing.length) missingFunctions = [];
    return { args, missing };
  } finally {
    resolving = null;
    decodingLoaded = null;
    missingFunctions.length = 0;
  }
}

/**
 * Decodes an argument list, substituting dependency values for key
 * references and callable functions for shipped ones. Returns a promise only
 * when a function in the arguments must be compiled or imported first (once
 * per thread and function), so the usual case costs no extra microtask.
 */
export function decodeArgs(bytes: Uint8Array, values: Map<string, unknown>): unknown[] | Promise<unknown[]> {
  const first = unpackArgs(bytes, values, NONE_LOADED);
  if (first.missing.length === 0) return first.args;
  return (async () => {
    const loaded = new Map<string, AnyFunction>();
    await Promise.all(first.missing.map(async (spec) => loaded.set(functionKey(spec), await loadFunction(spec))));
    // Decoded again with the functions in hand (not read back from the
    // loader's cache, which may have evicted some of them meanwhile).
    return unpackArgs(bytes, values, loaded).args;
  })();
}

/**
 * Serializes a value sent from a task (or scattered). Functions are refused
 * with where they are: unlike arguments, a result has no client-side check
 * that could have shipped them, and a worker's closures would not run
 * elsewhere anyway.
 */
export function serializeValue(value: unknown, what = 'a task result'): SerializedValue {
  if (value instanceof Uint8Array) return { kind: 'bytes', frames: [value] };
  packing = 'value';
  failedFunction = null;
  try {
    return { kind: 'msgpack', frames: [packr.pack(value)] };
  } catch (err) {
    if (err instanceof FunctionInValue && failedFunction !== null) {
      const path = findPath(value, failedFunction, 'result') ?? 'result';
      throw new TesseraError('ERR_TESSERA_SERIALIZE', `could not serialize ${what}: it contains ` +
        `${describeFunction(failedFunction)} at ${path}, and results must be data. Return the values the ` +
        `function would work on, or export the function from a module and call it where the result is used`);
    }
    return serializeError(err, what);
  } finally {
    packing = null;
    failedFunction = null;
  }
}

/** Decodes one msgpack frame of a value (what deserializeValue does for kind 'msgpack' with one frame). */
export function unpackValue(frame: Uint8Array): unknown {
  return packr.unpack(frame);
}

/** Decodes msgpack values written one after another (a get-data reply's inline values), in order. */
export function unpackValues(bytes: Uint8Array): unknown[] {
  return packr.unpackMultiple(bytes);
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
