/**
 * CPU time and memory of the cluster's processes, read from /proc (Linux):
 * on a shared machine CPU-seconds per 1,000 tasks are a far steadier figure
 * than wall time, which every other process on the box disturbs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Client, ModuleFunction } from '../src/index.js';

const TICKS_PER_SECOND = 100; // USER_HZ on every Linux Node runs on

/** User + system CPU seconds a process has used so far (NaN when /proc is not readable). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** A process's resident memory now and at its peak, in bytes (VmRSS, VmHWM). */
export function rssOf(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/**
 * Resets a process's peak RSS (VmHWM) to its current RSS, so a later peak
 * is that of what ran since (Linux 4.0+; quietly nothing where not allowed).
 */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not Linux, or not allowed: the peak then covers the whole process life.
  }
}

export interface ClusterPids {
  scheduler: number;
  workers: number[];
}

/** The scheduler's and the workers' process ids, asked of the processes themselves. */
export async function clusterPids(client: Client, pidFn: ModuleFunction<() => number>): Promise<ClusterPids> {
  const scheduler = await client.runOnScheduler(pidFn);
  const workers = Object.values(await client.run(pidFn));
  return { scheduler, workers };
}

/** CPU seconds of the client (this process), the scheduler and all workers together, at one moment. */
export interface CpuSnapshot {
  client: number;
  scheduler: number;
  workers: number;
}

export function cpuSnapshot(pids: ClusterPids): CpuSnapshot {
  const c = process.cpuUsage();
  return {
    client: (c.user + c.system) / 1e6,
    scheduler: cpuSeconds(pids.scheduler),
    workers: pids.workers.reduce((a, p) => a + cpuSeconds(p), 0),
  };
}

export function cpuSince(before: CpuSnapshot, pids: ClusterPids): CpuSnapshot {
  const now = cpuSnapshot(pids);
  return { client: now.client - before.client, scheduler: now.scheduler - before.scheduler, workers: now.workers - before.workers };
}
