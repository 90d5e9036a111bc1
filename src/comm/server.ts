/**
 * A TCP server whose connections must pass the handshake before anything
 * else reaches the owner. Refused peers get the reason and are disconnected;
 * the refusal is logged, and the server keeps serving.
 */
import { createServer, type Server } from 'node:net';
import { Comm } from './comm.js';
import { checkHello, type Hello } from '../protocol/handshake.js';
import { PROTOCOL_VERSION } from '../version.js';
import { TesseraError, TimeoutError } from '../errors.js';
import type { Logger } from '../logging.js';

export interface ListenOptions {
  host: string;
  port: number;
  token: string;
  /** 'scheduler' or 'worker', for messages. */
  role: string;
  id: string;
  logger: Logger;
  maxFrameBytes?: number;
  handshakeTimeoutMs?: number;
  onComm: (comm: Comm, hello: Hello) => void;
}

export interface Listener {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * Logs refused connections without letting a port scanner or a misconfigured
 * client flood the log: the first few per window in full, then a count.
 */
export function rateLimited(logger: Logger, perWindow = 10, windowMs = 10_000): (msg: string) => void {
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  return (msg) => {
    const now = Date.now();
    if (now - windowStart > windowMs) {
      if (suppressed) logger.warn(`... and ${suppressed} more refused or broken connections in the last ${windowMs / 1000} s`);
      windowStart = now;
      inWindow = 0;
      suppressed = 0;
    }
    if (++inWindow <= perWindow) logger.warn(msg);
    else suppressed++;
  };
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const warn = rateLimited(opts.logger);
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const comm = new Comm(socket, { ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}) });
    const timer = setTimeout(() => {
      warn(`closing connection from ${comm.remote}: no handshake within ${opts.handshakeTimeoutMs ?? 10_000} ms`);
      comm.abort(new TimeoutError('handshake timeout'));
    }, opts.handshakeTimeoutMs ?? 10_000);
    comm.onClose = (err) => {
      clearTimeout(timer);
      if (err) warn(`connection from ${comm.remote} closed before the handshake: ${err.message}`);
    };
    comm.onMessage = (msg) => {
      clearTimeout(timer);
      const result = checkHello(msg, opts.token, opts.role);
      if (result.op === 'refused') {
        warn(`refused connection from ${comm.remote}: ${result.message}`);
        comm.sendNow(result);
        void comm.close();
        comm.onMessage = () => {};
        return;
      }
      comm.onMessage = null;
      comm.onClose = () => {};
      comm.peerName = result.name;
      comm.sendNow({ op: 'welcome', protocol: PROTOCOL_VERSION, id: opts.id });
      opts.onComm(comm, result);
    };
  });
  server.on('error', (err) => opts.logger.error(`server error: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new TesseraError('ERR_TESSERA_CONNECT', `port ${opts.port} on ${opts.host} is already in use; choose another port (or 0 for any free port)`)
        : err);
    };
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // server.close() waits for open connections; peers may hold theirs open indefinitely.
      for (const s of sockets) s.destroy();
    }),
  };
}
