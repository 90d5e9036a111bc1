// /workers: one row per worker, sortable, updated live.

import type { WorkerSnapshot } from '../../protocol.js';
import { clear, h } from './dom.js';
import { fmtBytes, fmtDuration, fmtInt, naturalCompare } from './format.js';
import { MEMORY_COLORS, panel } from './panels.js';
import { shell } from './shell.js';
import { LiveStore } from './store.js';

interface Column {
  id: string;
  label: string;
  num?: boolean;
  sort: (w: WorkerSnapshot, now: number) => number | string;
  cell: (w: WorkerSnapshot, now: number) => string | HTMLElement;
}

function memCell(w: WorkerSnapshot): HTMLElement {
  const scale = w.memoryLimit || Math.max(1, w.rss);
  const unmanaged = Math.max(0, w.rss - w.managedBytes);
  const frac = w.memoryLimit ? w.rss / w.memoryLimit : 0;
  const color = frac > 0.95 || w.status === 'paused' ? MEMORY_COLORS.danger : frac > 0.7 ? MEMORY_COLORS.warn : MEMORY_COLORS.managed;
  return h('div', { class: 'cell-mem', title: `managed ${fmtBytes(w.managedBytes)} · unmanaged ${fmtBytes(unmanaged)}` },
    h('div', { class: 'mini-bar' },
      h('span', { style: `width:${Math.min(100, (w.managedBytes / scale) * 100)}%;background:${color}` }),
      h('span', { style: `width:${Math.min(100, (unmanaged / scale) * 100)}%;background:${MEMORY_COLORS.unmanaged}` })),
    h('span', null, `${fmtBytes(w.rss)}${w.memoryLimit ? ` / ${fmtBytes(w.memoryLimit)}` : ''}`));
}

const COLUMNS: Column[] = [
  { id: 'name', label: 'Name', sort: (w) => w.name, cell: (w) => h('b', null, w.name) },
  { id: 'address', label: 'Address', sort: (w) => w.address, cell: (w) => h('code', null, w.address) },
  { id: 'host', label: 'Host', sort: (w) => w.host, cell: (w) => w.host },
  { id: 'nthreads', label: 'Threads', num: true, sort: (w) => w.nthreads, cell: (w) => String(w.nthreads) },
  { id: 'cpu', label: 'CPU', num: true, sort: (w) => w.cpu, cell: (w) => `${Math.round(w.cpu)}%` },
  { id: 'memory', label: 'Memory (rss / limit)', sort: (w) => w.rss, cell: memCell },
  { id: 'managed', label: 'Managed', num: true, sort: (w) => w.managedBytes, cell: (w) => fmtBytes(w.managedBytes) },
  { id: 'spilled', label: 'Spilled', num: true, sort: (w) => w.spilledBytes, cell: (w) => fmtBytes(w.spilledBytes) },
  { id: 'stored', label: 'Stored keys', num: true, sort: (w) => w.inMemory, cell: (w) => fmtInt(w.inMemory) },
  { id: 'executing', label: 'Executing', num: true, sort: (w) => w.executing, cell: (w) => `${w.executing} / ${w.nthreads}` },
  { id: 'processing', label: 'Processing', num: true, sort: (w) => w.processing, cell: (w) => fmtInt(w.processing) },
  { id: 'status', label: 'Status', sort: (w) => w.status, cell: (w) => h('span', { class: `pill pill-${w.status}` }, w.status) },
  { id: 'lastSeen', label: 'Last heartbeat', num: true, sort: (w, now) => now - w.lastSeen, cell: (w, now) => `${fmtDuration(Math.max(0, now - w.lastSeen))} ago` },
  { id: 'pid', label: 'PID', num: true, sort: (w) => w.pid, cell: (w) => String(w.pid) },
];

export function workersPage(): void {
  const ui = shell('workers');
  const store = new LiveStore();
  let sortBy = 'name';
  let desc = false;
  const thead = h('thead');
  const tbody = h('tbody');
  const tfoot = h('tfoot');
  const headRow = h('tr');
  for (const c of COLUMNS) {
    const th = h('th', { class: c.num ? 'num' : '', 'data-col': c.id }, c.label);
    th.addEventListener('click', () => {
      desc = sortBy === c.id ? !desc : !!c.num;
      sortBy = c.id;
      render();
    });
    headRow.append(th);
  }
  thead.append(headRow);
  const table = h('table', { class: 'grid workers-table' }, thead, tbody, tfoot);
  const count = h('span', { class: 'muted' });
  ui.main.append(panel('Workers', h('div', { class: 'table-wrap' }, table), count, 'span-12'));

  function render(): void {
    const s = store.snapshot;
    if (!s) return;
    const col = COLUMNS.find((c) => c.id === sortBy) ?? COLUMNS[0]!;
    const rows = [...s.workers].sort((a, b) => {
      const x = col.sort(a, s.now);
      const y = col.sort(b, s.now);
      const r = typeof x === 'number' && typeof y === 'number' ? x - y : naturalCompare(String(x), String(y));
      return desc ? -r : r;
    });
    for (const th of headRow.children) {
      const el = th as HTMLElement;
      el.classList.toggle('sorted', el.dataset.col === sortBy);
      el.classList.toggle('desc', el.dataset.col === sortBy && desc);
    }
    clear(tbody);
    for (const w of rows) {
      const tr = h('tr', { 'data-worker': w.address });
      for (const c of COLUMNS) tr.append(h('td', { class: c.num ? 'num' : '' }, c.cell(w, s.now)));
      tbody.append(tr);
    }
    clear(tfoot);
    const sum = (f: (w: WorkerSnapshot) => number): number => s.workers.reduce((a, w) => a + f(w), 0);
    tfoot.append(h('tr', null,
      h('td', { colspan: 3 }, `${s.workers.length} workers`),
      h('td', { class: 'num' }, String(s.totalThreads)),
      h('td', { class: 'num' }, `${Math.round(sum((w) => w.cpu))}%`),
      h('td', null, `${fmtBytes(sum((w) => w.rss))}${s.totalMemoryLimit ? ` / ${fmtBytes(s.totalMemoryLimit)}` : ''}`),
      h('td', { class: 'num' }, fmtBytes(sum((w) => w.managedBytes))),
      h('td', { class: 'num' }, fmtBytes(sum((w) => w.spilledBytes))),
      h('td', { class: 'num' }, fmtInt(sum((w) => w.inMemory))),
      h('td', { class: 'num' }, String(sum((w) => w.executing))),
      h('td', { class: 'num' }, fmtInt(sum((w) => w.processing))),
      h('td', { colspan: 3 }, '')));
    count.textContent = `${s.workers.length} connected`;
    ui.meta.textContent = `${s.address} · up ${fmtDuration(s.now - s.startedAt)}`;
  }

  store.onConnection((s) => ui.setConnection(s));
  // The table is rebuilt on every update; throttle to 1/s so text can be selected and read.
  let last = 0;
  store.onUpdate(() => {
    const t = performance.now();
    if (t - last < 1000 && store.updates > 1) return;
    last = t;
    render();
    document.body.dataset.updates = String(store.updates);
  });
  store.connect();
}
