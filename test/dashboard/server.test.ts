import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import { parseDashboardAddress } from '../../src/dashboard/address.js';
import { renderMetrics } from '../../src/dashboard/metrics.js';
import type { LiveUpdate, SchedulerInfoPayload } from '../../src/dashboard/protocol.js';
import type { ClusterSnapshot, TaskGroupSnapshot, TaskStreamEvent, WorkerSnapshot } from '../../src/scheduler/snapshot.js';
import { DashboardError, TesseraError } from '../../src/errors.js';
import { FakeCluster } from '../fixtures/dashboard/fake-cluster.js';
import { SseClient, http, json, requireAssets } from './helpers.js';

// ------------------------------------------------------------ Prometheus text parsing

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict-enough parser of the text format: HELP/TYPE before samples, valid names, labels and values. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const seenFamilies = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        assert.match(m[3]!, /^(counter|gauge|histogram|summary|untyped)$/, line);
        assert.ok(!types.has(m[2]!), `one TYPE per family: ${m[2]}`);
        types.set(m[2]!, m[3]!);
      } else helps.add(m[2]!);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed sample line: ${line}`);
    const name = m[1]!;
    assert.ok(types.has(name), `sample ${name} has a # TYPE line before it`);
    assert.ok(helps.has(name), `sample ${name} has a # HELP line before it`);
    if (types.get(name) === 'counter') assert.ok(name.endsWith('_total'), `counter ${name} ends in _total`);
    seenFamilies.add(name);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
      let consumed = 0;
      let lm: RegExpExecArray | null;
      while ((lm = re.exec(m[3])) !== null) {
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed += lm[0].length;
      }
      assert.equal(consumed, m[3].length, `malformed labels: ${line}`);
    }
    const value = Number(m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : m[4]);
    assert.ok(!Number.isNaN(value) || m[4] === 'NaN', `bad value: ${line}`);
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

function one(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `exactly one sample ${name}${JSON.stringify(labels)} (got ${hits.length})`);
  return hits[0]!.value;
}

// ------------------------------------------------------------ tests

describe('dashboard server against a simulated cluster', { timeout: 60_000 }, () => {
  let cluster: FakeCluster;
  let dash: DashboardServer;

  before(async () => {
    requireAssets();
    cluster = new FakeCluster({ seed: 7 });
    cluster.advance(1500); // mid-job: every state is populated
    dash = await startDashboard(cluster, { address: '127.0.0.1:0', updateIntervalMs: 100 });
  });

  after(async () => {
    await dash?.close();
  });

  it("listens on a free port for '127.0.0.1:0'", () => {
    assert.ok(dash.port > 0);
    assert.equal(dash.host, '127.0.0.1');
  });

  it('/health answers ok, also to HEAD', async () => {
    const r = await http(dash.port, '/health');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    const head = await http(dash.port, '/health', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('/ redirects to /status', async () => {
    const r = await http(dash.port, '/');
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'status');
  });

  it('serves the pages and their bundled assets', async () => {
    for (const page of ['status', 'workers', 'info']) {
      const r = await http(dash.port, `/${page}`);
      assert.equal(r.status, 200, page);
      assert.match(String(r.headers['content-type']), /text\/html/);
      assert.match(r.body, new RegExp(`data-page="${page}"`));
      // No CDN: every script and stylesheet is relative, served by us.
      assert.doesNotMatch(r.body, /(src|href)="(https?:)?\/\//);
    }
    const js = await http(dash.port, '/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.ok(js.body.length > 10_000);
    const css = await http(dash.port, '/assets/app.css');
    assert.equal(css.status, 200);
    assert.match(css.body, /\.uplot/, 'uPlot styles are bundled');
    assert.equal((await http(dash.port, '/favicon.ico')).status, 200);
  });

  it('answers unknown routes with 404 and never serves files outside the assets', async () => {
    const r = await http(dash.port, '/no-such-page');
    assert.equal(r.status, 404);
    assert.match(r.body, /not found/);
    assert.equal((await http(dash.port, '/assets/nope.js')).status, 404);
    assert.equal((await http(dash.port, '/assets/..%2f..%2f..%2fpackage.json')).status, 404);
    assert.equal((await http(dash.port, '/assets/%2e%2e/%2e%2e/package.json')).status, 404);
    assert.equal((await http(dash.port, '/assets/%E0%A4%A')).status, 404, 'a malformed escape is not a server error');
  });

  it('refuses writes with 405', async () => {
    const r = await http(dash.port, '/status', { method: 'POST' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, HEAD');
  });

  it('/api/v1/cluster, /workers and /task-groups agree with the source', async () => {
    const c = await json<ClusterSnapshot & { managedBytes: number; spilledBytes: number; uptimeMs: number }>(dash.port, '/api/v1/cluster');
    const s = cluster.snapshot();
    assert.equal(c.id, s.id);
    assert.equal(c.address, s.address);
    assert.deepEqual(c.tasksByState, s.tasksByState);
    assert.equal(c.totalThreads, s.totalThreads);
    assert.equal(c.tasksCompleted, s.tasksCompleted);
    assert.equal(c.workers.length, 3);
    assert.equal(c.managedBytes, s.workers.reduce((a, w) => a + w.managedBytes, 0));
    assert.equal(c.uptimeMs, s.now - s.startedAt);
    assert.ok(Object.values(c.tasksByState).reduce((a, b) => a + b, 0) > 0);

    const workers = await json<WorkerSnapshot[]>(dash.port, '/api/v1/workers');
    assert.deepEqual(workers, cluster.snapshot().workers);
    const groups = await json<TaskGroupSnapshot[]>(dash.port, '/api/v1/task-groups');
    assert.deepEqual(groups, cluster.taskGroups());
    assert.deepEqual(groups.map((g) => g.name), ['read-csv', 'clean', 'features', 'to-parquet', 'partial-sum', 'total']);
  });

  it('/api/v1/task-stream pages through the stream by cursor', async () => {
    const all = cluster.taskStream(0, 100_000).events;
    assert.ok(all.length > 20);
    const first = await json<{ cursor: number; events: TaskStreamEvent[] }>(dash.port, '/api/v1/task-stream?since=0&limit=10');
    assert.deepEqual(first.events, all.slice(0, 10));
    assert.equal(first.cursor, all[9]!.cursor);
    const next = await json<{ cursor: number; events: TaskStreamEvent[] }>(dash.port, `/api/v1/task-stream?since=${first.cursor}&limit=10`);
    assert.deepEqual(next.events, all.slice(10, 20));
    const tail = await json<{ cursor: number; events: TaskStreamEvent[] }>(dash.port, `/api/v1/task-stream?since=${all.at(-1)!.cursor}`);
    assert.deepEqual(tail.events, []);
    assert.equal(tail.cursor, all.at(-1)!.cursor);
    assert.ok(all.some((e) => e.kind === 'transfer'), 'the simulation produces transfers');
    assert.equal((await http(dash.port, '/api/v1/task-stream?since=abc')).status, 400);
  });

  it('/api/v1/info reports id, version, uptime and config', async () => {
    const info = await json<SchedulerInfoPayload>(dash.port, '/api/v1/info');
    const s = cluster.snapshot();
    assert.equal(info.id, s.id);
    assert.equal(info.version, s.version);
    assert.equal(info.uptimeMs, s.now - s.startedAt);
    assert.equal(info.dashboard.port, dash.port);
    assert.deepEqual(info.config, cluster.config());
  });

  it('/metrics is valid Prometheus text and agrees with the source', async () => {
    const r = await http(dash.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const { samples, types } = parsePrometheus(r.body);
    const s = cluster.snapshot();
    assert.equal(one(samples, 'tessera_workers'), s.workers.length);
    assert.equal(one(samples, 'tessera_threads'), s.totalThreads);
    for (const [state, n] of Object.entries(s.tasksByState)) assert.equal(one(samples, 'tessera_tasks', { state }), n, state);
    assert.equal(types.get('tessera_tasks_completed_total'), 'counter');
    assert.equal(one(samples, 'tessera_tasks_completed_total'), s.tasksCompleted);
    assert.equal(one(samples, 'tessera_tasks_erred_total'), s.tasksErred);
    assert.equal(one(samples, 'tessera_memory_managed_bytes'), s.workers.reduce((a, w) => a + w.managedBytes, 0));
    assert.equal(one(samples, 'tessera_memory_spilled_bytes'), s.workers.reduce((a, w) => a + w.spilledBytes, 0));
    assert.equal(one(samples, 'tessera_memory_limit_bytes'), s.totalMemoryLimit);
    for (const w of s.workers) {
      assert.equal(one(samples, 'tessera_worker_memory_managed_bytes', { worker: w.address }), w.managedBytes);
      assert.equal(one(samples, 'tessera_worker_memory_rss_bytes', { worker: w.address, name: w.name }), w.rss);
      assert.equal(one(samples, 'tessera_worker_memory_unmanaged_bytes', { worker: w.address }), Math.max(0, w.rss - w.managedBytes));
      assert.equal(one(samples, 'tessera_worker_memory_limit_bytes', { worker: w.address }), w.memoryLimit);
      assert.equal(one(samples, 'tessera_worker_threads', { worker: w.address }), w.nthreads);
      assert.equal(one(samples, 'tessera_worker_executing_tasks', { worker: w.address }), w.executing);
    }
  });

  it('escapes label values in /metrics', () => {
    const s = cluster.snapshot();
    const odd = { ...s, workers: [{ ...s.workers[0]!, name: 'a "quoted"\\ name\nx' }] };
    const { samples } = parsePrometheus(renderMetrics(odd));
    assert.equal(samples.find((x) => x.name === 'tessera_worker_threads')!.labels.name, 'a "quoted"\\ name\nx');
  });

  it('/api/v1/events streams incremental updates: new events only, changed groups only', async () => {
    const sse = await SseClient.open(dash.port, '/api/v1/events');
    try {
      assert.equal(sse.status, 200);
      assert.match(sse.contentType, /^text\/event-stream/);
      const [m0] = await sse.waitFor(1);
      assert.equal(m0!.event, 'update');
      const u0 = JSON.parse(m0!.data) as LiveUpdate;
      assert.equal(u0.reset, true);
      assert.equal(u0.allGroups, true);
      assert.equal(u0.groups.length, 6);
      assert.equal(m0!.id, String(u0.cursor));
      assert.ok(u0.events.length > 0, 'a fresh client gets the recent tail');
      assert.equal(u0.cursor, u0.events.at(-1)!.cursor);
      assert.equal(u0.snapshot.id, cluster.id);

      // Nothing happens on the cluster: the next update carries no events and no groups.
      const n = sse.messages.length;
      const [, m1] = (await sse.waitFor(n + 1)).slice(n - 1);
      const u1 = JSON.parse(m1!.data) as LiveUpdate;
      assert.equal(u1.reset, false);
      assert.equal(u1.allGroups, false);
      assert.deepEqual(u1.events, []);
      assert.deepEqual(u1.groups, []);
      assert.equal(u1.cursor, u0.cursor);

      // The cluster moves on: exactly the new events arrive, once each, in order.
      const before = cluster.taskStream(0, 1e6).events.at(-1)!.cursor;
      cluster.advance(400);
      const expected = cluster.taskStream(before, 1e6).events;
      assert.ok(expected.length > 0);
      const got: TaskStreamEvent[] = [];
      const deadline = Date.now() + 5000;
      let k = sse.messages.length;
      let changedGroups = 0;
      while (got.length < expected.length && Date.now() < deadline) {
        const msgs = await sse.waitFor(k + 1);
        const u = JSON.parse(msgs[k]!.data) as LiveUpdate;
        k++;
        got.push(...u.events);
        changedGroups += u.groups.length;
        assert.equal(u.snapshot.tasksCompleted, cluster.snapshot().tasksCompleted);
      }
      assert.deepEqual(got, expected);
      assert.ok(changedGroups > 0 && changedGroups <= 6 * 2, 'only changed groups are resent');
    } finally {
      sse.close();
    }
  });

  it('resumes from Last-Event-ID without resending what the client has', async () => {
    const cursor = cluster.taskStream(0, 1e6).events.at(-1)!.cursor;
    cluster.advance(300);
    const expected = cluster.taskStream(cursor, 1e6).events;
    const sse = await SseClient.open(dash.port, '/api/v1/events', { 'Last-Event-ID': String(cursor) });
    try {
      const [m] = await sse.waitFor(1);
      const u = JSON.parse(m!.data) as LiveUpdate;
      assert.equal(u.reset, false);
      assert.equal(u.allGroups, true, 'groups are resent in full after a reconnect');
      assert.deepEqual(u.events, expected);
    } finally {
      sse.close();
    }
  });

  it('polls the source once per tick however many browsers watch', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => SseClient.open(dash.port, '/api/v1/events')));
    try {
      await Promise.all(clients.map((c) => c.waitFor(2)));
      const before = cluster.calls.snapshot;
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 1000));
      const calls = cluster.calls.snapshot - before;
      const ticks = (Date.now() - t0) / 100;
      assert.ok(calls <= ticks + 2, `${calls} snapshot() calls for ~${ticks} ticks and 4 clients`);
      assert.ok(calls >= 3, 'still polling');
    } finally {
      for (const c of clients) c.close();
    }
    // With nobody watching, the scheduler is left alone.
    await new Promise((r) => setTimeout(r, 150));
    const idle = cluster.calls.snapshot;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(cluster.calls.snapshot, idle, 'no polling without clients');
  });
});

describe('dashboard addresses and ports', { timeout: 60_000 }, () => {
  it('parses dask-style addresses', () => {
    assert.deepEqual(parseDashboardAddress(':8787'), { host: '', port: 8787 });
    assert.deepEqual(parseDashboardAddress(undefined), { host: '', port: 8787 });
    assert.deepEqual(parseDashboardAddress(':0'), { host: '', port: 0 });
    assert.deepEqual(parseDashboardAddress('8788'), { host: '', port: 8788 });
    assert.deepEqual(parseDashboardAddress('127.0.0.1:9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(parseDashboardAddress('localhost'), { host: 'localhost', port: 8787 });
    assert.deepEqual(parseDashboardAddress('[::1]:8787'), { host: '::1', port: 8787 });
    assert.deepEqual(parseDashboardAddress('http://10.0.0.8:8787/status'), { host: '10.0.0.8', port: 8787 });
    assert.throws(() => parseDashboardAddress(':99999'), { code: 'ERR_TESSERA_INVALID_ARGUMENT' });
    assert.throws(() => parseDashboardAddress('host:abc'), /invalid dashboard address 'host:abc'/);
  });

  it("':0' gives each dashboard its own free port", async () => {
    const a = await startDashboard(new FakeCluster(), { address: ':0' });
    const b = await startDashboard(new FakeCluster(), { address: ':0' });
    try {
      assert.ok(a.port > 0 && b.port > 0);
      assert.notEqual(a.port, b.port);
      assert.equal((await http(a.port, '/health')).body, 'ok');
      assert.equal((await http(b.port, '/health')).body, 'ok');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a port in use fails with a clear error naming the port and --dashboard-address :0', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startDashboard(new FakeCluster(), { address: `127.0.0.1:${port}` }), (err: unknown) => {
        assert.ok(err instanceof DashboardError);
        assert.ok(err instanceof TesseraError);
        assert.equal(err.code, 'ERR_TESSERA_DASHBOARD_PORT_IN_USE');
        assert.match(err.message, new RegExp(`${port}`));
        assert.match(err.message, /already in use/);
        assert.match(err.message, /--dashboard-address :0/);
        return true;
      });
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('close() frees the port and ends live connections', async () => {
    const d = await startDashboard(new FakeCluster(), { address: '127.0.0.1:0', updateIntervalMs: 50 });
    const sse = await SseClient.open(d.port, '/api/v1/events');
    await sse.waitFor(1);
    await d.close();
    await d.close(); // idempotent
    await assert.rejects(http(d.port, '/health'), { code: 'ECONNREFUSED' });
    const again = await startDashboard(new FakeCluster(), { address: `127.0.0.1:${d.port}` });
    await again.close();
    sse.close();
  });

  it('keeps serving the API when the web assets are missing, and says how to build them', async () => {
    const warnings: string[] = [];
    const d = await startDashboard(new FakeCluster(), { address: '127.0.0.1:0', assetsDir: '/nonexistent/assets', logger: { warn: (m) => warnings.push(m) } });
    try {
      assert.match(warnings.join('\n'), /npm run build/);
      const page = await http(d.port, '/status');
      assert.equal(page.status, 503);
      assert.match(page.body, /npm run build/);
      assert.equal((await http(d.port, '/api/v1/cluster')).status, 200);
      assert.equal((await http(d.port, '/metrics')).status, 200);
    } finally {
      await d.close();
    }
  });

  it('a source that throws gives a 500, not a crashed scheduler', async () => {
    const broken = new FakeCluster();
    broken.taskGroups = () => {
      throw new Error('boom');
    };
    const errors: string[] = [];
    const d = await startDashboard(broken, { address: '127.0.0.1:0', logger: { error: (m) => errors.push(m) } });
    try {
      const r = await http(d.port, '/api/v1/task-groups');
      assert.equal(r.status, 500);
      assert.match(r.body, /boom/);
      assert.match(errors.join('\n'), /boom/);
      assert.equal((await http(d.port, '/health')).body, 'ok');
    } finally {
      await d.close();
    }
  });
});
