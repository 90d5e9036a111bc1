/**
 * Where a worker keeps the shuffle shards it received until their unpack
 * task reads them: in memory up to a limit, on disk beyond it. Memory per
 * worker stays bounded whatever the size of the data: when the shards held
 * in memory pass `limitBytes`, the largest outputs' shards are appended to
 * one file per output partition in the worker's local directory (few large
 * sequential writes; an output's shards are read back together).
 *
 * Shards are keyed by (shuffle, output, input): a transfer that runs twice
 * sends the same shards again and they replace the first ones, so a retried
 * task cannot duplicate rows. On disk the later record of an input wins.
 *
 * Only shards with rows are held. What makes an output complete is that
 * every transfer's delivery reached this worker (one per transfer and
 * owner, with the shards of every output the owner has, or none): a run
 * counts the inputs it heard from, so memory is O(inputs + shards with
 * rows), not O(inputs x outputs).
 *
 * Synchronous file I/O on purpose: a spill happens inside receiving a
 * message and must be done before the receipt is acknowledged (the sender's
 * transfer task, and so the barrier, finish only after it).
 */
import { appendFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

interface Output {
  /** Shards in memory, by input partition. */
  readonly memory: Map<number, Buffer>;
  memoryBytes: number;
  /** The output's spill file, once something was spilled. */
  file: string | null;
}

interface Run {
  readonly runId: number;
  readonly dir: string;
  readonly outputs: Map<number, Output>;
  /** Inputs whose delivery to this worker arrived. */
  readonly inputs: Set<number>;
}

/**
 * Runs kept after their data is gone (their counts of inputs), for unpacks
 * of outputs that received no rows: the oldest are forgotten beyond this.
 */
const KEPT_EMPTY_RUNS = 256;

export interface ShardBufferStats {
  /** Bytes of shards in memory now. */
  readonly memoryBytes: number;
  /** The most bytes of shards in memory at once. */
  readonly peakMemoryBytes: number;
  /** Bytes written to disk, in total. */
  readonly spilledBytes: number;
}

export class ShardBuffer {
  private readonly runs = new Map<string, Run>();
  private memoryBytes = 0;
  private peakMemoryBytes = 0;
  private spilledBytes = 0;

  /** `directory`: where spill files go (one folder per shuffle run below it, removed with the run). */
  constructor(private readonly directory: string, readonly limitBytes: number) {}

  get stats(): ShardBufferStats {
    return { memoryBytes: this.memoryBytes, peakMemoryBytes: this.peakMemoryBytes, spilledBytes: this.spilledBytes };
  }

  /** The run of shuffle `id` whose shards are held, if any. */
  runOf(id: string): number | undefined {
    return this.runs.get(id)?.runId;
  }

  /**
   * Records the delivery of input `input` for run `runId` of shuffle `id`:
   * its shards with rows, by output. The data of an older run is dropped first.
   */
  deliver(id: string, runId: number, input: number, shards: ReadonlyMap<number, Buffer>): void {
    let run = this.runs.get(id);
    if (run && run.runId !== runId) {
      if (run.runId > runId) throw new Error(`internal: shards of run ${runId} of shuffle ${id} after run ${run.runId}`);
      this.drop(id);
      run = undefined;
    }
    if (!run) {
      this.runs.set(id, (run = { runId, dir: join(this.directory, `${id}-${runId}`), outputs: new Map(), inputs: new Set() }));
      this.forgetOldEmptyRuns();
    }
    run.inputs.add(input);
    for (const [output, shard] of shards) this.add(run, output, input, shard);
  }

  private add(run: Run, output: number, input: number, shard: Buffer): void {
    let out = run.outputs.get(output);
    if (!out) run.outputs.set(output, (out = { memory: new Map(), memoryBytes: 0, file: null }));
    const old = out.memory.get(input);
    if (old) this.account(out, -old.byteLength);
    out.memory.set(input, shard);
    this.account(out, shard.byteLength);
    this.peakMemoryBytes = Math.max(this.peakMemoryBytes, this.memoryBytes);
    if (this.memoryBytes > this.limitBytes) this.spill();
  }

  /**
   * The shards of `output` held for shuffle `id`, by input partition, and
   * how many inputs delivered to this worker (null: nothing of the shuffle here).
   */
  read(id: string, output: number): { runId: number; inputs: number; shards: Map<number, Buffer> } | null {
    const run = this.runs.get(id);
    if (!run) return null;
    const shards = new Map<number, Buffer>();
    const out = run.outputs.get(output);
    if (!out) return { runId: run.runId, inputs: run.inputs.size, shards };
    if (out.file) {
      const data = readFileSync(out.file);
      for (let at = 0; at < data.length;) {
        const input = data.readUInt32LE(at);
        const length = Number(data.readBigUInt64LE(at + 4));
        shards.set(input, data.subarray(at + 12, at + 12 + length));
        at += 12 + length;
      }
    }
    for (const [input, shard] of out.memory) shards.set(input, shard);
    return { runId: run.runId, inputs: run.inputs.size, shards };
  }

  /**
   * Forgets `output` of shuffle `id` (its unpack task has its data); the
   * run's folder goes with its last output that had rows. The run itself
   * (its count of inputs) stays for outputs that received none.
   */
  dropOutput(id: string, output: number): void {
    const run = this.runs.get(id);
    const out = run?.outputs.get(output);
    if (!run || !out) return;
    this.account(out, -out.memoryBytes);
    if (out.file) rmSync(out.file, { force: true });
    run.outputs.delete(output);
    if (run.outputs.size === 0) rmSync(run.dir, { recursive: true, force: true });
  }

  /** Keeps at most KEPT_EMPTY_RUNS runs that hold no data (Maps iterate oldest first). */
  private forgetOldEmptyRuns(): void {
    let empty = 0;
    for (const run of this.runs.values()) if (run.outputs.size === 0) empty++;
    for (const [id, run] of this.runs) {
      if (empty <= KEPT_EMPTY_RUNS) break;
      if (run.outputs.size > 0) continue;
      this.runs.delete(id);
      empty--;
    }
  }

  /** Forgets everything held for shuffle `id`. */
  drop(id: string): void {
    const run = this.runs.get(id);
    if (!run) return;
    for (const out of run.outputs.values()) this.account(out, -out.memoryBytes);
    rmSync(run.dir, { recursive: true, force: true });
    this.runs.delete(id);
  }

  /** Forgets every shuffle (the worker is closing or resetting). */
  clear(): void {
    for (const id of [...this.runs.keys()]) this.drop(id);
  }

  private account(out: Output, delta: number): void {
    out.memoryBytes += delta;
    this.memoryBytes += delta;
  }

  /** Writes the largest outputs' in-memory shards to their files until half the limit is left in memory. */
  private spill(): void {
    const target = this.limitBytes / 2;
    const outputs: { run: Run; output: number; out: Output }[] = [];
    for (const run of this.runs.values()) for (const [output, out] of run.outputs) if (out.memoryBytes > 0) outputs.push({ run, output, out });
    outputs.sort((a, b) => b.out.memoryBytes - a.out.memoryBytes);
    for (const { run, output, out } of outputs) {
      if (this.memoryBytes <= target) break;
      mkdirSync(run.dir, { recursive: true });
      out.file ??= join(run.dir, `${output}.shards`);
      const records: Buffer[] = [];
      for (const [input, shard] of out.memory) {
        const header = Buffer.allocUnsafe(12);
        header.writeUInt32LE(input, 0);
        header.writeBigUInt64LE(BigInt(shard.byteLength), 4);
        records.push(header, shard);
      }
      const bytes = out.memoryBytes;
      appendFileSync(out.file, Buffer.concat(records));
      this.spilledBytes += bytes;
      out.memory.clear();
      this.account(out, -bytes);
    }
  }
}
