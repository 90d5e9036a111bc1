/**
 * The dashboard in a real browser: Debian's headless Chromium driven by
 * playwright-core, against a simulated cluster that runs a job while the page
 * watches. Missing Chromium is a failure, not a skip: the UI is only tested
 * here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import { PerformanceRecorder } from '../../src/dashboard/report.js';
import { FakeCluster } from '../fixtures/dashboard/fake-cluster.js';
import { artifactsDir, requireAssets } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-quic', '--disable-sync',
];

describe('dashboard in headless Chromium', { timeout: 240_000 }, () => {
  let context: BrowserContext;
  let profile: string;
  let cluster: FakeCluster;
  let dash: DashboardServer;
  let recorder: PerformanceRecorder;
  let base: string;
  const problems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} not found: the dashboard browser tests need Debian's 'chromium' package ` +
          `(apt-get update && apt-get install -y chromium)`,
      );
    }
    requireAssets();
    await mkdir(artifactsDir(), { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      viewport: { width: 1500, height: 1000 },
    });
    // 3 workers x 2 threads, ~1000 tasks: a job of 10-20 s at 1.5x real time.
    cluster = new FakeCluster({ scale: 4, seed: 11 });
    dash = await startDashboard(cluster, { address: '127.0.0.1:0', updateIntervalMs: 250 });
    base = `http://127.0.0.1:${dash.port}`;
    recorder = new PerformanceRecorder(cluster, { intervalMs: 200, title: 'Simulated NYC taxi preparation' });
  });

  after(async () => {
    cluster?.stop();
    await context?.close();
    await dash?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  /** A page that records console errors, page errors, failed requests and any request leaving `allowed`. */
  async function open(url: string, allowed: string): Promise<Page> {
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${url}: console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${url}: page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // EventSource requests are aborted when a page closes; that is not a failure.
      if (!r.url().includes('/api/v1/events')) problems.push(`${url}: request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(allowed) && !r.url().startsWith('data:')) problems.push(`${url}: request outside the dashboard: ${r.url()}`);
    });
    await page.goto(url);
    return page;
  }

  const attr = async (page: Page, selector: string, name: string): Promise<number> =>
    Number(await page.locator(selector).first().getAttribute(name));

  /**
   * Polls from Node rather than with page.waitForFunction: that one evaluates
   * strings inside the page, which the dashboard's Content-Security-Policy
   * (script-src 'self', no eval) rightly refuses.
   */
  async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('/status shows the live cluster: one task-stream row per thread, bars appearing, groups completing', async () => {
    const page = await open(`${base}/status`, base);
    await page.waitForSelector('body[data-updates]', { timeout: 15_000 });
    const threads = cluster.snapshot().totalThreads;
    assert.equal(threads, 6);
    await until('the task stream has its rows', async () => (await attr(page, '.ts-canvas', 'data-rows')) === threads, 10_000);
    assert.equal(await attr(page, '.ts-canvas', 'data-rows'), threads, 'one task-stream row per worker thread');
    assert.equal(await attr(page, '.ts-canvas', 'data-bars'), 0, 'nothing has run yet');
    assert.equal(await page.locator('.memory-bars .wbar-row').count(), 3, 'memory per worker');
    assert.equal(await page.locator('.processing-bars .wbar-row').count(), 3, 'tasks processing per worker');
    assert.equal((await page.locator('[data-card=workers] .card-value').textContent())?.trim(), '3');

    // The job starts while the page watches.
    recorder.start();
    cluster.startRealtime(1.5);
    await until('bars appear', async () => (await attr(page, '.ts-canvas', 'data-bars')) > 0, 15_000);
    const early = await attr(page, '.ts-canvas', 'data-bars');
    await until('more bars appear', async () => (await attr(page, '.ts-canvas', 'data-bars')) > early + 20, 15_000);
    assert.ok((await attr(page, '.ts-canvas', 'data-bars')) > early, 'bars keep appearing');

    // Every group of the job has a progress bar.
    for (const g of cluster.taskGroups()) assert.equal(await page.locator(`.pg-row[data-group="${g.name}"]`).count(), 1, g.name);

    // Screenshot mid-job, when the page has the most to show.
    const row = '.pg-row[data-group="to-parquet"]';
    await until('the job is half done', async () => (await attr(page, row, 'data-done')) >= (await attr(page, row, 'data-total')) * 0.45, 60_000);
    await page.screenshot({ path: join(artifactsDir(), 'dashboard-status.png'), fullPage: true });
    assert.match((await page.locator('.ts-legend').textContent()) ?? '', /transfer/, 'transfers are drawn and explained');

    // The job finishes: every group reaches complete.
    await page.waitForSelector('.pg-row[data-group="total"].complete', { timeout: 90_000 });
    for (const g of ['read-csv', 'clean', 'features', 'partial-sum']) {
      assert.ok(await page.locator(`.pg-row[data-group="${g}"].complete`).count(), `${g} complete`);
      const done = await attr(page, `.pg-row[data-group="${g}"]`, 'data-done');
      assert.equal(done, await attr(page, `.pg-row[data-group="${g}"]`, 'data-total'));
    }
    const nTotal = cluster.taskGroups().find((g) => g.name === 'total')!.total;
    assert.equal((await page.locator('.pg-row[data-group="total"] .pg-count').textContent())?.trim(), `${nTotal} / ${nTotal} ✓`);
    const completed = ((await page.locator('[data-card=completed] .card-value').textContent()) ?? '').replace(/,/g, '');
    await page.close();
    assert.ok(Number(completed) > 0);
    assert.deepEqual(problems, []);
  });

  it('/workers lists every worker', async () => {
    const page = await open(`${base}/workers`, base);
    await page.waitForSelector('.workers-table tbody tr', { timeout: 15_000 });
    const rows = page.locator('.workers-table tbody tr');
    assert.equal(await rows.count(), 3);
    const text = (await page.locator('.workers-table tbody').textContent()) ?? '';
    for (const w of cluster.snapshot().workers) {
      assert.ok(text.includes(w.address), w.address);
      assert.ok(text.includes(w.host), w.host);
      assert.equal(await page.locator(`.workers-table tbody tr[data-worker="${w.address}"]`).count(), 1);
    }
    const headers = (await page.locator('.workers-table thead').textContent()) ?? '';
    for (const h of ['Name', 'Address', 'Host', 'Threads', 'CPU', 'Memory', 'Stored keys', 'Executing', 'Last heartbeat']) {
      assert.ok(headers.includes(h), `column ${h}`);
    }
    await page.screenshot({ path: join(artifactsDir(), 'dashboard-workers.png') });
    await page.close();
    assert.deepEqual(problems, []);
  });

  it('/info shows the scheduler identity and configuration', async () => {
    const page = await open(`${base}/info`, base);
    await until('the scheduler id is shown', async () => ((await page.locator('main').textContent()) ?? '').includes(cluster.id), 15_000);
    const text = (await page.locator('main').textContent()) ?? '';
    assert.match(text, /Uptime/);
    assert.match(text, /workerTtlMs/);
    await page.close();
    assert.deepEqual(problems, []);
  });

  it('the performance report opens offline with its charts drawn', async () => {
    const file = await recorder.write(join(artifactsDir(), 'performance-report.html'));
    const url = pathToFileURL(file).href;
    const page = await open(url, url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
    await until('the task stream is drawn', async () => (await attr(page, '.ts-canvas', 'data-bars')) > 100, 10_000);
    assert.equal(await attr(page, '.ts-canvas', 'data-rows'), 6);
    assert.ok((await page.locator('.uplot').count()) >= 3, 'memory and task charts');
    // uPlot draws on canvases: each chart must have painted pixels, not just exist.
    const painted = (await page.evaluate(`Array.from(document.querySelectorAll('.uplot canvas')).map((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
      return n;
    })`)) as number[];
    assert.ok(painted.length >= 3 && painted.every((n) => n > 500), `painted pixels per chart: ${painted}`);
    assert.equal(await page.locator('table.timings tbody tr').count(), cluster.taskGroups().length);
    await page.screenshot({ path: join(artifactsDir(), 'performance-report.png'), fullPage: true });
    await page.close();
    assert.deepEqual(problems, []);
  });
});
