/**
 * Prometheus text exposition (version 0.0.4) of a cluster snapshot. Names
 * follow Prometheus conventions: base units (bytes, seconds), `_total` only on
 * counters, one # HELP and # TYPE per family before its samples.
 */
import type { ClusterSnapshot, TaskStateName } from '../scheduler/snapshot.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const TASK_STATES: TaskStateName[] = [
  'released', 'waiting', 'queued', 'no-worker', 'processing', 'memory', 'erred', 'forgotten',
];

type Labels = Record<string, string>;

class Exposition {
  private lines: string[] = [];
  family(name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Labels, number]>): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }
  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderMetrics(s: ClusterSnapshot): string {
  const e = new Exposition();
  const one = (v: number): Array<[Labels, number]> => [[{}, v]];
  const perWorker = (f: (w: ClusterSnapshot['workers'][number]) => number): Array<[Labels, number]> =>
    s.workers.map((w) => [{ worker: w.address, name: w.name }, f(w)]);
  const sum = (f: (w: ClusterSnapshot['workers'][number]) => number): number =>
    s.workers.reduce((a, w) => a + f(w), 0);

  e.family('tessera_scheduler_info', 'gauge', 'Scheduler identity; the value is always 1.', [
    [{ id: s.id, address: s.address, version: s.version }, 1],
  ]);
  e.family('tessera_scheduler_uptime_seconds', 'gauge', 'Seconds since the scheduler started.', one(Math.max(0, (s.now - s.startedAt) / 1000)));
  e.family('tessera_clients', 'gauge', 'Connected clients.', one(s.clients));
  e.family('tessera_workers', 'gauge', 'Connected workers.', one(s.workers.length));
  e.family('tessera_threads', 'gauge', 'Executor threads over all workers.', one(s.totalThreads));
  e.family('tessera_tasks', 'gauge', 'Tasks known to the scheduler, by state.',
    TASK_STATES.map((state) => [{ state }, s.tasksByState[state] ?? 0]));
  e.family('tessera_tasks_completed_total', 'counter', 'Tasks that finished computing (reached memory) since the scheduler started.', one(s.tasksCompleted));
  e.family('tessera_tasks_erred_total', 'counter', 'Tasks that failed since the scheduler started.', one(s.tasksErred));
  e.family('tessera_memory_managed_bytes', 'gauge', 'Bytes of task results held in worker memory, over all workers.', one(sum((w) => w.managedBytes)));
  e.family('tessera_memory_spilled_bytes', 'gauge', 'Bytes of task results spilled to disk, over all workers.', one(sum((w) => w.spilledBytes)));
  e.family('tessera_memory_rss_bytes', 'gauge', 'Resident memory of all worker processes.', one(sum((w) => w.rss)));
  e.family('tessera_memory_limit_bytes', 'gauge', 'Sum of worker memory limits (0 = no limit).', one(s.totalMemoryLimit));
  e.family('tessera_worker_threads', 'gauge', 'Executor threads of a worker.', perWorker((w) => w.nthreads));
  e.family('tessera_worker_executing_tasks', 'gauge', 'Tasks running on a worker now.', perWorker((w) => w.executing));
  e.family('tessera_worker_processing_tasks', 'gauge', 'Tasks assigned to a worker (queued on it or running).', perWorker((w) => w.processing));
  e.family('tessera_worker_stored_keys', 'gauge', 'Keys held by a worker.', perWorker((w) => w.inMemory));
  e.family('tessera_worker_memory_managed_bytes', 'gauge', 'Bytes of task results a worker holds in memory.', perWorker((w) => w.managedBytes));
  e.family('tessera_worker_memory_unmanaged_bytes', 'gauge', 'Resident memory not accounted to task results (rss - managed).', perWorker((w) => Math.max(0, w.rss - w.managedBytes)));
  e.family('tessera_worker_memory_spilled_bytes', 'gauge', 'Bytes of task results a worker spilled to disk.', perWorker((w) => w.spilledBytes));
  e.family('tessera_worker_memory_rss_bytes', 'gauge', 'Resident set size of a worker process.', perWorker((w) => w.rss));
  e.family('tessera_worker_memory_limit_bytes', 'gauge', 'Memory limit of a worker (0 = no limit).', perWorker((w) => w.memoryLimit));
  e.family('tessera_worker_cpu_ratio', 'gauge', 'CPU use of a worker process as a fraction of one core.', perWorker((w) => w.cpu / 100));
  e.family('tessera_worker_last_seen_seconds', 'gauge', 'Seconds since the last heartbeat of a worker.', perWorker((w) => Math.max(0, (s.now - w.lastSeen) / 1000)));
  e.family('tessera_worker_paused', 'gauge', '1 when a worker paused starting tasks (memory above the pause fraction).', perWorker((w) => (w.status === 'paused' ? 1 : 0)));
  return e.text();
}
