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

const packr = new Packr({ useRecords: false, moreTypes: true, variableMapSize: true });

/** Encodes one message (or a batch) into frames: header first, then raw payloads. */
export function encodeMessage(msg: unknown): Uint8Array[] {
  const frames: Uint8Array[] = [new Uint8Array(0)];
  outFrames = frames;
  try {
    frames[0] = packr.pack(msg);
  } finally {
    outFrames = null;
  }
  return frames;
}

/** Decodes frames into a message; throws ProtocolError on anything malformed. */
export function decodeMessage(frames: Buffer[]): unknown {
  inFrames = frames;
  try {
    return packr.unpack(frames[0]!);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(`undecodable message header: ${(err as Error).message}`);
  } finally {
    inFrames = null;
  }
}
