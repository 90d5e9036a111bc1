/**
 * Lifelines: one TCP connection from every rank of an MPI-launched cluster
 * to the scheduler's rank, used only to learn that a process is gone.
 *
 * MPI cannot tell a rank that another one died, and whether the launcher
 * ends the job then depends on it: OpenMPI's mpirun and MPICH's mpiexec do,
 * `srun` without --kill-on-bad-exit (Slurm's default) and `mpirun
 * --enable-recovery` do not, and there a dead client or scheduler leaves
 * every other rank waiting forever, and MPI_Finalize hangs on the dead rank.
 * A closed socket is noticed at once by the kernel on both ends, so:
 *
 * - a rank that ends normally says `bye` first; a connection that closes
 *   without it means the process on the other end died;
 * - the scheduler's rank tells every rank about a lost one (`lost`), so
 *   that all of them skip MPI_Finalize at exit;
 * - sockets are unref'd: a lifeline never keeps a process alive;
 * - a node that becomes unreachable (its link cut, the machine frozen or
 *   powered off) closes nothing: no FIN, no RST, and an idle connection
 *   would wait forever. Lifelines are idle, so TCP keepalive covers that:
 *   after `keepaliveMs` of silence the kernel probes once a second (libuv's
 *   setting), and ten unanswered probes fail the socket with ETIMEDOUT,
 *   which counts as lost, with the reason 'unreachable'. The kernel answers
 *   probes, not the process, so a rank whose script blocks its event loop is
 *   never taken for gone.
 *
 * The protocol is newline-delimited JSON; the first line from a rank carries
 * the cluster's token so that strangers are ignored.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { TimeoutError } from '../../errors.js';

interface Line {
  hello?: { rank: number; token: string };
  bye?: true;
  lost?: number;
}

function lineReader(socket: Socket, onLine: (line: Line) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const text = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      try {
        onLine(JSON.parse(text) as Line);
      } catch {
        socket.destroy();
        return;
      }
    }
    // A peer that never sends a newline is not a lifeline.
    if (buffered.length > 4096) socket.destroy();
  });
}

/** Writes a last line and closes, resolving once it is flushed (or after `ms`, whichever is first). */
function endWith(socket: Socket, line: Line | null, ms = 500): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) return resolve();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, ms);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    if (line) socket.end(`${JSON.stringify(line)}\n`, done);
    else socket.end(done);
  });
}

interface Peer {
  rank: number;
  socket: Socket;
  saidBye: boolean;
  unreachable: boolean;
}

/** Why a lifeline counts as lost: its process ended ('closed') or its node stopped answering ('unreachable'). */
export type LostReason = 'closed' | 'unreachable';

/** Default idle time before keepalive probes; with libuv's ten one-second probes, a silent node is lost after about 30 s. */
export const LIFELINE_KEEPALIVE_MS = 20_000;
/** Ten probes, one a second (libuv), after the idle time. */
export const KEEPALIVE_PROBES_MS = 10_000;

/** The idle part of keepalive for a wanted detection time (at least 1 s). */
export function keepaliveIdleFor(unreachableAfterMs: number): number {
  return Math.max(1_000, unreachableAfterMs - KEEPALIVE_PROBES_MS);
}

/** The scheduler rank's end: one connection per rank. */
export class LifelineServer {
  readonly port: number;
  private readonly server: Server;
  private readonly peers = new Map<number, Peer>();
  private ending = false;
  private readonly keepaliveMs: number;
  /** Called once per rank whose connection closed without a `bye`, or whose node stopped answering. */
  onLost: (rank: number, reason: LostReason) => void = () => {};

  private constructor(server: Server, port: number, keepaliveMs: number) {
    this.server = server;
    this.port = port;
    this.keepaliveMs = keepaliveMs;
  }

  static start(host: string, token: string, keepaliveMs = LIFELINE_KEEPALIVE_MS): Promise<LifelineServer> {
    return new Promise((resolve, reject) => {
      let self: LifelineServer | null = null;
      const server = createServer((socket) => {
        if (self) self.accept(socket, token);
        else socket.destroy();
      });
      server.once('error', reject);
      server.listen({ host, port: 0 }, () => {
        server.off('error', reject);
        server.unref();
        self = new LifelineServer(server, (server.address() as { port: number }).port, keepaliveMs);
        resolve(self);
      });
    });
  }

  private accept(socket: Socket, token: string): void {
    socket.unref();
    socket.setKeepAlive(true, this.keepaliveMs);
    let peer: Peer | null = null;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (peer && (err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH')) peer.unreachable = true;
    });
    const handshake = setTimeout(() => socket.destroy(), 10_000);
    handshake.unref();
    lineReader(socket, (line) => {
      if (!peer) {
        clearTimeout(handshake);
        if (!line.hello || line.hello.token !== token || !Number.isInteger(line.hello.rank)) return void socket.destroy();
        peer = { rank: line.hello.rank, socket, saidBye: false, unreachable: false };
        this.peers.set(peer.rank, peer);
        if (this.ending) void endWith(socket, { bye: true });
        return;
      }
      if (line.bye) peer.saidBye = true;
    });
    socket.on('close', () => {
      clearTimeout(handshake);
      if (!peer || this.peers.get(peer.rank) !== peer) return;
      this.peers.delete(peer.rank);
      if (!peer.saidBye && !this.ending) this.onLost(peer.rank, peer.unreachable ? 'unreachable' : 'closed');
    });
  }

  /** Ranks connected now. */
  get ranks(): number[] {
    return [...this.peers.keys()].sort((a, b) => a - b);
  }

  /** Tells every rank that `rank` is gone (they must not call MPI_Finalize). */
  announceLost(rank: number): void {
    for (const p of this.peers.values()) {
      if (p.rank !== rank && !p.socket.destroyed) p.socket.write(`${JSON.stringify({ lost: rank })}\n`);
    }
  }

  /** This rank ends normally: closes every lifeline with a `bye`. */
  async bye(): Promise<void> {
    this.ending = true;
    this.server.close();
    await Promise.all([...this.peers.values()].map((p) => endWith(p.socket, { bye: true })));
  }
}

/** A rank's end of its lifeline to the scheduler's rank. */
export class LifelineClient {
  private readonly socket: Socket;
  private gotBye = false;
  private ending = false;
  private unreachable = false;
  /** The scheduler's rank is gone: its connection closed without a `bye`, or its node stopped answering. */
  onLost: (reason: LostReason) => void = () => {};
  /** Another rank is gone (announced by the scheduler's rank). */
  onPeerLost: (rank: number) => void = () => {};
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    lineReader(socket, (line) => {
      if (line.bye) this.gotBye = true;
      if (typeof line.lost === 'number') this.onPeerLost(line.lost);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH') this.unreachable = true;
    });
    socket.on('close', () => {
      if (!this.gotBye && !this.ending) this.onLost(this.unreachable ? 'unreachable' : 'closed');
    });
  }

  static connect(host: string, port: number, rank: number, token: string, timeoutMs = 10_000, keepaliveMs = LIFELINE_KEEPALIVE_MS): Promise<LifelineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TimeoutError(`no answer from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        socket.setNoDelay(true);
        socket.setKeepAlive(true, keepaliveMs);
        socket.unref();
        socket.write(`${JSON.stringify({ hello: { rank, token } })}\n`);
        resolve(new LifelineClient(socket));
      });
    });
  }

  /** The scheduler's rank has said it ends normally. */
  get schedulerEnded(): boolean {
    return this.gotBye;
  }

  /** This rank ends normally. */
  async bye(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    await endWith(this.socket, { bye: true });
  }
}
