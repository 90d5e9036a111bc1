/**
 * Opens a connection and performs the handshake. Connection refusals are
 * retried until the deadline (a worker may start before its scheduler); a
 * refusal by the peer (wrong token or version) is final and says why.
 */
import { connect as netConnect } from 'node:net';
import { Comm } from './comm.js';
import { DirectReads } from './direct-reads.js';
import { parseAddress } from './address.js';
import { makeHello, type Role } from '../protocol/handshake.js';
import type { PayloadAllocator } from '../protocol/frames.js';
import { HandshakeError, TesseraError } from '../errors.js';

export interface ConnectOptions {
  role: Role;
  token: string;
  name?: string;
  /** Total time to keep retrying refused connections, and the limit for the handshake (default 10 s). */
  timeoutMs?: number;
  /**
   * How long a refused connection is retried (default: timeoutMs). Short when
   * the peer is known to be listening already, e.g. its scheduler file
   * exists: a refusal then means it is gone, and saying so at once beats a
   * long wait.
   */
  refusedTimeoutMs?: number;
  maxFrameBytes?: number;
  /** Makes the buffers large payload frames are received into (a worker's: shared memory; see FrameDecoder). */
  allocatePayload?: PayloadAllocator;
}

export interface Connected {
  comm: Comm;
  peerId: string;
}

function once(address: string, opts: ConnectOptions, timeoutMs: number): Promise<Connected> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    // Large frames are read straight into their own buffers (see DirectReads).
    const reads = new DirectReads();
    const socket = netConnect({ host, port, onread: reads.onread });
    let settled = false;
    // A peer that accepts but never answers (or a network that drops packets) must not hang us.
    const timer = setTimeout(() => {
      fail(new TesseraError('ERR_TESSERA_TIMEOUT', `${address} did not complete the connection handshake within ${timeoutMs} ms; is a Tessera ${opts.role === 'worker' || opts.role === 'client' ? 'scheduler' : 'process'} listening there, and is the network up?`));
    }, Math.max(timeoutMs, 1));
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      const comm = new Comm(socket, {
        label: address, directReads: reads,
        ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}),
        ...(opts.allocatePayload ? { allocatePayload: opts.allocatePayload } : {}),
      });
      comm.onClose = (err) => fail(new TesseraError('ERR_TESSERA_CONNECT', `${address} closed the connection during the handshake${err ? `: ${err.message}` : ''}`));
      comm.onMessage = (msg) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        comm.onMessage = null;
        comm.onClose = () => {};
        // The handshake is checked here, not at decode (see HANDSHAKE): any op may come.
        const op: string = msg.op;
        if (msg.op === 'welcome') resolve({ comm, peerId: String(msg.id) });
        else if (msg.op === 'refused') {
          comm.abort(new Error('refused'));
          reject(new HandshakeError(`${address}: ${msg.message}`, msg.code));
        } else {
          comm.abort(new Error('bad handshake'));
          reject(new HandshakeError(`${address} answered the handshake with '${op}'; is it a Tessera ${opts.role === 'worker' || opts.role === 'client' ? 'scheduler' : 'process'}?`));
        }
      };
      comm.sendNow(makeHello(opts.role, opts.token, opts.name));
    });
  });
}

export async function connect(address: string, opts: ConnectOptions): Promise<Connected> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const start = Date.now();
  const deadline = start + timeoutMs;
  const refusedDeadline = start + Math.min(opts.refusedTimeoutMs ?? timeoutMs, timeoutMs);
  let delay = 20;
  for (;;) {
    try {
      return await once(address, opts, Math.max(deadline - Date.now(), 1_000));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retryable = code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT';
      if (!retryable || Date.now() + delay > refusedDeadline) {
        if (retryable) {
          throw new TesseraError('ERR_TESSERA_CONNECT', `could not connect to ${address} within ${Date.now() - start} ms (${code}); is the scheduler running there and reachable?`, { cause: err });
        }
        throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}
