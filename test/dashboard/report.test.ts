import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceRecorder, renderPerformanceReport, writePerformanceReport } from '../../src/dashboard/report.js';
import type { PerformanceReportData } from '../../src/dashboard/protocol.js';
import { FakeCluster } from '../fixtures/dashboard/fake-cluster.js';
import { requireAssets } from './helpers.js';

function runJob(c: FakeCluster, rec: PerformanceRecorder): void {
  while (!c.finished) {
    c.advance(200);
    rec.sample();
  }
}

function embedded(html: string): PerformanceReportData {
  const m = /<script type="application\/json" id="tessera-report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'the data is embedded');
  return JSON.parse(m[1]!) as PerformanceReportData;
}

describe('performance report', { timeout: 60_000 }, () => {
  it('records the task stream, memory samples and group timings of a job', () => {
    const c = new FakeCluster({ seed: 3 });
    c.advance(500);
    const skipped = c.taskStream(0, 1e6).events.length;
    const completedBefore = c.snapshot().tasksCompleted;
    const rec = new PerformanceRecorder(c, { intervalMs: 60_000, title: 'taxi prep' }).start();
    runJob(c, rec);
    const d = rec.stop();
    const all = c.taskStream(0, 1e6).events;
    assert.equal(d.format, 'tessera-performance-report');
    assert.equal(d.title, 'taxi prep');
    assert.equal(d.events.length, all.length - skipped, 'events from before start() are not recorded');
    assert.equal(d.droppedEvents, 0);
    assert.deepEqual(d.workers.map((w) => w.name), ['0', '1', '2']);
    assert.equal(d.summary.maxThreads, 6);
    assert.equal(d.summary.tasksCompleted, c.snapshot().tasksCompleted - completedBefore);
    assert.equal(d.summary.tasksErred, c.snapshot().tasksErred);
    const recorded = all.slice(skipped);
    const computeCount = recorded.filter((e) => e.kind === 'compute').length;
    assert.equal(d.timings.reduce((a, t) => a + t.count, 0), computeCount);
    assert.equal(d.summary.transfers, recorded.filter((e) => e.kind === 'transfer').length);
    assert.ok(d.summary.transfers > 0);
    // Event tuples decode back to the source's events.
    const e0 = recorded[0]!;
    const t0 = d.events[0]!;
    assert.equal(d.workers[t0[0]]!.address, e0.worker);
    assert.equal(t0[1], e0.thread);
    assert.equal(d.groups[t0[2]], e0.group);
    assert.equal(t0[6], e0.key);
    assert.ok(Math.abs(d.start + t0[4] - e0.start) < 0.1);
    // One sample per call, aligned series per worker.
    assert.ok(d.samples.t.length > 5);
    for (const w of d.workers) {
      const s = d.samples.workers[w.address]!;
      assert.equal(s.rss.length, d.samples.t.length);
      assert.ok(s.rss.every((v) => v !== null && v > 0));
    }
    assert.equal(d.samples.completed.at(-1), d.summary.tasksCompleted);
    assert.deepEqual(d.finalGroups, c.taskGroups());
    assert.ok(d.end > d.start);
  });

  it('keeps memory bounded: caps events and thins samples', () => {
    const c = new FakeCluster({ seed: 4 });
    const rec = new PerformanceRecorder(c, { intervalMs: 60_000, maxEvents: 50, maxSamples: 16 }).start();
    runJob(c, rec);
    const d = rec.stop();
    assert.equal(d.events.length, 50);
    assert.ok(d.droppedEvents > 0);
    assert.equal(d.events.length + d.droppedEvents, c.taskStream(0, 1e6).events.length);
    assert.ok(d.samples.t.length <= 17, `${d.samples.t.length} samples`);
    for (let i = 1; i < d.samples.t.length; i++) assert.ok(d.samples.t[i]! > d.samples.t[i - 1]!);
    // Timings still count every event, kept or not.
    assert.equal(d.timings.reduce((a, t) => a + t.count + t.erred, 0), c.taskStream(0, 1e6).events.filter((e) => e.kind !== 'transfer').length);
  });

  it('samples on its own timer and never keeps the process alive', async () => {
    const c = new FakeCluster();
    c.startRealtime(4);
    const rec = new PerformanceRecorder(c, { intervalMs: 50 }).start();
    await new Promise((r) => setTimeout(r, 400));
    const d = rec.stop();
    c.stop();
    assert.ok(d.samples.t.length >= 4, `${d.samples.t.length} samples`);
    assert.ok(d.events.length > 0);
  });

  it('writes one self-contained HTML file with the data and every asset inline', async () => {
    requireAssets();
    const dir = await mkdtemp(join(tmpdir(), 'tessera-report-'));
    try {
      const c = new FakeCluster({ seed: 5 });
      const rec = new PerformanceRecorder(c, { intervalMs: 60_000 }).start();
      runJob(c, rec);
      const file = await rec.write(join(dir, 'nested', 'report.html'), { title: 'a </script> title' });
      const html = await readFile(file, 'utf8');
      assert.match(html, /^<!doctype html>/);
      assert.doesNotMatch(html, /<script[^>]+src=/, 'no external scripts');
      assert.doesNotMatch(html, /<link[^>]+rel="stylesheet"/, 'no external stylesheets');
      assert.doesNotMatch(html, /(src|href)="https?:/, 'nothing fetched from the network');
      assert.equal(html.match(/<\/script>/g)!.length, 2, 'the title cannot close a script early');
      const d = embedded(html);
      assert.equal(d.title, 'a </script> title');
      assert.equal(d.events.length, rec.data().events.length);
      assert.match(html, /data-page="report"/);
      assert.match(html, /uplot/i);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says how to build the assets when they are missing', async () => {
    const rec = new PerformanceRecorder(new FakeCluster()).start();
    await assert.rejects(writePerformanceReport('/tmp/never.html', rec.stop(), { assetsDir: '/nonexistent' }), {
      code: 'ERR_TESSERA_DASHBOARD',
      message: /npm run build/,
    });
    assert.match(renderPerformanceReport(rec.data(), { js: '/*js*/', css: '' }), /\/\*js\*\//);
  });
});
