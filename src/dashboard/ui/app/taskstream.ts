// The task stream: one row per worker thread, one bar per task over time,
// coloured by task group; transfers are thin hatched bars at the top of the
// row, errors red. Drawn on a plain canvas: a Gantt chart with tens of
// thousands of bars is not what chart libraries are built for, and a canvas
// redraw of only the visible bars stays cheap at 20 frames a second.

import type { TaskStreamEvent } from '../../protocol.js';
import { ERROR_COLOR, groupColor } from './colors.js';
import { fmtBytes, fmtDuration, naturalCompare } from './format.js';
import { h, clear } from './dom.js';

export interface StreamWorker {
  address: string;
  name: string;
  nthreads: number;
}

interface Row {
  worker: string;
  name: string;
  thread: number;
  first: boolean;
  events: TaskStreamEvent[];
}

export interface TaskStreamOptions {
  mode: 'live' | 'static';
  /** Live: width of the visible window. */
  windowMs?: number;
  /** Live: the scheduler's clock as seen from the browser. */
  now?: () => number;
  /** Static: the full time range (ms since epoch). */
  range?: [number, number];
  /** Tallest the plot may get before rows shrink. */
  maxPlotHeight?: number;
}

const GUTTER = 118;
const AXIS = 24;
const RETAIN_MS = 10 * 60_000;
/** Events kept in a live view; at thousands of tasks a second bars are sub-pixel long before this. */
const MAX_EVENTS = 150_000;
const NICE_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
  600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 43_200_000, 86_400_000,
];

export class TaskStreamView {
  readonly el: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly tip: HTMLDivElement;
  private readonly legend: HTMLDivElement;
  private readonly hint: HTMLDivElement;
  private rows: Row[] = [];
  private rowOf = new Map<string, number>();
  private workers: StreamWorker[] = [];
  private all: TaskStreamEvent[] = [];
  private windowMs: number;
  private view: [number, number] | undefined;
  private drag: { x0: number; x1: number } | undefined;
  private hover: { x: number; y: number } | undefined;
  private lastFrame = 0;
  private lastPrune = 0;
  private lastLegend = -Infinity;
  private dirty = true;
  private hatch: CanvasPattern | null = null;
  private legendKey = '';

  constructor(private readonly opts: TaskStreamOptions) {
    this.windowMs = opts.windowMs ?? 30_000;
    this.canvas = h('canvas', { class: 'ts-canvas', 'data-rows': 0, 'data-bars': 0 });
    this.tip = h('div', { class: 'tooltip', hidden: true });
    this.legend = h('div', { class: 'legend ts-legend' });
    this.hint = h('div', { class: 'ts-empty' }, 'Waiting for tasks…');
    this.el = h('div', { class: 'taskstream' }, h('div', { class: 'ts-wrap' }, this.canvas, this.hint, this.tip), this.legend);
    if (opts.mode === 'static') this.view = opts.range;
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => {
      this.hover = undefined;
      this.tip.hidden = true;
      if (this.drag) this.drag = undefined;
      this.dirty = true;
    });
    if (opts.mode === 'static') {
      this.canvas.addEventListener('mousedown', (e) => {
        const x = this.localX(e);
        if (x > GUTTER) this.drag = { x0: x, x1: x };
      });
      this.canvas.addEventListener('mouseup', () => this.endDrag());
      this.canvas.addEventListener('dblclick', () => {
        this.view = this.opts.range;
        this.dirty = true;
      });
    }
    new ResizeObserver(() => {
      this.dirty = true;
      this.draw();
    }).observe(this.el);
    const loop = (t: number): void => {
      // Live: redraw ~20x a second so bars glide; static: only when something changed.
      if ((this.opts.mode === 'live' && t - this.lastFrame > 50) || this.dirty) {
        this.lastFrame = t;
        this.draw();
      }
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  setWindow(ms: number): void {
    this.windowMs = ms;
    this.dirty = true;
  }

  setWorkers(workers: StreamWorker[]): void {
    const sig = (ws: StreamWorker[]): string => ws.map((w) => `${w.address}/${w.nthreads}/${w.name}`).join('|');
    const sorted = [...workers].sort((a, b) => naturalCompare(a.name, b.name) || naturalCompare(a.address, b.address));
    if (sig(sorted) === sig(this.workers)) return;
    this.workers = sorted;
    this.rows = [];
    this.rowOf.clear();
    for (const w of sorted) {
      for (let t = 0; t < Math.max(1, w.nthreads); t++) {
        this.rowOf.set(`${w.address}#${t}`, this.rows.length);
        this.rows.push({ worker: w.address, name: w.name, thread: t, first: t === 0, events: [] });
      }
    }
    for (const e of this.all) this.bucket(e);
    this.canvas.dataset.rows = String(this.rows.length);
    this.dirty = true;
  }

  clearEvents(): void {
    this.all = [];
    for (const r of this.rows) r.events = [];
    this.dirty = true;
  }

  addEvents(events: TaskStreamEvent[]): void {
    for (const e of events) {
      this.all.push(e);
      this.bucket(e);
    }
    if (events.length) this.dirty = true;
    this.el.dataset.events = String(this.all.length);
  }

  private bucket(e: TaskStreamEvent): void {
    // Transfers are not tied to an executor thread on every scheduler: clamp to a real row.
    let i = this.rowOf.get(`${e.worker}#${e.thread}`);
    if (i === undefined) i = this.rowOf.get(`${e.worker}#0`);
    if (i !== undefined) this.rows[i]!.events.push(e);
  }

  private prune(now: number): void {
    let cut = now - Math.max(RETAIN_MS, this.windowMs * 2);
    if (this.all.length > MAX_EVENTS) cut = Math.max(cut, this.all[this.all.length - Math.floor(MAX_EVENTS * 0.75)]!.stop);
    if (!this.all.length || this.all[0]!.stop >= cut) return;
    this.all = this.all.filter((e) => e.stop >= cut);
    for (const r of this.rows) r.events = r.events.filter((e) => e.stop >= cut);
  }

  /** First event of a row that may be visible: rows arrive in completion order, so `stop` is (nearly) sorted. */
  private static firstVisible(evs: TaskStreamEvent[], t0: number): number {
    let lo = 0;
    let hi = evs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (evs[mid]!.stop < t0) lo = mid + 1;
      else hi = mid;
    }
    // Completion order is not strictly stop order (transfers, clock skew between workers): back off a little.
    return Math.max(0, lo - 64);
  }

  private range(): [number, number] {
    if (this.opts.mode === 'live') {
      const now = this.opts.now ? this.opts.now() : Date.now();
      // A young job fills the plot instead of hugging its right edge; at least 5 s are shown.
      const first = this.all.length ? this.all[0]!.start : -Infinity;
      return [Math.max(now - this.windowMs, Math.min(now - 5000, first - 200)), now];
    }
    return this.view ?? [0, 1];
  }

  private localX(e: MouseEvent): number {
    return e.clientX - this.canvas.getBoundingClientRect().left;
  }

  private endDrag(): void {
    const d = this.drag;
    this.drag = undefined;
    if (!d || Math.abs(d.x1 - d.x0) < 4) return;
    const [t0, t1] = this.range();
    const plotW = this.canvas.clientWidth - GUTTER - 8;
    const toT = (x: number): number => t0 + ((x - GUTTER) / plotW) * (t1 - t0);
    const a = toT(Math.min(d.x0, d.x1));
    const b = toT(Math.max(d.x0, d.x1));
    if (b - a > 1) this.view = [a, b];
    this.dirty = true;
  }

  private layout(): { rowH: number; plotH: number; width: number } {
    const maxH = this.opts.maxPlotHeight ?? 440;
    const n = Math.max(1, this.rows.length);
    const rowH = Math.max(3, Math.min(22, Math.floor(maxH / n)));
    return { rowH, plotH: rowH * n, width: Math.max(200, this.el.clientWidth) };
  }

  private onMove(e: MouseEvent): void {
    const rect = this.canvas.getBoundingClientRect();
    this.hover = { x: e.clientX - rect.left, y: e.clientY - rect.top };
    if (this.drag) this.drag.x1 = this.hover.x;
    this.dirty = true;
    this.updateTip();
  }

  private hit(): TaskStreamEvent | undefined {
    if (!this.hover) return undefined;
    const { rowH } = this.layout();
    const { x, y } = this.hover;
    const i = Math.floor(y / rowH);
    const row = this.rows[i];
    if (!row || x < GUTTER) return undefined;
    const [t0, t1] = this.range();
    const plotW = this.canvas.clientWidth - GUTTER - 8;
    const t = t0 + ((x - GUTTER) / plotW) * (t1 - t0);
    const slack = (3 / plotW) * (t1 - t0);
    let best: TaskStreamEvent | undefined;
    for (let k = row.events.length - 1; k >= 0; k--) {
      const ev = row.events[k]!;
      if (ev.start - slack <= t && t <= ev.stop + slack) {
        // Prefer compute over the thin transfer strip unless the pointer is in the strip.
        if (!best || (best.kind === 'transfer' && ev.kind !== 'transfer')) best = ev;
        if (best.kind !== 'transfer') break;
      }
    }
    return best;
  }

  private updateTip(): void {
    const ev = this.hit();
    if (!ev || !this.hover) {
      this.tip.hidden = true;
      return;
    }
    clear(this.tip);
    const w = this.workers.find((x) => x.address === ev.worker);
    const kind = ev.kind === 'transfer' ? 'transfer' : ev.kind === 'error' ? 'error' : 'compute';
    this.tip.append(
      h('div', { class: 'tip-title' }, h('span', { class: 'swatch', style: `background:${ev.kind === 'error' ? ERROR_COLOR : groupColor(ev.group)}` }), ev.key),
      h('div', null, `${kind} · ${fmtDuration(ev.stop - ev.start)}${ev.nbytes ? ` · ${fmtBytes(ev.nbytes)}` : ''}`),
      h('div', { class: 'muted' }, `group ${ev.group}`),
      h('div', { class: 'muted' }, `worker ${w?.name ?? ev.worker} · thread ${ev.thread}`),
    );
    this.tip.hidden = false;
    const maxX = this.canvas.clientWidth - 260;
    this.tip.style.left = `${Math.max(0, Math.min(this.hover.x + 14, maxX))}px`;
    this.tip.style.top = `${this.hover.y + 14}px`;
  }

  private pattern(ctx: CanvasRenderingContext2D, dpr: number): CanvasPattern | null {
    if (this.hatch) return this.hatch;
    const size = Math.round(6 * dpr);
    const c = document.createElement('canvas');
    c.width = c.height = size;
    const g = c.getContext('2d')!;
    g.fillStyle = 'rgba(230,237,243,0.25)';
    g.fillRect(0, 0, size, size);
    g.strokeStyle = 'rgba(230,237,243,0.9)';
    g.lineWidth = Math.max(1, dpr);
    g.beginPath();
    g.moveTo(0, size);
    g.lineTo(size, 0);
    g.stroke();
    this.hatch = ctx.createPattern(c, 'repeat');
    return this.hatch;
  }

  draw(): void {
    this.dirty = false;
    const { rowH, plotH, width } = this.layout();
    const height = plotH + AXIS;
    const dpr = window.devicePixelRatio || 1;
    const cv = this.canvas;
    if (cv.width !== Math.round(width * dpr) || cv.height !== Math.round(height * dpr)) {
      cv.width = Math.round(width * dpr);
      cv.height = Math.round(height * dpr);
      cv.style.width = `${width}px`;
      cv.style.height = `${height}px`;
    }
    const ctx = cv.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const [t0, t1] = this.range();
    if (this.opts.mode === 'live' && (t1 - this.lastPrune > 2000 || this.all.length > MAX_EVENTS)) {
      this.lastPrune = t1;
      this.prune(t1);
    }
    const plotW = width - GUTTER - 8;
    const xOf = (t: number): number => GUTTER + ((t - t0) / (t1 - t0)) * plotW;

    // Row backgrounds: alternate per worker so a worker's threads read as one band.
    let band = 0;
    for (let i = 0; i < this.rows.length; i++) {
      const r = this.rows[i]!;
      if (r.first && i > 0) band++;
      ctx.fillStyle = band % 2 ? 'rgba(255,255,255,0.035)' : 'rgba(255,255,255,0.012)';
      ctx.fillRect(0, i * rowH, width, rowH);
      if (r.first && i > 0) {
        ctx.fillStyle = 'rgba(255,255,255,0.10)';
        ctx.fillRect(0, i * rowH, width, 1);
      }
    }

    // Time grid.
    const span = t1 - t0;
    const step = NICE_STEPS.find((s) => (s / span) * plotW >= 90) ?? NICE_STEPS[NICE_STEPS.length - 1]!;
    ctx.font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    const live = this.opts.mode === 'live';
    const origin = live ? t1 : (this.opts.range?.[0] ?? t0);
    const first = Math.ceil((t0 - origin) / step) * step + origin;
    for (let t = first; t <= t1 + 1e-6; t += step) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.fillStyle = 'rgba(255,255,255,0.06)';
      ctx.fillRect(x, 0, 1, plotH);
      ctx.fillStyle = '#8b949e';
      const rel = t - origin;
      const label = live ? (Math.abs(rel) < 1 ? 'now' : `-${fmtShort(-rel)}`) : fmtShort(rel);
      ctx.fillText(label, Math.min(Math.max(x, GUTTER + 16), width - 22), plotH + AXIS / 2);
    }

    // Bars.
    let bars = 0;
    const pad = rowH >= 8 ? 1.5 : rowH >= 5 ? 1 : 0;
    const hatch = this.pattern(ctx, dpr);
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, plotW, plotH);
    ctx.clip();
    for (let i = 0; i < this.rows.length; i++) {
      const y = i * rowH;
      const evs = this.rows[i]!.events;
      for (let k = TaskStreamView.firstVisible(evs, t0); k < evs.length; k++) {
        const e = evs[k]!;
        if (e.stop < t0 || e.start > t1) continue;
        const x0 = xOf(e.start);
        const w = Math.max(1, xOf(e.stop) - x0);
        bars++;
        if (e.kind === 'transfer') {
          ctx.fillStyle = hatch ?? 'rgba(230,237,243,0.6)';
          ctx.fillRect(x0, y + pad, w, Math.max(2, (rowH - 2 * pad) * 0.4));
        } else {
          ctx.fillStyle = e.kind === 'error' ? ERROR_COLOR : groupColor(e.group);
          ctx.fillRect(x0, y + pad, w, rowH - 2 * pad);
          if (e.kind === 'error' && rowH >= 8 && w >= 3) {
            ctx.fillStyle = 'rgba(0,0,0,0.45)';
            ctx.fillRect(x0, y + rowH - pad - 2, w, 2);
          }
        }
      }
    }
    if (this.drag) {
      ctx.fillStyle = 'rgba(88,166,255,0.18)';
      const a = Math.min(this.drag.x0, this.drag.x1);
      ctx.fillRect(a, 0, Math.abs(this.drag.x1 - this.drag.x0), plotH);
    }
    ctx.restore();

    // Labels in the gutter, over an opaque background so bars never run under them.
    ctx.fillStyle = '#161b22';
    ctx.fillRect(0, 0, GUTTER - 4, plotH);
    ctx.textAlign = 'left';
    for (let i = 0; i < this.rows.length; i++) {
      const r = this.rows[i]!;
      const y = i * rowH + rowH / 2;
      if (r.first) {
        ctx.fillStyle = '#e6edf3';
        ctx.font = `600 ${Math.min(12, Math.max(9, rowH - 4))}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
        const wk = this.workers.find((w) => w.address === r.worker);
        const threads = wk && wk.nthreads > 1 && rowH < 10 ? ` ×${wk.nthreads}` : '';
        ctx.fillText(ellipsize(ctx, r.name + threads, GUTTER - 40), 8, rowH < 10 ? y + (rowH * (wk?.nthreads ?? 1)) / 2 - rowH / 2 : y);
      }
      if (rowH >= 10) {
        ctx.fillStyle = '#6e7681';
        ctx.font = '10px ui-monospace, SFMono-Regular, Menlo, monospace';
        ctx.textAlign = 'right';
        ctx.fillText(`t${r.thread}`, GUTTER - 10, y);
        ctx.textAlign = 'left';
      }
    }
    ctx.fillStyle = 'rgba(255,255,255,0.10)';
    ctx.fillRect(GUTTER - 4, 0, 1, plotH);

    cv.dataset.bars = String(bars);
    cv.dataset.rows = String(this.rows.length);
    this.hint.hidden = bars > 0 || this.rows.length === 0 ? true : false;
    if (!this.rows.length) {
      this.hint.hidden = false;
      this.hint.textContent = 'No workers connected';
    } else this.hint.textContent = live ? 'Waiting for tasks…' : 'No tasks in this range';
    if (this.hover) this.updateTip();
    const now = performance.now();
    // Live: the legend follows the window once a second. Static: every redraw (zoom changes what is visible).
    if (!live || now - this.lastLegend > 1000) {
      this.lastLegend = now;
      this.renderLegend(t0, t1);
    }
  }

  private renderLegend(t0: number, t1: number): void {
    const groups = new Set<string>();
    let transfers = false;
    let errors = false;
    for (const r of this.rows) {
      for (let k = r.events.length - 1; k >= 0; k--) {
        const e = r.events[k]!;
        if (e.stop < t0 || e.start > t1) continue;
        if (e.kind === 'transfer') transfers = true;
        else if (e.kind === 'error') errors = true;
        else groups.add(e.group);
      }
    }
    const list = [...groups].sort(naturalCompare);
    const key = `${list.join('|')}#${transfers}#${errors}`;
    if (key === this.legendKey) return;
    this.legendKey = key;
    clear(this.legend);
    for (const g of list) {
      this.legend.append(h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${groupColor(g)}` }), g));
    }
    if (transfers) this.legend.append(h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-transfer' }), 'transfer'));
    if (errors) this.legend.append(h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${ERROR_COLOR}` }), 'error'));
    if (this.opts.mode === 'static') this.legend.append(h('span', { class: 'legend-hint' }, 'drag to zoom · double-click to reset'));
  }
}

function fmtShort(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s % 60);
  if (m < 60) return rest ? `${m}m${String(rest).padStart(2, '0')}s` : `${m}m`;
  const hh = Math.floor(m / 60);
  return m % 60 ? `${hh}h${String(m % 60).padStart(2, '0')}m` : `${hh}h`;
}

function ellipsize(ctx: CanvasRenderingContext2D, text: string, max: number): string {
  if (ctx.measureText(text).width <= max) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(s + '…').width > max) s = s.slice(0, -1);
  return s + '…';
}
