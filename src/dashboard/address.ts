import { InvalidArgumentError } from '../errors.js';

export interface DashboardBind {
  /** '' binds every interface (like Dask's ':8787'). */
  host: string;
  port: number;
}

/**
 * Parses a dashboard address the way dask does: ':8787' (all interfaces),
 * '8787', ':0' (any free port), 'host:port', '[::1]:8787', optionally with an
 * 'http://' prefix since users paste links.
 */
export function parseDashboardAddress(address: string | number | undefined): DashboardBind {
  if (address === undefined || address === '') return { host: '', port: 8787 };
  if (typeof address === 'number') return { host: '', port: checkPort(address, String(address)) };
  let a = address.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  let host = '';
  let portText: string;
  const v6 = /^\[([^\]]+)\](?::(\d*))?$/.exec(a);
  if (v6) {
    host = v6[1]!;
    portText = v6[2] ?? '';
  } else if (/^\d+$/.test(a)) {
    portText = a;
  } else {
    const i = a.lastIndexOf(':');
    if (i < 0) {
      host = a;
      portText = '';
    } else {
      host = a.slice(0, i);
      portText = a.slice(i + 1);
      if (host.includes(':')) throw bad(address, 'write IPv6 hosts in brackets, e.g. [::1]:8787');
    }
  }
  a = portText;
  const port = a === '' ? 8787 : Number(a);
  return { host, port: checkPort(port, address) };
}

function checkPort(port: number, address: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad(address, 'the port must be 0-65535');
  return port;
}

function bad(address: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `invalid dashboard address '${address}': ${why}. Use ':8787', ':0' (any free port) or 'host:port'`,
  );
}
