/**
 * The dashboard of a real LocalCluster, in headless Chromium, while the
 * cluster runs a few thousand tasks; its JSON API and Prometheus metrics
 * against schedulerInfo(); a performance report of the run; and no listener
 * at all when the dashboard is disabled.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Client, LocalCluster, delayed, remoteModule } from '../../src/index.js';
import type * as Tasks from '../fixtures/core/tasks.js';
import { artifactsDir, json, http, requireAssets } from './helpers.js';

const tasks = remoteModule<typeof Tasks>(new URL('../fixtures/core/tasks.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the dashboard of a real cluster', { timeout: 240_000 }, () => {
  let cluster: LocalCluster;
  let client: Client;
  let context: BrowserContext;
  let profile: string;
  let port: number;
  const problems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the dashboard browser tests need Debian's 'chromium' package (apt-get install -y chromium)`);
    requireAssets();
    await mkdir(artifactsDir(), { recursive: true });
    cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboardAddress: ':0' });
    client = await Client.connect(cluster);
    const info = await client.schedulerInfo();
    port = info.services.dashboard!;
    assert.ok(port > 0);
    assert.equal(client.dashboardLink, `http://127.0.0.1:${port}/status`);
    profile = await mkdtemp(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1500, height: 1000 } });
  });

  after(async () => {
    await context?.close();
    await client?.shutdown();
    await cluster?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  async function open(path: string): Promise<Page> {
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${path}: console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${path}: page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}${path}`);
    return page;
  }

  const attr = async (page: Page, selector: string, name: string): Promise<number> => Number(await page.locator(selector).first().getAttribute(name));

  it('/status follows a job of a few thousand tasks; /workers lists both workers; a report of the run opens with charts', async () => {
    const page = await open('/status');
    await page.waitForSelector('body[data-updates]', { timeout: 15_000 });
    await until('one task-stream row per worker thread', async () => (await attr(page, '.ts-canvas', 'data-rows')) === 2, 15_000);

    const report = join(artifactsDir(), 'live-performance-report.html');
    const total = await client.performanceReport(report, async () => {
      // 3,000 tasks: 2,000 small ones feeding a tree of adds, with a few ms each so the stream is visible.
      const slow = delayed(tasks.slowInc, { name: 'load' });
      const add = delayed(tasks.add, { name: 'combine' });
      let layer = Array.from({ length: 1500 }, (_, i) => slow(i, 2));
      while (layer.length > 1) {
        const next = [];
        for (let i = 0; i < layer.length; i += 2) next.push(i + 1 < layer.length ? add(layer[i]!, layer[i + 1]!) : layer[i]!);
        layer = next;
      }
      const f = client.compute(layer[0]!);
      await until('bars appear on the page while the job runs', async () => (await attr(page, '.ts-canvas', 'data-bars')) > 0, 30_000);
      await page.screenshot({ path: join(artifactsDir(), 'live-dashboard-status.png'), fullPage: true });
      return f.result();
    }, { title: 'Live cluster test' });
    assert.equal(total, (1500 * 1501) / 2);

    await page.waitForSelector('.pg-row[data-group="load"].complete', { timeout: 30_000 });
    await page.waitForSelector('.pg-row[data-group="combine"].complete', { timeout: 30_000 });
    assert.equal(await attr(page, '.pg-row[data-group="load"]', 'data-done'), 1500);
    await page.close();

    const workers = await open('/workers');
    await workers.waitForSelector('.workers-table tbody tr', { timeout: 15_000 });
    assert.equal(await workers.locator('.workers-table tbody tr').count(), 2);
    const text = (await workers.locator('.workers-table tbody').textContent()) ?? '';
    for (const addr of Object.keys((await client.schedulerInfo()).workers)) assert.ok(text.includes(addr), addr);
    await workers.close();

    assert.ok((await stat(report)).size > 10_000);
    const rp = await context.newPage();
    rp.on('pageerror', (e) => problems.push(`report: ${e.message}`));
    await rp.goto(pathToFileURL(report).href);
    await rp.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
    await until('the report draws the run', async () => (await attr(rp, '.ts-canvas', 'data-bars')) > 100, 15_000);
    assert.ok((await rp.locator('.uplot').count()) >= 3, 'memory and task charts');
    await rp.close();
    assert.deepEqual(problems, []);
  });

  it('the JSON API and /metrics agree with schedulerInfo()', async () => {
    const info = await client.schedulerInfo();
    const api = await json<{ workers: { address: string; nthreads: number; memoryLimit: number }[] }>(port, '/api/v1/workers');
    const list = Array.isArray(api) ? (api as unknown as { address: string; nthreads: number; memoryLimit: number }[]) : api.workers;
    assert.deepEqual(list.map((w) => w.address).sort(), Object.keys(info.workers).sort());
    for (const w of list) {
      assert.equal(w.nthreads, info.workers[w.address]!.nthreads);
      assert.equal(w.memoryLimit, info.workers[w.address]!.memoryLimit);
    }
    const metrics = (await http(port, '/metrics')).body;
    assert.match(metrics, /^tessera_workers 2$/m);
    assert.match(metrics, /^tessera_threads 2$/m);
    const completed = Number(/^tessera_tasks_completed_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(completed >= 2999, `tasks completed ${completed}`);
    assert.equal((await http(port, '/health')).body.trim(), 'ok');
  });
});

it('with the dashboard disabled nothing listens on its port', async () => {
  const free = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  await using cluster = await LocalCluster.start({ nWorkers: 1, dashboard: false, dashboardAddress: `:${free}` });
  await using client = await Client.connect(cluster);
  assert.equal((await client.schedulerInfo()).services.dashboard, undefined);
  assert.equal(client.dashboardLink, undefined);
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect(free, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
  assert.ok(refused, `nothing listens on ${free}`);
});
