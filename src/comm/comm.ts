/**
 * A framed, batched, request-capable connection over one TCP socket.
 *
 * Messages queued with `send` in the same event-loop turn go out together as
 * one wire message (a msgpack array), which is what keeps thousands of tiny
 * scheduler<->worker messages cheap. `request` adds request/reply on top.
 * A malformed message closes this connection only; the owner decides what
 * that means (a dead worker, a gone client) through `onClose`.
 */
import type { Socket } from 'node:net';
import { FrameDecoder, frameMessage, DEFAULT_MAX_FRAME_BYTES } from '../protocol/frames.js';
import { decodeMessage, encodeMessage } from '../protocol/codec.js';
import type { ErrorInfo, Msg } from '../protocol/messages.js';
import { ConnectionClosedError, ProtocolError, TesseraError, TimeoutError, type TesseraErrorCode } from '../errors.js';

export type MessageHandler = (msg: Msg, comm: Comm) => void;
export type CloseHandler = (reason: Error | null, comm: Comm) => void;

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

/** Errors crossing the wire keep their code and message. */
export function errorFromInfo(info: ErrorInfo): Error {
  if (info.code && info.code.startsWith('ERR_TESSERA')) {
    const e = new TesseraError(info.code as TesseraErrorCode, info.message);
    e.name = info.name;
    return e;
  }
  const e = new Error(info.message);
  e.name = info.name;
  e.stack = info.stack;
  return e;
}

export function errorToInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, stack: err.stack ?? `${err.name}: ${err.message}`, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err), stack: String(err) };
}

export class Comm {
  onClose: CloseHandler = () => {};
  private handler: MessageHandler | null = null;
  /** Messages that arrived while no handler was installed (e.g. right after the handshake). */
  private backlog: Msg[] = [];
  /** Free-form label for logs ('worker tcp://...', 'client 3'). */
  label: string;
  peerName: string | undefined;

  private readonly decoder: FrameDecoder;
  private lastFlush = 0;
  private readonly flushBound = () => this.flush();
  /** Minimum time between two batched writes (ms). */
  batchIntervalMs = 2;
  private queue: Msg[] = [];
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

  constructor(readonly socket: Socket, opts: { maxFrameBytes?: number; label?: string } = {}) {
    this.decoder = new FrameDecoder(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.label = opts.label ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.shutdown(err));
    socket.on('close', () => this.shutdown(null));
  }

  /** The message handler. While it is null, messages are held and delivered once one is installed. */
  get onMessage(): MessageHandler | null {
    return this.handler;
  }

  set onMessage(h: MessageHandler | null) {
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
  send(msg: Msg): void {
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
  sendNow(msg: Msg): void {
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

  request(msg: Msg, timeoutMs = 0): Promise<Msg> {
    if (this.closedFlag) return Promise.reject(new ConnectionClosedError(`connection to ${this.label} is closed`));
    const rid = this.nextRid++;
    return new Promise<Msg>((resolve, reject) => {
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          this.pending.delete(rid);
          this.updateRef();
          reject(new TimeoutError(`no reply from ${this.label} to '${msg.op}' within ${timeoutMs} ms`));
        }, timeoutMs)
        : null;
      this.pending.set(rid, { resolve, reject, timer });
      this.updateRef();
      this.send({ ...msg, rid });
    });
  }

  reply(req: Msg, payload: Record<string, unknown> = {}): void {
    this.send({ op: 'reply', rid: req.rid, ok: true, ...payload });
  }

  replyError(req: Msg, err: unknown): void {
    this.send({ op: 'reply', rid: req.rid, ok: false, error: errorToInfo(err) });
  }

  private onData(chunk: Buffer): void {
    let messages: Buffer[][];
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      this.abort(err as Error);
      return;
    }
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
    if (!m || typeof m !== 'object' || typeof (m as Msg).op !== 'string') {
      this.abort(new ProtocolError('message without an op field'));
      return false;
    }
    const msg = m as Msg;
    if (msg.op === 'reply') {
      const p = typeof msg.rid === 'number' ? this.pending.get(msg.rid) : undefined;
      if (!p) return true; // a reply after its timeout: nobody waits for it any more
      this.pending.delete(msg.rid!);
      this.updateRef();
      if (p.timer) clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg);
      else p.reject(errorFromInfo(msg.error as ErrorInfo));
      return true;
    }
    if (!this.handler) {
      this.backlog.push(msg);
      return true;
    }
    return this.deliver(msg);
  }

  private deliver(msg: Msg): boolean {
    if (this.closedFlag) return false;
    try {
      this.handler!(msg, this);
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
