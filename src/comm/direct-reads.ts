/**
 * Socket reads that land where the frame decoder wants them.
 *
 * By default Node reads a socket in fresh 64 KiB chunks, and a large frame
 * is then copied chunk by chunk into its own buffer: one extra copy of every
 * byte and one allocation per 64 KiB. With net's `onread` option Node reads
 * into a buffer we supply instead; we supply the unfilled rest of the large
 * frame being received (FrameDecoder.fillTarget), so the kernel copies the
 * bytes straight into the value's final buffer, in reads as large as the
 * socket has data for. Between large frames, reads go into a 64 KiB chunk,
 * as Node's own would: the decoder keeps views of what it reads, so a chunk
 * that came back well filled is handed over and a new one is made, while a
 * short read (one small message) is copied out at its size and the chunk
 * read into again, so that a 100-byte message does not hold 64 KiB.
 *
 * Node offers `onread` only on sockets it creates for `net.connect`, not on
 * those a server accepts: a connection we open (to a scheduler, to a peer
 * for its data, a client to a worker) reads this way, which covers every
 * path a large value arrives on at a worker or a client.
 */
import type { OnReadOpts } from 'node:net';

/** What a Comm gives its DirectReads: where to read next, and what to do with a read. */
export interface ReadSink {
  /** The buffer the next read should fill, or null for a fresh chunk. */
  target(): Buffer | null;
  /** `n` bytes were read into `buf` (a fresh chunk, or the target given before). */
  received(n: number, buf: Buffer): void;
}

/** Size of the fresh chunks read between large frames (Node's own default). */
const CHUNK_BYTES = 64 * 1024;

export class DirectReads {
  private sink: ReadSink | null = null;
  /** Reads that arrived before a sink was attached: replayed in order on attach. */
  private early: Buffer[] = [];
  /** The chunk reads between large frames go into (see the class comment). */
  private chunk: Buffer | null = null;

  /** Pass as `onread` to net.connect. */
  readonly onread: OnReadOpts = {
    buffer: () => this.sink?.target() ?? (this.chunk ??= Buffer.allocUnsafeSlow(CHUNK_BYTES)),
    callback: (n: number, buf: Uint8Array) => {
      let b = buf as Buffer;
      if (b === this.chunk) {
        if (n * 2 < b.length) b = Buffer.from(b.subarray(0, n)); // a copy: the chunk is read into again
        else this.chunk = null; // handed over whole
      }
      if (this.sink) this.sink.received(n, b);
      else this.early.push(b.subarray(0, n));
      // Never pause: the decoder keeps up, and backpressure is the sender's window.
      return true;
    },
  };

  attach(sink: ReadSink): void {
    this.sink = sink;
    const early = this.early;
    this.early = [];
    for (const b of early) sink.received(b.length, b);
  }
}
