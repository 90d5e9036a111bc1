/* eslint-disable no-control-regex -- these tests match the ANSI escape codes the progress bar draws */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatProgressBars, formatProgressLine, isComplete, renderProgress, type ProgressCounts, type ProgressStream,
} from '../../src/dashboard/progress.js';

class Capture implements ProgressStream {
  out = '';
  constructor(readonly isTTY: boolean, readonly columns = 80) {}
  write(chunk: string): boolean {
    this.out += chunk;
    return true;
  }
}

const strip = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

/** A job of two groups that advances a step each time it is read. */
function job(steps: number): () => ProgressCounts[] {
  let i = 0;
  return () => {
    const k = Math.min(i++, steps);
    return [
      { name: 'read-csv', total: 10, done: Math.min(10, k * 2), erred: 0 },
      { name: 'to-parquet', total: 10, done: k >= steps ? 9 : Math.max(0, k * 2 - 2), erred: k >= steps ? 1 : 0 },
    ];
  };
}

describe('terminal progress', { timeout: 20_000 }, () => {
  it('formats one bar per group that never exceeds the terminal width', () => {
    const groups: ProgressCounts[] = [
      { name: 'inc', total: 1000, done: 500, erred: 0 },
      { name: 'a-very-long-task-group-name-indeed-longer-than-24', total: 3, done: 1, erred: 1 },
    ];
    for (const columns of [40, 80, 200]) {
      const lines = formatProgressBars(groups, { columns, elapsedMs: 1234 });
      assert.equal(lines.length, 3);
      for (const l of lines) assert.ok(strip(l).length <= columns - 1, `${JSON.stringify(l)} fits ${columns}`);
      if (columns >= 80) assert.match(lines[0]!, /^Progress: 502\/1003 tasks \(50%\), 1 erred · 1\.2s$/);
      assert.match(lines[1]!, /inc +█+░+ +50% +500\/1000$/);
      assert.match(lines[2]!, /✗1$/);
    }
    const coloured = formatProgressBars(groups, { columns: 80, color: true });
    assert.match(coloured[1]!, /\x1b\[/);
    assert.equal(strip(coloured[1]!), formatProgressBars(groups, { columns: 80 })[1]);
  });

  it('summarises groups beyond maxGroups', () => {
    const groups = Array.from({ length: 30 }, (_x, i) => ({ name: `g${i}`, total: 2, done: 1, erred: 0 }));
    const lines = formatProgressBars(groups, { maxGroups: 5 });
    assert.equal(lines.length, 7);
    assert.match(lines[6]!, /… 25 more groups: 25\/50/);
  });

  it('formats plain log lines', () => {
    const g: ProgressCounts[] = [{ name: 'inc', total: 4, done: 2, erred: 1 }];
    assert.equal(formatProgressLine(g, 2500), '[tessera] 2.5s: 3/4 tasks (75%), 1 erred | inc 3/4 (1 erred)');
    assert.equal(formatProgressLine([{ name: 'inc', total: 4, done: 4, erred: 0 }], 61_000, 'job'), '[job] done in 1m01s: 4/4 tasks | inc 4/4');
    assert.equal(isComplete([]), false);
    assert.equal(isComplete(g), false);
    // A bar over something else than tasks (the demo's data generation counts megabytes) says so.
    assert.equal(formatProgressLine([{ name: 'demo-data', total: 1000, done: 250, erred: 0 }], 2500, 'demo', 'MB'), '[demo] 2.5s: 250/1000 MB (25%) | demo-data 250/1000');
    assert.match(formatProgressBars([{ name: 'demo-data', total: 1000, done: 250, erred: 0 }], { unit: 'MB' })[0]!, /^Progress: 250\/1000 MB \(25%\)/);
    assert.equal(isComplete([{ name: 'x', total: 2, done: 1, erred: 1 }]), true);
  });

  it('redraws in place on a TTY and finishes when every group is done', async () => {
    const out = new Capture(true, 80);
    const handle = renderProgress(job(5), { stream: out, intervalMs: 20, color: false });
    const final = await handle.done;
    assert.ok(isComplete(final));
    assert.match(out.out, /\x1b\[\?25l/, 'hides the cursor while drawing');
    assert.match(out.out, /\x1b\[\?25h$/, 'gives the cursor back at the end');
    assert.match(out.out, /\x1b\[3F/, 'moves up over the previous frame (header + 2 groups)');
    const frames = out.out.split('\x1b[3F');
    assert.ok(frames.length >= 4, `several frames (${frames.length})`);
    const last = strip(frames.at(-1)!);
    assert.match(last, /Done: 20\/20 tasks \(100%\), 1 erred/);
    assert.match(last, /read-csv +█+ +100% 10\/10/);
  });

  it('prints plain periodic lines when not a TTY, and a final one', async () => {
    const out = new Capture(false);
    let n = 0;
    const src = (): ProgressCounts[] => {
      n++;
      return [{ name: 'inc', total: 30, done: Math.min(30, n), erred: 0 }];
    };
    const handle = renderProgress(src, { stream: out, intervalMs: 10, logIntervalMs: 100 });
    await handle.done;
    assert.doesNotMatch(out.out, /\x1b/, 'no escape codes in logs');
    const lines = out.out.trimEnd().split('\n');
    assert.ok(lines.length >= 2 && lines.length < 30, `a few lines, not one per poll (${lines.length})`);
    assert.match(lines[0]!, /^\[tessera\] \d+\.\ds: 1\/30 tasks \(3%\) \| inc 1\/30$/);
    assert.match(lines.at(-1)!, /^\[tessera\] done in \d+\.\ds: 30\/30 tasks \| inc 30\/30$/);
  });

  it('stop() draws the final state of an unfinished job', async () => {
    const out = new Capture(false);
    const handle = renderProgress(() => [{ name: 'inc', total: 10, done: 3, erred: 0 }], { stream: out, intervalMs: 10, logIntervalMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    const final = await handle.stop();
    assert.deepEqual(final, [{ name: 'inc', total: 10, done: 3, erred: 0 }]);
    assert.deepEqual(await handle.done, final);
    const lines = out.out.trimEnd().split('\n');
    assert.equal(lines.length, 2, 'the first line, then the final one; nothing in between');
    assert.match(lines[1]!, /3\/10 tasks \(30%\)/);
  });

  it('rejects done when the source fails, and restores the cursor', async () => {
    const out = new Capture(true);
    let calls = 0;
    const handle = renderProgress(() => {
      if (++calls > 2) throw new Error('scheduler gone');
      return [{ name: 'inc', total: 10, done: calls, erred: 0 }];
    }, { stream: out, intervalMs: 10 });
    await assert.rejects(handle.done, /scheduler gone/);
    assert.match(out.out, /\x1b\[\?25h$/);
  });
});
