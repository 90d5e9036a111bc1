// Task-group colours. A group keeps its colour for the life of the page and,
// because the slot is derived from the name, usually the same colour across
// pages and reports. Red is reserved for errors and is not in the palette.

// Ordered so that consecutive groups get clearly different hues (Tableau 10,
// then its lighter variants).
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f',
  '#a0cbe8', '#ffbe7d', '#8cd17d', '#d4a6c8', '#f1ce63', '#499894', '#fabfd2', '#b6992d',
  '#86bcb6', '#d7b5a6', '#bab0ac', '#79706e',
];

export const ERROR_COLOR = '#f85149';

const assigned = new Map<string, string>();

/**
 * Colours go to groups in the order they are first seen; pages call
 * assignGroupColors() with the scheduler's group order (creation order) first,
 * so the same job gets the same colours live and in its report.
 */
export function groupColor(name: string): string {
  let c = assigned.get(name);
  if (!c) {
    c = PALETTE[assigned.size % PALETTE.length]!;
    assigned.set(name, c);
  }
  return c;
}

export function assignGroupColors(names: Iterable<string>): void {
  for (const n of names) groupColor(n);
}

export const STATE_COLORS: Record<string, string> = {
  memory: '#4e8cff',
  processing: '#3fb950',
  queued: '#8b949e',
  waiting: '#4b5563',
  'no-worker': '#d29922',
  erred: ERROR_COLOR,
  released: '#2f3a4c',
  forgotten: '#1f2633',
};
