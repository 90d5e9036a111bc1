/**
 * The worker's data store: task results as serialized frames, in memory or
 * spilled to `directory`. Values are kept serialized so they can be served to
 * peers and spilled without re-encoding. Least recently used data spills
 * first (a Map iterates in insertion order; every access re-inserts).
 */
import { promises as fs, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { SerializedValue } from '../protocol/messages.js';
import { copyBytes, serializedBytes } from '../graph/serialize.js';

interface Entry {
  kind: SerializedValue['kind'];
  frames: Uint8Array[] | null;
  lengths: number[];
  nbytes: number;
  path: string | null;
}

/** Values above this size are moved to shared memory once, so executor threads read them without copies. */
const SHARE_THRESHOLD = 1 << 20;

function compact(f: Uint8Array): Uint8Array {
  if (f.buffer instanceof SharedArrayBuffer) return f;
  if (f.byteLength >= SHARE_THRESHOLD) {
    const shared = new Uint8Array(new SharedArrayBuffer(f.byteLength));
    shared.set(f);
    return shared;
  }
  // A small view into a big buffer (a socket chunk, msgpack's pool) would drag the whole buffer along.
  return f.byteLength * 2 < f.buffer.byteLength ? copyBytes(f) : f;
}

export class DataStore {
  private readonly entries = new Map<string, Entry>();
  managedBytes = 0;
  spilledBytes = 0;
  private spilling = false;

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
    this.entries.set(key, { kind: sv.kind, frames, lengths: frames.map((f) => f.byteLength), nbytes, path: null });
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
    this.entries.delete(key);
    this.entries.set(key, e);
    return { kind: e.kind, frames: e.frames };
  }

  async get(key: string): Promise<SerializedValue | undefined> {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.frames) return this.getIfInMemory(key);
    const buf = await fs.readFile(e.path!);
    const frames: Uint8Array[] = [];
    let off = 0;
    for (const len of e.lengths) {
      frames.push(buf.subarray(off, off + len));
      off += len;
    }
    // Unspill only if it was not deleted meanwhile.
    if (this.entries.get(key) === e && !e.frames) {
      e.frames = frames.map(compact);
      this.spilledBytes -= e.nbytes;
      this.managedBytes += e.nbytes;
      void fs.rm(e.path!, { force: true });
      e.path = null;
      this.entries.delete(key);
      this.entries.set(key, e);
      if (this.targetBytes > 0 && this.managedBytes > this.targetBytes) void this.spill();
    }
    return { kind: e.kind, frames };
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
      for (const [key, e] of this.entries) {
        if (this.managedBytes <= downTo) break;
        if (!e.frames) continue;
        const path = this.pathFor(key);
        const frames = e.frames;
        await fs.writeFile(path, Buffer.concat(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))));
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
