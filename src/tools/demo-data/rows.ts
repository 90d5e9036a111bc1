/**
 * Generates NYC-yellow-taxi-2015-like CSV: the real header, realistic
 * distributions (diurnal pickups, log-normal trip lengths, fares from the 2015
 * tariff, tips on card payments only) and the real data's mess (zero
 * coordinates, refunds with negative amounts, absurd fares, 0 or 7+
 * passengers, empty fields), deterministic for a given seed.
 *
 * Speed matters (benchmarks generate gigabytes on a 2-core machine), so rows
 * are written as bytes straight into large Buffers: digits through lookup
 * tables, dates from a per-day prefix table, no per-field strings. Each file
 * has its own random stream derived from (seed, file index), so a file's
 * content does not depend on how many files are generated with it.
 *
 * This file writes the rows; generate.ts writes them into files.
 */

export const NYC_TAXI_2015_COLUMNS = [
  'VendorID',
  'tpep_pickup_datetime',
  'tpep_dropoff_datetime',
  'passenger_count',
  'trip_distance',
  'pickup_longitude',
  'pickup_latitude',
  'RateCodeID',
  'store_and_fwd_flag',
  'dropoff_longitude',
  'dropoff_latitude',
  'payment_type',
  'fare_amount',
  'extra',
  'mta_tax',
  'tip_amount',
  'tolls_amount',
  'improvement_surcharge',
  'total_amount',
] as const;

/**
 * xoshiro128**: small, fast, 32-bit only (Math.imul), good enough
 * statistically. The state lives in an Int32Array: stored in object fields,
 * values past 2^30 would be boxed as heap numbers on every update.
 */
class Rng {
  private readonly s = new Int32Array(4);
  constructor(seed: number, stream: number) {
    // splitmix32 expands (seed, stream) into a non-zero 128-bit state.
    let x = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
    this.s[3] |= 1;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const s = this.s;
    const s1 = s[1]!;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s[2] ^= s[0]!;
    s[3] ^= s1;
    s[1] = s1 ^ s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return r >>> 0;
  }
  /** True with probability p: an integer comparison, so no double is boxed on the hot path. */
  chance(threshold: number): boolean {
    return this.u32() < threshold;
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() * 2.3283064365386963e-10;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return (this.float() * n) | 0;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// A table of standard normal quantiles, indexed by 12 random bits: plenty of
// resolution for synthetic data and far cheaper than Box-Muller per draw.
const NORMAL_BITS = 12;
const NORMAL = new Float64Array(1 << NORMAL_BITS);
{
  // Acklam's inverse normal CDF approximation.
  const a = [-39.6968302866538, 220.946098424521, -275.928510446969, 138.357751867269, -30.6647980661472, 2.50662827745924];
  const b = [-54.4760987982241, 161.585836858041, -155.698979859887, 66.8013118877197, -13.2806815528857];
  const c = [-0.00778489400243029, -0.322396458041136, -2.40075827716184, -2.54973253934373, 4.37466414146497, 2.93816398269878];
  const d = [0.00778469570904146, 0.32246712907004, 2.445134137143, 3.75440866190742];
  const inv = (p: number): number => {
    if (p < 0.02425) {
      const q = Math.sqrt(-2 * Math.log(p));
      return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
    }
    if (p > 1 - 0.02425) return -inv(1 - p);
    const q = p - 0.5;
    const r = q * q;
    return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
      (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  };
  for (let i = 0; i < NORMAL.length; i++) NORMAL[i] = inv((i + 0.5) / NORMAL.length);
}

function normal(rng: Rng): number {
  return NORMAL[rng.u32() >>> (32 - NORMAL_BITS)]!;
}

// Relative yellow-cab pickups per hour of day (NYC 2015 shape: a trough
// before dawn, a plateau by day, the peak in the evening).
const HOUR_WEIGHTS = [3.5, 2.6, 1.9, 1.4, 1.1, 1.0, 2.0, 3.4, 4.3, 4.5, 4.3, 4.4, 4.7, 4.7, 4.9, 4.8, 4.3, 5.0, 6.0, 6.3, 5.8, 5.6, 5.4, 4.6];
const HOUR_TABLE = new Uint8Array(1024);
{
  const total = HOUR_WEIGHTS.reduce((s, w) => s + w, 0);
  let acc = 0;
  let h = 0;
  for (let i = 0; i < HOUR_TABLE.length; i++) {
    while (h < 23 && (i + 0.5) / HOUR_TABLE.length > (acc + HOUR_WEIGHTS[h]!) / total) acc += HOUR_WEIGHTS[h++]!;
    HOUR_TABLE[i] = h;
  }
}

const C_COMMA = 44;
const C_NL = 10;
const C_MINUS = 45;
const C_DOT = 46;
const C_0 = 48;
const C_COLON = 58;

/** "00".."99" as byte pairs. */
const TWO_DIGITS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  TWO_DIGITS[2 * i] = C_0 + Math.floor(i / 10);
  TWO_DIGITS[2 * i + 1] = C_0 + (i % 10);
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** Writes a non-negative integer below 2^31; returns the new position. */
function writeUint(buf: Uint8Array, pos: number, n: number): number {
  if (n < 10) {
    buf[pos] = C_0 + n;
    return pos + 1;
  }
  if (n < 100) {
    buf[pos] = TWO_DIGITS[2 * n]!;
    buf[pos + 1] = TWO_DIGITS[2 * n + 1]!;
    return pos + 2;
  }
  let digits = 3;
  while (digits < 10 && n >= POW10[digits]!) digits++;
  let p = pos + digits;
  let v = n;
  while (v >= 10) {
    const q = (v / 10) | 0;
    buf[--p] = C_0 + v - q * 10;
    v = q;
  }
  buf[--p] = C_0 + v;
  return pos + digits;
}

/**
 * Writes `scaled / 10^decimals` (scaled an integer of magnitude below 2^31);
 * with `trim`, drops trailing zeros and a bare dot the way the TLC files
 * print money ("12", "0.5", "17.05").
 */
function writeFixed(buf: Uint8Array, pos: number, scaled: number, decimals: number, trim: boolean): number {
  if (scaled < 0) {
    buf[pos++] = C_MINUS;
    scaled = -scaled;
  }
  const unit = POW10[decimals]!;
  const whole = (scaled / unit) | 0;
  let frac = scaled - whole * unit;
  pos = writeUint(buf, pos, whole);
  let d = decimals;
  if (trim) {
    if (frac === 0) return pos;
    while (frac % 10 === 0) {
      frac = (frac / 10) | 0;
      d--;
    }
  }
  buf[pos++] = C_DOT;
  for (let i = d - 1; i >= 0; i--) {
    const q = (frac / 10) | 0;
    buf[pos + i] = C_0 + frac - q * 10;
    frac = q;
  }
  return pos + d;
}

/** Writes a coordinate with exactly six decimals (|value| < 2147). */
function writeCoord(buf: Uint8Array, pos: number, value: number): number {
  let scaled = Math.round(value * 1e6);
  if (scaled < 0) {
    buf[pos++] = C_MINUS;
    scaled = -scaled;
  }
  const whole = (scaled / 1000000) | 0;
  let frac = scaled - whole * 1000000;
  pos = writeUint(buf, pos, whole);
  buf[pos] = C_DOT;
  const a = (frac / 10000) | 0;
  frac -= a * 10000;
  const b = (frac / 100) | 0;
  const c = frac - b * 100;
  buf[pos + 1] = TWO_DIGITS[2 * a]!;
  buf[pos + 2] = TWO_DIGITS[2 * a + 1]!;
  buf[pos + 3] = TWO_DIGITS[2 * b]!;
  buf[pos + 4] = TWO_DIGITS[2 * b + 1]!;
  buf[pos + 5] = TWO_DIGITS[2 * c]!;
  buf[pos + 6] = TWO_DIGITS[2 * c + 1]!;
  return pos + 7;
}

/** 'YYYY-MM-DD ' for each day since 2015-01-01, built on demand. */
class DayPrefixes {
  private readonly table: Uint8Array[] = [];
  get(day: number): Uint8Array {
    let t = this.table[day];
    if (t === undefined) {
      const d = new Date(Date.UTC(2015, 0, 1 + day));
      t = Buffer.from(`${d.toISOString().slice(0, 10)} `, 'latin1');
      this.table[day] = t;
    }
    return t;
  }
}

const DAYS = new DayPrefixes();

/** Writes 'YYYY-MM-DD hh:mm:ss' for a second counted from 2015-01-01 00:00:00. */
function writeDatetime(buf: Uint8Array, pos: number, second: number): number {
  // Integer division by `| 0`: seconds stay far below 2^31.
  const day = (second / 86400) | 0;
  let s = second - day * 86400;
  const prefix = DAYS.get(day);
  for (let i = 0; i < 11; i++) buf[pos + i] = prefix[i]!;
  pos += 11;
  const h = (s / 3600) | 0;
  s -= h * 3600;
  const m = (s / 60) | 0;
  s -= m * 60;
  buf[pos] = TWO_DIGITS[2 * h]!;
  buf[pos + 1] = TWO_DIGITS[2 * h + 1]!;
  buf[pos + 2] = C_COLON;
  buf[pos + 3] = TWO_DIGITS[2 * m]!;
  buf[pos + 4] = TWO_DIGITS[2 * m + 1]!;
  buf[pos + 5] = C_COLON;
  buf[pos + 6] = TWO_DIGITS[2 * s]!;
  buf[pos + 7] = TWO_DIGITS[2 * s + 1]!;
  return pos + 8;
}

/** First day (counted from 2015-01-01) and length in days of file i's month. */
function monthOf(fileIndex: number): { firstDay: number; days: number } {
  const month = fileIndex % 12;
  const year = 2015 + Math.floor(fileIndex / 12);
  const first = Date.UTC(year, month, 1);
  const next = Date.UTC(year, month + 1, 1);
  return { firstDay: Math.round((first - Date.UTC(2015, 0, 1)) / 86400000), days: Math.round((next - first) / 86400000) };
}

/** The file name for file i: the TLC's own naming, one month per file. */
export function demoFileName(fileIndex: number): string {
  const month = String((fileIndex % 12) + 1).padStart(2, '0');
  return `yellow_tripdata_${2015 + Math.floor(fileIndex / 12)}-${month}.csv`;
}

// Pickup areas: [weight, lon, lat, lon sd, lat sd]; Manhattan dominates, the
// airports and the outer boroughs make the tails.
const AREAS: readonly (readonly [number, number, number, number, number])[] = [
  [0.82, -73.982, 40.757, 0.018, 0.024],
  [0.04, -73.7822, 40.6437, 0.004, 0.003],
  [0.04, -73.874, 40.7769, 0.003, 0.002],
  [0.1, -73.95, 40.71, 0.05, 0.05],
];
const AREA_CUM = (() => {
  let acc = 0;
  return AREAS.map((a) => (acc += a[0]));
})();

const RATE_CODES = [
  [0.973, 1],
  [0.993, 2],
  [0.997, 5],
  [0.9985, 3],
  [0.9995, 4],
  [0.9999, 6],
  [1, 99],
] as const;

const PASSENGERS = [
  [0.005, 0],
  [0.705, 1],
  [0.845, 2],
  [0.885, 3],
  [0.905, 4],
  [0.96, 5],
  [0.9997, 6],
  [0.9999, 7],
  [1, 9],
] as const;

/** A lookup table for a cumulative distribution, indexed by 16 random bits. */
function lookupTable(cdf: readonly (readonly [number, number])[]): Uint8Array {
  const t = new Uint8Array(65536);
  for (let i = 0; i < t.length; i++) {
    const u = (i + 0.5) / t.length;
    t[i] = (cdf.find(([p]) => u < p) ?? cdf[cdf.length - 1]!)[1];
  }
  return t;
}

const RATE_TABLE = lookupTable(RATE_CODES);
const PASSENGER_TABLE = lookupTable(PASSENGERS);

// Probabilities as thresholds on a uniform 32-bit integer.
const P0_00002 = 85899; // P = 0.00002
const P0_0005 = 2147484; // P = 0.0005
const P0_004 = 17179869; // P = 0.004
const P0_006 = 25769804; // P = 0.006
const P0_01 = 42949673; // P = 0.01
const P0_018 = 77309411; // P = 0.018
const P0_03 = 128849019; // P = 0.03
const P0_4 = 1717986918; // P = 0.4
const P0_45 = 1932735283; // P = 0.45
const P0_92 = 3951369912; // P = 0.92

/** Per-file generation state: one random stream and the file's month. */
export class TaxiRowWriter {
  private readonly rng: Rng;
  private readonly firstSecond: number;
  private readonly monthSeconds: number;

  constructor(seed: number, fileIndex: number) {
    this.rng = new Rng(seed >>> 0, fileIndex);
    const { firstDay, days } = monthOf(fileIndex);
    this.firstSecond = firstDay * 86400;
    this.monthSeconds = days * 86400;
  }

  /** The header line as bytes. */
  static header(): Buffer {
    return Buffer.from(`${NYC_TAXI_2015_COLUMNS.join(',')}\n`, 'latin1');
  }

  /**
   * Writes up to `rows` rows into `buf` from `pos`, stopping early when fewer
   * than 512 bytes (more than any row needs) are left. Returns the new
   * position and how many rows were written.
   */
  writeRows(buf: Uint8Array, pos: number, rows: number): { pos: number; rows: number } {
    const rng = this.rng;
    const limit = buf.length - 512;
    let n = 0;
    while (n < rows && pos < limit) {
      // --- when: a day of the month, an hour by the diurnal curve.
      const day = rng.int(this.monthSeconds / 86400);
      const hour = HOUR_TABLE[rng.u32() >>> 22]!;
      const pickup = this.firstSecond + day * 86400 + hour * 3600 + rng.int(3600);

      // --- how far and how long: log-normal miles, speed slower by day.
      const zeroTrip = rng.chance(P0_006);
      let miles = zeroTrip ? 0 : Math.exp(0.55 + 0.8 * normal(rng));
      if (miles > 60) miles = 60 * rng.float();
      const rate = RATE_TABLE[rng.u32() >>> 16]!;
      if (rate === 2 && miles < 10) miles = 14 + 6 * rng.float();
      const mph = hour >= 7 && hour <= 19 ? 7 + 8 * rng.float() : 11 + 14 * rng.float();
      let duration = Math.round((miles / mph) * 3600 + 45 + rng.int(200));
      if (rng.chance(P0_0005)) duration = -rng.int(600); // clock skew: dropoff before pickup
      const hugeDistance = rng.chance(P0_00002);
      const distanceHundredths = hugeDistance ? 100000000 + rng.int(1500000000) : Math.round(miles * 100);

      // --- where: an area, then the dropoff displaced by the trip length.
      const ua = rng.float();
      let area = 0;
      while (area < AREAS.length - 1 && ua > AREA_CUM[area]!) area++;
      const a = AREAS[area]!;
      const plon = a[1] + a[3] * normal(rng);
      const plat = a[2] + a[4] * normal(rng);
      const angle = rng.float() * 2 * Math.PI;
      const crow = miles * (0.55 + 0.3 * rng.float());
      const dlon = plon + (crow * Math.sin(angle)) / 52.5;
      const dlat = plat + (crow * Math.cos(angle)) / 69.0;
      const zeroCoords = rng.chance(P0_018);
      const zeroDropoff = !zeroCoords && rng.chance(P0_004);

      // --- money (in cents), from the 2015 tariff.
      const pay = rng.float();
      const paymentType = pay < 0.62 ? 1 : pay < 0.993 ? 2 : pay < 0.998 ? 3 : 4;
      let fare: number;
      if (rate === 2) fare = 5200;
      else if (rate === 5) fare = 1000 * (1 + rng.int(8));
      else fare = 250 + 50 * Math.round((miles * 5 + (duration / 60) * 0.3) * 1.0);
      let extra = 0;
      if (hour >= 16 && hour < 20) extra = 100;
      else if (hour >= 20 || hour < 6) extra = 50;
      const mta = rate === 5 ? 0 : 50;
      const surcharge = 30;
      let tolls = 0;
      if (area === 1 || area === 2 || rng.chance(P0_03)) tolls = rng.chance(P0_4) ? 554 : 0;
      let tip = 0;
      if (paymentType === 1 && rng.chance(P0_92)) tip = Math.round((fare + extra) * (0.12 + 0.16 * rng.float()));
      const messFare = rng.float();
      let sign = 1;
      if (messFare < 0.0006) sign = -1; // refunds/voids: every amount negated
      else if (messFare < 0.00066) fare = 50000 + rng.int(5000000); // absurd fares (up to $50k)
      const total = fare + extra + mta + tip + tolls + surcharge;

      // --- empty fields, as in the real files.
      const emptyU = rng.u32();
      const emptyRate = (emptyU & 1023) === 0;
      const emptyPassengers = (emptyU >>> 10 & 2047) === 0;
      const emptySurcharge = (emptyU >>> 21 & 1023) === 1;

      // --- write the row.
      buf[pos++] = rng.chance(P0_45) ? C_0 + 1 : C_0 + 2;
      buf[pos++] = C_COMMA;
      pos = writeDatetime(buf, pos, pickup);
      buf[pos++] = C_COMMA;
      pos = writeDatetime(buf, pos, Math.max(0, pickup + duration));
      buf[pos++] = C_COMMA;
      if (!emptyPassengers) pos = writeUint(buf, pos, PASSENGER_TABLE[rng.u32() >>> 16]!);
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, distanceHundredths, 2, true);
      buf[pos++] = C_COMMA;
      if (zeroCoords) buf[pos++] = C_0;
      else pos = writeCoord(buf, pos, plon);
      buf[pos++] = C_COMMA;
      if (zeroCoords) buf[pos++] = C_0;
      else pos = writeCoord(buf, pos, plat);
      buf[pos++] = C_COMMA;
      if (!emptyRate) pos = writeUint(buf, pos, rate);
      buf[pos++] = C_COMMA;
      buf[pos++] = rng.chance(P0_01) ? 89 /* Y */ : 78 /* N */;
      buf[pos++] = C_COMMA;
      if (zeroCoords || zeroDropoff) buf[pos++] = C_0;
      else pos = writeCoord(buf, pos, dlon);
      buf[pos++] = C_COMMA;
      if (zeroCoords || zeroDropoff) buf[pos++] = C_0;
      else pos = writeCoord(buf, pos, dlat);
      buf[pos++] = C_COMMA;
      buf[pos++] = C_0 + paymentType;
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, sign * fare, 2, true);
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, sign * extra, 2, true);
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, sign * mta, 2, true);
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, sign * tip, 2, true);
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, sign * tolls, 2, true);
      buf[pos++] = C_COMMA;
      if (!emptySurcharge) pos = writeFixed(buf, pos, sign * surcharge, 2, true);
      buf[pos++] = C_COMMA;
      pos = writeFixed(buf, pos, sign * total, 2, true);
      buf[pos++] = C_NL;
      n++;
    }
    return { pos, rows: n };
  }
}
