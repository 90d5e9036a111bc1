/**
 * Loads the package from its bundle (dist/bundle, scripts/build-bundle.js)
 * with a V8 code cache, which is what the package's entry points do.
 *
 * Why: a process that imports Tessera spends most of its start compiling
 * Tessera's modules, and an MPI job starts every rank at once (4 ranks on 2
 * cores: about 0.1 s of the time to a ready cluster). Node 22 can cache compiled
 * modules (module.enableCompileCache); Node 20 cannot for ES modules. So the
 * library is also built as one CommonJS file, compiled here through vm.Script
 * with the code V8 produced for it last time, the way v8-compile-cache does
 * for CommonJS programs. The cache lives in the user's cache directory,
 * keyed by the bundle's content hash (in its file name), Node's version and
 * the CPU architecture; V8 itself rejects data made by another V8 or with
 * other flags, and the bundle then compiles as usual.
 *
 * Code compiled this way cannot import() on Node 20 (not without flags, and
 * not at all once restored from a cache), so this module, a real module
 * file, does the bundle's run-time imports for it (src/boot/host.ts), and
 * scripts/build-bundle.js refuses a bundle with an import() of its own.
 * It is loaded by path, outside the bundle, and imports nothing of
 * Tessera's own but that interface's type.
 */
import { closeSync, fstatSync, futimesSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import type { Host } from './host.js';

/** What the bundle exports: one loader per entry point (resolving to that entry's module namespace), and setHost. */
type Entries = Record<string, unknown>;
type EntryLoader = () => Promise<Record<string, unknown>>;

/** For the bundle: import() and new Function() from a real module file. */
const HOST: Host = {
  importModule: (specifier) => import(specifier),
  compileFunction: (...paramsAndBody) => new Function(...paramsAndBody) as (...args: unknown[]) => unknown,
};

export type CacheState =
  /** The cached code was used. */
  | 'hit'
  /** No cache yet: the bundle compiled, and its code is saved when the process exits. */
  | 'miss'
  /** V8 refused the cached code (another Node, other V8 flags): compiled, and saved again at exit. */
  | 'rejected'
  /** TESSERA_COMPILE_CACHE=off, or no usable cache directory. */
  | 'off';

export interface BundleStatus {
  path: string;
  cache: CacheState;
  /** The cache file read or to be written, when there is one. */
  cacheFile: string | null;
}

interface Loaded {
  entries: Entries;
  status: BundleStatus;
}

const loaded = new Map<string, Loaded>();

/** The named entry point of the bundle at `bundleUrl`: the bundle loads once per process (or thread). */
export function loadEntry(bundleUrl: URL, name: string): Promise<Record<string, unknown>> {
  const entry = load(bundleUrl).entries[name] as EntryLoader | undefined;
  if (typeof entry !== 'function') {
    // Not an InstallError: this module loads outside the bundle and imports nothing of Tessera's (see above), so
    // it cannot construct the bundle's class; the code is what callers match (docs/errors.md).
    throw Object.assign(new Error(`the Tessera bundle ${fileURLToPath(bundleUrl)} has no entry '${name}': rebuild the package (npm run build)`),
      { code: 'ERR_TESSERA_INSTALL' });
  }
  return entry();
}

/** @internal How the bundle was loaded in this process (for tests and for bench/mpi). */
export function bundleStatus(bundleUrl: URL): BundleStatus {
  return { ...load(bundleUrl).status };
}

function load(bundleUrl: URL): Loaded {
  const path = fileURLToPath(bundleUrl);
  let l = loaded.get(path);
  if (!l) {
    l = compile(path);
    loaded.set(path, l);
  }
  return l;
}

function compile(path: string): Loaded {
  const cacheFile = cacheFileFor(path);
  const cachedData = cacheFile ? readIfPresent(cacheFile) : undefined;
  const source = readFileSync(path, 'utf8');
  // CommonJS's own wrapper, on the first line so that line numbers in stack traces stay the bundle's.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: path,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} as Entries };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(path), module, path, dirname(path));
  (module.exports.setHost as (host: Host) => void)(HOST);
  let cache: CacheState = 'off';
  if (cacheFile) {
    cache = !cachedData ? 'miss' : script.cachedDataRejected ? 'rejected' : 'hit';
    // At exit the functions the process ran are compiled too, so the saved code covers them.
    if (cache !== 'hit') process.once('exit', () => save(cacheFile, script));
  }
  return { entries: module.exports, status: { path, cache, cacheFile } };
}

/**
 * $TESSERA_COMPILE_CACHE (a directory, or 'off'), else the user's cache
 * directory ($XDG_CACHE_HOME or ~/.cache)/tessera/compile. Cached code runs
 * as this process, so a directory that someone else owns or may write is
 * not used.
 */
function cacheFileFor(bundlePath: string): string | null {
  const configured = process.env.TESSERA_COMPILE_CACHE;
  if (configured === 'off' || configured === '0') return null;
  let dir = configured;
  if (!dir) {
    const base = process.env.XDG_CACHE_HOME || (safeHomedir() ? join(safeHomedir()!, '.cache') : join(tmpdir(), `tessera-cache-${process.getuid?.() ?? 'user'}`));
    dir = join(base, 'tessera-compute', 'compile');
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) return null;
  } catch {
    return null;
  }
  // V8 refuses code made under other flags; processes started with other ones keep a file of their own
  // instead of replacing each other's.
  const options = nodeOptions(process.execArgv);
  const flags = options.length ? `-flags${fnv1a(options.join(' '))}` : '';
  // Keyed by where the bundle is too: V8's cached code keeps the script name it was made with, so two
  // installs of the same build sharing one file would show each other's paths in stack traces.
  const where = `-at${fnv1a(bundlePath)}`;
  return join(dir, `${basename(bundlePath, '.cjs')}${where}-node${process.versions.node}-v8-${process.versions.v8}-${process.arch}${flags}.cache`);
}

/** Node's command-line options without the code of `node -e`/`-p` and the module settings, which V8 never sees. */
function nodeOptions(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (a === '-e' || a === '-p' || a === '--eval' || a === '--print' || a === '--import' || a === '--require' || a === '-r') {
      i++;
      continue;
    }
    if (/^--(eval|print|import|require|input-type)=/.test(a)) continue;
    out.push(a);
  }
  return out;
}

/** A short name for a string (32-bit FNV-1a), to keep file names short; not for security. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function safeHomedir(): string | null {
  try {
    return homedir() || null;
  } catch {
    return null;
  }
}

function readIfPresent(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return undefined;
    const data = readFileSync(fd);
    // Marks it as in use (see removeStale), at most once a day.
    if (Date.now() - st.mtimeMs > 24 * 3600 * 1000) {
      const now = new Date();
      futimesSync(fd, now, now);
    }
    return data;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Written whole under a temporary name, then renamed: every rank of a job may save at once. */
function save(file: string, script: vm.Script): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
    removeStale(dirname(file));
  } catch {
    // A cache is an optimisation: a full disk or a read-only home must not fail the program.
  }
}

/** Unused for this long (readIfPresent marks use), a cache file is from a build of Tessera that is gone (each build has its own). */
const STALE_MS = 14 * 24 * 3600 * 1000;

function removeStale(dir: string): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (!/^tessera-[0-9a-f]+-.*\.cache(\.\d+\.tmp)?$/.test(name)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_MS) unlinkSync(path);
    } catch {
      // Another process removed it first.
    }
  }
}
