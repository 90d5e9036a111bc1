/**
 * An MPI communicator: rank, size, split, barrier, broadcast of any
 * msgpack-able value, and point-to-point messages.
 *
 * Blocking calls (barrier, bcast, send, recv) block Node's event loop until
 * every rank involved has arrived. That is fine for a bootstrap (nothing else
 * runs yet) and for MPI-style user programs, but not while this process
 * serves sockets: a scheduler waiting in MPI_Barrier cannot accept the
 * workers it waits for. The *Async variants start the non-blocking MPI call
 * (MPI_Ibarrier, MPI_Ibcast, MPI_Isend, MPI_Iprobe) and poll it from timers,
 * so the event loop keeps running; they also take a timeout.
 *
 * All MPI calls happen on the main thread (MPI is initialised
 * MPI_THREAD_FUNNELED); do not use a Communicator from worker threads.
 */
import { Packr } from '../vendor/msgpackr.js';
import { InvalidArgumentError, MpiError, TimeoutError } from '../errors.js';
import { koffi } from '../native/koffi.js';
import type { Handle, MpiLibrary } from './library.js';

/** Receive from any rank (translated to the library's own MPI_ANY_SOURCE). */
export const ANY_SOURCE = -1;
/** Receive with any tag. */
export const ANY_TAG = -1;
/** The largest tag every MPI library accepts (MPI guarantees MPI_TAG_UB >= 32767). */
export const MAX_TAG = 32767;

// Plain msgpack without msgpackr's record extension, so a value packed by one
// version of this library can be read by another and by any msgpack reader.
const packr = new Packr({ useRecords: false, moreTypes: true });

// MPI counts are C ints; large values move in pieces of this many bytes.
const CHUNK = 1 << 30;

export interface AsyncOptions {
  /** Give up after this many milliseconds with a TimeoutError (code ERR_TESSERA_TIMEOUT). Default: wait forever. */
  timeoutMs?: number;
  /** Stop waiting when aborted, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

export interface Message<T> {
  value: T;
  /** The sender's rank in this communicator. */
  source: number;
  tag: number;
}

/** Memory outside V8's heap, which the garbage collector never moves: non-blocking MPI calls keep using a buffer after the call returns. */
class NativeBuffer {
  readonly ptr: bigint;
  readonly length: number;
  private freedHere = false;
  constructor(length: number) {
    this.length = length;
    this.ptr = koffi().alloc('uint8_t', Math.max(1, length)) as bigint;
  }
  static from(bytes: Uint8Array): NativeBuffer {
    const nb = new NativeBuffer(bytes.length);
    if (bytes.length) nb.bytes().set(bytes);
    return nb;
  }
  bytes(): Uint8Array {
    return new Uint8Array(koffi().view(this.ptr, Math.max(1, this.length)), 0, this.length);
  }
  /** A copy in a Node Buffer, safe to keep after free(). */
  copy(): Buffer {
    return Buffer.from(this.bytes());
  }
  offset(n: number): bigint {
    return this.ptr + BigInt(n);
  }
  free(): void {
    if (!this.freedHere) koffi().free(this.ptr);
    this.freedHere = true;
  }
}

/**
 * Waits until `done()` returns true, calling it from timers so the event
 * loop keeps running. Each call of done() is an MPI_Test/MPI_Iprobe, which
 * is also what drives MPI's progress engine, so the first checks come
 * quickly and the interval then grows to at most 5 ms.
 */
async function pollUntil(done: () => boolean, what: string, opts: AsyncOptions | undefined): Promise<void> {
  const start = Date.now();
  const timeoutMs = opts?.timeoutMs;
  let interval = 0;
  for (let i = 0; ; i++) {
    if (done()) return;
    opts?.signal?.throwIfAborted();
    if (timeoutMs !== undefined && Date.now() - start >= timeoutMs) {
      throw new TimeoutError(`${what} did not complete within ${timeoutMs} ms`);
    }
    await new Promise<void>((resolve) => (interval === 0 ? setImmediate(resolve) : setTimeout(resolve, interval)));
    if (i > 20) interval = Math.min(5, interval + 1);
  }
}

function assertInt(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

export class Communicator {
  /** This process's rank in the communicator, 0 <= rank < size. */
  readonly rank: number;
  /** The number of processes in the communicator. */
  readonly size: number;
  private readonly lib: MpiLibrary;
  private rawHandle: Handle;
  private readonly worldComm: boolean;
  private freedHere = false;
  /** The async collectives in flight, in the order they were called (MPI needs every rank to issue collectives in one order). */
  private collectives: Promise<unknown> = Promise.resolve();
  private pendingCollectives = 0;
  /** Set when an async collective timed out: it is still pending inside MPI, so later collectives would be mismatched. */
  private broken: string | null = null;

  /** @internal Use world() and split(). */
  constructor(lib: MpiLibrary, handle: Handle, isWorld: boolean) {
    this.lib = lib;
    this.rawHandle = handle;
    this.worldComm = isWorld;
    const out = [0];
    lib.check(lib.fn.Comm_rank(handle, out), 'MPI_Comm_rank');
    this.rank = out[0]!;
    lib.check(lib.fn.Comm_size(handle, out), 'MPI_Comm_size');
    this.size = out[0]!;
  }

  /** @internal The raw MPI handle. */
  get handle(): Handle {
    return this.rawHandle;
  }

  get isWorld(): boolean {
    return this.worldComm;
  }

  get freed(): boolean {
    return this.freedHere;
  }

  private usable(call: string): MpiLibrary {
    if (this.freedHere) throw new MpiError(`${call} on a communicator that was freed; keep it until every use is done`);
    if (this.lib.finalizedHere) {
      throw new MpiError(`${call} after MPI was finalized; finalize() must be the last MPI call of the process`);
    }
    return this.lib;
  }

  /** For collectives: also refuses a communicator whose earlier collective timed out, and a blocking collective while an async one runs. */
  private collective(call: string, blocking: boolean): MpiLibrary {
    const lib = this.usable(call);
    if (this.broken) {
      throw new MpiError(`${call}: ${this.broken} and is still pending inside MPI, so this communicator can no longer run collectives; abort the job or use another communicator`);
    }
    if (blocking && this.pendingCollectives > 0) {
      throw new MpiError(`${call} while barrierAsync()/bcastAsync() is still running on this communicator: await it first, since every rank must issue collectives in the same order`);
    }
    return lib;
  }

  /** Runs async collectives one after another, in call order. */
  private queueCollective<T>(run: () => Promise<T>): Promise<T> {
    this.pendingCollectives++;
    const result = this.collectives.then(run, run);
    this.collectives = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.pendingCollectives--;
    });
  }

  private assertRank(name: string, rank: unknown): asserts rank is number {
    assertInt(name, rank, 0, this.size - 1);
  }

  /**
   * Splits this communicator (collective: every rank must call it). Ranks
   * passing the same color end up in the same new communicator, ordered by
   * key (default: their rank here). A rank passing null takes part in the
   * call but joins no communicator and gets null.
   */
  split(color: number, key?: number): Communicator;
  split(color: null, key?: number): null;
  split(color: number | null, key?: number): Communicator | null;
  split(color: number | null, key: number = this.rank): Communicator | null {
    const lib = this.collective('split()', true);
    if (color !== null) assertInt('color', color, 0, 2 ** 31 - 1);
    assertInt('key', key, -(2 ** 31), 2 ** 31 - 1);
    const out = lib.scratchPointer;
    lib.check(lib.fn.Comm_split(this.rawHandle, color ?? lib.abi.UNDEFINED, key, out), 'MPI_Comm_split');
    const handle = lib.readHandle(out);
    if (lib.sameHandle(handle, lib.abi.COMM_NULL)) return null;
    return new Communicator(lib, handle, false);
  }

  /** Blocks until every rank of the communicator has called barrier(). Blocks the event loop. */
  barrier(): void {
    const lib = this.collective('barrier()', true);
    lib.check(lib.fn.Barrier(this.rawHandle), 'MPI_Barrier');
  }

  /**
   * Sends `value` from `root` to every rank and returns it (collective).
   * Any msgpack-able value; other ranks' `value` argument is ignored. The
   * length goes first, then the bytes, so ranks need not know the size.
   * Blocks the event loop.
   */
  bcast<T>(value: T | undefined, root: number): T {
    const lib = this.collective('bcast()', true);
    this.assertRank('root', root);
    const header = Buffer.alloc(8);
    let body: Buffer | undefined;
    if (this.rank === root) {
      body = packr.pack(value);
      header.writeBigUInt64LE(BigInt(body.length));
    }
    lib.check(lib.fn.Bcast(header, 8, lib.abi.BYTE, root, this.rawHandle), 'MPI_Bcast');
    const length = Number(header.readBigUInt64LE());
    if (!body) body = Buffer.alloc(length);
    for (let off = 0; off < length; off += CHUNK) {
      const n = Math.min(CHUNK, length - off);
      lib.check(lib.fn.Bcast(body.subarray(off, off + n), n, lib.abi.BYTE, root, this.rawHandle), 'MPI_Bcast');
    }
    return packr.unpack(body) as T;
  }

  /** Sends a msgpack-able value to rank `dest` (blocks until MPI has taken the data). */
  send(value: unknown, dest: number, tag = 0): void {
    const lib = this.usable('send()');
    this.assertRank('dest', dest);
    assertInt('tag', tag, 0, MAX_TAG);
    const body = packr.pack(value);
    if (body.length > 2 ** 31 - 1) throw new InvalidArgumentError(`send(): ${body.length} bytes is over MPI's 2 GiB message limit; use bcast() or split the value`);
    lib.check(lib.fn.Send(body, body.length, lib.abi.BYTE, dest, tag, this.rawHandle), 'MPI_Send');
  }

  /** Receives a value sent with send()/sendAsync() (blocks the event loop until one arrives). */
  recv<T = unknown>(source: number = ANY_SOURCE, tag: number = ANY_TAG): Message<T> {
    const lib = this.usable('recv()');
    const [src, tg] = this.matchArgs(source, tag);
    const status = new NativeBuffer(lib.abi.statusSize);
    try {
      lib.check(lib.fn.Probe(src, tg, this.rawHandle, status.ptr), 'MPI_Probe');
      return this.receiveProbed<T>(lib, status);
    } finally {
      status.free();
    }
  }

  private matchArgs(source: number, tag: number): [number, number] {
    const lib = this.lib;
    if (source !== ANY_SOURCE) this.assertRank('source', source);
    if (tag !== ANY_TAG) assertInt('tag', tag, 0, MAX_TAG);
    return [source === ANY_SOURCE ? lib.abi.ANY_SOURCE : source, tag === ANY_TAG ? lib.abi.ANY_TAG : tag];
  }

  /** Receives exactly the message a (I)probe just described in `status`. */
  private receiveProbed<T>(lib: MpiLibrary, status: NativeBuffer): Message<T> {
    const k = koffi();
    const source = k.decode(status.offset(lib.abi.statusSource), 'int') as number;
    const tag = k.decode(status.offset(lib.abi.statusTag), 'int') as number;
    const count = [0];
    lib.check(lib.fn.Get_count(status.ptr, lib.abi.BYTE, count), 'MPI_Get_count');
    const body = new NativeBuffer(count[0]!);
    try {
      lib.check(lib.fn.Recv(body.ptr, count[0], lib.abi.BYTE, source, tag, this.rawHandle, lib.abi.STATUS_IGNORE), 'MPI_Recv');
      return { value: packr.unpack(body.copy()) as T, source, tag };
    } finally {
      body.free();
    }
  }

  /** Waits on an MPI request in `req` (MPI_Test polling) without blocking the event loop. */
  private async wait(lib: MpiLibrary, req: NativeBuffer, what: string, opts: AsyncOptions | undefined, collective = false): Promise<void> {
    const flag = [0];
    try {
      await pollUntil(
        () => {
          lib.check(lib.fn.Test(req.ptr, flag, lib.abi.STATUS_IGNORE), 'MPI_Test');
          return flag[0] !== 0;
        },
        what,
        opts,
      );
    } catch (err) {
      if (collective) this.broken = `an earlier ${what} ${err instanceof TimeoutError ? 'timed out' : 'was abandoned'}`;
      throw err;
    }
  }

  /**
   * barrier() that keeps the event loop running (MPI_Ibarrier). On timeout
   * the barrier is still pending inside MPI: the job cannot use this
   * communicator for collectives any more and should abort.
   */
  barrierAsync(opts?: AsyncOptions): Promise<void> {
    const lib = this.collective('barrierAsync()', false);
    return this.queueCollective(() => this.runBarrier(lib, opts));
  }

  private async runBarrier(lib: MpiLibrary, opts: AsyncOptions | undefined): Promise<void> {
    this.collective('barrierAsync()', false);
    const req = new NativeBuffer(lib.abi.requestSize);
    let done = false;
    try {
      lib.check(lib.fn.Ibarrier(this.rawHandle, req.ptr), 'MPI_Ibarrier');
      await this.wait(lib, req, `barrier on rank ${this.rank} of ${this.size}`, opts, true);
      done = true;
    } finally {
      // A request that never completed may still be written to by MPI.
      if (done) req.free();
    }
  }

  /** bcast() that keeps the event loop running (MPI_Ibcast); same caveat on timeout as barrierAsync(). */
  bcastAsync<T>(value: T | undefined, root: number, opts?: AsyncOptions): Promise<T> {
    const lib = this.collective('bcastAsync()', false);
    this.assertRank('root', root);
    return this.queueCollective(() => this.runBcast(lib, value, root, opts));
  }

  private async runBcast<T>(lib: MpiLibrary, value: T | undefined, root: number, opts: AsyncOptions | undefined): Promise<T> {
    this.collective('bcastAsync()', false);
    const what = `broadcast from rank ${root} (this is rank ${this.rank} of ${this.size})`;
    const ibcast = async (buf: NativeBuffer, offset: number, count: number) => {
      const req = new NativeBuffer(lib.abi.requestSize);
      lib.check(lib.fn.Ibcast(buf.offset(offset), count, lib.abi.BYTE, root, this.rawHandle, req.ptr), 'MPI_Ibcast');
      await this.wait(lib, req, what, opts, true);
      req.free();
    };
    const packed = this.rank === root ? packr.pack(value) : undefined;
    const lengthBytes = Buffer.alloc(8);
    if (packed) lengthBytes.writeBigUInt64LE(BigInt(packed.length));
    const header = NativeBuffer.from(lengthBytes);
    let body: NativeBuffer | undefined;
    let completed = false;
    try {
      await ibcast(header, 0, 8);
      const length = Number(header.copy().readBigUInt64LE());
      body = packed ? NativeBuffer.from(packed) : new NativeBuffer(length);
      for (let off = 0; off < length; off += CHUNK) await ibcast(body, off, Math.min(CHUNK, length - off));
      completed = true;
      return packr.unpack(body.copy()) as T;
    } finally {
      // After a timeout MPI may still write into the buffers: leak them rather than free memory MPI uses.
      if (completed) {
        header.free();
        body?.free();
      }
    }
  }

  /** send() that keeps the event loop running (MPI_Isend + MPI_Test). */
  async sendAsync(value: unknown, dest: number, tag = 0, opts?: AsyncOptions): Promise<void> {
    const lib = this.usable('sendAsync()');
    this.assertRank('dest', dest);
    assertInt('tag', tag, 0, MAX_TAG);
    const packed = packr.pack(value);
    if (packed.length > 2 ** 31 - 1) throw new InvalidArgumentError(`sendAsync(): ${packed.length} bytes is over MPI's 2 GiB message limit`);
    const body = NativeBuffer.from(packed);
    const req = new NativeBuffer(lib.abi.requestSize);
    let done = false;
    try {
      lib.check(lib.fn.Isend(body.ptr, packed.length, lib.abi.BYTE, dest, tag, this.rawHandle, req.ptr), 'MPI_Isend');
      await this.wait(lib, req, `send to rank ${dest} (tag ${tag})`, opts);
      done = true;
    } finally {
      // After a timeout MPI may still read the buffer: leak it rather than free memory MPI uses.
      if (done) {
        req.free();
        body.free();
      }
    }
  }

  /**
   * recv() that keeps the event loop running: polls MPI_Iprobe, then
   * receives the message it found. A timeout leaves nothing pending.
   */
  async recvAsync<T = unknown>(source: number = ANY_SOURCE, tag: number = ANY_TAG, opts?: AsyncOptions): Promise<Message<T>> {
    const lib = this.usable('recvAsync()');
    const [src, tg] = this.matchArgs(source, tag);
    const status = new NativeBuffer(lib.abi.statusSize);
    const flag = [0];
    const from = source === ANY_SOURCE ? 'any rank' : `rank ${source}`;
    try {
      await pollUntil(
        () => {
          lib.check(lib.fn.Iprobe(src, tg, this.rawHandle, flag, status.ptr), 'MPI_Iprobe');
          return flag[0] !== 0;
        },
        `receive from ${from}${tag === ANY_TAG ? '' : ` with tag ${tag}`} on rank ${this.rank}`,
        opts,
      );
      return this.receiveProbed<T>(lib, status);
    } finally {
      status.free();
    }
  }

  /**
   * Ends every process of the job (MPI_Abort): mpirun/srun kill all ranks
   * and exit with a non-zero status. Use when one rank cannot go on and the
   * others would otherwise wait for it forever.
   */
  abort(code = 1): never {
    const lib = this.lib;
    lib.aborting = true;
    try {
      lib.fn.Abort(this.rawHandle, code);
    } finally {
      // MPI_Abort does not return on any implementation we know; be sure anyway.
      process.exit(code || 1);
    }
  }

  /** Releases the communicator (collective). The world communicator cannot be freed. */
  free(): void {
    if (this.freedHere) return;
    if (this.worldComm) throw new MpiError('the world communicator cannot be freed; finalize() ends MPI instead');
    const lib = this.collective('free()', true);
    const ptr = lib.scratchPointer;
    lib.writeHandle(ptr, this.rawHandle);
    lib.check(lib.fn.Comm_free(ptr), 'MPI_Comm_free');
    this.freedHere = true;
    this.rawHandle = lib.abi.COMM_NULL;
  }
}
