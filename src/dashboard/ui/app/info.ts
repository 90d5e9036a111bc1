// /info: who this scheduler is and how it is configured.

import type { SchedulerInfoPayload } from '../../protocol.js';
import { clear, h } from './dom.js';
import { fmtDuration, fmtTime } from './format.js';
import { kvTable, panel } from './panels.js';
import { shell } from './shell.js';
import { LiveStore } from './store.js';

const ENDPOINTS: Array<[string, string]> = [
  ['api/v1/cluster', 'cluster snapshot'],
  ['api/v1/workers', 'every worker'],
  ['api/v1/task-groups', 'task groups and their states'],
  ['api/v1/task-stream?since=0', 'task stream after a cursor'],
  ['api/v1/info', 'this page as JSON'],
  ['api/v1/events', 'live updates (server-sent events)'],
  ['metrics', 'Prometheus metrics'],
  ['health', 'liveness check'],
];

function value(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function infoPage(): void {
  const ui = shell('info');
  const store = new LiveStore();
  const sched = h('div');
  const config = h('div');
  const api = kvTable(ENDPOINTS.map(([p, what]) => [what, h('a', { href: p }, `/${p}`)] as [string, HTMLElement]));
  ui.main.append(
    panel('Scheduler', sched, undefined, 'span-6'),
    panel('Configuration', config, undefined, 'span-6'),
    panel('API', api, undefined, 'span-12'),
  );
  let info: SchedulerInfoPayload | undefined;
  const render = (): void => {
    const s = store.snapshot;
    if (!info) return;
    const now = s?.now ?? info.now;
    clear(sched);
    sched.append(kvTable([
      ['Scheduler id', h('code', null, info.id)],
      ['Address', h('code', null, info.address)],
      ['Version', info.version],
      ['Started', fmtTime(info.startedAt)],
      ['Uptime', fmtDuration(now - info.startedAt)],
      ['Workers', String(s?.workers.length ?? info.workers)],
      ['Threads', String(s?.totalThreads ?? info.threads)],
      ['Clients', String(s?.clients ?? info.clients)],
      ['Dashboard', `port ${info.dashboard.port} · updates every ${info.dashboard.updateIntervalMs} ms`],
    ]));
    ui.meta.textContent = `${info.address} · v${info.version}`;
  };
  fetch('api/v1/info')
    .then((r) => r.json() as Promise<SchedulerInfoPayload>)
    .then((i) => {
      info = i;
      clear(config);
      const entries = Object.entries(i.config);
      config.append(entries.length ? kvTable(entries.map(([k, v]) => [k, h('code', null, value(v))] as [string, HTMLElement])) : h('div', { class: 'empty' }, 'No configuration reported'));
      render();
    })
    .catch((err: unknown) => {
      sched.textContent = `could not load /api/v1/info: ${String(err)}`;
    });
  store.onConnection((s) => ui.setConnection(s));
  let last = 0;
  store.onUpdate(() => {
    if (performance.now() - last < 1000) return;
    last = performance.now();
    render();
  });
  store.connect();
}
