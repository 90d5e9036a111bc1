// /status: what the cluster is doing right now.

import { TimeChart } from './charts.js';
import { assignGroupColors } from './colors.js';
import { h } from './dom.js';
import { fmtBytes, fmtDuration } from './format.js';
import { MEMORY_COLORS, MemoryBars, ProcessingBars, ProgressPanel, SummaryCards, panel } from './panels.js';
import { shell } from './shell.js';
import { LiveStore } from './store.js';
import { TaskStreamView } from './taskstream.js';

const WINDOWS: Array<[string, number]> = [['10s', 10_000], ['30s', 30_000], ['1m', 60_000], ['5m', 300_000]];

export function statusPage(): void {
  const ui = shell('status');
  const store = new LiveStore();
  const cards = new SummaryCards();
  const stream = new TaskStreamView({ mode: 'live', now: () => store.now(), windowMs: 30_000 });
  const progress = new ProgressPanel();
  const memory = new MemoryBars();
  const processing = new ProcessingBars();
  const memChart = new TimeChart(
    [
      { label: 'managed', color: MEMORY_COLORS.managed, fill: 'rgba(78,140,255,0.18)' },
      { label: 'managed + unmanaged', color: MEMORY_COLORS.unmanaged, fill: 'rgba(138,160,191,0.06)' },
      { label: 'spilled', color: MEMORY_COLORS.spilled },
      { label: 'limit', color: '#6e7681', dash: [4, 4], width: 1 },
    ],
    { yFormat: fmtBytes, height: 190, minMax: 1024 * 1024 },
  );
  const rateChart = new TimeChart(
    [
      { label: 'tasks/s', color: '#3fb950', fill: 'rgba(63,185,80,0.12)' },
      { label: 'processing', color: '#58a6ff' },
    ],
    { yFormat: (v) => (v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10)), height: 190 },
  );

  const windowSel = h('div', { class: 'seg-control' });
  for (const [label, ms] of WINDOWS) {
    const b = h('button', { type: 'button', class: ms === 30_000 ? 'on' : '' }, label);
    b.addEventListener('click', () => {
      stream.setWindow(ms);
      for (const x of windowSel.children) x.classList.toggle('on', x === b);
    });
    windowSel.append(b);
  }

  ui.main.append(
    cards.el,
    panel('Task stream', stream.el, windowSel, 'span-12 panel-stream'),
    panel('Progress by task group', progress.el, undefined, 'span-6 panel-progress'),
    h('div', { class: 'span-6 stack' },
      panel('Memory per worker', memory.el, memLegend(), 'panel-memory'),
      panel('Tasks processing per worker', processing.el, procLegend(), 'panel-processing')),
    panel('Cluster memory over time', memChart.el, undefined, 'span-6'),
    panel('Throughput', rateChart.el, undefined, 'span-6'),
  );

  store.onConnection((s) => ui.setConnection(s));
  store.onUpdate((events, reset) => {
    const s = store.snapshot!;
    if (reset) stream.clearEvents();
    stream.setWorkers(s.workers);
    stream.addEvents(events);
    const groups = [...store.groups.values()];
    assignGroupColors(groups.map((g) => g.name));
    const last = store.history[store.history.length - 1];
    cards.update(s, groups, last?.rate ?? null);
    progress.update(groups);
    memory.update(s.workers);
    processing.update(s.workers);
    ui.meta.textContent = `${s.address} · up ${fmtDuration(s.now - s.startedAt)} · v${s.version}`;
    const hist = store.history;
    if (hist.length) {
      const t = hist.map((p) => p.t);
      memChart.setData(t, [
        hist.map((p) => p.managed),
        hist.map((p) => p.managed + p.unmanaged),
        hist.map((p) => p.spilled),
        hist.map((p) => p.limit || null),
      ]);
      rateChart.setData(t, [hist.map((p) => p.rate), hist.map((p) => p.processing)]);
    }
    document.body.dataset.updates = String(store.updates);
  });
  store.connect();
}

function memLegend(): HTMLElement {
  return h('span', { class: 'legend mini' },
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${MEMORY_COLORS.managed}` }), 'managed'),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${MEMORY_COLORS.unmanaged}` }), 'unmanaged'),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${MEMORY_COLORS.spilled}` }), 'spilled'),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-marker' }), 'limit'));
}

function procLegend(): HTMLElement {
  return h('span', { class: 'legend mini' },
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: 'background:#3fb950' }), 'executing'),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: 'background:#6e7681' }), 'queued'),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-marker' }), 'threads'));
}
