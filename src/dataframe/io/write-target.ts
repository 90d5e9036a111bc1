/**
 * Output folders for toParquet/toCsv, written so that nothing is ever lost:
 *
 * - The tasks write into a hidden sibling of the output folder
 *   (`.out.tessera-tmp-<id>` next to `out`, so on the same file system),
 *   and only when every partition is written is it renamed into place. A
 *   failed job removes that folder and leaves the previous output as it was.
 * - The folder being replaced may hold only Tessera's part files
 *   (part.N.parquet, part.N.csv), and `key=value` folders holding only
 *   such files and folders (what toParquet's partitionOn writes). Anything
 *   else in it (a README, another subfolder, other data) is someone else's:
 *   the write is refused rather than deleting it. Dask's to_parquet(overwrite=True) deletes the whole
 *   folder instead; replacing only a folder Tessera could have written
 *   keeps that convenience without its risk.
 * - A plan that reads files in or under the output folder is refused before
 *   any task runs: replacing the folder would destroy its own input.
 *
 * Replacing is two renames (old folder aside, new one in), so a reader at
 * that instant may find no folder; a crash between them leaves the previous
 * output in `.out.tessera-old-<id>` next to it, never deleted.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DataFrameError } from '../../errors.js';
import type { PlanNode } from '../plan.js';
import { HIVE_FOLDER } from './hive.js';

/** The files a write may replace: what toParquet/toCsv write. */
const PART_FILE = /^part\.\d+\.(parquet|csv)$/;

/** How many names an error lists before '...and N more'. */
const LIST_LIMIT = 8;

export type WriteAction = 'toParquet' | 'toCsv';

export interface WriteTarget {
  readonly action: WriteAction;
  /** The output folder as the caller named it, resolved (what results report). */
  readonly dir: string;
  /** The folder that is replaced: `dir`, or where it points when it is a symbolic link. */
  readonly real: string;
  /** The hidden sibling of `real` the tasks write into. */
  readonly tmp: string;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Whether `child` is `parent` or lies under it. */
function within(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** The real path of `p`, following symbolic links as far as the path exists. */
function realish(p: string): string {
  const tail: string[] = [];
  let head = resolve(p);
  for (;;) {
    try {
      return join(realpathSync(head), ...tail);
    } catch {
      const parent = dirname(head);
      if (parent === head) return resolve(p);
      tail.unshift(basename(head));
      head = parent;
    }
  }
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(', ');
  return names.length > LIST_LIMIT ? `${shown} and ${names.length - LIST_LIMIT} more` : shown;
}

/** The files every read in the plan opens (persisted and client-held data open none). */
export function planInputFiles(node: PlanNode): string[] {
  switch (node.kind) {
    case 'csv':
      return [...new Set(node.partitions.map((p) => p.path))];
    case 'parquet':
      return [...node.files];
    case 'persisted':
      return [];
    case 'join':
      return [...planInputFiles(node.left), ...planInputFiles(node.right)];
    case 'concat':
      return node.inputs.flatMap(planInputFiles);
    case 'op':
    case 'window':
    case 'groupBy':
    case 'sort':
    case 'repartition':
      return planInputFiles(node.input);
  }
}

/**
 * Refuses a write whose output folder holds any of the plan's input files:
 * the write replaces the folder, so the job would delete what it reads.
 */
export function refuseWritingIntoInputs(plan: PlanNode, requested: string, action: WriteAction, what: 'folder' | 'file' = 'folder'): void {
  const dir = resolve(requested);
  const realDir = realish(dir);
  const inside = [...new Set(planInputFiles(plan))].filter((f) => within(resolve(f), dir) || within(realish(f), realDir));
  if (inside.length === 0) return;
  throw new DataFrameError(
    `${action}: will not write to ${dir}: the data being written is read from that ${what} (${listNames(inside)}), ` +
      `and the write replaces the ${what}, which would destroy its own input; write to another ${what} ` +
      `(then remove or rename ${what}s yourself once the new output is complete)`,
  );
}

/**
 * Entries of a folder that Tessera did not write: anything but part files
 * and hive partition folders (key=value) holding only what Tessera writes,
 * named by their path inside `dir`.
 */
function foreignEntries(dir: string, action: WriteAction, prefix = ''): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DataFrameError(`${action}: cannot list the output folder ${dir} (${errnoCode(err) ?? (err as Error).message}); check its permissions or write to another folder`, { cause: err });
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.isFile() && PART_FILE.test(e.name)) continue;
    // A symbolic link is never followed: what it points to is not Tessera's to delete.
    if (e.isDirectory() && HIVE_FOLDER.test(e.name)) {
      out.push(...foreignEntries(join(dir, e.name), action, `${prefix}${e.name}/`));
      continue;
    }
    out.push(`${prefix}${e.name}${e.isDirectory() ? '/' : ''}`);
  }
  return out.sort();
}

/**
 * Deletes what Tessera wrote under `dir` (part files, then the emptied
 * key=value folders), one entry at a time rather than recursively, so
 * anything that arrived since the check stays. Returns whether `dir` is gone.
 */
function removeOwnOutput(dir: string): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isFile() && PART_FILE.test(e.name)) rmSync(p, { force: true });
    else if (e.isDirectory() && HIVE_FOLDER.test(e.name)) removeOwnOutput(p);
  }
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

function refuseForeign(action: WriteAction, dir: string, foreign: readonly string[], when = ''): never {
  throw new DataFrameError(
    `${action}: will not replace ${dir}: it holds ${foreign.length === 1 ? 'an entry' : `${foreign.length} entries`} that Tessera did not write${when} ` +
      `(${listNames(foreign)}). A write replaces the whole folder, and only a folder holding nothing but part.N.parquet / part.N.csv files ` +
      `(directly or in key=value partition folders) is replaced, so that nothing else is deleted: write to a new or empty folder, or move those entries out of ${dir}`,
  );
}

/** The nearest existing ancestor of `p` (which does not exist), with its stats. */
function nearestExisting(p: string): { path: string; stats: Stats } | null {
  let cur = dirname(p);
  for (;;) {
    try {
      return { path: cur, stats: statSync(cur) };
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return null;
      cur = parent;
    }
  }
}

function notWritable(action: WriteAction, dir: string, where: string, err: unknown): DataFrameError {
  const code = errnoCode(err);
  const why =
    code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? `${where} does not allow creating entries in it (${code})`
      : code === 'ENOSPC' || code === 'EDQUOT'
        ? `the file system of ${where} is full (${code})`
        : `creating an entry in ${where} failed (${code ?? (err as Error).message})`;
  return new DataFrameError(
    `${action}: cannot write to ${dir}: ${why}. The partitions are written into a temporary folder next to the output ` +
      `and renamed into place, so the folder that contains the output must be writable: pick an output folder you can write to`,
    { cause: err },
  );
}

/**
 * Checks the output folder and creates the temporary folder the tasks write
 * into. Throws, having created nothing but missing parent folders, when the
 * path is a file, lies under a file, holds files Tessera did not write, or
 * cannot be written.
 */
export function prepareWriteTarget(requested: string, action: WriteAction): WriteTarget {
  const dir = resolve(requested);
  if (within(realish(process.cwd()), realish(dir))) {
    throw new DataFrameError(
      `${action}: will not write to ${dir}: it is the current working directory or one of its parents, and a write replaces the whole output folder; ` +
        `write to a folder of its own, such as ${join(dir, 'out')}`,
    );
  }
  let real = dir;
  let stats: Stats | null = null;
  try {
    stats = lstatSync(dir);
    if (stats.isSymbolicLink()) {
      // Replace the folder the link points to and keep the link, as writing into it always did.
      real = realpathSync(dir);
      stats = statSync(real);
    }
  } catch (err) {
    const code = errnoCode(err);
    if (stats?.isSymbolicLink()) {
      throw new DataFrameError(`${action}: cannot write to ${dir}: it is a symbolic link to a path that does not exist (${code}); remove the link or make it point to a folder`, { cause: err });
    }
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw new DataFrameError(`${action}: cannot write to ${dir}: ${code ?? (err as Error).message}; check the path and its permissions`, { cause: err });
    }
    stats = null;
  }
  if (stats && !stats.isDirectory()) {
    throw new DataFrameError(
      `${action}: cannot write to ${dir}: it is a file, not a folder. ${action} writes a folder of part files (part.0.${action === 'toParquet' ? 'parquet' : 'csv'}, ...): ` +
        `pick a folder path, or move the file away`,
    );
  }
  const parent = dirname(real);
  if (!stats) {
    const above = nearestExisting(real);
    if (above && !above.stats.isDirectory()) {
      throw new DataFrameError(`${action}: cannot write to ${dir}: ${above.path} is a file, not a folder, so nothing can be created under it; pick an output folder that is not inside a file`);
    }
    try {
      mkdirSync(parent, { recursive: true });
    } catch (err) {
      throw notWritable(action, dir, above?.path ?? parent, err);
    }
  } else {
    const foreign = foreignEntries(real, action);
    if (foreign.length) refuseForeign(action, dir, foreign);
  }
  const tmp = join(parent, `.${basename(real)}.tessera-tmp-${randomBytes(6).toString('hex')}`);
  try {
    mkdirSync(tmp);
  } catch (err) {
    throw notWritable(action, dir, parent, err);
  }
  return { action, dir, real, tmp };
}

/**
 * Run by a write task (early, and again just before the file is created):
 * the client creates the temporary folder before any task runs and removes
 * it when the write fails. A task must not create it again, or a task still
 * running after another partition failed would leave a stray folder behind.
 */
export function requireOutputFolder(dir: string): void {
  try {
    if (statSync(dir).isDirectory()) return;
  } catch {
    // Reported below.
  }
  throw new DataFrameError(
    `the temporary output folder ${dir} does not exist on this worker: the write was abandoned (another partition failed) ` +
      `or the folder was removed, or the workers do not share the client's file system; write to a folder on storage every worker shares`,
  );
}

/** Removes the temporary folder of a write that will not be committed. */
export function abandonWriteTarget(target: { readonly tmp: string }): void {
  // A task of the abandoned job may still be creating its file there; it
  // checks that the folder exists just before writing (requireOutputFolder),
  // so once the folder is gone no task makes a file in it. rmSync's own
  // retries list the folder only once, and a file made after that listing
  // fails every retry with ENOTEMPTY: each attempt here lists it anew.
  for (let attempt = 1; attempt <= ABANDON_ATTEMPTS; attempt++) {
    try {
      rmSync(target.tmp, { recursive: true, force: true });
      return;
    } catch {
      // Best effort after the last attempt: the error that abandoned the write is the one to report, and a hidden temporary folder loses nothing.
      if (attempt < ABANDON_ATTEMPTS) Atomics.wait(SLEEP, 0, 0, 50 * attempt);
    }
  }
}

/** Attempts to remove an abandoned write's temporary folder (about 2 s of waits between them in all). */
const ABANDON_ATTEMPTS = 10;
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * Puts the written folder in place of the output folder, once every
 * partition's file is in it. On any failure the previous output stays
 * where it was and the temporary folder is removed.
 */
export function commitWriteTarget(target: WriteTarget, files: readonly string[]): void {
  const { action, dir, real, tmp } = target;
  try {
    const missing = files.filter((f) => !existsSync(join(tmp, f)));
    if (missing.length) {
      throw new DataFrameError(
        `${action}: the tasks reported success but ${listNames(missing)} ${missing.length === 1 ? 'is' : 'are'} missing from ${tmp} ` +
          `(was it removed, or do the workers see another file system?); ${dir} is unchanged`,
      );
    }
    let exists = true;
    try {
      statSync(real);
    } catch {
      exists = false;
    }
    if (!exists) {
      renameSync(tmp, real);
      return;
    }
    // Checked again: someone may have put files there while the job ran.
    const foreign = foreignEntries(real, action);
    if (foreign.length) refuseForeign(action, dir, foreign, ' (they appeared while the job ran; the new output was discarded)');
    const old = join(dirname(real), `${basename(tmp).replace('.tessera-tmp-', '.tessera-old-')}`);
    renameSync(real, old);
    try {
      renameSync(tmp, real);
    } catch (err) {
      try {
        renameSync(old, real);
      } catch {
        throw new DataFrameError(
          `${action}: could not move the written output into ${dir} (${errnoCode(err) ?? (err as Error).message}) nor the previous output back; ` +
            `the previous output is in ${old}: rename it to ${real}`,
          { cause: err },
        );
      }
      throw err;
    }
    // Only Tessera's files were there when checked; unlinking them one by one
    // (not a recursive delete) keeps anything that arrived in between.
    if (!removeOwnOutput(old)) {
      process.emitWarning(`${action}: the previous output of ${dir} was moved to ${old}, which still holds entries Tessera did not write; look at them and remove the folder`);
    }
  } catch (err) {
    abandonWriteTarget(target);
    if (err instanceof DataFrameError) throw err;
    throw new DataFrameError(`${action}: could not move the written output into ${dir} (${errnoCode(err) ?? (err as Error).message}); ${dir} is unchanged`, { cause: err });
  }
}

// ------------------------------------------------------------ one file

/** A single output file (toCsv singleFile): its parts go to a hidden sibling folder, then become one file renamed into place. */
export interface FileTarget {
  readonly action: WriteAction;
  /** The output file, resolved. */
  readonly path: string;
  /** The hidden sibling folder the tasks write their parts into; the joined file is made there too. */
  readonly tmp: string;
}

/**
 * Checks a single-file output path and creates the temporary folder. A
 * file already at `path` is replaced (only once the new one is complete);
 * a folder there is refused, since a folder is not what was asked for and
 * replacing it could lose what it holds.
 */
export function prepareFileTarget(requested: string, action: WriteAction): FileTarget {
  const path = resolve(requested);
  let stats: Stats | null = null;
  try {
    stats = statSync(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT') {
      throw new DataFrameError(`${action}: cannot write to ${path}: ${code ?? (err as Error).message}; check the path and its permissions`, { cause: err });
    }
  }
  if (stats?.isDirectory()) {
    throw new DataFrameError(
      `${action}: cannot write a single file to ${path}: it is a folder. With singleFile: true the path names the file to write ` +
        `(e.g. ${join(path, 'data.csv')}); to write a folder of part files leave singleFile out`,
    );
  }
  if (stats && !stats.isFile()) throw new DataFrameError(`${action}: cannot write to ${path}: it is not a regular file; pick another path`);
  const parent = dirname(path);
  const above = nearestExisting(path);
  if (!existsSync(parent)) {
    if (above && !above.stats.isDirectory()) {
      throw new DataFrameError(`${action}: cannot write to ${path}: ${above.path} is a file, not a folder, so nothing can be created under it; pick an output path that is not inside a file`);
    }
    try {
      mkdirSync(parent, { recursive: true });
    } catch (err) {
      throw notWritable(action, path, above?.path ?? parent, err);
    }
  } else if (!statSync(parent).isDirectory()) {
    throw new DataFrameError(`${action}: cannot write to ${path}: ${parent} is a file, not a folder; pick an output path that is not inside a file`);
  }
  const tmp = join(parent, `.${basename(path)}.tessera-tmp-${randomBytes(6).toString('hex')}`);
  try {
    mkdirSync(tmp);
  } catch (err) {
    throw notWritable(action, path, parent, err);
  }
  return { action, path, tmp };
}

/**
 * Renames the complete file `written` (inside the temporary folder) to the
 * output path, replacing a previous file in one step, and removes the
 * temporary folder. On failure the previous file stays as it was.
 */
export function commitFileTarget(target: FileTarget, written: string): void {
  try {
    if (!within(resolve(written), target.tmp)) throw new DataFrameError(`internal: ${written} is not in ${target.tmp}`);
    // Checked again: a folder may have appeared there while the job ran.
    let stats: Stats | null = null;
    try {
      stats = statSync(target.path);
    } catch {
      stats = null;
    }
    if (stats?.isDirectory()) {
      throw new DataFrameError(`${target.action}: ${target.path} became a folder while the job ran; the new output was discarded and the folder left as it is`);
    }
    renameSync(written, target.path);
  } catch (err) {
    abandonWriteTarget(target);
    if (err instanceof DataFrameError) throw err;
    throw new DataFrameError(`${target.action}: could not move the written file to ${target.path} (${errnoCode(err) ?? (err as Error).message}); ${target.path} is unchanged`, { cause: err });
  }
  abandonWriteTarget(target);
}
