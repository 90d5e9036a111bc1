/**
 * The worker's data store: task results as serialized frames, in memory or
 * spilled to `directory`. Values are kept serialized so they can be served to
 * peers and spilled without re-encoding. Least recently used data spills
 * first: each entry carries the tick of its last use, and a spill sorts by it
 * (re-inserting into the Map on every access, to keep it in use order, cost
 * two extra hash operations per read, on every task's inputs and every key
 * a client gathers; spilling is rare).
 *
 * Frames are stored as they came, uncopied: a task's result as its executor
 * thread transferred it, a fetched value as the socket read it (already in
 * shared memory when large, see FrameDecoder). A large frame that is not yet
 * shared is moved to a SharedArrayBuffer the first time an executor thread
 * needs it (getShared), not before: a value only ever sent to peers or the
 * client is never copied. Spilling writes the frames as they are and reads
 * them back into one buffer (shared when large).
 */
import { promises as fs, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { SerializedValue } from '../protocol/messages.js';
import { copyBytes, serializedBytes } from '../graph/serialize.js';
import { SHARE_FROM_BYTES, allocateShared } from './shared-memory.js';
import { keepsView } from './executor-batch.js';

interface Entry {
  kind: SerializedValue['kind'];
  frames: Uint8Array[] | null;
  lengths: number[];
  nbytes: number;
  path: string | null;
  /** When it was last put or read (DataStore.clock). */
  used: number;
}


/** A small view into a big buffer (a socket chunk, msgpack's pool) would drag the whole buffer along: copied. */
function compact(f: Uint8Array): Uint8Array {
  if (f.buffer instanceof SharedArrayBuffer) return f;
  return keepsView(f.byteLength, f.buffer.byteLength) ? f : copyBytes(f);
}

function needsSharing(f: Uint8Array): boolean {
  return f.byteLength >= SHARE_FROM_BYTES && !(f.buffer instanceof SharedArrayBuffer);
}

/** The frame in shared memory: itself if it is there already or small. */
function share(f: Uint8Array): Uint8Array {
  if (!needsSharing(f)) return f;
  const shared = allocateShared(f.byteLength);
  shared.set(f);
  return shared;
}

/** Writes every frame, in order, at the start of `path` (no joining copy; a short write is continued). */
async function writeFrames(path: string, frames: readonly Uint8Array[]): Promise<void> {
  const fh = await fs.open(path, 'w');
  try {
    let at = 0;
    for (const f of frames) {
      for (let off = 0; off < f.byteLength;) {
        const { bytesWritten } = await fh.write(f, off, f.byteLength - off, at);
        off += bytesWritten;
        at += bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
}

/** Reads `total` bytes of `path` into one buffer, shared if large, and cuts it into frames of `lengths`. */
async function readFrames(path: string, lengths: readonly number[], total: number): Promise<Uint8Array[]> {
  const buf = total >= SHARE_FROM_BYTES ? allocateShared(total) : Buffer.allocUnsafeSlow(total);
  const fh = await fs.open(path, 'r');
  try {
    for (let off = 0; off < total;) {
      const { bytesRead } = await fh.read(buf, off, total - off, off);
      if (bytesRead === 0) throw new Error(`spill file ${path} ends after ${off} of ${total} bytes`);
      off += bytesRead;
    }
  } finally {
    await fh.close();
  }
  const frames: Uint8Array[] = [];
  let off = 0;
  for (const len of lengths) {
    frames.push(buf.subarray(off, off + len));
    off += len;
  }
  return frames;
}

export class DataStore {
  private readonly entries = new Map<string, Entry>();
  managedBytes = 0;
  spilledBytes = 0;
  private spilling = false;
  /** Counts puts and reads: the order of use, for spilling the least recently used first. */
  private clock = 0;

  constructor(readonly directory: string, private readonly targetBytes: number) {}

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get size(): number {
    return this.entries.size;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  put(key: string, sv: SerializedValue): number {
    this.delete(key);
    const frames = sv.frames.map(compact);
    const nbytes = serializedBytes(sv);
    this.entries.set(key, { kind: sv.kind, frames, lengths: frames.map((f) => f.byteLength), nbytes, path: null, used: ++this.clock });
    this.managedBytes += nbytes;
    if (this.targetBytes > 0 && this.managedBytes > this.targetBytes) void this.spill();
    return nbytes;
  }

  nbytes(key: string): number {
    return this.entries.get(key)?.nbytes ?? 0;
  }

  /** The value if it is in memory (no I/O), else undefined. */
  getIfInMemory(key: string): SerializedValue | undefined {
    const e = this.entries.get(key);
    if (!e || !e.frames) return undefined;
    e.used = ++this.clock;
    return { kind: e.kind, frames: e.frames };
  }

  async get(key: string): Promise<SerializedValue | undefined> {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.frames) return this.getIfInMemory(key);
    const frames = await readFrames(e.path!, e.lengths, e.nbytes);
    // Unspill only if it was not deleted meanwhile.
    if (this.entries.get(key) === e && !e.frames) {
      e.frames = frames.map(compact);
      this.spilledBytes -= e.nbytes;
      this.managedBytes += e.nbytes;
      void fs.rm(e.path!, { force: true });
      e.path = null;
      e.used = ++this.clock;
      if (this.targetBytes > 0 && this.managedBytes > this.targetBytes) void this.spill();
    }
    return { kind: e.kind, frames };
  }

  /**
   * The value if it is in memory, with its large frames in shared memory for
   * an executor thread; a frame not there yet is moved once and stays.
   */
  getSharedIfInMemory(key: string): SerializedValue | undefined {
    const e = this.entries.get(key);
    if (!e || !e.frames) return undefined;
    e.used = ++this.clock;
    if (e.frames.some(needsSharing)) e.frames = e.frames.map(share);
    return { kind: e.kind, frames: e.frames };
  }

  /** getSharedIfInMemory, reading a spilled value back first (it comes back shared). */
  async getShared(key: string): Promise<SerializedValue | undefined> {
    return this.getSharedIfInMemory(key) ?? (await this.get(key));
  }

  delete(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.entries.delete(key);
    if (e.frames) this.managedBytes -= e.nbytes;
    else {
      this.spilledBytes -= e.nbytes;
      if (e.path) void fs.rm(e.path, { force: true });
    }
    return true;
  }

  private pathFor(key: string): string {
    return join(this.directory, createHash('sha1').update(key).digest('hex'));
  }

  /**
   * Writes least recently used values to disk until managed memory is below
   * `downTo` (default 90% of the target).
   */
  async spill(downTo = this.targetBytes * 0.9): Promise<void> {
    if (this.spilling) return;
    this.spilling = true;
    try {
      mkdirSync(this.directory, { recursive: true });
      const inMemory: Array<[string, Entry]> = [];
      for (const kv of this.entries) if (kv[1].frames) inMemory.push(kv);
      inMemory.sort((a, b) => a[1].used - b[1].used);
      for (const [key, e] of inMemory) {
        if (this.managedBytes <= downTo) break;
        if (!e.frames) continue;
        const path = this.pathFor(key);
        const frames = e.frames;
        await writeFrames(path, frames);
        if (this.entries.get(key) !== e || e.frames !== frames) {
          await fs.rm(path, { force: true }); // deleted or replaced while writing
          continue;
        }
        e.frames = null;
        e.path = path;
        this.managedBytes -= e.nbytes;
        this.spilledBytes += e.nbytes;
      }
    } finally {
      this.spilling = false;
    }
  }

  clear(): void {
    for (const key of [...this.entries.keys()]) this.delete(key);
  }

  removeDirectory(): void {
    rmSync(this.directory, { recursive: true, force: true });
  }
}
