/**
 * The data preparation of prep_nyctaxi.py (Azure ML's Dask-on-MPI sample),
 * as Tessera dataframe operations: read the NYC taxi CSVs with parsed dates,
 * drop bad rows with the original query, rename, keep and down-cast the
 * must-have columns, derive time, rounded-coordinate, haversine-distance
 * and weekend features.
 *
 * Shared by the script (prep_nyctaxi.ts), the tests and the benchmark, so
 * all three run exactly this pipeline.
 */

import { col, readCsv, type DataFrame, type DTypeLike, type Expr, type ReadCsvOptions } from '../../src/dataframe/index.js';

/** Column renames. The 2015 files spell RateCodeID; the script's map says RatecodeID: both are mapped. */
export const REMAP: Readonly<Record<string, string>> = {
  tpep_pickup_datetime: 'pickup_datetime',
  tpep_dropoff_datetime: 'dropoff_datetime',
  RatecodeID: 'rate_code',
  RateCodeID: 'rate_code',
};

/**
 * The columns kept and their types. As in the port: VendorID stays
 * a string ('object' in the original), datetimes are millisecond precision.
 */
export const MUST_HAVES: Readonly<Record<string, DTypeLike>> = {
  VendorID: 'string',
  pickup_datetime: 'datetime[ms]',
  dropoff_datetime: 'datetime[ms]',
  passenger_count: 'int32',
  trip_distance: 'float32',
  pickup_longitude: 'float32',
  pickup_latitude: 'float32',
  rate_code: 'int32',
  payment_type: 'int32',
  dropoff_longitude: 'float32',
  dropoff_latitude: 'float32',
  fare_amount: 'float32',
  tip_amount: 'float32',
  total_amount: 'float32',
};

export const QUERY_FRAGS = [
  'fare_amount > 0 and fare_amount < 500',
  'passenger_count > 0 and passenger_count < 6',
  'pickup_longitude > -75 and pickup_longitude < -73',
  'dropoff_longitude > -75 and dropoff_longitude < -73',
  'pickup_latitude > 40 and pickup_latitude < 42',
  'dropoff_latitude > 40 and dropoff_latitude < 42',
];

export const QUERY = QUERY_FRAGS.join(' and ');

/** How the original reads the files: the two datetime columns parsed. */
export function readTaxiCsv(dataset: string | readonly string[], options: ReadCsvOptions = {}): DataFrame {
  return readCsv(dataset, { parseDates: ['tpep_pickup_datetime', 'tpep_dropoff_datetime'], ...options });
}

/** clean(): query, rename, keep the must-haves with their types, nulls to -1 in the numeric columns. */
export function clean(df: DataFrame, remap = REMAP, mustHaves = MUST_HAVES, query = QUERY): DataFrame {
  let out = df.query(query).rename(remap);
  const keep = out.columns.filter((c) => c in mustHaves);
  out = out.select(keep);
  const types: Record<string, DTypeLike> = {};
  for (const c of keep) types[c] = mustHaves[c]!;
  // The original's fillna(-1) touched only the numeric columns; fillNull(-1) fills the columns -1 fits.
  return out.cast(types).fillNull(-1);
}

function radians(e: Expr): Expr {
  return e.mul(Math.PI / 180);
}

/** Great-circle distance in km, computed as the original: arcsin form, r = 6371. */
export function haversineDistance(pickupLat: Expr, pickupLon: Expr, dropoffLat: Expr, dropoffLon: Expr): Expr {
  const x1 = radians(pickupLat);
  const y1 = radians(pickupLon);
  const x2 = radians(dropoffLat);
  const y2 = radians(dropoffLon);
  const dlon = y2.sub(y1);
  const dlat = x2.sub(x1);
  const a = dlat.div(2).sin().pow(2).add(x1.cos().mul(x2.cos()).mul(dlon.div(2).sin().pow(2)));
  const c = a.sqrt().arcsin().mul(2);
  const r = 6371; // Radius of earth in kilometers
  return c.mul(r);
}

/** The original's x // 0.01 * 0.01, in float32 (floorDiv is pandas' //). */
function rounded(name: string): Expr {
  return col(name).floorDiv(0.01).mul(0.01).cast('float32').alias(`${name}_r`);
}

/**
 * add_features(). day_of_week is Polars' weekday, Monday = 1 ... Sunday = 7
 * (pandas counts Monday = 0), so is_weekend = day_of_week > 5 marks Saturday
 * and Sunday.
 */
export function addFeatures(df: DataFrame): DataFrame {
  const pickup = col('pickup_datetime');
  return df
    .withColumns(
      pickup.dt.hour().cast('int32').alias('hour'),
      pickup.dt.year().cast('int32').alias('year'),
      pickup.dt.month().cast('int32').alias('month'),
      pickup.dt.day().cast('int32').alias('day'),
      pickup.dt.weekday().cast('int32').alias('day_of_week'),
      col('dropoff_datetime').sub(pickup).alias('diff'),
      rounded('pickup_latitude'),
      rounded('pickup_longitude'),
      rounded('dropoff_latitude'),
      rounded('dropoff_longitude'),
      haversineDistance(col('pickup_latitude'), col('pickup_longitude'), col('dropoff_latitude'), col('dropoff_longitude'))
        .cast('float32')
        .alias('h_distance'),
    )
    .withColumns(col('day_of_week').gt(5).cast('int32').alias('is_weekend'));
}

/** The whole preparation: clean then add_features. */
export function prepNycTaxi(df: DataFrame): DataFrame {
  return addFeatures(clean(df));
}
