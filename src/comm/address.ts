/** Addresses ('tcp://host:port'), network interfaces and the IP to advertise. */
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { InvalidArgumentError, TesseraError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export function parseAddress(address: string): HostPort {
  let rest = address.trim();
  if (rest.startsWith('tcp://')) rest = rest.slice(6);
  else if (/^[a-z]+:\/\//.test(rest)) {
    throw new InvalidArgumentError(`unsupported protocol in address '${address}': only tcp:// is supported`);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    host = rest.slice(1, end);
    portText = rest.slice(end + 2);
  } else {
    const i = rest.lastIndexOf(':');
    if (i < 0) throw new InvalidArgumentError(`address '${address}' has no port; expected tcp://host:port`);
    host = rest.slice(0, i);
    portText = rest.slice(i + 1);
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`address '${address}' has an invalid port '${portText}'; expected tcp://host:port`);
  }
  return { host: host || '127.0.0.1', port };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`;
}

/**
 * Every interface of this host's network namespace, addressed or not.
 * os.networkInterfaces() lists only interfaces that have an address, so it
 * cannot tell "exists without an IPv4 address" from "does not exist";
 * /proc/net/dev can (it is per network namespace). Empty where unreadable.
 */
function allInterfaceNames(): string[] {
  try {
    return readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)
      .map((l) => l.split(':')[0]!.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

/** 'eth0 (10.0.0.5), ib0 (10.1.0.5), lo (127.0.0.1)': the interfaces that have an IPv4 address here. */
function ipv4Interfaces(all: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  const out: string[] = [];
  for (const [n, entries] of Object.entries(all).sort(([a], [b]) => a.localeCompare(b))) {
    const v4 = (entries ?? []).filter((e) => e.family === 'IPv4').map((e) => e.address);
    if (v4.length) out.push(`${n} (${v4.join(', ')})`);
  }
  return out.join(', ') || 'none';
}

/**
 * The IPv4 address of a named interface. An unknown name, or an interface
 * without an IPv4 address (down, unconfigured, IPv6 only), is an error that
 * names the interfaces that do have one, with their addresses, so the user
 * can pick the right one for this node.
 */
export function interfaceAddress(name: string): string {
  const all = networkInterfaces();
  const entries = all[name];
  const usable = ipv4Interfaces(all);
  const host = hostname();
  if (!entries) {
    if (allInterfaceNames().includes(name)) {
      throw new TesseraError('ERR_TESSERA_INTERFACE', `network interface '${name}' on ${host} has no IPv4 address (no address at all: is it up and configured?); interfaces with an IPv4 address here: ${usable}`);
    }
    const names = [...new Set([...Object.keys(all), ...allInterfaceNames()])].sort().join(', ');
    throw new TesseraError('ERR_TESSERA_INTERFACE', `network interface '${name}' does not exist on this host; interfaces here: ${names} (on ${host}; with an IPv4 address: ${usable})`);
  }
  const v4 = entries.find((e) => e.family === 'IPv4');
  if (!v4) {
    throw new TesseraError('ERR_TESSERA_INTERFACE', `network interface '${name}' on ${host} has no IPv4 address (it has ${entries.map((e) => e.address).join(', ') || 'none'}); interfaces with an IPv4 address here: ${usable}`);
  }
  return v4.address;
}

/** The address others should use to reach this host: the first non-internal IPv4, else loopback. */
export function defaultHostIp(): string {
  for (const entries of Object.values(networkInterfaces())) {
    for (const e of entries ?? []) if (e.family === 'IPv4' && !e.internal) return e.address;
  }
  return '127.0.0.1';
}

/**
 * Decides where to bind and what to advertise. An interface binds to its own
 * address; an explicit host binds there (0.0.0.0 advertises the host's IP);
 * the default is loopback, which is what a LocalCluster wants.
 */
export function resolveListenHost(opts: { host?: string; interface?: string }): { bind: string; advertise: string } {
  if (opts.interface) {
    const ip = interfaceAddress(opts.interface);
    return { bind: ip, advertise: ip };
  }
  const host = opts.host ?? '127.0.0.1';
  if (host === '0.0.0.0' || host === '::' || host === '') return { bind: host || '0.0.0.0', advertise: defaultHostIp() };
  return { bind: host, advertise: host };
}

/** Parses ':8787', '8787', 'host:8787' into a host (may be undefined) and port. */
export function parseHostPortSpec(spec: string): { host: string | undefined; port: number } {
  const s = spec.trim();
  const i = s.lastIndexOf(':');
  const host = i > 0 ? s.slice(0, i) : undefined;
  const port = Number(i >= 0 ? s.slice(i + 1) : s);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`invalid address '${spec}': expected ':PORT' or 'HOST:PORT'`);
  }
  return { host, port };
}
