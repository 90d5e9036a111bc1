/**
 * A worker's shuffle service (after Dask's shuffle worker plugin): the part
 * of a P2P shuffle that runs on the worker's main thread, next to its comms.
 * Task functions run on executor threads and know nothing of peers; the
 * worker server calls this service around the three kinds of shuffle tasks
 * (graph/shuffle-keys.ts):
 *
 * - after a transfer task ran: its result is a bundle of M shards, one per
 *   output partition. The service asks the scheduler which worker owns each
 *   output in the shuffle's current run (once per run: later transfers send
 *   the run they know and get no list back), sends each owner its shards in
 *   one message per peer, and waits for every receipt. Only then does the
 *   task count as finished, with a small result (the bytes it sent), so
 *   the barrier, which waits for every transfer, runs only when every shard
 *   has been delivered;
 * - receiving shards from peers (and from itself): held in a ShardBuffer,
 *   memory in front of disk; shards of a run older than one already seen
 *   are refused (the scheduler restarted the shuffle);
 * - before an unpack task runs: its dependency on the barrier (whose value
 *   is the number of transfers) is replaced by the bundle of every shard of
 *   its output, checked to be complete; after it succeeded, they are dropped.
 */
import { join } from 'node:path';
import { RawFrames } from '../../protocol/codec.js';
import type { SerializedValue } from '../../protocol/messages.js';
import { deserializeValue, serializeValue } from '../../graph/serialize.js';
import type { ShuffleKey } from '../../graph/shuffle-keys.js';
import { bundle, unbundleAll } from '../../util/bundle.js';
import { ShardBuffer, type ShardBufferStats } from './buffer.js';

/** How long a shard delivery to a peer may take before the transfer task fails (it is retried with the shuffle). */
const SEND_TIMEOUT_MS = 120_000;
/** How long a transfer whose send failed waits for the scheduler to restart the shuffle before it fails. */
const RESTART_WAIT_MS = 30_000;

/** What the service needs from its worker. */
export interface ShuffleServiceHost {
  /** This worker's address (its own shards are not sent over TCP). */
  readonly address: string;
  /** Asks the scheduler for the shuffle's current run (and its owners unless `knownRun` is it). */
  getRun(id: string, outputs: number, knownRun: number): Promise<{ runId: number; owners?: string[] }>;
  /** Delivers shards to the worker at `address`; resolves on its receipt. */
  send(address: string, msg: { id: string; runId: number; input: number; outputs: number[]; shards: RawFrames }, timeoutMs: number): Promise<void>;
}

export class ShuffleService {
  readonly buffer: ShardBuffer;
  /** Owners per shuffle, for the run they belong to. */
  private readonly owners = new Map<string, { runId: number; owners: readonly string[] }>();
  /** The highest run id seen per shuffle: shards of lower runs are refused. */
  private readonly current = new Map<string, number>();

  constructor(private readonly host: ShuffleServiceHost, localDirectory: string, bufferBytes: number) {
    this.buffer = new ShardBuffer(join(localDirectory, 'shuffle'), bufferBytes);
  }

  get stats(): ShardBufferStats {
    return this.buffer.stats;
  }

  /** Sends the shards a transfer task produced; returns the task's result in their place. */
  async transfer(key: ShuffleKey, value: SerializedValue): Promise<SerializedValue> {
    if (value.kind !== 'bytes') throw new Error(`internal: shuffle transfer ${key.id}-${key.index} returned ${value.kind}, not a bundle of shards`);
    const data = value.frames.length === 1 ? value.frames[0]! : Buffer.concat(value.frames);
    const shards = unbundleAll(data);
    const known = this.owners.get(key.id);
    const reply = await this.host.getRun(key.id, shards.length, known?.runId ?? 0);
    let owners = reply.owners;
    if (!owners) {
      if (!known || known.runId !== reply.runId) throw new Error(`internal: the scheduler sent no owners for run ${reply.runId} of shuffle ${key.id}`);
      owners = [...known.owners];
    } else {
      this.owners.set(key.id, { runId: reply.runId, owners });
    }
    if (owners.length !== shards.length) throw new Error(`internal: shuffle ${key.id} has ${owners.length} owners for ${shards.length} shards`);
    // One delivery per owner, even without rows for it: the owner counts deliveries to know its outputs are complete.
    const byOwner = new Map<string, number[]>();
    owners.forEach((address, j) => {
      let list = byOwner.get(address);
      if (!list) byOwner.set(address, (list = []));
      if (shards[j]!.byteLength > 0) list.push(j);
    });
    let sent = 0;
    await Promise.all([...byOwner].map(async ([address, outputs]) => {
      const frames = outputs.map((j) => shards[j]!);
      for (const f of frames) sent += f.byteLength;
      const msg = { id: key.id, runId: reply.runId, input: key.index, outputs, shards: new RawFrames(frames) };
      if (address === this.host.address) this.receive(msg);
      else {
        try {
          await this.host.send(address, msg, SEND_TIMEOUT_MS);
        } catch (err) {
          throw await this.lostPeer(key, shards.length, reply.runId, address, err);
        }
      }
    }));
    return serializeValue(sent);
  }

  /**
   * A send failed: most likely the owner died. Failing the task at once
   * would race the scheduler noticing the loss (an erred transfer is not
   * restarted), so wait until the scheduler has replaced the run (its
   * restart releases this task, and this outcome is ignored) or the wait
   * ends; the error then says which.
   */
  private async lostPeer(key: ShuffleKey, outputs: number, runId: number, address: string, err: unknown): Promise<Error> {
    const why = err instanceof Error ? err.message : String(err);
    const deadline = Date.now() + RESTART_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const now = await this.host.getRun(key.id, outputs, runId).catch(() => null);
      if (now && now.runId !== runId) return new Error(`shuffle ${key.id}: sending to ${address} failed (${why}); the scheduler restarted the shuffle (run ${now.runId})`);
    }
    return new Error(`shuffle ${key.id}: sending shards of input ${key.index} to ${address} failed (${why}), and the scheduler did not restart the shuffle within ${RESTART_WAIT_MS / 1000} s`);
  }

  /** Shards from a transfer (of a peer or this worker). Throws for a run the scheduler already replaced. */
  receive(msg: { id: string; runId: number; input: number; outputs: number[]; shards: RawFrames }): void {
    const cur = this.current.get(msg.id) ?? 0;
    if (msg.runId < cur) throw new Error(`shards of run ${msg.runId} of shuffle ${msg.id} arrived after run ${cur} began; they are dropped`);
    this.current.set(msg.id, msg.runId);
    const { frames } = msg.shards;
    if (frames.length !== msg.outputs.length) throw new Error(`shuffle ${msg.id}: ${frames.length} shards for ${msg.outputs.length} outputs`);
    // Copied: a frame is a view into the whole received message, which would otherwise stay alive as long as any shard of it.
    this.buffer.deliver(msg.id, msg.runId, msg.input, new Map(msg.outputs.map((j, k) => [j, Buffer.from(frames[k]!)])));
  }

  /** The scheduler restarted shuffle `id` at run `runId` (or finished with it): drop older shards. */
  forget(id: string, runId: number): void {
    if ((this.current.get(id) ?? 0) < runId) this.current.set(id, runId);
    const held = this.buffer.runOf(id);
    if (held !== undefined && held < runId) this.buffer.drop(id);
    const known = this.owners.get(id);
    if (known && known.runId < runId) this.owners.delete(id);
  }

  /**
   * The input of unpack task `key` in place of the barrier's value (the
   * number of transfers): the bundle of its output's shards, in input order.
   */
  unpackInput(key: ShuffleKey, barrierValue: SerializedValue): SerializedValue {
    const transfers = deserializeValue(barrierValue);
    if (typeof transfers !== 'number') throw new Error(`internal: the barrier of shuffle ${key.id} gave ${typeof transfers}, not its number of transfers`);
    const held = this.buffer.read(key.id, key.index);
    const count = held?.inputs ?? 0;
    if (!held || count !== transfers) {
      throw new Error(
        `shuffle ${key.id}: output ${key.index} needs the shards of ${transfers} transfers on this worker, ${count} delivered` +
        `${held ? ` (run ${held.runId})` : ''}; the shuffle lost data (a worker left) and runs again when the scheduler restarts it`,
      );
    }
    const shards = [...held.shards].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
    return { kind: 'bytes', frames: [bundle(shards)] };
  }

  /** Unpack task `key` finished: its shards are no longer needed. */
  unpacked(key: ShuffleKey): void {
    this.buffer.dropOutput(key.id, key.index);
  }

  clear(): void {
    this.buffer.clear();
    this.owners.clear();
    this.current.clear();
  }
}
