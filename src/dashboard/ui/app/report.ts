// A saved performance report: the same views as the live dashboard, fed from
// data embedded in the HTML file, for jobs on clusters nobody could tunnel into.

import type { PerformanceReportData, TaskStreamEvent } from '../../protocol.js';
import { TimeChart } from './charts.js';
import { assignGroupColors, groupColor } from './colors.js';
import { h } from './dom.js';
import { fmtBytes, fmtDuration, fmtInt, fmtPct, fmtTime, naturalCompare } from './format.js';
import { MEMORY_COLORS, ProgressPanel, card, kvTable, panel } from './panels.js';
import { shell } from './shell.js';
import { TaskStreamView } from './taskstream.js';

const KINDS = ['compute', 'transfer', 'error'] as const;
const WORKER_LINE_COLORS = ['#58a6ff', '#f28e2b', '#3fb950', '#d2a8ff', '#76b7b2', '#edc948', '#ff9da7', '#a0cbe8', '#ffbe7d', '#8cd17d'];

export function reportPage(): void {
  const raw = document.getElementById('tessera-report-data')?.textContent;
  const ui = shell('report', { nav: false, title: 'performance report' });
  if (!raw) {
    ui.main.append(h('div', { class: 'empty' }, 'This report contains no data.'));
    return;
  }
  const d = JSON.parse(raw) as PerformanceReportData;
  assignGroupColors(d.finalGroups.map((g) => g.name));
  assignGroupColors(d.groups);
  document.title = `${d.title} · Tessera performance report`;
  ui.meta.textContent = `${d.scheduler.address} · v${d.scheduler.version} · generated ${fmtTime(d.generatedAt)}`;

  const s = d.summary;
  const cards: HTMLElement[] = [];
  const add = (label: string, value: string, sub: string, id: string): void => {
    const c = card(label, { id });
    c.value.textContent = value;
    c.sub.textContent = sub;
    cards.push(c.el);
  };
  const threadTime = (s.durationMs * Math.max(1, s.maxThreads));
  add('Duration', fmtDuration(s.durationMs), `${fmtTime(d.start)} → ${new Date(d.end).toLocaleTimeString(undefined, { hour12: false })}`, 'duration');
  add('Tasks', fmtInt(s.tasksCompleted), `${fmtInt(s.tasksErred)} erred · ${fmtInt(d.events.length)} recorded events`, 'tasks');
  add('Workers', fmtInt(s.maxWorkers), `${fmtInt(s.maxThreads)} threads`, 'workers');
  add('Compute time', fmtDuration(s.computeMs), `${fmtPct(s.computeMs / Math.max(1, threadTime))} of thread time busy`, 'compute');
  add('Transfers', fmtBytes(s.transferBytes), `${fmtInt(s.transfers)} transfers · ${fmtDuration(s.transferMs)}`, 'transfers');
  const titleCard = h('div', { class: 'card card-wide report-title' }, h('div', { class: 'card-label' }, 'Report'), h('div', { class: 'card-value small' }, d.title),
    h('div', { class: 'card-sub' }, d.droppedEvents ? `${fmtInt(d.droppedEvents)} task events beyond the recording limit were not kept` : `scheduler ${d.scheduler.id}`));
  ui.main.append(h('div', { class: 'cards' }, ...cards, titleCard));

  // Task stream over the whole recording.
  const byIndex = d.workers;
  const events: TaskStreamEvent[] = d.events.map((e, i) => ({
    cursor: i + 1,
    worker: byIndex[e[0]]?.address ?? String(e[0]),
    thread: e[1],
    group: d.groups[e[2]] ?? '?',
    kind: KINDS[e[3]] ?? 'compute',
    start: d.start + e[4],
    stop: d.start + e[4] + e[5],
    key: e[6],
    nbytes: e[7] || undefined,
  }));
  const stream = new TaskStreamView({ mode: 'static', range: [d.start, Math.max(d.end, d.start + 1)], maxPlotHeight: 520 });
  stream.setWorkers(d.workers);
  stream.addEvents(events);
  ui.main.append(panel('Task stream', stream.el, undefined, 'span-12 panel-stream'));

  // Task-group timings.
  const total = d.timings.reduce((a, t) => a + t.computeMs, 0) || 1;
  const rows = [...d.timings].sort((a, b) => b.computeMs - a.computeMs);
  const tbody = h('tbody');
  for (const t of rows) {
    tbody.append(h('tr', { 'data-group': t.name },
      h('td', null, h('span', { class: 'swatch', style: `background:${groupColor(t.name)}` }), ' ', t.name),
      h('td', { class: 'num' }, fmtInt(t.count)),
      h('td', { class: 'num' + (t.erred ? ' bad' : '') }, fmtInt(t.erred)),
      h('td', { class: 'num' }, fmtDuration(t.computeMs)),
      h('td', { class: 'share' }, h('div', { class: 'mini-bar' }, h('span', { style: `width:${(t.computeMs / total) * 100}%;background:${groupColor(t.name)}` })), fmtPct(t.computeMs / total)),
      h('td', { class: 'num' }, t.count ? fmtDuration(t.computeMs / t.count) : '–'),
      h('td', { class: 'num' }, fmtDuration(t.maxMs)),
      h('td', { class: 'num' }, t.transferBytes ? `${fmtBytes(t.transferBytes)} · ${fmtDuration(t.transferMs)}` : '–')));
  }
  const timings = h('div', { class: 'table-wrap' }, h('table', { class: 'grid timings' },
    h('thead', null, h('tr', null, h('th', null, 'Group'), h('th', { class: 'num' }, 'Tasks'), h('th', { class: 'num' }, 'Erred'),
      h('th', { class: 'num' }, 'Compute'), h('th', null, 'Share'), h('th', { class: 'num' }, 'Mean'), h('th', { class: 'num' }, 'Max'),
      h('th', { class: 'num', title: 'bytes and time spent moving this group\'s results between workers' }, 'Transfers'))),
    tbody));
  const progress = new ProgressPanel();
  progress.update(d.finalGroups);
  ui.main.append(
    panel('Task group timings', timings, undefined, 'span-7'),
    panel('Task groups at the end', progress.el, undefined, 'span-5 panel-progress'),
  );

  // Memory and activity over time.
  const t = d.samples.t.map((x) => d.start + x);
  const addrs = d.workers.map((w) => w.address).filter((a) => d.samples.workers[a]);
  const perWorker = new TimeChart(
    addrs.map((a, i) => ({ label: d.workers.find((w) => w.address === a)?.name ?? a, color: WORKER_LINE_COLORS[i % WORKER_LINE_COLORS.length]! })),
    { yFormat: fmtBytes, height: 220, minMax: 1024 * 1024 },
  );
  const cluster = new TimeChart(
    [
      { label: 'managed', color: MEMORY_COLORS.managed, fill: 'rgba(78,140,255,0.18)' },
      { label: 'managed + unmanaged', color: MEMORY_COLORS.unmanaged, fill: 'rgba(138,160,191,0.06)' },
      { label: 'spilled', color: MEMORY_COLORS.spilled },
    ],
    { yFormat: fmtBytes, height: 220, minMax: 1024 * 1024 },
  );
  const activity = new TimeChart(
    [
      { label: 'tasks/s', color: '#3fb950', fill: 'rgba(63,185,80,0.12)' },
      { label: 'processing', color: '#58a6ff' },
    ],
    { yFormat: (v) => (v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10)), height: 220 },
  );
  ui.main.append(
    panel('Worker memory over time (rss)', perWorker.el, undefined, 'span-6'),
    panel('Cluster memory over time', cluster.el, undefined, 'span-6'),
    panel('Tasks over time', activity.el, undefined, 'span-6'),
  );
  const cfg = Object.entries(d.config);
  ui.main.append(panel('Scheduler configuration', cfg.length
    ? kvTable(cfg.map(([k, v]) => [k, h('code', null, typeof v === 'object' ? JSON.stringify(v) : String(v))] as [string, HTMLElement]))
    : h('div', { class: 'empty' }, 'No configuration recorded'), undefined, 'span-6'));

  // Workers table.
  const wbody = h('tbody');
  for (const w of [...d.workers].sort((a, b) => naturalCompare(a.name, b.name))) {
    const series = d.samples.workers[w.address];
    const peak = (xs: (number | null)[] | undefined): number => (xs ?? []).reduce<number>((m, v) => (v !== null && v > m ? v : m), 0);
    const tasks = d.events.filter((e) => d.workers[e[0]]?.address === w.address && e[3] === 0);
    const busy = tasks.reduce((a, e) => a + e[5], 0);
    wbody.append(h('tr', null,
      h('td', null, h('b', null, w.name)), h('td', null, h('code', null, w.address)), h('td', null, w.host),
      h('td', { class: 'num' }, String(w.nthreads)),
      h('td', { class: 'num' }, fmtInt(tasks.length)),
      h('td', { class: 'num' }, fmtPct(busy / Math.max(1, s.durationMs * w.nthreads))),
      h('td', { class: 'num' }, fmtBytes(peak(series?.rss))),
      h('td', { class: 'num' }, fmtBytes(peak(series?.managed))),
      h('td', { class: 'num' }, fmtBytes(peak(series?.spilled))),
      h('td', { class: 'num' }, w.memoryLimit ? fmtBytes(w.memoryLimit) : 'none')));
  }
  ui.main.append(panel('Workers', h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
    h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Address'), h('th', null, 'Host'), h('th', { class: 'num' }, 'Threads'),
      h('th', { class: 'num' }, 'Tasks'), h('th', { class: 'num' }, 'Busy'), h('th', { class: 'num' }, 'Peak rss'), h('th', { class: 'num' }, 'Peak managed'),
      h('th', { class: 'num' }, 'Peak spilled'), h('th', { class: 'num' }, 'Limit'))),
    wbody)), undefined, 'span-12'));

  // Charts are created once their containers are in the document (uPlot needs a width).
  perWorker.setData(t, addrs.map((a) => d.samples.workers[a]!.rss));
  const sum = (pick: (x: PerformanceReportData['samples']['workers'][string]) => (number | null)[]): (number | null)[] =>
    t.map((_x, i) => addrs.reduce<number | null>((acc, a) => {
      const v = pick(d.samples.workers[a]!)[i];
      return v === null || v === undefined ? acc : (acc ?? 0) + v;
    }, null));
  const managed = sum((x) => x.managed);
  const rss = sum((x) => x.rss);
  cluster.setData(t, [managed, rss.map((v, i) => (v === null ? null : Math.max(v, managed[i] ?? 0))), sum((x) => x.spilled)]);
  const rate = d.samples.completed.map((c, i) => {
    if (i === 0) return null;
    const dt = (d.samples.t[i]! - d.samples.t[i - 1]!) / 1000;
    return dt > 0 ? Math.max(0, (c - d.samples.completed[i - 1]!) / dt) : null;
  });
  activity.setData(t, [rate, d.samples.processing]);
  document.body.dataset.ready = '1';
}
