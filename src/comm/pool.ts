/**
 * Reusable connections to peers (worker<->worker data transfers, client
 * gathers). One connection per address, opened on first use and dropped
 * when it closes.
 */
import type { Comm } from './comm.js';
import { connect } from './connect.js';
import type { Role } from '../protocol/handshake.js';
import type { NoMessages, PeerToWorker } from '../protocol/messages.js';
import { PEER_CLIENT } from '../protocol/validate.js';
import type { PayloadAllocator } from '../protocol/frames.js';

/** A connection to a worker for its data: requests go out, only their replies come back. */
export type PeerComm = Comm<NoMessages, PeerToWorker>;

export class ConnectionPool {
  private readonly comms = new Map<string, Promise<PeerComm>>();

  constructor(private readonly opts: {
    role: Role; token: string; name?: string; timeoutMs?: number; unrefWhenIdle?: boolean; allocatePayload?: PayloadAllocator;
  }) {}

  get(address: string): Promise<PeerComm> {
    let p = this.comms.get(address);
    if (!p) {
      const { unrefWhenIdle, ...connectOpts } = this.opts;
      p = connect(address, { ...connectOpts, timeoutMs: this.opts.timeoutMs ?? 5000 }).then((connected) => {
        const comm = connected.comm.typed(PEER_CLIENT);
        if (unrefWhenIdle) comm.unrefWhenIdle();
        comm.onClose = () => {
          if (this.comms.get(address) === p) this.comms.delete(address);
        };
        comm.onMessage = () => {};
        return comm;
      });
      p.catch(() => {
        if (this.comms.get(address) === p) this.comms.delete(address);
      });
      this.comms.set(address, p);
    }
    return p;
  }

  /** Drops a connection believed dead, so the next get() reconnects. */
  discard(address: string): void {
    const p = this.comms.get(address);
    this.comms.delete(address);
    p?.then((c) => c.abort(new Error('discarded')), () => {});
  }

  async close(): Promise<void> {
    const all = [...this.comms.values()];
    this.comms.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
  }
}
