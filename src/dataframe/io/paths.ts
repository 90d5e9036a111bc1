/**
 * Turns what a user passes to readCsv/readParquet (a path, a directory, a
 * glob such as 'data/*.csv' or 'data/**\/part.*.parquet', or a list of
 * those) into a sorted list of files. Node 20 has no fs.glob, and the
 * patterns a data path needs are few: `*`, `?`, `[abc]` within a segment and
 * `**` across directories.
 */

import { readdirSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { DataFrameError } from '../../errors.js';

const GLOB_CHARS = /[*?[]/;

/** Natural order, so part.2 comes before part.10 (as Dask sorts its parts). */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function segmentRegex(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        let body = segment.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function listDir(dir: string): { name: string; isDir: boolean }[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .map((e) => ({ name: e.name, isDir: e.isDirectory() || (e.isSymbolicLink() && isDir(join(dir, e.name))) }));
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function globFiles(pattern: string): string[] {
  const abs = resolve(pattern);
  const parts = abs.split(sep);
  const firstGlob = parts.findIndex((p) => GLOB_CHARS.test(p));
  const base = parts.slice(0, firstGlob).join(sep) || sep;
  const rest = parts.slice(firstGlob);
  const out: string[] = [];
  const walk = (dir: string, i: number): void => {
    if (i === rest.length) return;
    const seg = rest[i]!;
    const last = i === rest.length - 1;
    if (seg === '**') {
      walk(dir, i + 1); // zero directories
      for (const e of listDir(dir)) if (e.isDir) walk(join(dir, e.name), i);
      return;
    }
    const re = segmentRegex(seg);
    for (const e of listDir(dir)) {
      if (!re.test(e.name)) continue;
      const p = join(dir, e.name);
      if (last) {
        if (!e.isDir) out.push(p);
      } else if (e.isDir) walk(p, i + 1);
    }
  };
  walk(base, 0);
  return [...new Set(out)];
}

/**
 * Expands paths, directories and globs into files, sorted naturally within
 * each argument. A directory contributes its files ending in one of
 * `extensions` (e.g. ['.csv']); a path that matches nothing is an error
 * naming it.
 */
export function expandPaths(input: string | readonly string[], extensions: readonly string[]): string[] {
  const items = typeof input === 'string' ? [input] : [...input];
  if (items.length === 0) throw new DataFrameError('no input paths were given');
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string' || item === '') throw new DataFrameError(`an input path must be a non-empty string, got ${JSON.stringify(item)}`);
    if (GLOB_CHARS.test(item)) {
      const files = globFiles(item).sort(naturalCompare);
      if (files.length === 0) throw new DataFrameError(`no files match '${item}' (resolved to ${resolve(item)})`);
      out.push(...files);
      continue;
    }
    let st;
    try {
      st = statSync(item);
    } catch {
      throw new DataFrameError(`file not found: ${item} (resolved to ${resolve(item)})`);
    }
    if (st.isDirectory()) {
      const files = listDir(item)
        .filter((e) => !e.isDir && extensions.some((x) => e.name.endsWith(x)))
        .map((e) => join(item, e.name))
        .sort(naturalCompare);
      if (files.length === 0) throw new DataFrameError(`directory ${item} holds no ${extensions.join(' or ')} files`);
      out.push(...files);
    } else out.push(item);
  }
  return out;
}
