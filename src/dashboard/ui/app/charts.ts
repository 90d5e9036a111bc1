// Time-series charts (memory over time, throughput) with uPlot: small, fast,
// canvas-based, no dependencies, and bundled so it works offline.

import uPlot from 'uplot';
import { h } from './dom.js';

export interface SeriesSpec {
  label: string;
  color: string;
  fill?: string;
  dash?: number[];
  width?: number;
}

export interface TimeChartOptions {
  height?: number;
  yFormat: (v: number) => string;
  /** Y axis starts at 0 and never shrinks below this. */
  minMax?: number;
}

const AXIS_STYLE = {
  stroke: '#8b949e',
  grid: { stroke: 'rgba(255,255,255,0.06)', width: 1 },
  ticks: { stroke: 'rgba(255,255,255,0.10)', width: 1, size: 4 },
  font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
};

export class TimeChart {
  readonly el: HTMLDivElement;
  private plot: uPlot | undefined;
  private pending: uPlot.AlignedData | undefined;

  constructor(private readonly series: SeriesSpec[], private readonly opts: TimeChartOptions) {
    this.el = h('div', { class: 'chart' });
    new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.opts.height ?? 180 });
      else if (this.pending) this.create(this.pending);
    }).observe(this.el);
  }

  private width(): number {
    return Math.max(200, this.el.clientWidth);
  }

  private create(data: uPlot.AlignedData): void {
    if (!this.el.isConnected || this.el.clientWidth === 0) {
      this.pending = data;
      return;
    }
    const fmt = this.opts.yFormat;
    const minMax = this.opts.minMax ?? 1;
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.opts.height ?? 180,
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      legend: { show: true, live: true },
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, Math.max(minMax, max * 1.08)] },
      },
      axes: [
        {
          ...AXIS_STYLE,
          space: 70,
          // Whole seconds and up, as wall-clock times: sub-second ticks say nothing at this scale.
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400],
          values: (_u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })),
        },
        { ...AXIS_STYLE, size: 64, values: (_u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [
        { value: (_u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })) },
        ...this.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          fill: s.fill,
          dash: s.dash,
          points: { show: false },
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : fmt(v)),
        })),
      ],
    };
    this.pending = undefined;
    this.plot = new uPlot(opts, data, this.el);
  }

  /** `t` in ms since epoch; one array per series, aligned with `t`. */
  setData(t: number[], ys: (number | null)[][]): void {
    const data = [t.map((x) => x / 1000), ...ys] as uPlot.AlignedData;
    if (!this.plot) this.create(data);
    else this.plot.setData(data);
  }
}
