/**
 * Shared by the dashboard tests: where the repository and the bundled assets
 * are, and small HTTP/SSE clients.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { defaultAssetsDir } from '../../src/dashboard/server.js';

// dist/test/dashboard/x.js -> the repository root (also for other dist-like output dirs).
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function artifactsDir(): string {
  return join(REPO_ROOT, 'test-artifacts');
}

/** The web UI must have been bundled (npm run build does it); say how if not. */
export function requireAssets(): string {
  const dir = defaultAssetsDir();
  if (!existsSync(join(dir, 'app.js'))) {
    throw new Error(`dashboard assets missing in ${dir}: run 'npm run build' (or node src/dashboard/ui/build.mjs ${dir})`);
  }
  return dir;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function http(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function json<T>(port: number, path: string): Promise<T> {
  const r = await http(port, path);
  if (r.status !== 200) throw new Error(`GET ${path} -> ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as T;
}

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** A minimal EventSource for Node: collects messages, lets a test wait for the next ones. */
export class SseClient {
  readonly messages: SseMessage[] = [];
  private buf = '';
  private waiters: Array<() => void> = [];
  private closeFn: () => void = () => undefined;
  status = 0;
  contentType = '';

  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        c.status = res.statusCode ?? 0;
        c.contentType = String(res.headers['content-type'] ?? '');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => c.feed(chunk));
        resolve(c);
      });
      c.closeFn = () => req.destroy();
      req.on('error', (err) => {
        if (c.status === 0) reject(err);
      });
      req.end();
    });
  }

  private feed(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const msg: SseMessage = { data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const k = line.indexOf(':');
        const field = k < 0 ? line : line.slice(0, k);
        const value = k < 0 ? '' : line.slice(k + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'id') msg.id = value;
        else if (field === 'event') msg.event = value;
      }
      if (!data.length) continue;
      msg.data = data.join('\n');
      this.messages.push(msg);
      for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves once at least `n` messages have arrived. */
  async waitFor(n: number, timeoutMs = 5000): Promise<SseMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} SSE messages (got ${this.messages.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages;
  }

  close(): void {
    this.closeFn();
  }
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
