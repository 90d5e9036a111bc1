// The DOM panels of the status page and the report: summary cards, tasks by
// state, progress per task group, memory and processing per worker. Each keeps
// its rows keyed by name and only touches what changed, so 2-4 updates a
// second cost next to nothing in the browser.

import type { ClusterSnapshot, TaskGroupSnapshot, WorkerSnapshot } from '../../protocol.js';
import { ERROR_COLOR, STATE_COLORS, groupColor } from './colors.js';
import { clear, h, setText } from './dom.js';
import { fmtBytes, fmtDuration, fmtInt, fmtPct, naturalCompare } from './format.js';

export function panel(title: string, body: HTMLElement, extra?: HTMLElement, cls = ''): HTMLElement {
  return h('section', { class: `panel ${cls}` }, h('h2', null, h('span', null, title), extra ?? null), body);
}

// ---------------------------------------------------------------- cards

export interface Card {
  el: HTMLElement;
  value: HTMLElement;
  sub: HTMLElement;
  bar?: HTMLElement;
}

export function card(label: string, opts: { bar?: boolean; id?: string } = {}): Card {
  const value = h('div', { class: 'card-value' }, '–');
  const sub = h('div', { class: 'card-sub' }, '');
  const bar = opts.bar ? h('div', { class: 'card-bar' }) : undefined;
  const el = h('div', { class: 'card', 'data-card': opts.id }, h('div', { class: 'card-label' }, label), value, bar ?? null, sub);
  return { el, value, sub, bar };
}

export function setBar(bar: HTMLElement | undefined, parts: Array<{ frac: number; color: string; title?: string }>): void {
  if (!bar) return;
  while (bar.children.length < parts.length) bar.append(h('span'));
  while (bar.children.length > parts.length) bar.lastChild!.remove();
  parts.forEach((p, i) => {
    const s = bar.children[i] as HTMLElement;
    s.style.width = `${Math.max(0, Math.min(1, p.frac)) * 100}%`;
    s.style.background = p.color;
    if (p.title) s.title = p.title;
  });
}

// ---------------------------------------------------------------- tasks by state

const STATE_ORDER = ['processing', 'queued', 'waiting', 'no-worker', 'memory', 'erred', 'released'] as const;

export class StateBar {
  readonly el: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly counts = new Map<string, HTMLElement>();

  constructor() {
    this.bar = h('div', { class: 'state-bar' });
    this.legend = h('div', { class: 'legend state-legend' });
    for (const s of STATE_ORDER) {
      const n = h('b', { 'data-state': s }, '0');
      this.counts.set(s, n);
      this.legend.append(h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${STATE_COLORS[s]}` }), `${s} `, n));
    }
    this.el = h('div', { class: 'card card-wide', 'data-card': 'tasks' }, h('div', { class: 'card-label' }, 'Tasks by state'), this.bar, this.legend);
  }

  update(byState: Record<string, number>): void {
    const total = STATE_ORDER.reduce((a, s) => a + (byState[s] ?? 0), 0) || 1;
    setBar(this.bar, STATE_ORDER.map((s) => ({ frac: (byState[s] ?? 0) / total, color: STATE_COLORS[s]!, title: `${s}: ${fmtInt(byState[s] ?? 0)}` })));
    for (const s of STATE_ORDER) setText(this.counts.get(s)!, fmtInt(byState[s] ?? 0));
  }
}

// ---------------------------------------------------------------- progress per task group

export interface GroupProgress {
  name: string;
  total: number;
  done: number;
  memory: number;
  processing: number;
  erred: number;
  waiting: number;
}

/** done = finished and already released (total minus everything still accounted for). */
export function groupProgress(g: TaskGroupSnapshot): GroupProgress {
  const s = g.states;
  const memory = s.memory ?? 0;
  const processing = s.processing ?? 0;
  const erred = s.erred ?? 0;
  const waiting = (s.waiting ?? 0) + (s.queued ?? 0) + (s['no-worker'] ?? 0);
  const done = Math.max(0, g.total - memory - processing - erred - waiting);
  return { name: g.name, total: g.total, done, memory, processing, erred, waiting };
}

interface ProgressRow {
  el: HTMLElement;
  done: HTMLElement;
  memory: HTMLElement;
  processing: HTMLElement;
  erred: HTMLElement;
  count: HTMLElement;
  detail: HTMLElement;
}

export class ProgressPanel {
  readonly el: HTMLElement;
  private readonly rows = new Map<string, ProgressRow>();
  private readonly empty: HTMLElement;

  constructor() {
    this.empty = h('div', { class: 'empty' }, 'No tasks yet');
    this.el = h('div', { class: 'progress-list' }, this.empty);
  }

  update(groups: TaskGroupSnapshot[]): void {
    const seen = new Set<string>();
    for (const g of groups) {
      seen.add(g.name);
      let r = this.rows.get(g.name);
      if (!r) {
        const color = groupColor(g.name);
        r = {
          done: h('span', { class: 'seg seg-done', style: `background:${color}` }),
          memory: h('span', { class: 'seg seg-memory', style: `background:${color}` }),
          processing: h('span', { class: 'seg seg-processing', style: `--c:${color}` }),
          erred: h('span', { class: 'seg seg-erred', style: `background:${ERROR_COLOR}` }),
          count: h('span', { class: 'pg-count' }),
          detail: h('div', { class: 'pg-detail' }),
          el: h('div'),
        };
        r.el = h('div', { class: 'pg-row', 'data-group': g.name },
          h('div', { class: 'pg-head' }, h('span', { class: 'swatch', style: `background:${color}` }), h('span', { class: 'pg-name', title: g.name }, g.name), r.count),
          h('div', { class: 'pg-bar' }, r.done, r.memory, r.processing, r.erred),
          r.detail);
        this.rows.set(g.name, r);
        this.el.append(r.el);
      }
      const p = groupProgress(g);
      const tot = Math.max(1, p.total);
      r.done.style.width = `${(p.done / tot) * 100}%`;
      r.memory.style.width = `${(p.memory / tot) * 100}%`;
      r.processing.style.width = `${(p.processing / tot) * 100}%`;
      r.erred.style.width = `${(p.erred / tot) * 100}%`;
      const finished = p.done + p.memory + p.erred;
      const complete = p.total > 0 && finished >= p.total;
      r.el.classList.toggle('complete', complete);
      r.el.classList.toggle('has-errors', p.erred > 0);
      r.el.dataset.done = String(finished);
      r.el.dataset.total = String(p.total);
      setText(r.count, `${fmtInt(finished)} / ${fmtInt(p.total)}${complete ? ' ✓' : ` · ${fmtPct(finished / tot)}`}`);
      const bits = [
        p.memory ? `${fmtInt(p.memory)} in memory (${fmtBytes(g.nbytes)})` : '',
        p.processing ? `${fmtInt(p.processing)} processing` : '',
        p.waiting ? `${fmtInt(p.waiting)} waiting` : '',
        p.erred ? `${fmtInt(p.erred)} erred` : '',
        g.durationMs ? `${fmtDuration(g.durationMs)} compute` : '',
      ].filter(Boolean);
      setText(r.detail, bits.join(' · '));
    }
    for (const [name, r] of this.rows) {
      if (!seen.has(name)) {
        r.el.remove();
        this.rows.delete(name);
      }
    }
    this.empty.hidden = this.rows.size > 0;
  }
}

// ---------------------------------------------------------------- per-worker bars

interface BarRow {
  el: HTMLElement;
  bar: HTMLElement;
  sub?: HTMLElement;
  marker: HTMLElement;
  text: HTMLElement;
}

abstract class WorkerBars {
  readonly el: HTMLElement;
  protected readonly rows = new Map<string, BarRow>();
  private readonly empty: HTMLElement;

  constructor(cls: string) {
    this.empty = h('div', { class: 'empty' }, 'No workers connected');
    this.el = h('div', { class: `wbars ${cls}` }, this.empty);
  }

  protected row(w: WorkerSnapshot, withSub: boolean): BarRow {
    let r = this.rows.get(w.address);
    if (r) return r;
    const bar = h('div', { class: 'wbar-track' });
    const marker = h('div', { class: 'wbar-marker' });
    const sub = withSub ? h('div', { class: 'wbar-sub' }) : undefined;
    const text = h('span', { class: 'wbar-text' });
    bar.append(marker);
    r = {
      bar, marker, sub, text,
      el: h('div', { class: 'wbar-row', 'data-worker': w.address },
        h('span', { class: 'wbar-name', title: `${w.name} · ${w.address}` }, w.name),
        h('div', { class: 'wbar-bars' }, bar, sub ?? null),
        text),
    };
    this.rows.set(w.address, r);
    return r;
  }

  protected finish(workers: WorkerSnapshot[]): void {
    const sorted = [...workers].sort((a, b) => naturalCompare(a.name, b.name));
    const keep = new Set(sorted.map((w) => w.address));
    for (const [addr, r] of this.rows) {
      if (!keep.has(addr)) {
        r.el.remove();
        this.rows.delete(addr);
      }
    }
    // Re-append in order only when the order changed (appending moves nodes, which is cheap, but not free).
    const current = [...this.el.querySelectorAll<HTMLElement>('.wbar-row')].map((e) => e.dataset.worker);
    if (current.join('|') !== sorted.map((w) => w.address).join('|')) {
      for (const w of sorted) this.el.append(this.rows.get(w.address)!.el);
    }
    this.empty.hidden = workers.length > 0;
  }

  protected segments(bar: HTMLElement, parts: Array<{ frac: number; color: string; title: string; cls?: string }>): void {
    const segs = [...bar.querySelectorAll<HTMLElement>('.wseg')];
    while (segs.length < parts.length) {
      const s = h('span', { class: 'wseg' });
      bar.insertBefore(s, bar.lastChild);
      segs.push(s);
    }
    parts.forEach((p, i) => {
      const s = segs[i]!;
      s.style.width = `${Math.max(0, Math.min(1, p.frac)) * 100}%`;
      s.style.background = p.color;
      s.className = `wseg ${p.cls ?? ''}`;
      s.title = p.title;
    });
  }
}

export const MEMORY_COLORS = {
  managed: '#4e8cff',
  unmanaged: '#8aa0bf',
  spilled: '#e3a33b',
  warn: '#e3a33b',
  danger: ERROR_COLOR,
};

export class MemoryBars extends WorkerBars {
  constructor() {
    super('memory-bars');
  }

  update(workers: WorkerSnapshot[]): void {
    const limits = workers.map((w) => w.memoryLimit).filter((x) => x > 0);
    // One scale for every worker, so bar lengths compare across the cluster.
    const scale = Math.max(1, ...(limits.length ? limits : []), ...workers.map((w) => Math.max(w.rss, w.managedBytes) * 1.15));
    for (const w of workers) {
      const r = this.row(w, true);
      const unmanaged = Math.max(0, w.rss - w.managedBytes);
      const frac = w.memoryLimit > 0 ? w.rss / w.memoryLimit : 0;
      const managedColor = w.status === 'paused' || frac > 0.95 ? MEMORY_COLORS.danger : frac > 0.7 ? MEMORY_COLORS.warn : MEMORY_COLORS.managed;
      this.segments(r.bar, [
        { frac: w.managedBytes / scale, color: managedColor, title: `managed ${fmtBytes(w.managedBytes)}` },
        { frac: unmanaged / scale, color: MEMORY_COLORS.unmanaged, title: `unmanaged (rss − managed) ${fmtBytes(unmanaged)}`, cls: 'wseg-soft' },
      ]);
      r.marker.hidden = !(w.memoryLimit > 0);
      r.marker.style.left = `${(w.memoryLimit / scale) * 100}%`;
      r.marker.title = `limit ${fmtBytes(w.memoryLimit)}`;
      if (r.sub) {
        r.sub.style.width = `${Math.min(1, w.spilledBytes / scale) * 100}%`;
        r.sub.title = `spilled to disk ${fmtBytes(w.spilledBytes)}`;
        r.sub.hidden = w.spilledBytes <= 0;
      }
      setText(r.text, `${fmtBytes(w.rss)}${w.memoryLimit ? ` / ${fmtBytes(w.memoryLimit)}` : ''}${w.spilledBytes ? ` · ${fmtBytes(w.spilledBytes)} spilled` : ''}`);
      r.el.classList.toggle('paused', w.status === 'paused');
    }
    this.finish(workers);
  }
}

export class ProcessingBars extends WorkerBars {
  constructor() {
    super('processing-bars');
  }

  update(workers: WorkerSnapshot[]): void {
    const scale = Math.max(1, ...workers.map((w) => Math.max(w.processing, w.nthreads) * 1.1));
    for (const w of workers) {
      const r = this.row(w, false);
      const queued = Math.max(0, w.processing - w.executing);
      this.segments(r.bar, [
        { frac: w.executing / scale, color: STATE_COLORS.processing!, title: `${w.executing} executing` },
        { frac: queued / scale, color: '#6e7681', title: `${queued} queued on the worker`, cls: 'wseg-soft' },
      ]);
      r.marker.style.left = `${(w.nthreads / scale) * 100}%`;
      r.marker.title = `${w.nthreads} threads`;
      setText(r.text, `${w.executing}/${w.nthreads} busy${queued ? ` · ${queued} queued` : ''} · ${Math.round(w.cpu)}% cpu`);
      r.el.classList.toggle('idle', w.executing === 0);
    }
    this.finish(workers);
  }
}

// ---------------------------------------------------------------- summary cards

export class SummaryCards {
  readonly el: HTMLElement;
  private readonly workers = card('Workers', { id: 'workers' });
  private readonly memory = card('Memory', { bar: true, id: 'memory' });
  private readonly progress = card('Progress', { bar: true, id: 'progress' });
  private readonly completed = card('Completed', { id: 'completed' });
  private readonly erred = card('Erred', { id: 'erred' });
  private readonly states = new StateBar();

  constructor() {
    this.el = h('div', { class: 'cards' }, this.workers.el, this.memory.el, this.progress.el, this.completed.el, this.erred.el, this.states.el);
  }

  update(s: ClusterSnapshot, groups: TaskGroupSnapshot[], rate: number | null): void {
    const hosts = new Set(s.workers.map((w) => w.host)).size;
    const busy = s.workers.reduce((a, w) => a + w.executing, 0);
    setText(this.workers.value, fmtInt(s.workers.length));
    setText(this.workers.sub, `${fmtInt(s.totalThreads)} threads · ${busy} busy · ${hosts} host${hosts === 1 ? '' : 's'}`);

    const managed = s.workers.reduce((a, w) => a + w.managedBytes, 0);
    const rss = s.workers.reduce((a, w) => a + w.rss, 0);
    const spilled = s.workers.reduce((a, w) => a + w.spilledBytes, 0);
    const limit = s.totalMemoryLimit || rss || 1;
    setText(this.memory.value, fmtBytes(rss));
    setText(this.memory.sub, `${fmtBytes(managed)} managed · ${s.totalMemoryLimit ? `limit ${fmtBytes(s.totalMemoryLimit)}` : 'no limit'}${spilled ? ` · ${fmtBytes(spilled)} spilled` : ''}`);
    setBar(this.memory.bar, [
      { frac: managed / limit, color: MEMORY_COLORS.managed, title: 'managed' },
      { frac: Math.max(0, rss - managed) / limit, color: MEMORY_COLORS.unmanaged, title: 'unmanaged' },
    ]);

    let total = 0;
    let finished = 0;
    let erred = 0;
    let processing = 0;
    for (const g of groups) {
      const p = groupProgress(g);
      total += p.total;
      finished += p.done + p.memory + p.erred;
      erred += p.erred;
      processing += p.processing;
    }
    setText(this.progress.value, total ? fmtPct(finished / total) : '–');
    setText(this.progress.sub, total ? `${fmtInt(finished)} of ${fmtInt(total)} tasks` : 'idle');
    setBar(this.progress.bar, [
      { frac: total ? (finished - erred) / total : 0, color: STATE_COLORS.memory!, title: 'finished' },
      { frac: total ? erred / total : 0, color: ERROR_COLOR, title: 'erred' },
      { frac: total ? processing / total : 0, color: STATE_COLORS.processing!, title: 'processing' },
    ]);

    setText(this.completed.value, fmtInt(s.tasksCompleted));
    setText(this.completed.sub, rate === null ? 'tasks since start' : `${rate >= 100 ? fmtInt(rate) : rate.toFixed(1)} tasks/s`);
    setText(this.erred.value, fmtInt(s.tasksErred));
    const failing = groups.filter((g) => (g.states.erred ?? 0) > 0).map((g) => g.name);
    setText(this.erred.sub, failing.length ? `in ${failing.slice(0, 3).join(', ')}${failing.length > 3 ? ` +${failing.length - 3}` : ''}` : 'no failures');
    this.erred.el.classList.toggle('bad', s.tasksErred > 0);
    this.states.update(s.tasksByState);
  }
}

export function kvTable(rows: Array<[string, string | HTMLElement]>): HTMLTableElement {
  const t = h('table', { class: 'kv' });
  for (const [k, v] of rows) t.append(h('tr', null, h('th', null, k), h('td', null, v)));
  return t;
}

export function replaceChildren(el: HTMLElement, ...nodes: HTMLElement[]): void {
  clear(el);
  el.append(...nodes);
}
