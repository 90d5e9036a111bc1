/**
 * The dashboard's HTTP server: live pages, JSON API, Prometheus metrics and
 * server-sent events, all read from a DashboardSource. Plain node:http: the
 * route table is small and a framework would be one more thing to ship to
 * every scheduler.
 *
 * Links inside pages are relative ('assets/app.js', 'api/v1/events') so the
 * dashboard also works behind a path-prefix proxy (jupyter-server-proxy, an
 * ingress), not only through an SSH tunnel.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, join, resolve, sep } from 'node:path';
import { DashboardError } from '../errors.js';
import { DIST_URL } from '../layout.js';
import { parseDashboardAddress } from './address.js';
import { LiveHub } from './live.js';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import type { SchedulerInfoPayload } from './protocol.js';
import type { DashboardSource } from './source.js';

export interface DashboardLogger {
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
}

export interface DashboardOptions {
  /** ':8787' (default, all interfaces), ':0' (any free port), 'host:port'. */
  address?: string;
  logger?: DashboardLogger;
  /** How often live pages are updated (default 500 ms). */
  updateIntervalMs?: number;
  /** Where the bundled web UI lives (default: dist/dashboard-assets next to the compiled sources). */
  assetsDir?: string;
}

export interface DashboardServer {
  port: number;
  /** The address the server is bound to ('::' or '0.0.0.0' for all interfaces). */
  host: string;
  close(): Promise<void>;
}

/** dist/dashboard-assets, next to the compiled sources and the bundle. */
export function defaultAssetsDir(): string {
  return fileURLToPath(new URL('dashboard-assets/', DIST_URL));
}

const PAGES = {
  status: 'Status',
  workers: 'Workers',
  info: 'Info',
} as const;
type PageName = keyof typeof PAGES;

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'";

export async function startDashboard(source: DashboardSource, opts: DashboardOptions = {}): Promise<DashboardServer> {
  const bind = parseDashboardAddress(opts.address ?? ':8787');
  const logger = opts.logger ?? {};
  const intervalMs = Math.max(50, opts.updateIntervalMs ?? 500);
  const assetsDir = resolve(opts.assetsDir ?? defaultAssetsDir());
  const assetsPresent = existsSync(join(assetsDir, 'app.js'));
  if (!assetsPresent) {
    logger.warn?.(
      `dashboard: web assets not found in ${assetsDir}; the JSON API and /metrics work, the pages do not. ` +
        `Run 'npm run build' to bundle them`,
    );
  }
  const hub = new LiveHub(source, {
    intervalMs,
    onError: (err) => logger.error?.(`dashboard: reading the scheduler state failed: ${describe(err)}`),
  });
  let bound = { host: bind.host, port: bind.port };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error?.(`dashboard: ${req.method} ${req.url} failed: ${describe(err)}`);
      if (!res.headersSent) sendText(res, 500, `internal error: ${describe(err)}\n`);
      else res.destroy();
    });
  });
  // An idle browser tab holds its SSE connection forever; that is the point.
  server.requestTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendText(res, 405, 'method not allowed: the dashboard is read-only\n');
      return;
    }
    switch (path) {
      case '/':
        res.writeHead(302, { Location: 'status' }).end();
        return;
      case '/status':
      case '/workers':
      case '/info':
        return sendPage(res, path.slice(1) as PageName);
      case '/health':
        return sendText(res, 200, 'ok');
      case '/metrics':
        return send(res, 200, PROMETHEUS_CONTENT_TYPE, renderMetrics(source.snapshot()));
      case '/api/v1/cluster': {
        const s = source.snapshot();
        return sendJson(res, {
          ...s,
          uptimeMs: s.now - s.startedAt,
          managedBytes: s.workers.reduce((a, w) => a + w.managedBytes, 0),
          spilledBytes: s.workers.reduce((a, w) => a + w.spilledBytes, 0),
          rss: s.workers.reduce((a, w) => a + w.rss, 0),
        });
      }
      case '/api/v1/workers':
        return sendJson(res, source.snapshot().workers);
      case '/api/v1/task-groups':
        return sendJson(res, source.taskGroups());
      case '/api/v1/task-stream': {
        const since = intParam(url, 'since', 0);
        const limit = intParam(url, 'limit', 1000);
        if (since === undefined || limit === undefined) {
          return sendText(res, 400, 'since and limit must be integers, e.g. /api/v1/task-stream?since=0&limit=1000\n');
        }
        const r = source.taskStream(since, Math.min(Math.max(limit, 1), 10_000));
        const last = r.events[r.events.length - 1];
        return sendJson(res, { cursor: last ? last.cursor : Math.max(since, r.cursor), events: r.events });
      }
      case '/api/v1/info':
        return sendJson(res, info());
      case '/api/v1/events':
        return openEvents(req, res, url);
      case '/favicon.ico':
        return sendAsset(res, 'favicon.svg');
    }
    if (path.startsWith('/assets/')) {
      let name: string;
      try {
        name = decodeURIComponent(path.slice('/assets/'.length));
      } catch {
        return sendText(res, 404, 'not found\n');
      }
      return sendAsset(res, name);
    }
    sendText(res, 404, `not found: ${path}\nPages: /status /workers /info; API: /api/v1/cluster /api/v1/workers /api/v1/task-groups /api/v1/task-stream?since=N /api/v1/info /api/v1/events; /metrics; /health\n`);
  }

  function info(): SchedulerInfoPayload {
    const s = source.snapshot();
    return {
      id: s.id,
      address: s.address,
      version: s.version,
      startedAt: s.startedAt,
      now: s.now,
      uptimeMs: s.now - s.startedAt,
      workers: s.workers.length,
      threads: s.totalThreads,
      clients: s.clients,
      dashboard: { host: bound.host, port: bound.port, updateIntervalMs: intervalMs },
      config: source.config?.() ?? {},
    };
  }

  function openEvents(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const lastId = req.headers['last-event-id'];
    const sinceText = typeof lastId === 'string' && lastId !== '' ? lastId : url.searchParams.get('since');
    const since = sinceText !== null && /^\d+$/.test(sinceText) ? Number(sinceText) : undefined;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx and similar proxies buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.socket?.setNoDelay(true);
    res.write(`retry: 2000\n\n`);
    hub.add(res, since);
  }

  function sendPage(res: ServerResponse, page: PageName): void {
    if (!existsSync(join(assetsDir, 'app.js'))) {
      send(res, 503, 'text/html; charset=utf-8',
        `<!doctype html><meta charset="utf-8"><title>Tessera dashboard</title>` +
        `<h1>Tessera dashboard assets are missing</h1><p>The web UI was not bundled into <code>${escapeHtml(assetsDir)}</code>. ` +
        `Run <code>npm run build</code>. The JSON API (<a href="api/v1/cluster">api/v1/cluster</a>) and ` +
        `<a href="metrics">/metrics</a> work without it.</p>`);
      return;
    }
    res.setHeader('Content-Security-Policy', CSP);
    send(res, 200, 'text/html; charset=utf-8', pageHtml(page));
  }

  async function sendAsset(res: ServerResponse, name: string): Promise<void> {
    const file = resolve(assetsDir, name);
    if (!file.startsWith(assetsDir + sep)) return sendText(res, 404, 'not found\n');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return sendText(res, 404, `not found: assets/${name}\n`);
    }
    res.setHeader('Cache-Control', 'no-cache');
    send(res, 200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', body);
  }

  await new Promise<void>((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(listenError(err, bind.host, bind.port));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolvePromise();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(bind.host ? { host: bind.host, port: bind.port } : { port: bind.port });
  });
  server.on('error', (err) => logger.error?.(`dashboard: server error: ${describe(err)}`));
  const addr = server.address();
  if (addr && typeof addr === 'object') bound = { host: addr.address, port: addr.port };
  logger.info?.(`dashboard at http://${displayHost(bound.host)}:${bound.port}/status`);

  let closing: Promise<void> | undefined;
  return {
    port: bound.port,
    host: bound.host,
    close(): Promise<void> {
      closing ??= new Promise<void>((done) => {
        hub.close();
        server.close(() => done());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = host ? `${host}:${port}` : `port ${port}`;
  if (err.code === 'EADDRINUSE') {
    return new DashboardError(
      `cannot start the dashboard: ${where} is already in use (another scheduler, dashboard or Jupyter may be ` +
        `listening there). Pass --dashboard-address :0 (or dashboardAddress: ':0') to pick any free port, ` +
        `choose another port, or use --no-dashboard`,
      'ERR_TESSERA_DASHBOARD_PORT_IN_USE',
      { cause: err },
    );
  }
  if (err.code === 'EACCES') {
    return new DashboardError(
      `cannot start the dashboard on ${where}: permission denied (ports below 1024 need privileges). ` +
        `Use a port above 1024, e.g. --dashboard-address :8787, or :0 for any free port`,
      'ERR_TESSERA_DASHBOARD',
      { cause: err },
    );
  }
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
    return new DashboardError(
      `cannot start the dashboard on ${where}: '${host}' is not an address of this machine. ` +
        `Use ':${port}' to listen on every interface, or the IP of one of its interfaces`,
      'ERR_TESSERA_DASHBOARD',
      { cause: err },
    );
  }
  return new DashboardError(`cannot start the dashboard on ${where}: ${err.message}`, 'ERR_TESSERA_DASHBOARD', { cause: err });
}

function pageHtml(page: PageName): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera · ${PAGES[page]}</title>
<link rel="icon" type="image/svg+xml" href="assets/favicon.svg">
<link rel="stylesheet" href="assets/app.css">
</head>
<body data-page="${page}">
<div id="app"></div>
<script src="assets/app.js"></script>
</body>
</html>
`;
}

function intParam(url: URL, name: string, dflt: number): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return dflt;
  return /^-?\d+$/.test(v) ? Number(v) : undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': buf.length,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  send(res, status, 'text/plain; charset=utf-8', text);
}

function sendJson(res: ServerResponse, value: unknown): void {
  res.setHeader('Cache-Control', 'no-store');
  // No CORS header on purpose: task keys can be sensitive, and any web page the
  // user visits could otherwise read a dashboard reached through a tunnel.
  send(res, 200, 'application/json; charset=utf-8', JSON.stringify(value));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function displayHost(host: string): string {
  if (host === '' || host === '::' || host === '0.0.0.0') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
