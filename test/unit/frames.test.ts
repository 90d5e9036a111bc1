import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, frameMessage } from '../../src/protocol/frames.js';
import { RawFrames, decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import { FrameTooLargeError, ProtocolError } from '../../src/errors.js';
import { wireFunctionSpec } from '../../src/protocol/function-specs.js';
import { deserializeValue, serializeValue } from '../../src/graph/serialize.js';

function wire(msg: unknown): Buffer {
  return Buffer.concat(frameMessage(encodeMessage(msg)));
}

test('a message split at every possible byte boundary decodes once, intact', () => {
  const payload = Buffer.alloc(1000, 7);
  const bytes = wire({ op: 'x', n: 42, data: new RawFrames([payload, Buffer.from('tail')]) });
  for (let cut = 1; cut < bytes.length; cut += 13) {
    const d = new FrameDecoder();
    const a = d.push(bytes.subarray(0, cut));
    const b = d.push(bytes.subarray(cut));
    const all = [...a, ...b];
    assert.equal(all.length, 1, `cut at ${cut}`);
    const m = decodeMessage(all[0]!) as { op: string; n: number; data: RawFrames };
    assert.equal(m.n, 42);
    assert.deepEqual(Buffer.from(m.data.frames[0]!), payload);
    assert.equal(Buffer.from(m.data.frames[1]!).toString(), 'tail');
  }
});

test('byte-by-byte delivery decodes', () => {
  const bytes = wire([{ op: 'a' }, { op: 'b', v: [1, 2, 3] }]);
  const d = new FrameDecoder();
  const out: Buffer[][] = [];
  for (const byte of bytes) out.push(...d.push(Buffer.from([byte])));
  assert.equal(out.length, 1);
  assert.deepEqual(decodeMessage(out[0]!), [{ op: 'a' }, { op: 'b', v: [1, 2, 3] }]);
  assert.equal(d.bufferedBytes, 0);
});

test('coalesced messages in one chunk all come out, in order', () => {
  const chunk = Buffer.concat(Array.from({ length: 50 }, (_, i) => wire({ op: 'n', i })));
  const msgs = new FrameDecoder().push(chunk).map((f) => (decodeMessage(f) as { i: number }).i);
  assert.deepEqual(msgs, Array.from({ length: 50 }, (_, i) => i));
});

test('raw frames are not copied into the header', () => {
  const big = Buffer.alloc(1 << 20, 1);
  const frames = encodeMessage({ op: 'data', v: new RawFrames([big]) });
  assert.equal(frames.length, 2);
  assert.ok(frames[0]!.byteLength < 100, 'header stays small');
  assert.equal(frames[1], big, 'the payload is the very same buffer');
});

test('a frame over the size limit is refused before buffering it', () => {
  const d = new FrameDecoder(1024);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(1, 0);
  header.writeUInt32LE(10_000, 4);
  assert.throws(() => d.push(header), FrameTooLargeError);
});

test('an absurd frame count is a protocol error', () => {
  const d = new FrameDecoder();
  const b = Buffer.alloc(4);
  b.writeUInt32LE(0, 0);
  assert.throws(() => d.push(b), ProtocolError);
  const d2 = new FrameDecoder();
  b.writeUInt32LE(0xffffffff, 0);
  assert.throws(() => d2.push(b), ProtocolError);
});

test('garbage in the header frame is a protocol error, not a crash', () => {
  const bad = Buffer.concat(frameMessage([Buffer.from([0xc1, 0xc1, 0xc1])]));
  const frames = new FrameDecoder().push(bad);
  assert.throws(() => decodeMessage(frames[0]!), ProtocolError);
});

test('a RawFrames reference out of range is a protocol error', () => {
  // Encode a message with 2 raw frames, then drop them from the wire.
  const frames = encodeMessage({ op: 'x', v: new RawFrames([Buffer.from('a'), Buffer.from('b')]) });
  assert.throws(() => decodeMessage([Buffer.from(frames[0]!)]), ProtocolError);
});

test('large frames arriving in many chunks are filled in place, intact, with messages around them', () => {
  const big = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const bytes = Buffer.concat([wire({ op: 'before' }), wire({ op: 'data', v: new RawFrames([big, Buffer.from('small'), big]) }), wire({ op: 'after' })]);
  for (const size of [1, 7, 4096, 65536, 65537, 1 << 20]) {
    const d = new FrameDecoder();
    const out: Buffer[][] = [];
    // Byte by byte is too slow for 6 MiB: single bytes only around the frame boundaries.
    for (let off = 0; off < bytes.length; off += size === 1 && off > 300 && off < bytes.length - 300 ? 4093 : size) out.push(...d.push(bytes.subarray(off, Math.min(bytes.length, off + (size === 1 && off > 300 && off < bytes.length - 300 ? 4093 : size)))));
    assert.equal(out.length, 3, `chunks of ${size}`);
    const m = decodeMessage(out[1]!) as { op: string; v: RawFrames };
    assert.equal((decodeMessage(out[0]!) as { op: string }).op, 'before');
    assert.equal((decodeMessage(out[2]!) as { op: string }).op, 'after');
    assert.ok(Buffer.from(m.v.frames[0]!).equals(big), `first large frame, chunks of ${size}`);
    assert.equal(Buffer.from(m.v.frames[1]!).toString(), 'small');
    assert.ok(Buffer.from(m.v.frames[2]!).equals(big), `second large frame, chunks of ${size}`);
    assert.equal(d.bufferedBytes, 0);
  }
});

test('direct reads: a large frame read in place through fillTarget() completes its message, payload shared when asked', () => {
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const bytes = wire({ op: 'data', v: new RawFrames([big, Buffer.from('small')]) });
  const d = new FrameDecoder(undefined, (n) => Buffer.from(new SharedArrayBuffer(n)));
  // The first read ends inside the big frame, as a socket read of 64 KiB would.
  assert.deepEqual(d.push(bytes.subarray(0, 64 * 1024)), []);
  let off = 64 * 1024;
  const out: Buffer[][] = [];
  for (let target = d.fillTarget(); target; target = d.fillTarget()) {
    const n = Math.min(target.length, 200_000); // reads of any size, never past the frame
    bytes.copy(target, 0, off, off + n);
    off += n;
    out.push(...d.filledInPlace(n));
  }
  out.push(...d.push(bytes.subarray(off)));
  assert.equal(out.length, 1);
  const m = decodeMessage(out[0]!) as { v: RawFrames };
  assert.ok(m.v.frames[0]!.buffer instanceof SharedArrayBuffer, 'a payload arrives in the buffer allocatePayload made');
  assert.ok(Buffer.from(m.v.frames[0]!).equals(big));
  assert.equal(Buffer.from(m.v.frames[1]!).toString(), 'small');
  assert.equal(d.bufferedBytes, 0);
});

test('direct reads: more bytes than the frame has room for is a protocol error', () => {
  const bytes = wire({ op: 'data', v: new RawFrames([Buffer.alloc(100_000)]) });
  const d = new FrameDecoder();
  d.push(bytes.subarray(0, 1000));
  const target = d.fillTarget()!;
  assert.ok(target.length > 0 && target.length < 100_000);
  assert.throws(() => d.filledInPlace(target.length + 1), ProtocolError);
  assert.equal(new FrameDecoder().fillTarget(), null, 'no large frame under way: any buffer will do');
});

test('a shared function spec is written once per message and decodes to one object per message', () => {
  const inc = wireFunctionSpec({ kind: 'module', url: 'file:///tmp/fns.js', export: 'inc' } as const);
  const lambda = wireFunctionSpec({ kind: 'inline', source: `(x) => x + ${'1'.repeat(500)}`, name: 'lambda' } as const);
  const tasks = Array.from({ length: 1000 }, (_, i) => ({ key: `t-${i}`, fn: i % 2 ? inc : lambda }));
  const plain = Array.from({ length: 1000 }, (_, i) => ({ key: `t-${i}`, fn: i % 2 ? { ...inc } : { ...lambda } }));
  const shared = encodeMessage({ op: 'graph-chunk', tasks })[0]!;
  const unshared = encodeMessage({ op: 'graph-chunk', tasks: plain })[0]!;
  // Each spec once: the 1,000 mentions cost a few bytes each, not the 500-character source.
  assert.ok(shared.byteLength < 20_000, `shared: ${shared.byteLength} bytes`);
  assert.ok(unshared.byteLength > 250_000, `plain objects are written in full: ${unshared.byteLength} bytes`);
  const back = decodeMessage([Buffer.from(shared)]) as { tasks: { key: string; fn: Record<string, string> }[] };
  assert.equal(back.tasks.length, 1000);
  assert.deepEqual({ ...back.tasks[1]!.fn }, { kind: 'module', url: 'file:///tmp/fns.js', export: 'inc' });
  assert.deepEqual({ ...back.tasks[0]!.fn }, { kind: 'inline', source: lambda.source, name: 'lambda' });
  assert.equal(back.tasks[1]!.fn, back.tasks[999]!.fn, 'one object per spec within a message');
  // The decoded spec is shareable again: the scheduler forwards it to workers.
  const forwarded = encodeMessage([{ fn: back.tasks[1]!.fn }, { fn: back.tasks[3]!.fn }])[0]!;
  const again = decodeMessage([Buffer.from(forwarded)]) as { fn: unknown }[];
  assert.equal(again[0]!.fn, again[1]!.fn);
  // A later message starts afresh: its first mention is written in full.
  const next = decodeMessage([Buffer.from(encodeMessage({ fn: inc })[0]!)]) as { fn: unknown };
  assert.deepEqual({ ...(next.fn as object) }, { ...inc });
});

test('a function spec reference to nothing written earlier is a protocol error', () => {
  // msgpackr writes the extension's marker (d4 53 00), then its value: here the number 3, a reference, though the message defined no spec.
  const header = Buffer.from([0xd4, 0x53, 0x00, 0x03]);
  assert.throws(() => decodeMessage([header]), (e: unknown) => e instanceof ProtocolError && /function spec reference 3/.test((e as Error).message));
});

test('byte arrays in a header decode as views of the frame; in a value, as copies of their own', () => {
  const args = new Uint8Array([1, 2, 3, 4, 5]);
  const frame = Buffer.from(encodeMessage({ op: 'compute-task', args })[0]!);
  const back = decodeMessage([frame]) as { args: Uint8Array };
  assert.deepEqual([...back.args], [1, 2, 3, 4, 5]);
  assert.equal(back.args.buffer, frame.buffer, 'no copy per task argument list');
  // A user's Uint8Array inside a value still gets a buffer of its own: code may take its .buffer.
  const sv = serializeValue({ bytes: new Uint8Array([9, 8, 7]) });
  const value = deserializeValue(sv) as { bytes: Uint8Array };
  assert.deepEqual([...value.bytes], [9, 8, 7]);
  assert.equal(value.bytes.byteOffset, 0);
  assert.equal(value.bytes.buffer.byteLength, 3);
});
