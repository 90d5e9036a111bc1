/**
 * Futures: handles to task results that live on workers. Several Future
 * objects may share one key; the client counts them and tells the scheduler
 * to release the key when the last one is released or garbage-collected.
 */
import { KeyRef } from '../graph/serialize.js';
import { CancelledError } from '../errors.js';
import type { Client } from './client.js';

export type FutureStatus = 'pending' | 'finished' | 'error' | 'cancelled';

/** Client-side state of one key, shared by all Futures of that key. */
/** What settles a wait on a key (see KeyState.addWaiter). */
export interface KeyWaiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

const NO_WAITERS: readonly KeyWaiter[] = Object.freeze([]);

export class KeyState {
  status: FutureStatus = 'pending';
  type = '';
  error: Error | null = null;
  refcount = 0;
  /**
   * @internal Client.gather's mark while it lists the distinct keys of its
   * futures (in one synchronous pass, reset before it returns): -1 outside
   * it. Cheaper than a Map of a million keys per gather.
   */
  gatherIndex = -1;
  /** Who waits for this key to settle; null (not an empty array) while nobody does: a client may hold a million keys. */
  private waiters: KeyWaiter[] | null = null;
  /** Ends the hold on the connection that someone awaiting this key keeps (see Comm.hold). */
  private releaseHold: (() => void) | null = null;

  /** `connection`: held open while anyone awaits this key, so a script waiting on a result does not exit. */
  constructor(readonly key: string, private readonly connection?: { hold(): () => void }) {}

  /** Resolves when the result is in memory; rejects with the task's error or a cancellation. */
  wait(): Promise<void> {
    if (this.status === 'finished') return Promise.resolve();
    if (this.status === 'error' || this.status === 'cancelled') return Promise.reject(this.error!);
    return new Promise((resolve, reject) => this.addWaiter({ resolve, reject }, true));
  }

  /**
   * Calls `w` once this pending key settles. One waiter may wait on many
   * keys (gather's): no promise per key. `hold`: keep the connection open
   * meanwhile (a caller waiting on many keys holds it once itself).
   */
  addWaiter(w: KeyWaiter, hold: boolean): void {
    if (!this.waiters) this.waiters = [];
    if (hold && !this.releaseHold && this.connection) this.releaseHold = this.connection.hold();
    this.waiters.push(w);
  }

  finish(type: string): void {
    this.status = 'finished';
    this.type = type;
    for (const x of this.takeWaiters()) x.resolve();
  }

  fail(err: Error, status: 'error' | 'cancelled' = 'error'): void {
    this.status = status;
    this.error = err;
    for (const x of this.takeWaiters()) x.reject(err);
  }

  private takeWaiters(): readonly KeyWaiter[] {
    const w = this.waiters ?? NO_WAITERS;
    this.waiters = null;
    this.releaseHold?.();
    this.releaseHold = null;
    return w;
  }

  /** Submitted again after it was cancelled (or the cluster restarted): the scheduler computes it anew. */
  revive(): void {
    if (this.status !== 'cancelled') return;
    this.status = 'pending';
    this.error = null;
  }

  /** The data was lost and is being recomputed. */
  reset(): void {
    if (this.status === 'finished') this.status = 'pending';
  }
}

export class Future<T = unknown> extends KeyRef {
  private released = false;

  /** @internal use client.submit / client.map / client.compute */
  constructor(readonly key: string, readonly client: Client, readonly state: KeyState) {
    super();
    // Futures are made for keys being submitted (client.submit/map/compute/scatter).
    state.revive();
    client._retain(this);
  }

  get status(): FutureStatus {
    return this.state.status;
  }

  /** True once the task finished, failed or was cancelled. */
  done(): boolean {
    return this.state.status !== 'pending';
  }

  /** The task's result, fetched from the worker that holds it. */
  async result(opts: { timeoutMs?: number } = {}): Promise<T> {
    const [v] = await this.client.gather([this], opts);
    return v as T;
  }

  /** The task's error, or null if it succeeded. */
  async exception(): Promise<Error | null> {
    try {
      await this.state.wait();
      return null;
    } catch (err) {
      return err as Error;
    }
  }

  /** Stops the computation (if no other future wants it) and makes result() reject with CancelledError. */
  async cancel(): Promise<void> {
    if (this.state.status === 'pending') this.state.fail(new CancelledError(this.key), 'cancelled');
    this.client._cancel([this.key]);
  }

  /** Drops this reference; when every Future of the key is released the data is freed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.client._release(this);
  }

  get isReleased(): boolean {
    return this.released;
  }

  override toString(): string {
    return `<Future: ${this.state.status}, key: ${this.key}>`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
