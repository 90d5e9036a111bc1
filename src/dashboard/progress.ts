/**
 * Terminal progress for running computations: one live bar per task group on
 * a TTY (redrawn in place), and plain periodic lines otherwise — in a Slurm
 * or MPI batch job stdout/stderr go to a file, where redraw codes would be
 * garbage and a bar every 100 ms would bury the log.
 *
 * The renderer only needs a function returning per-group counts, so the client
 * can feed it from futures, collections or the scheduler alike.
 */

export interface ProgressCounts {
  name: string;
  total: number;
  /** Finished successfully. */
  done: number;
  erred: number;
}

export type ProgressSource = () => ProgressCounts[] | Promise<ProgressCounts[]>;

export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Where to draw (default process.stderr, like dask's ProgressBar). */
  stream?: ProgressStream;
  /** Redraw in place (default: the stream is a TTY and TERM is not 'dumb'). */
  tty?: boolean;
  /** ANSI colours (default: on a TTY unless NO_COLOR is set). */
  color?: boolean;
  /** How often counts are read: default 100 ms on a TTY, 1 s otherwise. */
  intervalMs?: number;
  /** Not a TTY: at most one line per this interval, and only when something changed (default 10 s). */
  logIntervalMs?: number;
  /** Stop by itself once every group is finished (default true). */
  untilComplete?: boolean;
  /** Groups drawn on a TTY before the rest are summarised in one line (default 16). */
  maxGroups?: number;
  /** Prefix of plain lines (default 'tessera'). */
  label?: string;
  /** What the counts count, in the header and plain lines (default 'tasks'; e.g. 'MB'). */
  unit?: string;
}

export interface ProgressHandle {
  /** Resolves with the last counts when every group finished or stop() was called; rejects if the source throws. */
  readonly done: Promise<ProgressCounts[]>;
  /** Draws the final state and stops. */
  stop(): Promise<ProgressCounts[]>;
}

const ESC = '\x1b[';
const SGR = { reset: `${ESC}0m`, dim: `${ESC}2m`, bold: `${ESC}1m`, green: `${ESC}32m`, red: `${ESC}31m`, cyan: `${ESC}36m` };

export function isComplete(groups: ProgressCounts[]): boolean {
  return groups.length > 0 && groups.every((g) => g.done + g.erred >= g.total);
}

export function formatElapsed(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function totals(groups: ProgressCounts[]): ProgressCounts {
  return groups.reduce(
    (a, g) => ({ name: 'all', total: a.total + g.total, done: a.done + g.done, erred: a.erred + g.erred }),
    { name: 'all', total: 0, done: 0, erred: 0 },
  );
}

function pct(g: ProgressCounts): number {
  return g.total > 0 ? Math.min(100, Math.floor(((g.done + g.erred) / g.total) * 100)) : 0;
}

/**
 * The TTY frame: a header and one bar per group, each at most `columns - 1`
 * visible characters so no line wraps (wrapping would break the redraw).
 */
export function formatProgressBars(
  groups: ProgressCounts[],
  opts: { columns?: number; elapsedMs?: number; color?: boolean; maxGroups?: number; unit?: string } = {},
): string[] {
  const columns = Math.max(40, opts.columns ?? 80);
  const color = opts.color ?? false;
  const paint = (code: string, s: string): string => (color && s ? `${code}${s}${SGR.reset}` : s);
  const maxGroups = opts.maxGroups ?? 16;
  const all = totals(groups);
  const complete = isComplete(groups);
  const lines: string[] = [];
  const head = `${complete ? 'Done' : 'Progress'}: ${all.done + all.erred}/${all.total} ${opts.unit ?? 'tasks'} (${pct(all)}%)` +
    `${all.erred ? `, ${all.erred} erred` : ''}${opts.elapsedMs !== undefined ? ` · ${formatElapsed(opts.elapsedMs)}` : ''}`;
  lines.push(paint(SGR.bold, head.slice(0, columns - 1)));
  const shown = groups.slice(0, maxGroups);
  const countW = Math.max(...shown.map((g) => `${g.done + g.erred}/${g.total}`.length), 3);
  const tails = shown.map((g) => ` ${String(pct(g)).padStart(3)}% ${`${g.done + g.erred}/${g.total}`.padStart(countW)}${g.erred ? ` ✗${g.erred}` : ''}`);
  const tailW = Math.max(0, ...tails.map((t) => t.length));
  // Names give way first, so every bar keeps at least 8 cells; the whole line stays under `columns`.
  const nameW = Math.max(4, Math.min(24, Math.max(...shown.map((g) => g.name.length)), columns - 1 - 2 - 1 - tailW - 8));
  shown.forEach((g, i) => {
    const tail = tails[i]!;
    const name = g.name.length > nameW ? `${g.name.slice(0, nameW - 1)}…` : g.name.padEnd(nameW);
    // One bar width per frame, so the bars line up.
    const barW = Math.max(1, Math.min(50, columns - 1 - 2 - nameW - 1 - tailW));
    const okCells = g.total ? Math.floor((g.done / g.total) * barW) : 0;
    let errCells = g.total && g.erred ? Math.max(1, Math.floor((g.erred / g.total) * barW)) : 0;
    errCells = Math.min(errCells, barW - okCells);
    const rest = barW - okCells - errCells;
    const finished = g.total > 0 && g.done + g.erred >= g.total;
    const bar = paint(finished && !g.erred ? SGR.green : SGR.cyan, '█'.repeat(okCells)) + paint(SGR.red, '█'.repeat(errCells)) + paint(SGR.dim, '░'.repeat(rest));
    lines.push(`  ${name} ${bar}${g.erred ? tail.replace(/✗\d+$/, (m) => paint(SGR.red, m)) : tail}`);
  });
  if (groups.length > shown.length) {
    const rest = totals(groups.slice(shown.length));
    lines.push(paint(SGR.dim, `  … ${groups.length - shown.length} more groups: ${rest.done + rest.erred}/${rest.total}`.slice(0, columns - 1)));
  }
  return lines;
}

/** One plain line for logs: every group's count, the total and the elapsed time. */
export function formatProgressLine(groups: ProgressCounts[], elapsedMs: number, label = 'tessera', unit = 'tasks'): string {
  const all = totals(groups);
  const complete = isComplete(groups);
  const parts = groups.map((g) => `${g.name} ${g.done + g.erred}/${g.total}${g.erred ? ` (${g.erred} erred)` : ''}`);
  const head = complete
    ? `done in ${formatElapsed(elapsedMs)}: ${all.done + all.erred}/${all.total} ${unit}`
    : `${formatElapsed(elapsedMs)}: ${all.done + all.erred}/${all.total} ${unit} (${pct(all)}%)`;
  const err = all.erred ? `, ${all.erred} erred` : '';
  return `[${label}] ${head}${err}${parts.length ? ` | ${parts.join(', ')}` : ''}`;
}

export function renderProgress(source: ProgressSource, opts: ProgressOptions = {}): ProgressHandle {
  const stream: ProgressStream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? (!!stream.isTTY && process.env.TERM !== 'dumb');
  const color = opts.color ?? (tty && !process.env.NO_COLOR);
  const intervalMs = Math.max(20, opts.intervalMs ?? (tty ? 100 : 1000));
  const logIntervalMs = opts.logIntervalMs ?? 10_000;
  const untilComplete = opts.untilComplete ?? true;
  const label = opts.label ?? 'tessera';
  const t0 = Date.now();

  let last: ProgressCounts[] = [];
  let drawnLines = 0;
  let lastLogAt = -Infinity;
  let lastSig = '';
  let busy = false;
  let finished = false;
  let cursorHidden = false;
  let resolveDone!: (v: ProgressCounts[]) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<ProgressCounts[]>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // Callers that only await stop() must not see an unhandled rejection.
  done.catch(() => undefined);

  const showCursor = (): void => {
    if (cursorHidden) stream.write(`${ESC}?25h`);
    cursorHidden = false;
  };
  // If the process exits mid-bar (Ctrl-C), give the terminal its cursor back.
  process.once('exit', showCursor);

  const draw = (final: boolean): void => {
    const elapsed = Date.now() - t0;
    if (tty) {
      const lines = formatProgressBars(last, { columns: stream.columns, elapsedMs: elapsed, color, maxGroups: opts.maxGroups, ...(opts.unit ? { unit: opts.unit } : {}) });
      let out = '';
      if (!cursorHidden && !final) {
        out += `${ESC}?25l`;
        cursorHidden = true;
      }
      if (drawnLines) out += `${ESC}${drawnLines}F`;
      for (const l of lines) out += `${ESC}2K${l}\n`;
      out += `${ESC}0J`;
      stream.write(out);
      drawnLines = lines.length;
      if (final) showCursor();
      return;
    }
    const line = formatProgressLine(last, elapsed, label, opts.unit);
    const sig = JSON.stringify(last.map((g) => [g.name, g.done, g.erred, g.total]));
    // The final line always; otherwise at most one per logIntervalMs, and only when counts moved.
    if (final || (elapsed - lastLogAt >= logIntervalMs && sig !== lastSig)) {
      stream.write(`${line}\n`);
      lastLogAt = elapsed;
      lastSig = sig;
    }
  };

  const finish = (): ProgressCounts[] => {
    if (!finished) {
      finished = true;
      clearInterval(timer);
      draw(true);
      process.off('exit', showCursor);
      resolveDone(last);
    }
    return last;
  };

  const poll = async (): Promise<void> => {
    if (busy || finished) return;
    busy = true;
    try {
      last = await source();
      if (finished) return;
      if (untilComplete && isComplete(last)) finish();
      else draw(false);
    } catch (err) {
      if (!finished) {
        finished = true;
        clearInterval(timer);
        showCursor();
        process.off('exit', showCursor);
        rejectDone(err);
      }
    } finally {
      busy = false;
    }
  };

  const timer = setInterval(() => void poll(), intervalMs);
  void poll();

  return {
    done,
    async stop(): Promise<ProgressCounts[]> {
      if (finished) return done;
      try {
        last = await source();
      } catch {
        // Keep the last counts we had: stopping must not fail because the cluster went away.
      }
      return finish();
    },
  };
}
