/**
 * pandas as the oracle: the same operations on the same CSV files, run by
 * Tessera on a LocalCluster over many small partitions and by pandas
 * (Debian's python3-pandas, through /usr/bin/python3), must give the same
 * rows. Users port pandas code: a silent difference in row count or value
 * is the worst failure, so this suite is also the spec of where Tessera
 * follows pandas and where, deliberately, it does not. Each deliberate
 * difference is written next to its case as "Differs:".
 *
 * Comparison rules (what "the same" means here):
 * - Missing values are one thing: pandas' NaN/None/NaT and Tessera's null
 *   compare equal, and a NaN Tessera computes (0/0) counts as missing too
 *   (pandas cannot tell NaN from missing).
 * - Integers compare by value: pandas turns an integer column with a
 *   missing value into float64 (3 becomes 3.0), Tessera keeps int64.
 * - float64 values agree within 1e-9 relative; float32 columns (the taxi
 *   prep) at float32 resolution (4 ulp, 5e-7 relative), since NumPy's and
 *   Rust's float32 sin/arcsin may round differently in the last bit.
 * - Datetimes and durations compare as integer microseconds; infinities
 *   as the strings 'inf' and '-inf'.
 * - Row order is compared where both define it (filter, query, select,
 *   withColumns, sort, concat, window functions); groupBy and join results
 *   are compared as sets of rows (see those cases).
 *
 * The data is generated here from a fixed seed: integer and string keys
 * with nulls, skewed and duplicated, keys present on one side of a join
 * only, floats with nulls and a 1e8 offset, datetimes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, LocalCluster } from '../../src/index.js';
import { col, concat, cumCount, len, lit, readCsv, readParquet, type DataFrame, type PolarsDataFrame } from '../../src/dataframe/index.js';
import { prepNycTaxi, QUERY, readTaxiCsv } from '../../examples/nyctaxi/prep.js';
import { taxiData, tempDir, writeText } from './helpers.js';
import { random } from '../fixtures/random.js';

const PYTHON = '/usr/bin/python3';
// Tests run compiled from dist/test/dataframe; the runner script stays in the sources.
const ORACLE = fileURLToPath(new URL('../../../test/dataframe/pandas_oracle.py', import.meta.url));
const PARTITIONS = 16;

// ------------------------------------------------------------------ data


function writeData(dir: string): { main: string; right: string } {
  const u = random(20240613);
  const normal = (): number => Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
  const pick = <T>(p: number, v: () => T): T | null => (u() < p ? null : v());
  const stamp = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const lines = ['id,k,s,x,y,n,t0,t1'];
  const start = Date.UTC(2015, 0, 1);
  for (let id = 0; id < 4000; id++) {
    // Skewed keys: small values are far more common; ~5% missing.
    const k = pick(0.05, () => Math.floor(u() ** 3 * 20));
    const s = pick(0.05, () => `s${Math.floor(u() ** 2 * 12)}`);
    const x = pick(0.03, () => Math.round((50 + 10 * normal()) * 1e6) / 1e6);
    const y = 1e8 + normal();
    const n = pick(0.1, () => Math.floor(u() * 7) - 3);
    const t0 = start + Math.floor(u() * 365 * 86400) * 1000;
    const t1 = pick(0.05, () => t0 + Math.floor(u() * 7200) * 1000);
    const cell = (v: unknown): string => (v === null ? '' : String(v));
    lines.push([id, k, s, x, y, n, stamp(t0), t1 === null ? '' : stamp(t1)].map(cell).join(','));
  }
  const main = join(dir, 'main.csv');
  writeFileSync(main, lines.join('\n') + '\n');
  // The right side of joins: duplicated keys (3, 4), keys the left never has (20..24), a null key.
  const right = ['rid,k,s,r,label'];
  const keys: (number | null)[] = [0, 1, 2, 3, 3, 4, 4, 4, 5, 7, 11, 20, 21, 24, null, null];
  keys.forEach((k, rid) => right.push([rid, k ?? '', rid % 5 === 0 ? '' : `s${rid % 4}`, (rid * 1.25).toFixed(2), `L${rid}`].join(',')));
  const rightPath = join(dir, 'right.csv');
  writeFileSync(rightPath, right.join('\n') + '\n');
  return { main, right: rightPath };
}

// --------------------------------------------------------------- results

type Row = unknown[];
interface Result {
  columns: string[];
  rows: Row[];
}

/** A Tessera result in the oracle's normalized form (see the module comment). */
function normalize(df: PolarsDataFrame, schema: Record<string, string>): Result {
  const columns = df.columns;
  const scale = columns.map((c) => {
    const t = schema[c] ?? '';
    const m = /^(datetime|duration)\[(ms|us|ns)\]$/.exec(t);
    return m ? { ms: 1000, us: 1, ns: 0.001 }[m[2] as 'ms' | 'us' | 'ns'] : null;
  });
  const records = df.toRecords() as Record<string, unknown>[];
  const rows = records.map((r) =>
    columns.map((c, i) => {
      let v = r[c];
      if (v === undefined || v === null) return null;
      if (v instanceof Date) v = v.getTime() * 1000;
      else if (scale[i] !== null && (typeof v === 'number' || typeof v === 'bigint')) v = Number(v) * scale[i]!;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'number' && Number.isNaN(v)) return null;
      // As the oracle writes them: JSON has no infinities.
      if (v === Infinity || v === -Infinity) return v > 0 ? 'inf' : '-inf';
      return v;
    }),
  );
  return { columns, rows };
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null) return 1; // missing last
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

function sortRows(rows: Row[], by: number[]): Row[] {
  return [...rows].sort((p, q) => {
    for (const i of by) {
      const c = compareValues(p[i], q[i]);
      if (c !== 0) return c;
    }
    return 0;
  });
}

interface Case {
  /** The Tessera side: a lazy frame, or an action's result (describe, tail). */
  tessera: () => DataFrame | Promise<PolarsDataFrame>;
  /** Python statements computing `out` from df (main.csv), right (right.csv) or taxi. */
  pandas: string;
  /** Compare as sets of rows, sorted by these columns (which must make rows unique); else in order. */
  unordered?: string[];
  /** Columns compared at float32 resolution. */
  float32?: string[];
}

function assertSameResult(name: string, ours: Result, theirs: Result, c: Case): void {
  assert.deepEqual(ours.columns, theirs.columns, `${name}: columns`);
  assert.equal(ours.rows.length, theirs.rows.length, `${name}: row count (Tessera ${ours.rows.length}, pandas ${theirs.rows.length})`);
  let a = ours.rows;
  let b = theirs.rows;
  if (c.unordered) {
    const by = c.unordered.map((k) => ours.columns.indexOf(k));
    a = sortRows(a, by);
    b = sortRows(b, by);
  }
  const f32 = new Set((c.float32 ?? []).map((k) => ours.columns.indexOf(k)));
  for (let r = 0; r < a.length; r++) {
    for (let i = 0; i < ours.columns.length; i++) {
      const x = a[r]![i];
      const y = b[r]![i];
      const where = `${name}: row ${r} column '${ours.columns[i]}': Tessera ${JSON.stringify(x)}, pandas ${JSON.stringify(y)}`;
      if (typeof x === 'number' && typeof y === 'number') {
        const rel = f32.has(i) ? 5e-7 : 1e-9;
        assert.ok(x === y || Math.abs(x - y) <= rel * Math.max(Math.abs(x), Math.abs(y)), where);
      } else assert.deepEqual(x, y, where);
    }
  }
}

// ----------------------------------------------------------------- cases

let df: DataFrame;
let right: DataFrame;
let taxi: DataFrame;
/** Written by Tessera from df before the oracle runs (see before()). */
const io = { main: '', blocksize: 0, flat: '', hive: '', single: '', category: '' };

const QUERIES: Record<string, string> = {
  'query: and of comparisons': 'x > 50 and k != 3',
  // pandas: NaN != 5 is True, so rows with a missing k stay.
  'query: != keeps missing values': 'k != 5',
  'query: not (==) keeps missing values': 'not (k == 5)',
  'query: ~(or) keeps missing values': '~(x > 55 or x < 45)',
  'query: string != keeps missing values': 's != "s1"',
  'query: not in keeps missing values': 's not in ["s0", "s1"]',
  'query: in': 'k in [1, 2, 3]',
  'query: arithmetic and chained comparison': '40 < x * 2 - n < 110 or s == "s3"',
  'query: datetime against a string': 't0 > "2015-06-01" and t1 < "2015-09-01 12:00:00"',
};

/** main.csv with its string column read as a category (readCsv dtypes). */
function catFrame(): DataFrame {
  return readCsv(io.main, { blocksize: io.blocksize, parseDates: ['t0', 't1'], dtypes: { s: 'category' } });
}

/** A datetime column whose first value has no fraction of a second, and later ones do (issue 13 part 3, bug a). */
const FRACTIONAL_DATES = 'a,t\n1,2015-01-01 00:00:00\n2,2015-01-01 00:00:01.5\n3,2015-01-01 00:00:02.123456\n4,2015-01-01 10:30:00\n5,\n6,2015-01-03 00:00:00.25\n';

const CASES: Record<string, Case> = {
  'filter: expressions': {
    tessera: () => df.filter(col('x').gt(50).and(col('k').lt(10))),
    pandas: 'out = df[(df.x > 50) & (df.k < 10)]',
  },
  ...Object.fromEntries(
    Object.entries(QUERIES).map(([name, q]) => [name, { tessera: () => df.query(q), pandas: `out = df.query(${JSON.stringify(q)})` }]),
  ),
  'withColumns: arithmetic, durations, datetime parts': {
    tessera: () =>
      df.withColumns(
        col('x').mul(2).add(col('n')).alias('z'),
        col('x').div(col('n')).alias('ratio'),
        col('t1').sub(col('t0')).alias('d'),
        col('t0').dt.hour().alias('hour'),
        col('t0').dt.month().alias('month'),
        // Differs: Tessera's weekday is ISO (Monday = 1 ... Sunday = 7), as Polars;
        // pandas' dt.weekday counts Monday = 0 (pandas' dt.isocalendar().day is ISO).
        col('t0').dt.weekday().alias('weekday'),
      ),
    pandas: [
      'out = df.assign(z=df.x * 2 + df.n, ratio=df.x / df.n, d=df.t1 - df.t0, hour=df.t0.dt.hour, month=df.t0.dt.month,',
      '                weekday=df.t0.dt.weekday + 1)',
    ].join('\n'),
  },
  'cast: float to string is repr': {
    // Differs: a missing float cast to string stays missing in Tessera; pandas'
    // astype(str) writes the text 'nan'. The case keeps the rows with a value.
    tessera: () => df.filter(col('x').isNotNull()).select(col('id'), col('x').cast('string'), col('y').cast('string')),
    pandas: 'd = df[df.x.notna()]\nout = pd.DataFrame({"id": d.id, "x": d.x.astype(str), "y": d.y.astype(str)})',
  },
  'select: whole-frame aggregations reduce to one row': {
    tessera: () =>
      df.select(
        col('x').sum(), col('x').mean().alias('x_mean'), col('y').var(), col('y').std().alias('y_std'), col('k').count(),
        col('s').nUnique(), col('x').min().alias('x_min'), col('x').max().alias('x_max'), len(),
      ),
    pandas: [
      'out = pd.DataFrame({"x": [df.x.sum()], "x_mean": [df.x.mean()], "y": [df.y.var()], "y_std": [df.y.std()], "k": [df.k.count()],',
      '                    "s": [df.s.nunique()], "x_min": [df.x.min()], "x_max": [df.x.max()], "len": [len(df)]})',
    ].join('\n'),
  },
  // Differs: groupBy results come in no particular order; pandas sorts them by
  // key (groupby's sort=True). Compared as sets of rows; sort to get pandas' order.
  // Differs: pandas' groupby var/std update one value at a time (Welford), which
  // loses about 1e-9 relative on values such as 1e8 + N(0, 1); Tessera combines
  // per-partition two-pass moments (Chan et al.) and agrees with the exact value
  // within ~1e-11. The oracle therefore computes each group's variance by
  // two passes with NumPy (var2/std2 in the setup) instead of the groupby's own.
  'groupBy(k).agg: sum mean count min max var std nunique len': {
    tessera: () =>
      df.groupBy('k').agg(
        col('x').sum().alias('x_sum'), col('x').mean().alias('x_mean'), col('x').count().alias('x_count'), col('x').min().alias('x_min'),
        col('x').max().alias('x_max'), col('y').var().alias('y_var'), col('y').std().alias('y_std'), col('s').nUnique().alias('s_nunique'), len(),
      ),
    pandas: [
      'out = df.groupby("k").agg(x_sum=("x", "sum"), x_mean=("x", "mean"), x_count=("x", "count"), x_min=("x", "min"), x_max=("x", "max"),',
      '                          y_var=("y", var2), y_std=("y", std2), s_nunique=("s", "nunique"), len=("id", "size")).reset_index()',
    ].join('\n'),
    unordered: ['k'],
  },
  'groupBy(s, k) drops rows with a missing key': {
    tessera: () => df.groupBy('s', 'k').agg(col('n').sum(), col('y').var().alias('y_var'), len()),
    pandas: 'out = df.groupby(["s", "k"]).agg(n=("n", "sum"), y_var=("y", var2), len=("id", "size")).reset_index()',
    unordered: ['s', 'k'],
  },
  'groupBy(s, dropna: false) keeps missing keys as a group': {
    tessera: () => df.groupBy('s', { dropna: false }).agg(col('x').mean(), col('n').max(), len()),
    pandas: 'out = df.groupby("s", dropna=False).agg(x=("x", "mean"), n=("n", "max"), len=("id", "size")).reset_index()',
    unordered: ['s'],
  },
  // Differs (both joins): rows come in no particular order (pandas' merge keeps
  // the left frame's order); compared as sets. Colliding columns take
  // suffix '_right' on the right only (pandas' suffixes=('', '_right')).
  'join inner on k: duplicates, unmatched and missing keys': {
    tessera: () => df.join(right, { on: 'k' }),
    // pandas' merge matches NaN with NaN; so does Tessera by default.
    pandas: 'out = df.merge(right, on="k", how="inner", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join left on k': {
    tessera: () => df.join(right, { on: 'k', how: 'left' }),
    pandas: 'out = df.merge(right, on="k", how="left", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join inner on s, hash-partitioned on both sides': {
    tessera: () => df.join(right.repartition(3), { on: 's', broadcast: false }),
    pandas: 'out = df.merge(right, on="s", how="inner", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join with nullsEqual: false is SQL: a missing key matches nothing': {
    tessera: () => df.join(right, { on: 'k', how: 'left', nullsEqual: false }),
    pandas: [
      'm = df[df.k.notna()].merge(right[right.k.notna()], on="k", how="left", suffixes=("", "_right"))',
      'out = pd.concat([m, df[df.k.isna()]])[m.columns]',
    ].join('\n'),
    unordered: ['id', 'rid'],
  },
  'sort by a float with missing values: missing last': {
    tessera: () => df.sort('x'),
    pandas: 'out = df.sort_values("x", kind="stable")',
  },
  'sort is stable: equal keys keep their order': {
    tessera: () => df.sort('k', { descending: true }),
    pandas: 'out = df.sort_values("k", ascending=False, kind="stable")',
  },
  'sort by several keys, mixed directions': {
    tessera: () => df.sort(['s', 'k', 'id'], { descending: [false, true, false] }),
    pandas: 'out = df.sort_values(["s", "k", "id"], ascending=[True, False, True])',
  },
  'sort by a datetime': {
    tessera: () => df.select('id', 't1').sort('t1'),
    pandas: 'out = df[["id", "t1"]].sort_values("t1", kind="stable")',
  },
  // I/O options (issue 13). pandas cannot read Parquet here (no pyarrow), so
  // the Parquet cases compare what Tessera reads back from what it wrote
  // against pandas' operation on the CSV those rows came from.
  'readCsv usecols: only those columns, in file order': {
    tessera: () => readCsv(io.main, { blocksize: io.blocksize, usecols: ['x', 's', 'id'] }),
    pandas: 'out = pd.read_csv(MAIN, usecols=["x", "s", "id"], float_precision="round_trip")',
  },
  'readParquet filters: an AND of terms': {
    tessera: () => readParquet(io.flat, { filters: [['k', '>', 5], ['s', 'in', ['s1', 's2']]] }),
    pandas: 'out = df[(df.k > 5) & df.s.isin(["s1", "s2"])]',
  },
  // Differs: as pyarrow's filters, a null matches no term: != and 'not in'
  // drop rows whose value is missing (pandas' query keeps them).
  'readParquet filters: an OR of ANDs, with != and not in': {
    tessera: () => readParquet(io.flat, { filters: [[['n', '!=', 0]], [['s', 'not in', ['s0', 's1']], ['x', '<', 45]]] }),
    pandas: [
      'a = df.n.notna() & (df.n != 0)',
      'b = df.s.notna() & ~df.s.isin(["s0", "s1"]) & (df.x < 45)',
      'out = df[a | b]',
    ].join('\n'),
  },
  // Differs: the partition column comes back last (as pyarrow and Dask read
  // hive folders), and the rows in folder order: compared as sets.
  'toParquet partitionOn, read back': {
    tessera: () => readParquet(io.hive),
    pandas: 'out = df[[c for c in df.columns if c != "k"] + ["k"]]',
    unordered: ['id'],
  },
  'readParquet filters on a partition column and a file column': {
    tessera: () => readParquet(io.hive, { filters: [['k', 'in', [1, 2, 3]], ['x', '>', 50]] }),
    pandas: 'd = df[df.k.isin([1, 2, 3]) & (df.x > 50)]\nout = d[[c for c in d.columns if c != "k"] + ["k"]]',
    unordered: ['id'],
  },
  'toCsv singleFile: pandas reads the one file as the data': {
    tessera: () => df,
    pandas: 'out = pd.read_csv(SINGLE, parse_dates=["t0", "t1"], float_precision="round_trip")',
  },
  // The NYC taxi preparation (examples/nyctaxi/prep.ts) against its pandas spelling.
  'NYC taxi prep: query, rename, casts, fillna, features': {
    tessera: () => prepNycTaxi(taxi),
    pandas: taxiPrepPandas(),
    // The rounded coordinates (x // 0.01 * 0.01 in float32) agree exactly
    // since division by a literal is IEEE division (see ExprCompiler.binary).
    float32: ['trip_distance', 'pickup_longitude', 'pickup_latitude', 'dropoff_longitude', 'dropoff_latitude', 'fare_amount', 'tip_amount',
      'total_amount', 'pickup_latitude_r', 'pickup_longitude_r', 'dropoff_latitude_r', 'dropoff_longitude_r', 'h_distance'],
  },
  // ---- everyday operations (column level), issue 13 part 3
  'readCsv parseDates: fractional seconds that come and go': {
    tessera: () => readCsv(writeText(tmp.dir, 'frac.csv', FRACTIONAL_DATES), { parseDates: ['t'], blocksize: 40 }),
    pandas: `import io\nout = pd.read_csv(io.StringIO(${JSON.stringify(FRACTIONAL_DATES)}), parse_dates=["t"])`,
  },
  // pandas' // and % on floats are NumPy's: the floor of the exact quotient
  // and the exact remainder (1 // 0.1 is 9, 1 % 0.1 is 0.09999999999999995).
  'floorDiv and mod: floats exact as NumPy, integers floored': {
    tessera: () =>
      df.select(
        col('id'), col('x').floorDiv(0.1).alias('a'), col('x').mod(0.1).alias('b'), col('x').floorDiv(-0.3).alias('c'), col('x').mod(-0.3).alias('d'),
        col('y').floorDiv(0.7).alias('e'), col('y').mod(0.7).alias('f'), col('x').neg().floorDiv(0.01).alias('g'), col('x').neg().mod(0.01).alias('h'),
        col('x').floorDiv(col('n')).alias('k'), col('x').mod(col('n')).alias('l'), lit(1).floorDiv(lit(0.1, 'float64')).alias('one'),
        col('n').floorDiv(2).alias('i'), col('n').mod(-3).alias('j'), col('k').mod(4).alias('m'),
      ),
    pandas: [
      'x, y, n = df.x, df.y, df.n',
      'out = pd.DataFrame({"id": df.id, "a": x // 0.1, "b": x % 0.1, "c": x // -0.3, "d": x % -0.3, "e": y // 0.7, "f": y % 0.7,',
      '    "g": -x // 0.01, "h": -x % 0.01, "k": x // n, "l": x % n, "one": 1 // 0.1, "i": n // 2, "j": n % -3, "m": df.k % 4})',
    ].join('\n'),
  },
  'dropNulls: any missing value in any column': {
    tessera: () => df.dropNulls(),
    pandas: 'out = df.dropna()',
  },
  'dropNulls: subset, how all': {
    tessera: () => df.dropNulls({ subset: ['k', 'x', 'n'], how: 'all' }),
    pandas: 'out = df.dropna(subset=["k", "x", "n"], how="all")',
  },
  'dropNulls: subset, thresh': {
    tessera: () => df.dropNulls({ subset: ['k', 's', 'n', 't1'], thresh: 3 }),
    pandas: 'out = df.dropna(subset=["k", "s", "n", "t1"], thresh=3)',
  },
  '.str: contains, startsWith, endsWith, case, strip, len, slice': {
    tessera: () =>
      df.select(
        col('id'),
        col('s').str.contains('1').alias('has1'),
        col('s').str.contains('^s[0-3]$').alias('re'),
        col('s').str.contains('s1.', { regex: false }).alias('lit'),
        col('s').str.startsWith('s1').alias('sw'),
        col('s').str.endsWith('0').alias('ew'),
        col('s').str.upper().alias('up'),
        col('s').str.upper().str.lower().alias('low'),
        col('s').str.len().alias('len'),
        col('s').str.slice(1).alias('sl1'),
        col('s').str.slice(-1).alias('slm1'),
        col('s').str.slice(0, -1).alias('sl0m1'),
        col('s').str.slice(-2, 5).alias('slm2'),
        col('s').str.strip('s').alias('strip'),
        col('s').str.lstrip('s1').alias('lstrip'),
        col('s').str.rstrip('01').alias('rstrip'),
      ),
    pandas: [
      's = df.s.str',
      'out = pd.DataFrame({"id": df.id, "has1": s.contains("1"), "re": s.contains("^s[0-3]$"), "lit": s.contains("s1.", regex=False),',
      '    "sw": s.startswith("s1"), "ew": s.endswith("0"), "up": s.upper(), "low": s.upper().str.lower(), "len": s.len(),',
      '    "sl1": s.slice(1), "slm1": s.slice(-1), "sl0m1": s.slice(0, -1), "slm2": s.slice(-2, 5),',
      '    "strip": s.strip("s"), "lstrip": s.lstrip("s1"), "rstrip": s.rstrip("01")})',
    ].join('\n'),
  },
  '.str: replace (literal, regex with groups), split, extract, whitespace strip': {
    tessera: () =>
      df.select(
        col('id'),
        col('s').str.replace('1', '$1').alias('lit'),
        col('s').str.replace('(s)(\\d)', '\\2-\\g<1>', { regex: true }).alias('re'),
        col('s').add('.x.y').str.split('.').alias('split'),
        col('s').str.extract('s(\\d)(\\d?)', 1).alias('ex1'),
        col('s').str.extract('s(\\d)(\\d)', 2).alias('ex2'),
        col('s').add('  ').str.strip().alias('ws'),
        lit(' a  b ').add(col('s')).str.split().alias('wsplit'),
      ),
    pandas: [
      's = df.s.str',
      'out = pd.DataFrame({"id": df.id, "lit": s.replace("1", "$1", regex=False), "re": s.replace(r"(s)(\\d)", r"\\2-\\g<1>", regex=True),',
      '    "split": (df.s + ".x.y").str.split("."), "ex1": s.extract(r"s(\\d)(\\d?)")[0], "ex2": s.extract(r"s(\\d)(\\d)")[1],',
      '    "ws": (df.s + "  ").str.strip(), "wsplit": (" a  b " + df.s).str.split()})',
    ].join('\n'),
  },
  '.dt: floor, ceil, round (halves to even), date, strftime': {
    tessera: () =>
      df.select(
        col('id'),
        col('t0').dt.floor('15min').alias('f15'),
        col('t0').dt.floor('D').alias('fd'),
        col('t0').dt.ceil('H').alias('ch'),
        col('t0').dt.round('1min').alias('r1'),
        col('t1').dt.round('2H').alias('r2h'),
        col('t0').dt.date().alias('date'),
        col('t1').dt.strftime('%Y/%m/%d %H:%M:%S.%f %a %j %%').alias('text'),
      ),
    pandas: [
      'out = pd.DataFrame({"id": df.id, "f15": df.t0.dt.floor("15min"), "fd": df.t0.dt.floor("D"), "ch": df.t0.dt.ceil("H"),',
      '    "r1": df.t0.dt.round("1min"), "r2h": df.t1.dt.round("2H"),',
      // Differs: pandas' dt.date gives Python date objects; Tessera a date column (compared as midnight).
      '    "date": pd.to_datetime(df.t0.dt.date), "text": df.t1.dt.strftime("%Y/%m/%d %H:%M:%S.%f %a %j %%")})',
    ].join('\n'),
  },
  // Differs: pandas orders equal counts by its hash table; Tessera by the values (the pandas side sorts so).
  'valueCounts: one column': {
    tessera: () => df.valueCounts('k'),
    pandas: 'out = df.k.value_counts().rename_axis("k").reset_index(name="count").sort_values(["count", "k"], ascending=[False, True], kind="stable")',
  },
  'valueCounts: two columns, dropna false, ascending': {
    tessera: () => df.valueCounts(['s', 'k'], { dropna: false, ascending: true }),
    pandas: 'out = df.groupby(["s", "k"], dropna=False).size().reset_index(name="count").sort_values(["count", "s", "k"], kind="stable", na_position="last")',
  },
  'valueCounts: normalize': {
    tessera: () => df.valueCounts('s', { normalize: true }),
    pandas: 'out = df.s.value_counts(normalize=True).rename_axis("s").reset_index(name="proportion").sort_values(["proportion", "s"], ascending=[False, True], kind="stable")',
  },
  'nLargest: ties keep the first rows': {
    tessera: () => df.nLargest(25, 'k'),
    pandas: 'out = df.nlargest(25, "k")',
  },
  'nLargest: two columns': {
    tessera: () => df.nLargest(30, ['n', 'k']),
    pandas: 'out = df.nlargest(30, ["n", "k"])',
  },
  'nSmallest: a float column': {
    tessera: () => df.nSmallest(17, 'x'),
    pandas: 'out = df.nsmallest(17, "x")',
  },
  'tail: the last rows across partitions': {
    tessera: () => df.tail(300),
    pandas: 'out = df.tail(300)',
  },
  'sum of the numeric columns (one row)': {
    tessera: () => df.drop('id').sum(),
    pandas: 'out = df.drop(columns="id").sum(numeric_only=True).to_frame().T',
  },
  'mean (one row)': {
    tessera: () => df.mean(),
    pandas: 'out = df.mean(numeric_only=True).to_frame().T',
  },
  'std (one row)': {
    tessera: () => df.select('x', 'n').std(),
    pandas: 'out = df[["x", "n"]].std().to_frame().T',
  },
  'var (one row)': {
    tessera: () => df.select('x', 'n').var(),
    pandas: 'out = df[["x", "n"]].var().to_frame().T',
  },
  'min and max of numbers, text and datetimes': {
    tessera: () => df.dropNulls({ subset: 's' }).select('k', 's', 'x', 't0').min(),
    pandas: 'out = df.dropna(subset=["s"])[["k", "s", "x", "t0"]].min().to_frame().T',
  },
  'max (one row)': {
    tessera: () => df.dropNulls({ subset: 's' }).select('k', 's', 'x', 't0').max(),
    pandas: 'out = df.dropna(subset=["s"])[["k", "s", "x", "t0"]].max().to_frame().T',
  },
  // Differs: pandas' df.count() is Tessera's countNonNull() (count() is the number of rows, as Dask's len(df)).
  'countNonNull: non-missing values per column': {
    tessera: () => df.countNonNull(),
    pandas: 'out = df.count().to_frame().T',
  },
  // The category type: each partition numbers its categories its own way;
  // combining partitions (group-by partials, hash and range shuffles,
  // collect) goes by the text. Compared as text (the oracle writes values).
  'category: compare, groupBy, valueCounts': {
    tessera: () => catFrame().filter(col('s').neq('s1')).groupBy('s').agg(col('x').sum(), len()).sort('s'),
    // Differs: pandas' groupby on a category lists every category (observed=False); Tessera the ones present.
    pandas: 'd = df.astype({"s": "category"})\nout = d[d.s != "s1"].groupby("s", observed=True).agg(x=("x", "sum"), len=("id", "size")).reset_index().sort_values("s")',
  },
  'category: hash join on a category key, sort by it': {
    tessera: () => catFrame().join(right.cast({ s: 'category' }).repartition(3), { on: 's', broadcast: false }).sort(['s', 'id', 'rid']),
    pandas: 'out = df.merge(right, on="s", how="inner", suffixes=("", "_right")).sort_values(["s", "id", "rid"])',
  },
  'category: toParquet and back': {
    tessera: () => readParquet(io.category),
    pandas: 'out = df',
  },
  'category: cast in a query, isIn, back to string': {
    tessera: () => df.withColumns(col('s').cast('category').alias('c')).filter(col('c').isIn(['s2', 's3'])).withColumns(col('c').cast('string')),
    pandas: 'out = df.assign(c=df.s.astype("category"))\nout = out[out.c.isin(["s2", "s3"])].astype({"c": str})',
  },
  // Differs: describe() is an action giving a small frame whose first column,
  // statistic, holds what pandas puts in the index.
  'describe: exact quantiles': {
    tessera: () => df.describe(),
    pandas: 'out = df.describe().rename_axis("statistic").reset_index()',
  },
  // Shuffles (issue 13 part 4): on this cluster they run P2P. Differs (all
  // of them): rows come in no particular order (pandas keeps frame order);
  // compared as sets, by columns that are unique in the result.
  'groupBy(k, s).agg with splitOut: 5 output partitions': {
    tessera: () => df.groupBy('k', 's').agg(col('x').sum().alias('x_sum'), col('y').mean().alias('y_mean'), col('n').max().alias('n_max'), len(), { splitOut: 5 }),
    pandas: 'out = df.groupby(["k", "s"]).agg(x_sum=("x", "sum"), y_mean=("y", "mean"), n_max=("n", "max"), len=("id", "size")).reset_index()',
    unordered: ['k', 's'],
  },
  'groupBy(s, dropna: false).agg(var) with splitOut through the task-based shuffle': {
    tessera: () => df.groupBy('s', { dropna: false }).agg(col('y').var().alias('y_var'), col('t0').min().alias('t0_min'), { splitOut: 3, shuffle: 'tasks' }),
    pandas: 'out = df.groupby("s", dropna=False).agg(y_var=("y", var2), t0_min=("t0", "min")).reset_index()',
    unordered: ['s'],
  },
  'dropDuplicates(subset) keeps the first row of each in frame order': {
    tessera: () => df.dropDuplicates(['k', 's']),
    pandas: 'out = df.drop_duplicates(subset=["k", "s"])',
    unordered: ['k', 's'],
  },
  'dropDuplicates(subset, keep: last)': {
    tessera: () => df.dropDuplicates(['k', 's'], { keep: 'last' }),
    pandas: 'out = df.drop_duplicates(subset=["k", "s"], keep="last")',
    unordered: ['k', 's'],
  },
  'dropDuplicates(subset, keep: false) drops every duplicated row': {
    tessera: () => df.dropDuplicates(['k', 'n'], { keep: false }),
    pandas: 'out = df.drop_duplicates(subset=["k", "n"], keep=False)',
    unordered: ['k', 'n'],
  },
  'unique() of some columns: whole rows, missing values equal': {
    tessera: () => df.select('k', 's', 'n').unique(),
    pandas: 'out = df[["k", "s", "n"]].drop_duplicates()',
    unordered: ['k', 's', 'n'],
  },
  // keep: false, which does not depend on the join's row order.
  'dropDuplicates(subset, keep: false) of a shuffled join (P2P twice)': {
    tessera: () => df.join(right, { on: 'k', broadcast: false }).dropDuplicates(['id'], { keep: false }),
    pandas: 'out = df.merge(right, on="k", suffixes=("", "_right")).drop_duplicates(subset=["id"], keep=False)',
    unordered: ['id'],
  },
  // ---- frame-level operations (joins, concat, windows): branch df-window.
  // Differs (every join): rows come in no particular order; pandas' merge keeps
  // the left frame's order (inner, left), the right frame's (right) or sorts
  // the keys (outer). Compared as sets of rows.
  'join right on k: right-only keys keep the right key': {
    tessera: () => df.join(right, { on: 'k', how: 'right' }),
    pandas: 'out = df.merge(right, on="k", how="right", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join right with the small left side broadcast': {
    tessera: () => right.join(df, { on: 'k', how: 'right' }),
    pandas: 'out = right.merge(df, on="k", how="right", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join outer on k: the key from whichever side has the row': {
    tessera: () => df.join(right, { on: 'k', how: 'outer' }),
    pandas: 'out = df.merge(right, on="k", how="outer", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join outer on s, hash-partitioned on both sides': {
    tessera: () => df.join(right.repartition(3), { on: 's', how: 'outer' }),
    pandas: 'out = df.merge(right, on="s", how="outer", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join leftOn/rightOn: both key columns kept': {
    tessera: () => df.join(right.rename({ k: 'rk' }), { leftOn: 'k', rightOn: 'rk', how: 'left' }),
    pandas: 'out = df.merge(right.rename(columns={"k": "rk"}), left_on="k", right_on="rk", how="left", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join leftOn/rightOn outer, a pair named alike is one column': {
    tessera: () => df.join(right.rename({ k: 'rk' }).repartition(2), { leftOn: ['k', 's'], rightOn: ['rk', 's'], how: 'outer' }),
    pandas: 'out = df.merge(right.rename(columns={"k": "rk"}), left_on=["k", "s"], right_on=["rk", "s"], how="outer", suffixes=("", "_right"))',
    unordered: ['id', 'rid'],
  },
  'join right with nullsEqual: false': {
    tessera: () => df.join(right, { on: 'k', how: 'right', nullsEqual: false }),
    pandas: [
      'm = df[df.k.notna()].merge(right[right.k.notna()], on="k", how="right", suffixes=("", "_right"))',
      // The right rows with a missing key, named as in the merge (their s collides with the left's).
      'out = pd.concat([m, right[right.k.isna()].rename(columns={"s": "s_right"})])[m.columns]',
    ].join('\n'),
    unordered: ['id', 'rid'],
  },
  // concat keeps every frame's partitions, in order: rows compare in order.
  'concat: columns in another order line up by name': {
    tessera: () => concat([df.select('id', 'k', 'x'), df.filter(col('k').gt(5)).select('x', 'id', 'k'), df.select('k', 'x', 'id').repartition(3)]),
    pandas: 'out = pd.concat([df[["id", "k", "x"]], df[df.k > 5][["x", "id", "k"]], df[["k", "x", "id"]]])',
  },
  // Differs: a column a frame lacks is null in Tessera and keeps its type
  // (int64 stays int64); pandas fills NaN and makes it float64.
  'concat: a column a frame lacks is null there; int meets float as float64': {
    tessera: () => concat([df.select('id', 'k', 's', 'n'), right.select('rid', 'k', 'label', col('r').alias('n'))]),
    pandas: 'out = pd.concat([df[["id", "k", "s", "n"]], right[["rid", "k", "label", "r"]].rename(columns={"r": "n"})])',
  },
  // Window functions run in the frame's row order across partitions (each
  // partition sees the rows before it, or a carried total): rows compare in order.
  // Differs: integer results stay integers (pandas' shift/diff/cumsum of a
  // column with NaN are float64); compared by value.
  'shift, negative shift, diff of floats, integers and datetimes': {
    tessera: () =>
      df.withColumns(
        col('x').shift(1).alias('x_prev'), col('x').shift(-3).alias('x_next3'), col('y').diff(2).alias('y_d2'),
        col('n').diff(1).alias('n_d'), col('t0').diff(1).alias('t0_d'), col('s').shift(2).alias('s_prev2'),
      ),
    pandas: 'out = df.assign(x_prev=df.x.shift(1), x_next3=df.x.shift(-3), y_d2=df.y.diff(2), n_d=df.n.diff(1), t0_d=df.t0.diff(1), s_prev2=df.s.shift(2))',
  },
  'cumSum, cumMax, cumMin: missing values stay missing and are skipped': {
    tessera: () =>
      df.withColumns(
        col('x').cumSum().alias('x_cs'), col('n').cumSum().alias('n_cs'), col('x').cumMax().alias('x_cmax'), col('n').cumMin().alias('n_cmin'),
        col('t1').cumMax().alias('t1_cmax'),
      ),
    pandas: 'out = df.assign(x_cs=df.x.cumsum(), n_cs=df.n.cumsum(), x_cmax=df.x.cummax(), n_cmin=df.n.cummin(), t1_cmax=df.t1.cummax())',
  },
  'rolling(window).sum/mean/min/max, with and without minPeriods': {
    tessera: () =>
      df.withColumns(
        col('x').rolling(5).sum().alias('x_r5'), col('y').rolling(3).mean().alias('y_m3'), col('x').rolling(4, { minPeriods: 2 }).min().alias('x_min4'),
        col('n').rolling(2).max().alias('n_max2'),
      ),
    pandas: 'out = df.assign(x_r5=df.x.rolling(5).sum(), y_m3=df.y.rolling(3).mean(), x_min4=df.x.rolling(4, min_periods=2).min(), n_max2=df.n.rolling(2).max())',
  },
  'windows over partitions shorter than the window: halos chained over several': {
    tessera: () =>
      df.select('id', 'x').repartition(500).withColumns(
        col('x').rolling(25, { minPeriods: 1 }).mean().alias('m25'), col('x').shift(-19).alias('ahead'), col('x').shift(30).alias('behind'), col('x').cumSum().alias('cs'),
      ),
    pandas: 'd = df[["id", "x"]]\nout = d.assign(m25=d.x.rolling(25, min_periods=1).mean(), ahead=d.x.shift(-19), behind=d.x.shift(30), cs=d.x.cumsum())',
  },
  'select of an expression around a window function, after a filter': {
    tessera: () => df.filter(col('k').gt(3)).select(col('id'), col('x').sub(col('x').shift(1)).abs().alias('jump'), col('y').sub(1e8).cumSum().alias('c')),
    pandas: 'd = df[df.k > 3]\nout = pd.DataFrame({"id": d.id, "jump": (d.x - d.x.shift(1)).abs(), "c": (d.y - 1e8).cumsum()})',
  },
  // Per group (pandas' groupby(k).x.shift(1)): .over('k'). As pandas' groupby
  // (dropna=True), a row with a missing key gets a missing value.
  'per group: shift, diff, cumSum, cumMax, rolling mean over k and s, next to a whole-frame shift': {
    tessera: () =>
      df.withColumns(
        col('x').shift(1).over('k').alias('x_prev'), col('y').diff(2).over('s').alias('y_d2'), col('x').cumSum().over('k').alias('x_cs'),
        col('n').cumMax().over('k').alias('n_cmax'), col('x').rolling(3).mean().over('k').alias('x_m3'), col('x').shift(-2).over('k').alias('x_next2'),
        col('x').shift(1).alias('x_prev_all'),
      ),
    pandas: [
      'g = df.groupby("k")',
      'out = df.assign(x_prev=g.x.shift(1), y_d2=df.groupby("s").y.diff(2), x_cs=g.x.cumsum(), n_cmax=g.n.cummax(),',
      '                x_m3=g.x.transform(lambda v: v.rolling(3).mean()), x_next2=g.x.shift(-2), x_prev_all=df.x.shift(1))',
    ].join('\n'),
  },
  'per group over two keys, in partitions of 8 rows': {
    tessera: () =>
      df.select('id', 'k', 's', 'x').repartition(500).withColumns(
        col('x').shift(2).over('k', 's').alias('p2'), col('x').cumSum().over(['k', 's']).alias('cs'), col('x').rolling(4, { minPeriods: 1 }).max().over('k', 's').alias('r4'),
      ),
    pandas: [
      'd = df[["id", "k", "s", "x"]]',
      'g = d.groupby(["k", "s"])',
      'out = d.assign(p2=g.x.shift(2), cs=g.x.cumsum(), r4=g.x.transform(lambda v: v.rolling(4, min_periods=1).max()))',
    ].join('\n'),
  },
  'windows follow a sort: running total in sorted order (a distributed sort, then halos)': {
    tessera: () => df.select('id', 'y', 'x').sort('y').withColumns(col('x').cumSum().alias('cs'), col('x').rolling(3).sum().alias('r3'), col('id').shift(1).alias('prev_id')),
    pandas: 'd = df[["id", "y", "x"]].sort_values("y", kind="stable")\nout = d.assign(cs=d.x.cumsum(), r3=d.x.rolling(3).sum(), prev_id=d.id.shift(1))',
  },
  'cumCount: rows before each row, per group as groupby(k).cumcount()': {
    tessera: () => df.select('id', 'k', 's').repartition(200).withColumns(cumCount().over('k').alias('ck'), cumCount().over('k', 's').alias('cks'), cumCount().alias('c')),
    pandas: [
      'd = df[["id", "k", "s"]]',
      'out = d.assign(ck=d.groupby("k").cumcount(), cks=d.groupby(["k", "s"]).cumcount(), c=range(len(d)))',
    ].join('\n'),
  },
};

/** examples/nyctaxi/prep.ts in pandas (TAXI_QUERY is prep.ts' QUERY). */
function taxiPrepPandas(): string {
  return [
    'd = taxi.query(TAXI_QUERY).rename(columns={"tpep_pickup_datetime": "pickup_datetime", "tpep_dropoff_datetime": "dropoff_datetime", "RateCodeID": "rate_code"})',
    'types = {"VendorID": "str", "pickup_datetime": "datetime64[ms]", "dropoff_datetime": "datetime64[ms]", "passenger_count": "int32", "trip_distance": "float32",',
    '         "pickup_longitude": "float32", "pickup_latitude": "float32", "rate_code": "int32", "payment_type": "int32", "dropoff_longitude": "float32",',
    '         "dropoff_latitude": "float32", "fare_amount": "float32", "tip_amount": "float32", "total_amount": "float32"}',
    'd = d[[c for c in d.columns if c in types]].copy()',
    'num = [c for c in d.columns if c in types and types[c].startswith(("int", "float"))]',
    'd[num] = d[num].fillna(-1)',
    // pandas 1.5 keeps datetime64[ns] for astype('datetime64[ms]'); the values are whole seconds either way.
    'd = d.astype({c: t for c, t in types.items() if not t.startswith("datetime")})',
    'p = d.pickup_datetime',
    'd["hour"] = p.dt.hour.astype("int32"); d["year"] = p.dt.year.astype("int32"); d["month"] = p.dt.month.astype("int32"); d["day"] = p.dt.day.astype("int32")',
    // Differs: day_of_week is ISO in Tessera (Monday = 1), pandas' weekday + 1.
    'd["day_of_week"] = (p.dt.weekday + 1).astype("int32")',
    'd["diff"] = d.dropoff_datetime - p',
    'for c in ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]:',
    '    d[c + "_r"] = (d[c] // 0.01 * 0.01).astype("float32")',
    'x1, y1, x2, y2 = [np.radians(d[c]) for c in ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]]',
    'a = np.sin((x2 - x1) / 2) ** 2 + np.cos(x1) * np.cos(x2) * np.sin((y2 - y1) / 2) ** 2',
    'd["h_distance"] = (2 * np.arcsin(np.sqrt(a)) * 6371).astype("float32")',
    'd["is_weekend"] = (d.day_of_week > 5).astype("int32")',
    'out = d',
  ].join('\n');
}

// ------------------------------------------------------------------- run

let tmp: { dir: string; cleanup: () => void };
let cluster: LocalCluster | undefined;
let client: Client | undefined;
let oracle: Record<string, Result | { error: string }>;

/** Runs the pandas side of every case in one Python process (pandas takes a while to import). */
async function runPandas(setup: string, cases: Record<string, string>): Promise<typeof oracle> {
  const specPath = join(tmp.dir, 'oracle.json');
  writeFileSync(specPath, JSON.stringify({ setup, cases }));
  const child = spawn(PYTHON, [ORACLE, specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const timeoutMs = 180_000;
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the pandas oracle (${PYTHON} ${ORACLE}) did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('error', (e) => (clearTimeout(timer), reject(e)));
    child.on('close', (c) => (clearTimeout(timer), resolve(c)));
  });
  if (code !== 0) throw new Error(`the pandas oracle failed (exit ${code}):\n${err}`);
  return JSON.parse(out) as typeof oracle;
}

before(async () => {
  // Never skipped: without pandas there is no oracle, and the suite must say so.
  const probe = spawnSync(PYTHON, ['-c', 'import pandas'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    throw new Error(
      `the pandas oracle needs pandas for ${PYTHON}, which failed to import it (${(probe.error?.message ?? probe.stderr).trim()}); ` +
        `install Debian's python3-pandas package (apt-get install python3-pandas)`,
    );
  }
  tmp = tempDir('tessera-oracle-');
  const paths = writeData(tmp.dir);
  const taxiDir = await taxiData(tmp.dir, 6000, 1, 17);
  const taxiPath = join(taxiDir, readdirSync(taxiDir).filter((f) => f.endsWith('.csv'))[0]!);
  const blocksize = (p: string): number => Math.ceil(statSync(p).size / PARTITIONS) + 1;
  df = readCsv(paths.main, { blocksize: blocksize(paths.main), parseDates: ['t0', 't1'] });
  right = readCsv(paths.right, { blocksize: null });
  taxi = readTaxiCsv(taxiPath, { blocksize: blocksize(taxiPath) });
  assert.ok(df.npartitions >= PARTITIONS - 1, `main.csv in ${df.npartitions} partitions`);
  // Tessera's writes, in this process (the cluster starts later), for the I/O cases.
  Object.assign(io, { main: paths.main, blocksize: blocksize(paths.main), flat: join(tmp.dir, 'flat'), hive: join(tmp.dir, 'hive'), single: join(tmp.dir, 'single.csv') });
  await df.toParquet(io.flat);
  await df.toParquet(io.hive, { partitionOn: ['k'] });
  await df.toCsv(io.single, { singleFile: true });
  io.category = join(tmp.dir, 'category');
  await catFrame().toParquet(io.category);
  // Differs: Tessera (Polars) parses every float in a CSV to the nearest double;
  // pandas' default C parser may be an ulp off (1e8 + 0.30842104 read as
  // ...105), enough to move a variance of 1e8-offset values by 1e-9.
  // float_precision="round_trip" makes pandas parse exactly too.
  const setup = [
    `df = pd.read_csv(${JSON.stringify(paths.main)}, parse_dates=["t0", "t1"], float_precision="round_trip")`,
    `right = pd.read_csv(${JSON.stringify(paths.right)}, float_precision="round_trip")`,
    `taxi = pd.read_csv(${JSON.stringify(taxiPath)}, parse_dates=["tpep_pickup_datetime", "tpep_dropoff_datetime"], float_precision="round_trip")`,
    `TAXI_QUERY = ${JSON.stringify(QUERY)}`,
    `MAIN = ${JSON.stringify(paths.main)}`,
    `SINGLE = ${JSON.stringify(join(tmp.dir, 'single.csv'))}`,
    // Sample variance by two passes over a group's values (NumPy: the mean, then squared deviations).
    'def var2(v):\n    v = v.dropna().to_numpy()\n    return float(np.var(v, ddof=1)) if len(v) > 1 else float("nan")',
    'def std2(v):\n    return var2(v) ** 0.5',
  ].join('\n');
  const pandasCases: Record<string, string> = {};
  for (const [name, c] of Object.entries(CASES)) pandasCases[name] = c.pandas;
  oracle = await runPandas(setup, pandasCases);
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  client = await Client.connect(cluster);
});

after(async () => {
  await client?.shutdown();
  await cluster?.close();
  tmp?.cleanup();
});

for (const [name, c] of Object.entries(CASES)) {
  test(name, async () => {
    const theirs = oracle[name]!;
    if ('error' in theirs) assert.fail(`pandas failed on this case:\n${theirs.error}`);
    const frame = c.tessera();
    const ours = frame instanceof Promise ? normalize(await frame, {}) : normalize(await frame.collect(), frame.dtypes);
    assertSameResult(name, ours, theirs, c);
  });
}
