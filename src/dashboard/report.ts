/**
 * Performance reports: one self-contained HTML file (bundled JS/CSS and the
 * recorded data inlined) that shows what a job did — task stream, task-group
 * timings, worker memory over time, a summary — for batch jobs on clusters
 * nobody could tunnel into while they ran.
 *
 * A PerformanceRecorder samples a DashboardSource while the job runs: it pulls
 * the task stream incrementally (each event once) and takes a small snapshot
 * per interval, so recording costs the scheduler about what one open
 * dashboard tab does.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DashboardError } from '../errors.js';
import { REPORT_KIND } from './protocol.js';
import type {
  PerformanceReportData, ReportEvent, ReportGroupTiming, ReportWorker, ReportWorkerSeries,
} from './protocol.js';
import { defaultAssetsDir } from './server.js';
import type { DashboardSource } from './source.js';
import type { ClusterSnapshot, TaskStreamEvent } from '../scheduler/snapshot.js';

export type { PerformanceReportData } from './protocol.js';

export interface RecorderOptions {
  /** How often memory and task counts are sampled (default 1000 ms). */
  intervalMs?: number;
  /** Task-stream events kept; later ones are counted in droppedEvents (default 500 000, ~40 MB of HTML). */
  maxEvents?: number;
  /** Samples kept; beyond this the series are thinned to every other point (default 3600). */
  maxSamples?: number;
  /** Shown as the report's title (default 'Tessera performance report'). */
  title?: string;
}

const PULL_LIMIT = 10_000;

export class PerformanceRecorder {
  private readonly intervalMs: number;
  private readonly maxEvents: number;
  private readonly maxSamples: number;
  private title: string;
  private timer: NodeJS.Timeout | undefined;
  private cursor = 0;
  private started = false;
  private stopped = false;
  private t0 = 0;
  private end = 0;
  private first: ClusterSnapshot | undefined;
  private last: ClusterSnapshot | undefined;
  private readonly workers: ReportWorker[] = [];
  private readonly workerIndex = new Map<string, number>();
  private readonly groups: string[] = [];
  private readonly groupIndex = new Map<string, number>();
  private readonly events: ReportEvent[] = [];
  private dropped = 0;
  private readonly timings = new Map<string, ReportGroupTiming>();
  private readonly t: number[] = [];
  private readonly series = new Map<string, ReportWorkerSeries>();
  private readonly processing: number[] = [];
  private readonly completed: number[] = [];
  private stride = 1;
  private ticks = 0;
  private maxWorkers = 0;
  private maxThreads = 0;
  private transfers = { n: 0, ms: 0, bytes: 0 };
  private computeMs = 0;

  constructor(private readonly source: DashboardSource, opts: RecorderOptions = {}) {
    this.intervalMs = Math.max(50, opts.intervalMs ?? 1000);
    this.maxEvents = opts.maxEvents ?? 500_000;
    this.maxSamples = Math.max(16, opts.maxSamples ?? 3600);
    this.title = opts.title ?? 'Tessera performance report';
  }

  /**
   * Starts recording from now: task-stream events from before this call are
   * skipped (like dask's `performance_report` context, the report covers the
   * block it wraps).
   */
  start(): this {
    if (this.started) return this;
    this.started = true;
    // Skip the history: walk the cursor to the newest event without keeping anything.
    for (let i = 0; i < 10_000; i++) {
      const r = this.source.taskStream(this.cursor, PULL_LIMIT);
      const last = r.events[r.events.length - 1];
      if (last) this.cursor = last.cursor;
      if (r.events.length < PULL_LIMIT) break;
    }
    const s = this.source.snapshot();
    this.first = s;
    this.t0 = s.now;
    this.recordSample(s);
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    // A recorder never keeps a finished script alive.
    this.timer.unref();
    return this;
  }

  /** Pulls new task-stream events and takes a sample now (also called by the timer). */
  sample(): void {
    if (!this.started || this.stopped) return;
    this.pull();
    this.ticks++;
    if (this.ticks % this.stride !== 0) return;
    this.recordSample(this.source.snapshot());
  }

  /** Stops sampling, takes a final sample, and returns the data. */
  stop(): PerformanceReportData {
    if (!this.started) this.start();
    if (!this.stopped) {
      this.pull();
      this.recordSample(this.source.snapshot());
      this.stopped = true;
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
    }
    return this.data();
  }

  /** Writes the report (stopping the recorder first) and returns the absolute path written. */
  async write(path: string, opts: { title?: string; assetsDir?: string } = {}): Promise<string> {
    if (opts.title) this.title = opts.title;
    const data = this.stop();
    return writePerformanceReport(path, data, { assetsDir: opts.assetsDir });
  }

  /** The recorded data so far. */
  data(): PerformanceReportData {
    const first = this.first ?? this.source.snapshot();
    const last = this.last ?? first;
    const finalGroups = this.source.taskGroups();
    const t: number[] = [...this.t];
    const workers: Record<string, ReportWorkerSeries> = {};
    for (const [addr, s] of this.series) workers[addr] = { ...s };
    return {
      format: 'tessera-performance-report',
      formatVersion: 1,
      title: this.title,
      generatedAt: Date.now(),
      scheduler: { id: last.id, address: last.address, version: last.version, startedAt: last.startedAt },
      start: this.t0 || first.now,
      end: Math.max(this.end, this.t0),
      workers: this.workers.map((w) => ({ ...w })),
      groups: [...this.groups],
      events: this.events,
      droppedEvents: this.dropped,
      samples: { t, workers, processing: [...this.processing], completed: [...this.completed] },
      finalGroups,
      timings: [...this.timings.values()].map((x) => ({
        ...x,
        computeMs: Math.round(x.computeMs),
        transferMs: Math.round(x.transferMs),
        firstStart: Number.isFinite(x.firstStart) ? Math.round(x.firstStart) : 0,
        lastStop: Math.round(x.lastStop),
      })),
      summary: {
        durationMs: Math.max(0, Math.max(this.end, this.t0) - this.t0),
        tasksCompleted: Math.max(0, last.tasksCompleted - first.tasksCompleted),
        tasksErred: Math.max(0, last.tasksErred - first.tasksErred),
        computeMs: Math.round(this.computeMs),
        transferMs: Math.round(this.transfers.ms),
        transferBytes: this.transfers.bytes,
        transfers: this.transfers.n,
        maxWorkers: this.maxWorkers,
        maxThreads: this.maxThreads,
      },
      config: this.source.config?.() ?? {},
    };
  }

  private pull(): void {
    for (let i = 0; i < 1000; i++) {
      const r = this.source.taskStream(this.cursor, PULL_LIMIT);
      for (const e of r.events) {
        if (e.cursor <= this.cursor) continue;
        this.cursor = e.cursor;
        this.record(e);
      }
      if (r.events.length < PULL_LIMIT) break;
    }
  }

  private worker(address: string, snap?: ClusterSnapshot['workers'][number]): number {
    let i = this.workerIndex.get(address);
    if (i === undefined) {
      i = this.workers.length;
      this.workerIndex.set(address, i);
      this.workers.push({ address, name: snap?.name ?? address, host: snap?.host ?? '', nthreads: snap?.nthreads ?? 1, memoryLimit: snap?.memoryLimit ?? 0 });
    } else if (snap) {
      const w = this.workers[i]!;
      w.name = snap.name;
      w.host = snap.host;
      w.nthreads = snap.nthreads;
      w.memoryLimit = snap.memoryLimit;
    }
    return i;
  }

  private group(name: string): number {
    let i = this.groupIndex.get(name);
    if (i === undefined) {
      i = this.groups.length;
      this.groupIndex.set(name, i);
      this.groups.push(name);
    }
    return i;
  }

  private record(e: TaskStreamEvent): void {
    const dur = Math.max(0, e.stop - e.start);
    this.end = Math.max(this.end, e.stop);
    let tm = this.timings.get(e.group);
    if (!tm) {
      tm = { name: e.group, count: 0, erred: 0, computeMs: 0, maxMs: 0, transferMs: 0, transferBytes: 0, firstStart: Infinity, lastStop: 0 };
      this.timings.set(e.group, tm);
    }
    const rel0 = e.start - this.t0;
    const rel1 = e.stop - this.t0;
    if (e.kind === 'transfer') {
      tm.transferMs += dur;
      tm.transferBytes += e.nbytes ?? 0;
      this.transfers.n++;
      this.transfers.ms += dur;
      this.transfers.bytes += e.nbytes ?? 0;
    } else {
      if (e.kind === 'error') tm.erred++;
      else tm.count++;
      tm.computeMs += dur;
      tm.maxMs = Math.max(tm.maxMs, dur);
      tm.firstStart = Math.min(tm.firstStart, rel0);
      tm.lastStop = Math.max(tm.lastStop, rel1);
      this.computeMs += dur;
    }
    if (this.events.length >= this.maxEvents) {
      this.dropped++;
      return;
    }
    this.events.push([
      this.worker(e.worker), e.thread, this.group(e.group), REPORT_KIND[e.kind], Math.round(rel0 * 10) / 10,
      Math.round(dur * 10) / 10, e.key, e.nbytes ?? 0,
    ]);
  }

  private recordSample(s: ClusterSnapshot): void {
    this.last = s;
    this.end = Math.max(this.end, s.now);
    const k = this.t.length;
    this.t.push(s.now - this.t0);
    this.processing.push(s.workers.reduce((a, w) => a + w.processing, 0));
    this.completed.push(s.tasksCompleted - (this.first?.tasksCompleted ?? 0));
    this.maxWorkers = Math.max(this.maxWorkers, s.workers.length);
    this.maxThreads = Math.max(this.maxThreads, s.totalThreads);
    const present = new Set<string>();
    for (const w of s.workers) {
      this.worker(w.address, w);
      present.add(w.address);
      let ser = this.series.get(w.address);
      if (!ser) {
        const pad = (): (number | null)[] => new Array<number | null>(k).fill(null);
        ser = { managed: pad(), spilled: pad(), rss: pad(), executing: pad(), processing: pad() };
        this.series.set(w.address, ser);
      }
      ser.managed.push(w.managedBytes);
      ser.spilled.push(w.spilledBytes);
      ser.rss.push(w.rss);
      ser.executing.push(w.executing);
      ser.processing.push(w.processing);
    }
    for (const [addr, ser] of this.series) {
      if (present.has(addr)) continue;
      ser.managed.push(null);
      ser.spilled.push(null);
      ser.rss.push(null);
      ser.executing.push(null);
      ser.processing.push(null);
    }
    if (this.t.length > this.maxSamples) this.thin();
  }

  /** Keeps every other sample (and the newest) and halves the sampling rate from now on. */
  private thin(): void {
    const keep = (i: number, n: number): boolean => i % 2 === 0 || i === n - 1;
    const f = <T>(xs: T[]): T[] => xs.filter((_x, i) => keep(i, xs.length));
    const t = f(this.t);
    this.t.length = 0;
    this.t.push(...t);
    for (const arr of [this.processing, this.completed]) {
      const kept = f(arr);
      arr.length = 0;
      arr.push(...kept);
    }
    for (const ser of this.series.values()) {
      for (const key of ['managed', 'spilled', 'rss', 'executing', 'processing'] as const) ser[key] = f(ser[key]);
    }
    this.stride *= 2;
  }
}

export interface ReportAssets {
  js: string;
  css: string;
}

/** Reads the bundled dashboard assets that a report inlines. */
export async function loadReportAssets(assetsDir = defaultAssetsDir()): Promise<ReportAssets> {
  const dir = resolve(assetsDir);
  if (!existsSync(join(dir, 'app.js'))) {
    throw new DashboardError(
      `cannot write a performance report: the dashboard's web assets are missing from ${dir}. ` +
        `Run 'npm run build' (it bundles them), or pass assetsDir`,
    );
  }
  const [js, css] = await Promise.all([readFile(join(dir, 'app.js'), 'utf8'), readFile(join(dir, 'app.css'), 'utf8')]);
  return { js, css };
}

/** The report as one HTML string; the data and every asset are inline, nothing is fetched. */
export function renderPerformanceReport(data: PerformanceReportData, assets: ReportAssets): string {
  // `<` escaped so neither the data nor the bundle can close their <script> early.
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const js = assets.js.replace(/<\/(script)/gi, '<\\/$1');
  const css = assets.css.replace(/<\/(style)/gi, '<\\/$1');
  const title = escapeHtml(`${data.title} · Tessera`);
  const icon =
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%230d1117'/%3E" +
    "%3Crect x='5' y='5' width='10' height='10' rx='2' fill='%234e79a7'/%3E%3Crect x='17' y='5' width='10' height='10' rx='2' fill='%23f28e2b'/%3E" +
    "%3Crect x='5' y='17' width='10' height='10' rx='2' fill='%2359a14f'/%3E%3Crect x='17' y='17' width='10' height='10' rx='2' fill='%23b07aa1'/%3E%3C/svg%3E";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tessera ${escapeHtml(data.scheduler.version)}">
<title>${title}</title>
<link rel="icon" href="${icon}">
<style>${css}</style>
</head>
<body data-page="report">
<div id="app"></div>
<script type="application/json" id="tessera-report-data">${json}</script>
<script>${js}</script>
</body>
</html>
`;
}

/**
 * Writes `data` as a self-contained HTML report at `path` (parent directories
 * are created; the file is replaced atomically). Returns the absolute path.
 */
export async function writePerformanceReport(
  path: string,
  data: PerformanceReportData,
  opts: { assetsDir?: string } = {},
): Promise<string> {
  const assets = await loadReportAssets(opts.assetsDir);
  const file = resolve(path);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, renderPerformanceReport(data, assets));
  await rename(tmp, file);
  return file;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
