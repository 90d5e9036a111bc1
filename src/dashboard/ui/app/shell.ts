// The frame around every page: brand, navigation, connection state.

import { h } from './dom.js';
import type { ConnectionState } from './store.js';

export interface Shell {
  main: HTMLElement;
  meta: HTMLElement;
  setConnection(s: ConnectionState): void;
}

const NAV: Array<[string, string]> = [
  ['status', 'Status'],
  ['workers', 'Workers'],
  ['info', 'Info'],
];

export function logo(): HTMLElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 32 32');
  svg.setAttribute('class', 'logo');
  const cells: Array<[number, number, string]> = [[5, 5, '#4e79a7'], [17, 5, '#f28e2b'], [5, 17, '#59a14f'], [17, 17, '#b07aa1']];
  for (const [x, y, c] of cells) {
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(x));
    r.setAttribute('y', String(y));
    r.setAttribute('width', '10');
    r.setAttribute('height', '10');
    r.setAttribute('rx', '2');
    r.setAttribute('fill', c);
    svg.append(r);
  }
  return svg as unknown as HTMLElement;
}

export function shell(page: string, opts: { nav?: boolean; title?: string } = {}): Shell {
  const dot = h('span', { class: 'dot connecting' });
  const label = h('span', { class: 'conn-label' }, 'connecting…');
  const meta = h('div', { class: 'topmeta' });
  const nav = h('nav');
  if (opts.nav !== false) {
    for (const [id, text] of NAV) nav.append(h('a', { href: id, class: id === page ? 'active' : '' }, text));
  }
  const header = h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, logo(), h('span', null, 'Tessera'), opts.title ? h('span', { class: 'brand-sub' }, opts.title) : null),
    nav,
    meta,
    opts.nav !== false ? h('div', { class: 'conn', title: 'live updates from the scheduler' }, dot, label) : null,
  );
  const main = h('main', { class: `page page-${page}` });
  const app = document.getElementById('app') ?? document.body;
  app.append(header, main);
  return {
    main,
    meta,
    setConnection(s) {
      dot.className = `dot ${s}`;
      label.textContent = s === 'live' ? 'live' : s === 'connecting' ? 'connecting…' : 'reconnecting…';
    },
  };
}
