/**
 * A framed, batched, request-capable connection over one TCP socket.
 *
 * Messages queued with `send` in the same event-loop turn go out together as
 * one wire message (a msgpack array), which is what keeps thousands of tiny
 * scheduler<->worker messages cheap. `request` adds request/reply on top.
 * A malformed message closes this connection only; the owner decides what
 * that means (a dead worker, a gone client) through `onClose`.
 *
 * A Comm is typed by the channels it carries (`Comm<In, Out>`, see
 * protocol/messages.ts): it starts as a handshake connection and is given
 * its channels with `typed()` once the handshake says whom it talks to.
 * From then on every message that arrives is checked against `In` (and
 * every reply against the request it answers) before any handler sees it.
 */
import type { Socket } from 'node:net';
import { inspect } from 'node:util';
import { FrameDecoder, frameMessage, DEFAULT_MAX_FRAME_BYTES, type PayloadAllocator } from '../protocol/frames.js';
import { decodeMessage, encodeMessage } from '../protocol/codec.js';
import type {
  Channel, ErrorInfo, MessageOf, ReplyOf, RequestArgs, RequestOp, SendOf,
} from '../protocol/messages.js';
import { HANDSHAKE, isErrorInfo, type Handshake, type Protocol } from '../protocol/validate.js';
import { ConnectionClosedError, ProtocolError, TimeoutError, rebuildError } from '../errors.js';
import type { DirectReads } from './direct-reads.js';

export type MessageHandler<In extends Channel = Handshake, Out extends Channel = Handshake> = (msg: MessageOf<In>, comm: Comm<In, Out>) => void;
export type CloseHandler<In extends Channel = Handshake, Out extends Channel = Handshake> = (reason: Error | null, comm: Comm<In, Out>) => void;

/** Fields of a decoded message whose `op` is known to be a string; not yet checked against a channel. */
type Unchecked = { op: string; rid?: unknown; ok?: unknown; error?: unknown; [field: string]: unknown };

interface Pending {
  /** The request's op: what its reply is checked against. */
  op: string;
  resolve: (m: never) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

/**
 * Rebuilds an error that crossed the wire. A Tessera error becomes its own
 * class again (KilledWorkerError, TimeoutError, ...; see rebuildError in
 * errors.ts) with its code, message and fields; anything else becomes an
 * Error with the remote name, message and stack, and its fields.
 */
export function errorFromInfo(info: ErrorInfo): Error {
  const rebuilt = rebuildError(info);
  if (rebuilt) return rebuilt;
  const e = new Error(info.message);
  e.name = info.name;
  e.stack = info.stack;
  for (const [k, v] of Object.entries(info.fields ?? {})) if (!(k in e)) (e as unknown as Record<string, unknown>)[k] = v;
  return e;
}

/** Longest readable form of a thrown non-Error value put in a message. */
const MAX_THROWN_TEXT = 2000;
/** Values copied into an error's fields, at most; the rest is cut off. */
const MAX_FIELD_VALUES = 10_000;

/**
 * A copy of `value` that both postMessage (executor thread to worker) and
 * msgpack (worker to scheduler to client) carry unchanged: functions and
 * symbols become text, class instances and Errors plain objects of their
 * fields, cycles and very deep or large values are cut off.
 */
function toData(value: unknown): unknown {
  let budget = MAX_FIELD_VALUES;
  const seen = new Set<object>();
  const copy = (v: unknown, depth: number): unknown => {
    if (--budget < 0) return '[…]';
    if (typeof v === 'function') return `[Function${v.name ? `: ${v.name}` : ''}]`;
    if (typeof v === 'symbol') return v.toString();
    if (typeof v !== 'object' || v === null) return v;
    if (v instanceof Date || ArrayBuffer.isView(v)) return v;
    if (seen.has(v)) return '[Circular]';
    if (depth > 8) return '[…]';
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => copy(x, depth + 1));
      if (v instanceof Map) return new Map([...v].map(([k, x]) => [copy(k, depth + 1), copy(x, depth + 1)]));
      if (v instanceof Set) return new Set([...v].map((x) => copy(x, depth + 1)));
      const out: Record<string, unknown> = {};
      if (v instanceof Error) {
        out['name'] = v.name;
        out['message'] = v.message;
      }
      for (const k of Object.keys(v)) out[k] = copy((v as Record<string, unknown>)[k], depth + 1);
      return out;
    } finally {
      seen.delete(v);
    }
  };
  return copy(value, 0);
}

/** An Error's own enumerable fields beyond name, message and stack (`code`, `row`), or undefined if none. */
function errorFields(err: Error): Record<string, unknown> | undefined {
  const keys = Object.keys(err).filter((k) => k !== 'name' && k !== 'message' && k !== 'stack');
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = toData((err as unknown as Record<string, unknown>)[k]);
  return out;
}

/** What kind of value was thrown, for the error's name: 'Object', 'Array', 'string', a class name. */
function thrownKind(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name || 'Object';
}

export function errorToInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const fields = errorFields(err);
    // User code may set any of these to a non-string; the receiver's check
    // (protocol/validate.ts) wants strings and would drop the connection.
    const name = String(err.name);
    const message = String(err.message);
    return {
      name, message, stack: typeof err.stack === 'string' ? err.stack : `${name}: ${message}`,
      ...(typeof code === 'string' ? { code } : {}), ...(fields ? { fields } : {}),
    };
  }
  // `throw { code: 42 }` or `throw 'bad'`: String() would give "[object
  // Object]", so the message is the value as util.inspect shows it, and the
  // value itself travels as data for the catcher to read.
  let text = inspect(err, { depth: 4, breakLength: Infinity });
  if (text.length > MAX_THROWN_TEXT) text = `${text.slice(0, MAX_THROWN_TEXT)}…`;
  const data = toData(err);
  const fields = typeof data === 'object' && data !== null && !Array.isArray(data) && !(data instanceof Map) &&
    !(data instanceof Set) && !(data instanceof Date) && !ArrayBuffer.isView(data)
    ? { fields: data as Record<string, unknown> } : {};
  return {
    name: thrownKind(err), message: text, stack: `${text}\n    (a thrown value that is not an Error has no stack)`,
    ...fields, thrown: { value: data },
  };
}

export class Comm<In extends Channel = Handshake, Out extends Channel = Handshake> {
  onClose: CloseHandler<In, Out> = () => {};
  private handler: MessageHandler<In, Out> | null = null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private protocol: Protocol<any, any> = HANDSHAKE;
  /**
   * Messages that arrived while no handler was installed (e.g. right after
   * the handshake, before the owner called typed()); checked when delivered.
   */
  private backlog: Unchecked[] = [];
  /** Free-form label for logs ('worker tcp://...', 'client 3'). */
  label: string;
  peerName: string | undefined;

  private readonly decoder: FrameDecoder;
  private lastFlush = 0;
  private readonly flushBound = () => this.flush();
  /** Minimum time between two batched writes (ms). */
  batchIntervalMs = 2;
  private queue: object[] = [];
  private flushScheduled = false;
  private nextRid = 1;
  private readonly pending = new Map<number, Pending>();
  private closedFlag = false;
  /**
   * With `unrefWhenIdle()`, the socket keeps Node's event loop alive only
   * while someone waits on this connection: a request in flight or a hold()
   * (a client awaiting a result). An idle client connection must not keep a
   * script running after its last line, as undici's idle sockets do not.
   */
  private idleUnref = false;
  private holds = 0;
  private socketRefd = true;
  readonly closed: Promise<Error | null>;
  private resolveClosed!: (e: Error | null) => void;

  /** The buffer the last direct read was given when it was a large frame's rest (see DirectReads). */
  private readTarget: Buffer | null = null;

  /**
   * @param opts.directReads the `onread` the socket was created with: large frames are then read straight into place.
   * @param opts.allocatePayload makes the buffers large payload frames are received into (see FrameDecoder).
   */
  constructor(readonly socket: Socket, opts: { maxFrameBytes?: number; label?: string; directReads?: DirectReads; allocatePayload?: PayloadAllocator } = {}) {
    this.decoder = new FrameDecoder(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, opts.allocatePayload);
    this.label = opts.label ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    if (opts.directReads) {
      opts.directReads.attach({
        target: () => (this.readTarget = this.decoder.fillTarget()),
        received: (n, buf) => this.onRead(n, buf),
      });
    } else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.shutdown(err));
    socket.on('close', () => this.shutdown(null));
  }

  /**
   * This connection from now on carries the channels `protocol` checks:
   * what arrives is checked against its `In`, and only its `Out` can be sent.
   * Called once the handshake has told whom this connection talks to.
   */
  typed<I extends Channel, O extends Channel>(protocol: Protocol<I, O>): Comm<I, O> {
    this.protocol = protocol;
    return this as unknown as Comm<I, O>;
  }

  /** The message handler. While it is null, messages are held and delivered once one is installed. */
  get onMessage(): MessageHandler<In, Out> | null {
    return this.handler;
  }

  set onMessage(h: MessageHandler<In, Out> | null) {
    this.handler = h;
    if (h && this.backlog.length) {
      const held = this.backlog;
      this.backlog = [];
      for (const m of held) if (!this.deliver(m)) return;
    }
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** From now on the socket holds the event loop open only while this connection is busy (see `idleUnref`). */
  unrefWhenIdle(): void {
    this.idleUnref = true;
    this.updateRef();
  }

  /** Marks the connection busy until the returned function is called (once). */
  hold(): () => void {
    this.holds++;
    this.updateRef();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.updateRef();
    };
  }

  private updateRef(): void {
    if (!this.idleUnref) return;
    const busy = this.holds > 0 || this.pending.size > 0;
    if (busy === this.socketRefd) return;
    this.socketRefd = busy;
    if (busy) this.socket.ref();
    else this.socket.unref();
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** Queues a message; all messages queued in this turn of the event loop are sent as one batch. */
  send(msg: SendOf<Out>): void {
    this.enqueue(msg);
  }

  private enqueue(msg: object): void {
    if (this.closedFlag) return;
    this.queue.push(msg);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // A quiet connection sends at once (next turn); a busy one at most every
      // `batchIntervalMs`, so thousands of tiny messages share a few writes.
      const wait = this.lastFlush + this.batchIntervalMs - performance.now();
      if (wait <= 0) setImmediate(this.flushBound);
      else setTimeout(this.flushBound, wait);
    }
  }

  /** Sends at once, bypassing the batch (handshakes, final messages). */
  sendNow(msg: SendOf<Out>): void {
    this.flush();
    this.write(msg);
  }

  flush(): void {
    this.flushScheduled = false;
    this.lastFlush = performance.now();
    if (this.queue.length === 0 || this.closedFlag) return;
    const batch = this.queue;
    this.queue = [];
    this.write(batch.length === 1 ? batch[0]! : batch);
  }

  private write(payload: unknown): void {
    let chunks: Uint8Array[];
    try {
      chunks = frameMessage(encodeMessage(payload));
    } catch (err) {
      // An unencodable message is a bug on our side; report it loudly but keep the connection.
      console.error(`tessera: could not encode a message for ${this.label}:`, err);
      return;
    }
    const s = this.socket;
    s.cork();
    for (const c of chunks) s.write(c);
    s.uncork();
  }

  /** Sends a request of `Out` and resolves with the fields of its reply. */
  request<K extends RequestOp<Out>>(msg: RequestArgs<Out, K>, timeoutMs = 0): Promise<ReplyOf<Out, K>> {
    if (this.closedFlag) return Promise.reject(new ConnectionClosedError(`connection to ${this.label} is closed`));
    const rid = this.nextRid++;
    const op: string = msg.op;
    return new Promise<ReplyOf<Out, K>>((resolve, reject) => {
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          this.pending.delete(rid);
          this.updateRef();
          reject(new TimeoutError(`no reply from ${this.label} to '${op}' within ${timeoutMs} ms`));
        }, timeoutMs)
        : null;
      this.pending.set(rid, { op, resolve, reject, timer });
      this.updateRef();
      this.enqueue({ ...msg, rid });
    });
  }

  /** Answers a request of `In` with the fields its reply declares. */
  reply<K extends RequestOp<In>>(
    req: { op: K; rid: number },
    ...payload: Record<never, never> extends ReplyOf<In, K> ? [ReplyOf<In, K>?] : [ReplyOf<In, K>]
  ): void {
    this.enqueue({ op: 'reply', rid: req.rid, ok: true, ...(payload[0] as object | undefined) });
  }

  replyError(req: { rid: number }, err: unknown): void {
    this.enqueue({ op: 'reply', rid: req.rid, ok: false, error: errorToInfo(err) });
  }

  /** A direct read (see DirectReads): into the large frame being received, or a fresh chunk. */
  private onRead(n: number, buf: Buffer): void {
    if (this.closedFlag) return;
    const target = this.readTarget;
    this.readTarget = null;
    if (buf !== target) {
      this.onData(buf.subarray(0, n));
      return;
    }
    let messages: Buffer[][];
    try {
      messages = this.decoder.filledInPlace(n);
    } catch (err) {
      this.abort(err as Error);
      return;
    }
    this.onMessages(messages);
  }

  private onData(chunk: Buffer): void {
    let messages: Buffer[][];
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      this.abort(err as Error);
      return;
    }
    this.onMessages(messages);
  }

  private onMessages(messages: Buffer[][]): void {
    for (const frames of messages) {
      let decoded: unknown;
      try {
        decoded = decodeMessage(frames);
      } catch (err) {
        this.abort(err as Error);
        return;
      }
      if (Array.isArray(decoded)) {
        for (const m of decoded) if (!this.dispatch(m)) return;
      } else if (!this.dispatch(decoded)) return;
    }
  }

  private dispatch(m: unknown): boolean {
    if (this.closedFlag) return false;
    if (!m || typeof m !== 'object' || typeof (m as Unchecked).op !== 'string') {
      this.abort(new ProtocolError('message without an op field'));
      return false;
    }
    const msg = m as Unchecked;
    if (msg.op === 'reply') {
      if (typeof msg.rid !== 'number' || typeof msg.ok !== 'boolean') {
        this.abort(new ProtocolError(`bad reply from ${this.label}: it needs a numeric rid and a boolean ok`));
        return false;
      }
      const p = this.pending.get(msg.rid);
      if (!p) return true; // a reply after its timeout: nobody waits for it any more
      const error = msg.error;
      const why = msg.ok ? this.protocol.reply(p.op, msg) : isErrorInfo(error) ? null : "field 'error' must be an error (name, message, stack)";
      if (why) {
        // abort() rejects the request with the connection's error, which says why.
        this.abort(new ProtocolError(`bad reply to '${p.op}' from ${this.label}: ${why}`));
        return false;
      }
      this.pending.delete(msg.rid);
      this.updateRef();
      if (p.timer) clearTimeout(p.timer);
      if (!msg.ok && isErrorInfo(error)) p.reject(errorFromInfo(error));
      // Checked against the request's reply type just above.
      else p.resolve(msg as never);
      return true;
    }
    if (!this.handler) {
      this.backlog.push(msg);
      return true;
    }
    return this.deliver(msg);
  }

  private deliver(msg: Unchecked): boolean {
    if (this.closedFlag) return false;
    const why = this.protocol.message(msg);
    if (why) {
      this.abort(new ProtocolError(`bad '${msg.op}' message (${this.protocol.name}) from ${this.label}: ${why}`));
      return false;
    }
    try {
      this.handler!(msg as MessageOf<In>, this);
    } catch (err) {
      // A handler that throws on a malformed message must not take the process down.
      this.abort(err instanceof ProtocolError ? err : new ProtocolError(`bad '${msg.op}' message: ${(err as Error).message}`));
      return false;
    }
    return true;
  }

  /** Closes because of a protocol violation. */
  abort(err: Error): void {
    this.shutdown(err);
    this.socket.destroy();
  }

  /** Flushes what is queued and closes the connection. */
  close(): Promise<Error | null> {
    if (!this.closedFlag) {
      this.flush();
      // Whoever awaits the close is waiting on this connection: keep Node running until it is done.
      if (this.idleUnref) this.socket.ref();
      this.socket.end();
      // A peer that never closes its side must not keep us waiting.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    return this.closed;
  }

  private shutdown(err: Error | null): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.queue = [];
    const e = new ConnectionClosedError(`connection to ${this.label} closed${err ? `: ${err.message}` : ''}`);
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    this.resolveClosed(err);
    try {
      this.onClose(err, this);
    } catch (e2) {
      console.error('tessera: close handler failed:', e2);
    }
  }
}
