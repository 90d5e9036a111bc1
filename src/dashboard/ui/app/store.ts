// The browser's copy of the cluster state, fed by server-sent events. The
// server sends only what is new (task-stream events after our cursor, changed
// task groups); EventSource resends our last cursor as Last-Event-ID when it
// reconnects, so nothing is lost or repeated across a dropped tunnel.

import type { ClusterSnapshot, LiveUpdate, TaskGroupSnapshot, TaskStreamEvent } from '../../protocol.js';

export interface HistoryPoint {
  t: number;
  managed: number;
  unmanaged: number;
  spilled: number;
  limit: number;
  processing: number;
  executing: number;
  rate: number | null;
}

const HISTORY_MAX = 1200;

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export class LiveStore {
  snapshot: ClusterSnapshot | undefined;
  readonly groups = new Map<string, TaskGroupSnapshot>();
  history: HistoryPoint[] = [];
  connection: ConnectionState = 'connecting';
  /** Scheduler clock minus browser clock, so 'now' on the task stream is the scheduler's now. */
  private offset = 0;
  private readonly listeners: Array<(events: TaskStreamEvent[], reset: boolean) => void> = [];
  private readonly connListeners: Array<(s: ConnectionState) => void> = [];
  private source: EventSource | undefined;
  private lastCompleted: { t: number; n: number } | undefined;
  updates = 0;
  private cursor = 0;

  now(): number {
    return Date.now() + this.offset;
  }

  onUpdate(fn: (events: TaskStreamEvent[], reset: boolean) => void): void {
    this.listeners.push(fn);
  }

  onConnection(fn: (s: ConnectionState) => void): void {
    this.connListeners.push(fn);
  }

  connect(url = 'api/v1/events'): void {
    const es = new EventSource(url);
    this.source = es;
    es.addEventListener('update', (m) => this.apply(JSON.parse((m as MessageEvent<string>).data) as LiveUpdate));
    es.addEventListener('open', () => this.setConnection('live'));
    es.addEventListener('error', () => {
      this.setConnection('reconnecting');
      // EventSource retries network errors by itself, but gives up for good on an HTTP error
      // (e.g. a proxy's 502 while the scheduler restarts): keep trying, slowly.
      // A new EventSource sends no Last-Event-ID, so pass our cursor explicitly.
      if (es.readyState === EventSource.CLOSED) setTimeout(() => this.connect(this.updates ? `api/v1/events?since=${this.cursor}` : url), 3000);
    });
  }

  private setConnection(s: ConnectionState): void {
    if (s === this.connection) return;
    this.connection = s;
    for (const fn of this.connListeners) fn(s);
  }

  private apply(u: LiveUpdate): void {
    this.updates++;
    this.cursor = u.cursor;
    this.setConnection('live');
    if (this.snapshot && u.snapshot.id !== this.snapshot.id) {
      this.history = [];
      this.lastCompleted = undefined;
    }
    this.snapshot = u.snapshot;
    // Smooth the clock offset: one slow update must not make the stream jump.
    const off = u.snapshot.now - Date.now();
    this.offset = this.updates === 1 ? off : this.offset * 0.8 + off * 0.2;
    if (u.allGroups) this.groups.clear();
    for (const name of u.removedGroups) this.groups.delete(name);
    for (const g of u.groups) this.groups.set(g.name, g);
    this.sample(u.snapshot);
    for (const fn of this.listeners) fn(u.events, u.reset);
  }

  private sample(s: ClusterSnapshot): void {
    let managed = 0;
    let rss = 0;
    let spilled = 0;
    let executing = 0;
    let processing = 0;
    for (const w of s.workers) {
      managed += w.managedBytes;
      rss += w.rss;
      spilled += w.spilledBytes;
      executing += w.executing;
      processing += w.processing;
    }
    // Throughput over at least a second, so it does not flicker between updates.
    let rate: number | null = null;
    const prev = this.lastCompleted;
    if (!prev) this.lastCompleted = { t: s.now, n: s.tasksCompleted };
    else if (s.now - prev.t >= 1000) {
      rate = Math.max(0, ((s.tasksCompleted - prev.n) * 1000) / (s.now - prev.t));
      this.lastCompleted = { t: s.now, n: s.tasksCompleted };
    } else return;
    this.history.push({
      t: s.now,
      managed,
      unmanaged: Math.max(0, rss - managed),
      spilled,
      limit: s.totalMemoryLimit,
      processing,
      executing,
      rate,
    });
    if (this.history.length > HISTORY_MAX) this.history.splice(0, this.history.length - HISTORY_MAX);
  }

  close(): void {
    this.source?.close();
  }
}
