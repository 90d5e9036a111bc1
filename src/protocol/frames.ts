/**
 * Wire framing. A message is a list of frames:
 *
 *   u32 frameCount | u32 length × frameCount | frame bytes × frameCount
 *
 * (little-endian). Frame 0 is the msgpack header; the rest are raw binary
 * payloads (task results, partitions) that are written and read as they are,
 * never re-encoded. Lengths are checked against `maxFrameBytes` before any
 * payload is buffered, so a hostile or corrupt peer cannot make us allocate
 * unbounded memory.
 */
import { FrameTooLargeError, ProtocolError } from '../errors.js';

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024 * 1024; // 1 GiB
export const MAX_FRAMES_PER_MESSAGE = 100_000;

/** Encodes frames into the chunks to write (prefix + the frames themselves, uncopied). */
export function frameMessage(frames: readonly Uint8Array[]): Uint8Array[] {
  const prefix = Buffer.allocUnsafe(4 + 4 * frames.length);
  prefix.writeUInt32LE(frames.length, 0);
  for (let i = 0; i < frames.length; i++) prefix.writeUInt32LE(frames[i]!.byteLength, 4 + 4 * i);
  return [prefix, ...frames];
}

/**
 * Incremental decoder: feed it socket chunks in any split (partial or
 * coalesced), get whole messages back. Frames that lie inside one chunk are
 * returned as zero-copy views.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private frameCount = -1;
  private lengths: number[] | null = null;
  private needed = 4;

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Returns the messages completed by this chunk; throws ProtocolError/FrameTooLargeError on bad input. */
  push(chunk: Buffer): Buffer[][] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[][] = [];
    while (this.buffered >= this.needed) {
      if (this.frameCount < 0) {
        const n = this.take(4).readUInt32LE(0);
        if (n === 0 || n > MAX_FRAMES_PER_MESSAGE) {
          throw new ProtocolError(`invalid frame count ${n} (expected 1..${MAX_FRAMES_PER_MESSAGE}); the peer is not speaking the Tessera protocol`);
        }
        this.frameCount = n;
        this.needed = 4 * n;
      } else if (this.lengths === null) {
        const header = this.take(4 * this.frameCount);
        const lengths = new Array<number>(this.frameCount);
        let total = 0;
        for (let i = 0; i < this.frameCount; i++) {
          const len = header.readUInt32LE(4 * i);
          if (len > this.maxFrameBytes) throw new FrameTooLargeError(len, this.maxFrameBytes);
          lengths[i] = len;
          total += len;
        }
        this.lengths = lengths;
        this.needed = total;
      } else {
        const frames = new Array<Buffer>(this.lengths.length);
        for (let i = 0; i < this.lengths.length; i++) frames[i] = this.take(this.lengths[i]!);
        out.push(frames);
        this.frameCount = -1;
        this.lengths = null;
        this.needed = 4;
      }
    }
    return out;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    // Spans chunks: copy once into a right-sized buffer.
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
