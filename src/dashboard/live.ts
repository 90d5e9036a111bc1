/**
 * Server-sent events for the live pages. One hub per dashboard polls the
 * source once per tick, however many browsers are watching, and only while at
 * least one is: the scheduler pays for one snapshot(), one taskGroups() and one
 * incremental taskStream() call per tick, never per client. Each client gets
 * the events newer than its own cursor (served from a ring buffer), the small
 * snapshot, and only the task groups that changed.
 */
import type { ServerResponse } from 'node:http';
import type { DashboardSource } from './source.js';
import type { ClusterSnapshot, TaskGroupSnapshot, TaskStreamEvent } from '../scheduler/snapshot.js';
import type { LiveUpdate } from './protocol.js';

export interface LiveHubOptions {
  intervalMs: number;
  /** Task-stream events kept for clients that lag or reconnect. */
  ringSize?: number;
  /** Most events in one update; a client further behind catches up over the next ones. */
  maxEventsPerUpdate?: number;
  /** Recent events sent to a fresh client so its task stream is not empty. */
  tailOnConnect?: number;
  onError?: (err: unknown) => void;
}

interface LiveClient {
  res: ServerResponse;
  /** Newest cursor this client has; -1 = fresh, wants the recent tail. */
  cursor: number;
  /** Next update must carry every group and reset the client's state. */
  full: boolean;
  /** The socket buffer is full: skip updates until it drains (a slow client must not grow our memory). */
  congested: boolean;
}

const PULL_LIMIT = 5000;
/** Bounds the catch-up work of one tick (e.g. a first client on a long-running scheduler). */
const MAX_PULLS_PER_TICK = 40;

export class LiveHub {
  private readonly clients = new Set<LiveClient>();
  private ring: TaskStreamEvent[] = [];
  private cursor = 0;
  private snapshot: ClusterSnapshot | undefined;
  private groups: TaskGroupSnapshot[] = [];
  private groupSig = new Map<string, string>();
  private changed: TaskGroupSnapshot[] = [];
  private removed: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly ringSize: number;
  private readonly maxEvents: number;
  private readonly tail: number;

  constructor(private readonly source: DashboardSource, private readonly opts: LiveHubOptions) {
    this.ringSize = opts.ringSize ?? 50_000;
    this.maxEvents = opts.maxEventsPerUpdate ?? 10_000;
    this.tail = opts.tailOnConnect ?? 3000;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Attach a response that already has SSE headers; `since` comes from Last-Event-ID or ?since=. */
  add(res: ServerResponse, since: number | undefined): void {
    const client: LiveClient = { res, cursor: since ?? -1, full: true, congested: false };
    this.clients.add(client);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopTimer();
    });
    res.on('drain', () => {
      client.congested = false;
    });
    if (!this.timer) {
      // First watcher: refresh now rather than serving a stale snapshot, then poll.
      this.tick();
      this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
      this.timer.unref();
    } else if (this.snapshot) {
      this.send(client);
    }
  }

  close(): void {
    this.stopTimer();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  tick(): void {
    try {
      const snap = this.source.snapshot();
      if (this.snapshot && snap.id !== this.snapshot.id) {
        // A different scheduler behind the same source: cursors mean nothing any more.
        this.ring = [];
        this.cursor = 0;
        this.groupSig.clear();
        for (const c of this.clients) {
          c.cursor = -1;
          c.full = true;
        }
      }
      this.snapshot = snap;
      this.pull();
      this.diffGroups(this.source.taskGroups());
    } catch (err) {
      this.opts.onError?.(err);
      return;
    }
    for (const c of this.clients) {
      if (c.congested) {
        c.full = true; // it misses this tick's group diff
        continue;
      }
      this.send(c);
    }
  }

  private pull(): void {
    for (let i = 0; i < MAX_PULLS_PER_TICK; i++) {
      const r = this.source.taskStream(this.cursor, PULL_LIMIT);
      const fresh = r.events.filter((e) => e.cursor > this.cursor);
      if (fresh.length) {
        this.ring.push(...fresh);
        this.cursor = fresh[fresh.length - 1]!.cursor;
      }
      if (this.ring.length > this.ringSize * 1.5) this.ring.splice(0, this.ring.length - this.ringSize);
      if (r.events.length < PULL_LIMIT) break;
    }
  }

  private diffGroups(groups: TaskGroupSnapshot[]): void {
    const next = new Map<string, string>();
    this.changed = [];
    for (const g of groups) {
      const sig = JSON.stringify([g.states, g.total, g.nbytes, g.durationMs]);
      next.set(g.name, sig);
      if (this.groupSig.get(g.name) !== sig) this.changed.push(g);
    }
    this.removed = [...this.groupSig.keys()].filter((n) => !next.has(n));
    this.groupSig = next;
    this.groups = groups;
  }

  private eventsFor(c: LiveClient): { events: TaskStreamEvent[]; behind: boolean } {
    if (c.cursor < 0) return { events: this.ring.slice(-this.tail), behind: false };
    const first = this.ring[0];
    if (first && c.cursor < first.cursor - 1) {
      // Further behind than the ring (a long disconnect, or a browser that cannot keep up
      // with thousands of tasks a second): a live view wants the present, so skip to the tail.
      return { events: this.ring.slice(-this.tail), behind: false };
    }
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ring[mid]!.cursor <= c.cursor) lo = mid + 1;
      else hi = mid;
    }
    const rest = this.ring.length - lo;
    return { events: this.ring.slice(lo, lo + this.maxEvents), behind: rest > this.maxEvents };
  }

  private send(c: LiveClient): void {
    const snapshot = this.snapshot!;
    if (c.cursor > this.cursor) {
      // The client remembers a cursor from a previous scheduler run: start it over.
      c.cursor = -1;
      c.full = true;
    }
    const reset = c.cursor < 0;
    const { events, behind } = this.eventsFor(c);
    const last = events[events.length - 1];
    const cursor = last ? last.cursor : Math.max(c.cursor, this.cursor);
    const update: LiveUpdate = {
      cursor,
      snapshot,
      events,
      groups: c.full ? this.groups : this.changed,
      removedGroups: c.full ? [] : this.removed,
      allGroups: c.full,
      reset,
      behind,
    };
    c.cursor = cursor;
    c.full = false;
    const ok = c.res.write(`id: ${cursor}\nevent: update\ndata: ${JSON.stringify(update)}\n\n`);
    if (!ok) c.congested = true;
  }
}
