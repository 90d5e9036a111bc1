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
 * Frames at least this large that have not fully arrived are received
 * straight into one buffer of their announced size: each socket chunk is
 * copied once, as it comes, instead of being held in a list of 64 KiB chunks
 * and joined at the end (twice the memory, and a list that grows with the
 * value).
 */
const FILL_MIN_BYTES = 64 * 1024;

/** Makes the buffer of `length` bytes a large payload frame is received into (see FrameDecoder). */
export type PayloadAllocator = (length: number) => Buffer;

/**
 * Incremental decoder: feed it socket chunks in any split (partial or
 * coalesced), get whole messages back. Small frames that lie inside one
 * chunk are returned as zero-copy views; large ones are filled in place.
 *
 * A socket that can read into a buffer of our choosing (net's `onread`,
 * see comm/direct-reads.ts) asks `fillTarget()` where its next read should
 * land and reports it with `filledInPlace(n)`: the rest of a large frame
 * then goes from the kernel straight into the frame's own buffer, with no
 * intermediate chunk and no copy in JavaScript.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private frameCount = -1;
  private lengths: number[] | null = null;
  /** Frames of the current message decoded so far. */
  private frames: Buffer[] = [];
  /** The large frame being filled, and how much of it has arrived. */
  private fill: Buffer | null = null;
  private filled = 0;

  /**
   * @param allocatePayload makes the buffer a large payload frame (not the
   *   header) is received into: a worker receives big values into shared
   *   memory, which its executor threads read without another copy.
   */
  constructor(
    private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
    private readonly allocatePayload: PayloadAllocator = Buffer.allocUnsafe,
  ) {}

  /** Where the next socket read should go: the unfilled rest of the large frame being received, or null (any buffer). */
  fillTarget(): Buffer | null {
    return this.fill ? this.fill.subarray(this.filled) : null;
  }

  /** `n` bytes were read straight into `fillTarget()`; returns the messages this completes (at most one). */
  filledInPlace(n: number): Buffer[][] {
    const fill = this.fill;
    if (!fill || n > fill.length - this.filled) throw new ProtocolError(`${n} bytes read into a frame that has room for ${fill ? fill.length - this.filled : 0}`);
    this.filled += n;
    const out: Buffer[][] = [];
    if (this.filled < fill.length) return out;
    this.frames.push(fill);
    this.fill = null;
    this.filled = 0;
    this.completeIfDone(out);
    return out;
  }

  /** Returns the messages completed by this chunk; throws ProtocolError/FrameTooLargeError on bad input. */
  push(chunk: Buffer): Buffer[][] {
    const out: Buffer[][] = [];
    let rest: Buffer | null = chunk;
    while (rest) {
      if (this.fill) {
        const k = Math.min(rest.length, this.fill.length - this.filled);
        rest.copy(this.fill, this.filled, 0, k);
        this.filled += k;
        rest = k < rest.length ? rest.subarray(k) : null;
        if (this.filled < this.fill.length) break;
        this.frames.push(this.fill);
        this.fill = null;
        this.filled = 0;
        this.completeIfDone(out);
        continue;
      }
      this.chunks.push(rest);
      this.buffered += rest.length;
      rest = null;
      this.drain(out);
      // drain() may have started filling a large frame with what was buffered; nothing is left over then.
    }
    return out;
  }

  /** Decodes what the buffered chunks hold. */
  private drain(out: Buffer[][]): void {
    for (;;) {
      if (this.frameCount < 0) {
        if (this.buffered < 4) return;
        const n = this.take(4).readUInt32LE(0);
        if (n === 0 || n > MAX_FRAMES_PER_MESSAGE) {
          throw new ProtocolError(`invalid frame count ${n} (expected 1..${MAX_FRAMES_PER_MESSAGE}); the peer is not speaking the Tessera protocol`);
        }
        this.frameCount = n;
      } else if (this.lengths === null) {
        if (this.buffered < 4 * this.frameCount) return;
        const header = this.take(4 * this.frameCount);
        const lengths = new Array<number>(this.frameCount);
        for (let i = 0; i < this.frameCount; i++) {
          const len = header.readUInt32LE(4 * i);
          if (len > this.maxFrameBytes) throw new FrameTooLargeError(len, this.maxFrameBytes);
          lengths[i] = len;
        }
        this.lengths = lengths;
        this.completeIfDone(out);
      } else {
        const len = this.lengths[this.frames.length]!;
        if (this.buffered >= len) {
          this.frames.push(this.take(len));
          this.completeIfDone(out);
        } else if (len >= FILL_MIN_BYTES) {
          // Receive the rest of this frame in place (see FILL_MIN_BYTES).
          this.fill = this.frames.length > 0 ? this.allocatePayload(len) : Buffer.allocUnsafe(len);
          this.filled = this.buffered;
          let off = 0;
          for (const c of this.chunks) {
            c.copy(this.fill, off);
            off += c.length;
          }
          this.chunks = [];
          this.buffered = 0;
          return;
        } else return;
      }
    }
  }

  /** Emits the current message once every frame has arrived. */
  private completeIfDone(out: Buffer[][]): void {
    if (this.lengths === null || this.frames.length < this.lengths.length) return;
    out.push(this.frames);
    this.frames = [];
    this.frameCount = -1;
    this.lengths = null;
  }

  get bufferedBytes(): number {
    return this.buffered + this.filled;
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
