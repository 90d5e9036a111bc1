/**
 * Futures: handles to task results that live on workers. Several Future
 * objects may share one key; the client counts them and tells the scheduler
 * to release the key when the last one is released or garbage-collected.
 */
import { KeyRef } from '../graph/serialize.js';
import { CancelledError } from '../errors.js';
import type { Client } from './client.js';

export type FutureStatus = 'pending' | 'finished' | 'error' | 'cancelled';

/** What settles a wait on a key (see KeyState.addWaiter). */
export interface KeyWaiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

const NO_WAITERS: readonly KeyWaiter[] = Object.freeze([]);

/**
 * What only some keys need: waiters, the hold on the connection while they
 * wait, the error, and explicit releases still to be collected. Kept apart
 * so a KeyState of a plain finished result stays small (a client may hold a
 * million).
 */
class KeyExtras {
  waiters: KeyWaiter[] | null = null;
  /** Ends the hold on the connection that someone awaiting this key keeps (see Comm.hold). */
  releaseHold: (() => void) | null = null;
  error: Error | null = null;
  /** Futures of the key released explicitly while others still refer to it, not yet garbage-collected (see Client._release). */
  releasedUncollected = 0;
}

/** Client-side state of one key, shared by all Futures of that key. */
export class KeyState {
  status: FutureStatus = 'pending';
  type = '';
  refcount = 0;
  /**
   * @internal Client.gather's mark while it lists the distinct keys of its
   * futures (in one synchronous pass, reset before it returns): -1 outside
   * it. Cheaper than a Map of a million keys per gather.
   */
  gatherIndex = -1;
  /** Made on first need (see KeyExtras): null for most keys. */
  private extras: KeyExtras | null = null;

  /** `connection`: held open while anyone awaits this key, so a script waiting on a result does not exit. */
  constructor(readonly key: string, private readonly connection?: { hold(): () => void }) {}

  /** The task's error (or the cancellation), once status is 'error' or 'cancelled'. */
  get error(): Error | null {
    return this.extras?.error ?? null;
  }

  private more(): KeyExtras {
    return (this.extras ??= new KeyExtras());
  }

  /** Resolves when the result is in memory; rejects with the task's error or a cancellation. */
  wait(): Promise<void> {
    if (this.status === 'finished') return Promise.resolve();
    if (this.status === 'error' || this.status === 'cancelled') return Promise.reject(this.error!);
    return new Promise((resolve, reject) => this.addWaiter({ resolve, reject }, true));
  }

  /**
   * @internal The connection this key's result comes over: a caller waiting
   * on many keys holds it once (Comm.hold) instead of once per key.
   */
  get resultConnection(): { hold(): () => void } | undefined {
    return this.connection;
  }

  /**
   * Calls `w` once this pending key settles. One waiter may wait on many
   * keys (gather's): no promise per key. `hold`: keep the connection open
   * meanwhile (a caller waiting on many keys holds it once itself).
   */
  addWaiter(w: KeyWaiter, hold: boolean): void {
    const x = this.more();
    if (hold && !x.releaseHold && this.connection) x.releaseHold = this.connection.hold();
    (x.waiters ??= []).push(w);
  }

  finish(type: string): void {
    this.status = 'finished';
    this.type = type;
    if (this.extras) for (const x of this.takeWaiters(this.extras)) x.resolve();
  }

  fail(err: Error, status: 'error' | 'cancelled' = 'error'): void {
    this.status = status;
    const x = this.more();
    x.error = err;
    for (const w of this.takeWaiters(x)) w.reject(err);
  }

  private takeWaiters(x: KeyExtras): readonly KeyWaiter[] {
    const w = x.waiters ?? NO_WAITERS;
    x.waiters = null;
    x.releaseHold?.();
    x.releaseHold = null;
    return w;
  }

  /** @internal One Future of this key was released explicitly while others still refer to it: its collection is not to count again. */
  releasedBeforeCollection(): void {
    this.more().releasedUncollected++;
  }

  /** @internal A Future of this key was collected: true if it was one released explicitly before (and so already counted). */
  collectedAfterRelease(): boolean {
    const x = this.extras;
    if (!x || x.releasedUncollected === 0) return false;
    x.releasedUncollected--;
    return true;
  }

  /** Submitted again after it was cancelled (or the cluster restarted): the scheduler computes it anew. */
  revive(): void {
    if (this.status !== 'cancelled') return;
    this.status = 'pending';
    if (this.extras) this.extras.error = null;
  }

  /** The data was lost and is being recomputed. */
  reset(): void {
    if (this.status === 'finished') this.status = 'pending';
  }
}

export class Future<T = unknown> extends KeyRef {
  private released = false;

  /** @internal use client.submit / client.map / client.compute */
  constructor(readonly client: Client, readonly state: KeyState) {
    super();
    // Futures are made for keys being submitted (client.submit/map/compute/scatter).
    state.revive();
    client._retain(this);
  }

  /** The task's key (kept once, on the key's state: a client may hold a million futures). */
  get key(): string {
    return this.state.key;
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
