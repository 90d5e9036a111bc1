/**
 * Several byte pieces in one Buffer: a task that splits a partition (a
 * shuffle) returns one piece per output partition, and a worker's shuffle
 * service hands an output's received shards to its unpack task the same way.
 * One Buffer travels between workers and threads as raw bytes; a reader
 * takes its piece as a view, without copying.
 *
 * Layout: 'TSB1', u32 count, (count + 1) u64 offsets from the start of the
 * data, then the pieces back to back.
 */

const MAGIC = 0x31425354; // 'TSB1' little-endian

export function bundle(pieces: readonly Uint8Array[]): Buffer {
  const header = 8 + 8 * (pieces.length + 1);
  const total = pieces.reduce((s, p) => s + p.length, header);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(pieces.length, 4);
  let offset = 0;
  for (let i = 0; i < pieces.length; i++) {
    out.writeBigUInt64LE(BigInt(offset), 8 + 8 * i);
    out.set(pieces[i]!, header + offset);
    offset += pieces[i]!.length;
  }
  out.writeBigUInt64LE(BigInt(offset), 8 + 8 * pieces.length);
  return out;
}

export function isBundle(buf: Uint8Array): boolean {
  return buf.length >= 8 && Buffer.from(buf.buffer, buf.byteOffset, 4).readUInt32LE(0) === MAGIC;
}

export function bundleCount(buf: Uint8Array): number {
  const b = asBuffer(buf);
  if (!isBundle(b)) throw new Error('internal: expected a bundle of partition pieces');
  return b.readUInt32LE(4);
}

/** Piece i of a bundle, as a view into it. */
export function unbundle(buf: Uint8Array, i: number): Buffer {
  const b = asBuffer(buf);
  const count = bundleCount(b);
  if (!Number.isInteger(i) || i < 0 || i >= count) throw new Error(`internal: piece ${i} of a bundle of ${count}`);
  const header = 8 + 8 * (count + 1);
  const start = Number(b.readBigUInt64LE(8 + 8 * i));
  const end = Number(b.readBigUInt64LE(8 + 8 * (i + 1)));
  return b.subarray(header + start, header + end);
}

/** Every piece of a bundle, as views into it. */
export function unbundleAll(buf: Uint8Array): Buffer[] {
  const n = bundleCount(buf);
  return Array.from({ length: n }, (_, i) => unbundle(buf, i));
}

export function asBuffer(x: Uint8Array): Buffer {
  return Buffer.isBuffer(x) ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}
