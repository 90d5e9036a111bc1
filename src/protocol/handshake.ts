/**
 * The first message on every connection: protocol version, role, auth token.
 * The server answers `welcome` or `refused` (then closes), so a peer with the
 * wrong version or token learns why instead of seeing a dropped socket.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_VERSION } from '../version.js';

export type Role = 'client' | 'worker' | 'peer' | 'scheduler';
const ROLES: ReadonlySet<string> = new Set(['client', 'worker', 'peer', 'scheduler']);

export interface Hello {
  op: 'hello';
  protocol: number;
  role: Role;
  token: string;
  name?: string;
}

export interface Welcome {
  op: 'welcome';
  protocol: number;
  id: string;
}

export interface Refused {
  op: 'refused';
  code: 'ERR_TESSERA_HANDSHAKE' | 'ERR_TESSERA_AUTH';
  message: string;
}

export function makeHello(role: Role, token: string, name?: string): Hello {
  return name === undefined
    ? { op: 'hello', protocol: PROTOCOL_VERSION, role, token }
    : { op: 'hello', protocol: PROTOCOL_VERSION, role, token, name };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time token comparison (hashing first makes the lengths equal). */
export function tokensEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Validates a hello against this server's token; returns the refusal to send, or the hello. */
export function checkHello(msg: unknown, token: string, serverRole: string): Hello | Refused {
  const m = msg as Partial<Hello> | null;
  if (!m || typeof m !== 'object' || m.op !== 'hello') {
    return { op: 'refused', code: 'ERR_TESSERA_HANDSHAKE', message: `expected a Tessera hello message as the first message to the ${serverRole}` };
  }
  if (m.protocol !== PROTOCOL_VERSION) {
    return {
      op: 'refused',
      code: 'ERR_TESSERA_HANDSHAKE',
      message: `protocol version mismatch: the ${serverRole} speaks version ${PROTOCOL_VERSION}, this peer ${String(m.protocol)}; ` +
        `run the same Tessera version on every process of the cluster`,
    };
  }
  if (typeof m.role !== 'string' || !ROLES.has(m.role)) {
    return { op: 'refused', code: 'ERR_TESSERA_HANDSHAKE', message: `unknown role ${JSON.stringify(m.role)}` };
  }
  if (typeof m.token !== 'string' || !tokensEqual(m.token, token)) {
    return {
      op: 'refused',
      code: 'ERR_TESSERA_AUTH',
      message: `the ${serverRole} refused the connection: wrong auth token. Connect with the cluster's token ` +
        `(from its scheduler file, LocalCluster, or the TESSERA_TOKEN environment variable)`,
    };
  }
  return m as Hello;
}
