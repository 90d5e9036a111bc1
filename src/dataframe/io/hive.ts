/**
 * Hive-style partitioned folders, the layout pandas (pyarrow) and Dask
 * write with partition_cols / partition_on:
 *
 *   out/year=2015/month=1/part.0.parquet
 *
 * Each `key=value` folder level holds one value of one partition column;
 * the files below hold the other columns. Reading such a tree restores the
 * partition columns from the folder names, after the file columns (as
 * pyarrow and Dask do). Values are written URL-encoded (so '/' or '=' in a
 * value cannot make a folder level of its own) and a null is written as
 * `__HIVE_DEFAULT_PARTITION__`, Hive's and pyarrow's name for it.
 *
 * Types on reading: a partition column is int64 when every value in the
 * tree is a whole number that a double holds exactly, else a string (the
 * folder name says nothing more; cast afterwards for another type).
 */

import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataFrameError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import { naturalCompare } from './paths.js';

export const HIVE_NULL = '__HIVE_DEFAULT_PARTITION__';

/** What a `key=value` folder name looks like (a key of at least one character). */
export const HIVE_FOLDER = /^([^=]+)=(.*)$/;

export type PartitionValue = number | string | null;

/** The partition columns of a hive tree and each file's values of them. */
export interface HiveLayout {
  /** Partition columns, in folder order (outermost first), with their types: int64 or string. */
  readonly schema: Schema;
  /** values[i]: the partition values of file i, in the order of `schema`. */
  readonly values: readonly (readonly PartitionValue[])[];
}

/** The folder name for one partition value (value already rendered as text, or null). */
export function hiveFolderName(key: string, value: string | null): string {
  return `${key}=${value === null ? HIVE_NULL : encodeURIComponent(value)}`;
}

function decodeValue(text: string): string | null {
  if (text === HIVE_NULL) return null;
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not written by us: take the name as it is
  }
}

/**
 * The data files of a folder that may be a hive tree: its own files ending
 * in one of `extensions`, or (when it holds `key=value` folders) the files
 * of those folders, recursively, with each file's keys and raw values.
 * Returns null when the folder holds no `key=value` folders (a plain folder
 * of files). Other folders inside a tree are not part of it and are skipped.
 */
export function listHiveTree(dir: string, extensions: readonly string[]): { path: string; keys: string[]; values: (string | null)[] }[] | null {
  const out: { path: string; keys: string[]; values: (string | null)[] }[] = [];
  let isTree = false;
  const walk = (folder: string, keys: string[], values: (string | null)[]): void => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true }).filter((e) => !e.name.startsWith('.') && !e.name.startsWith('_'));
    } catch (err) {
      throw new DataFrameError(`cannot list ${folder} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    entries.sort((a, b) => naturalCompare(a.name, b.name));
    for (const e of entries) {
      const p = join(folder, e.name);
      const m = HIVE_FOLDER.exec(e.name);
      if (e.isDirectory() && m) {
        isTree = true;
        walk(p, [...keys, m[1]!], [...values, decodeValue(m[2]!)]);
      } else if (e.isFile() && extensions.some((x) => e.name.endsWith(x))) out.push({ path: p, keys, values });
    }
  };
  walk(dir, [], []);
  if (!isTree) return null;
  const first = out[0];
  if (!first) throw new DataFrameError(`${resolve(dir)} holds key=value folders but no ${extensions.join(' or ')} files in them`);
  for (const f of out) {
    if (f.keys.join('/') !== first.keys.join('/')) {
      throw new DataFrameError(
        `${resolve(dir)} is not one hive-partitioned tree: ${f.path} lies under the partition folders ${f.keys.join('/') || '(none)'} ` +
          `but ${first.path} under ${first.keys.join('/') || '(none)'}; every file must lie at the same depth, under the same keys in the same order. ` +
          `Read the parts separately, or move the stray files out`,
      );
    }
  }
  if (new Set(first.keys).size !== first.keys.length) throw new DataFrameError(`${resolve(dir)}: a partition key appears twice in ${first.path}`);
  return out;
}

const INTEGER = /^-?\d+$/;

/** Types the partition columns (int64 when every value is a safe integer, else string) and converts the values. */
export function hiveLayout(keys: readonly string[], raw: readonly (readonly (string | null)[])[]): HiveLayout {
  const schema: Schema = {};
  const integer = keys.map((_, j) => raw.every((vals) => vals[j] === null || (INTEGER.test(vals[j]!) && Number.isSafeInteger(Number(vals[j])))));
  keys.forEach((k, j) => (schema[k] = integer[j] ? 'int64' : 'string'));
  const values = raw.map((vals) => vals.map((v, j) => (v === null ? null : integer[j] ? Number(v) : v)));
  return { schema, values };
}
