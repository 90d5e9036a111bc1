/**
 * Task keys. A key is a string '<name>-<token>' or '<name>-<token>-<index>';
 * its group (what the dashboard aggregates by) is the name with the trailing
 * tokens and indices removed: 'read-csv-1a2b3c4d-3' -> 'read-csv'.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Whether key[from, to) is one or more decimal digits. */
function isDigits(key: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether key[from, to) is at least 8 lower-case hex digits (a token). */
function isHexish(key: string, from: number, to: number): boolean {
  if (to - from < 8) return false;
  for (let i = from; i < to; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * The key without its trailing '-'-separated tokens and indices. Scanned in
 * place: the scheduler asks once per new task, and splitting the key and
 * matching each piece with a regular expression was ~3% of its CPU.
 */
export function keyGroup(key: string): string {
  let end = key.length;
  while (end > 0) {
    const dash = key.lastIndexOf('-', end - 1);
    if (dash < 0) break; // the first piece always stays
    if (!isDigits(key, dash + 1, end) && !isHexish(key, dash + 1, end)) break;
    end = dash;
  }
  return end === key.length ? key : key.slice(0, end);
}

/** A deterministic token for pure tasks: same function and arguments, same key. */
export function tokenize(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 24);
}

// Random keys come from a per-process random prefix plus a counter: unique
// across processes, and far cheaper than a fresh UUID for every task.
const sessionPrefix = randomBytes(6).toString('hex');
let counter = 0;
export function uniqueToken(): string {
  return sessionPrefix + (counter++).toString(16).padStart(8, '0');
}

/** A key-safe name for a function: letters, digits, '_' and '.', never empty. */
export function safeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.]/g, '_');
  return s.length ? s : 'lambda';
}

/**
 * The key '<name>-<token>' as one flat string. Joined rather than added with
 * `+`: V8 keeps a sum of strings as a tree of pieces (a "cons string", ~100
 * bytes for a task key) for as long as the key lives, and a client may hold
 * a million keys.
 */
export function taskKey(name: string, token: string): string {
  return [name, token].join('-');
}
