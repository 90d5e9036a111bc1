/**
 * Message encoding: a msgpack header plus out-of-band binary frames.
 *
 * Binary payloads that should not be copied into the header (task results,
 * partitions) are wrapped in `RawFrames`; the encoder moves their buffers to
 * frames 1..n and leaves an index in the header. Everything else is plain
 * msgpack. One wire message may carry a batch of protocol messages (an
 * array), which is how small scheduler<->worker traffic is batched.
 */
import { Packr, addExtension } from '../vendor/msgpackr.js';
import { ProtocolError } from '../errors.js';
import { WireFunctionSpec, wireFunctionSpec } from './function-specs.js';
import type { FunctionSpec } from './messages.js';

/** Binary payloads carried outside the msgpack header. */
export class RawFrames {
  constructor(readonly frames: Uint8Array[]) {}
  get nbytes(): number {
    let n = 0;
    for (const f of this.frames) n += f.byteLength;
    return n;
  }
}

// The extension hooks run synchronously inside pack()/unpack(), so a
// module-level cursor is a safe way to hand them the current frame list.
let outFrames: Uint8Array[] | null = null;
let inFrames: Uint8Array[] | null = null;

addExtension({
  Class: RawFrames,
  type: 0x54, // 'T'
  write(value: RawFrames) {
    if (!outFrames) throw new ProtocolError('RawFrames can only be encoded by encodeMessage');
    const start = outFrames.length;
    for (const f of value.frames) outFrames.push(f);
    return [start, value.frames.length];
  },
  read(data: [number, number]) {
    if (!inFrames || !Array.isArray(data)) throw new ProtocolError('RawFrames reference outside a framed message');
    const [start, count] = data;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 1 || count < 0 || start + count > inFrames.length) {
      throw new ProtocolError(`RawFrames reference [${start}, ${count}] out of range (message has ${inFrames.length} frames)`);
    }
    return new RawFrames(inFrames.slice(start, start + count));
  },
});

// Whether a message header is being encoded or decoded (encodeMessage,
// decodeMessage), rather than a value elsewhere that uses msgpackr.
let encodingHeader = false;
let decodingHeader = false;

// Function specs shared within one message (see function-specs.ts): the
// encoder numbers each spec at its first mention, the decoder collects them
// in the same order, so a later mention is just the number. One table each
// way, emptied after every message.
const outSpecs = new Map<WireFunctionSpec, number>();
const inSpecs: FunctionSpec[] = [];

/** A spec's fields as written: [0, source, name] (inline) or [1, url, export] (module). */
type SpecFields = [0 | 1, string, string];

addExtension({
  Class: WireFunctionSpec,
  type: 0x53, // 'S' (0x46 is graph/serialize.ts's shipped function)
  write(value: WireFunctionSpec): SpecFields | number {
    const spec = value as unknown as FunctionSpec;
    if (encodingHeader) {
      const seen = outSpecs.get(value);
      if (seen !== undefined) return seen;
      outSpecs.set(value, outSpecs.size);
    }
    return spec.kind === 'inline' ? [0, spec.source, spec.name] : [1, spec.url, spec.export];
  },
  read(data: SpecFields | number): FunctionSpec {
    if (typeof data === 'number') {
      const spec = decodingHeader ? inSpecs[data] : undefined;
      if (!spec) throw new ProtocolError(`function spec reference ${data} names no spec written earlier in the message`);
      return spec;
    }
    if (!Array.isArray(data) || (data[0] !== 0 && data[0] !== 1) || typeof data[1] !== 'string' || typeof data[2] !== 'string') {
      throw new ProtocolError('malformed function spec: expected [0, source, name] or [1, url, export]');
    }
    const spec = wireFunctionSpec(data[0] === 0 ? { kind: 'inline', source: data[1], name: data[2] } : { kind: 'module', url: data[1], export: data[2] });
    if (decodingHeader) inSpecs.push(spec);
    return spec;
  },
});

// Byte arrays in a header. msgpackr writes a plain Uint8Array (task
// arguments) as its typed-array extension and by default decodes it as a copy
// in an ArrayBuffer of its own: per task, a copy and an allocation the
// garbage collector tracks, on the scheduler and again on the worker. While a
// header is decoded, a Uint8Array is instead a view of the received frame,
// as a Buffer (msgpack bin) already is; the frame is never read into again
// (comm/direct-reads.ts hands over or copies its chunks). Everywhere else
// (values, which users may take `.buffer` of) the extension keeps msgpackr's
// behaviour, restated here because an extension replaces it whole.
const TYPED_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
addExtension({
  type: 0x74, // msgpackr's typed-array extension: [type code, bytes...]
  unpack(data: Uint8Array): unknown {
    const code = data[0]!;
    if (code === 1 && decodingHeader) return data.subarray(1);
    const buffer = Uint8Array.prototype.slice.call(data, 1).buffer;
    const Typed = TYPED_ARRAYS[code];
    if (Typed) return new Typed(buffer);
    if (code === 16) return buffer;
    if (code === 17) return new DataView(buffer);
    throw new ProtocolError(`unknown typed array code ${code}`);
  },
} as Parameters<typeof addExtension>[0]);

const packr = new Packr({ useRecords: false, moreTypes: true, variableMapSize: true });

/** Encodes one message (or a batch) into frames: header first, then raw payloads. */
export function encodeMessage(msg: unknown): Uint8Array[] {
  const frames: Uint8Array[] = [new Uint8Array(0)];
  outFrames = frames;
  encodingHeader = true;
  try {
    frames[0] = packr.pack(msg);
  } finally {
    outFrames = null;
    encodingHeader = false;
    outSpecs.clear();
  }
  return frames;
}

/** Decodes frames into a message; throws ProtocolError on anything malformed. */
export function decodeMessage(frames: Buffer[]): unknown {
  inFrames = frames;
  decodingHeader = true;
  try {
    return packr.unpack(frames[0]!);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(`undecodable message header: ${(err as Error).message}`);
  } finally {
    inFrames = null;
    decodingHeader = false;
    inSpecs.length = 0;
  }
}
