"""The original prep_nyctaxi.py pipeline on a Dask LocalCluster (2 workers x 1 thread),
for the Tessera ETL benchmark. Writes CSV (Debian has no pyarrow for Parquet).

    python3 dask_prep.py DATA_DIR OUT_DIR

Prints one JSON line: seconds of read+clean+features (persisted), seconds of
writing CSV, rows, and the peak RSS of each process (client, scheduler, workers).
"""
import json
import os
import resource
import shutil
import sys
import time

import dask.dataframe as dd
from dask.distributed import Client, LocalCluster, wait


def clean(df_part, remap, must_haves, query):
    df_part = df_part.query(query)
    df_part = df_part.rename(columns=remap)
    for col in df_part.columns:
        if col not in must_haves:
            df_part = df_part.drop(col, axis=1)
            continue
        if df_part[col].dtype == "object" and col in ["pickup_datetime", "dropoff_datetime"]:
            df_part[col] = df_part[col].astype("datetime64[ms]")
            continue
        if df_part[col].dtype == "object":
            df_part[col] = df_part[col].str.fillna("-1")
            df_part[col] = df_part[col].astype("float32")
        else:
            if "int" in str(df_part[col].dtype):
                df_part[col] = df_part[col].astype("int32")
            if "float" in str(df_part[col].dtype):
                df_part[col] = df_part[col].astype("float32")
            df_part[col] = df_part[col].fillna(-1)
    return df_part


from math import pi
from dask.array import cos, sin, arcsin, sqrt


def haversine_distance(pickup_latitude, pickup_longitude, dropoff_latitude, dropoff_longitude):
    x_1 = pi / 180 * pickup_latitude
    y_1 = pi / 180 * pickup_longitude
    x_2 = pi / 180 * dropoff_latitude
    y_2 = pi / 180 * dropoff_longitude
    dlon = y_2 - y_1
    dlat = x_2 - x_1
    a = sin(dlat / 2) ** 2 + cos(x_1) * cos(x_2) * sin(dlon / 2) ** 2
    c = 2 * arcsin(sqrt(a))
    r = 6371
    return c * r


def add_features(df):
    df["hour"] = df["pickup_datetime"].dt.hour.astype("int32")
    df["year"] = df["pickup_datetime"].dt.year.astype("int32")
    df["month"] = df["pickup_datetime"].dt.month.astype("int32")
    df["day"] = df["pickup_datetime"].dt.day.astype("int32")
    df["day_of_week"] = df["pickup_datetime"].dt.weekday.astype("int32")
    df["diff"] = df["dropoff_datetime"] - df["pickup_datetime"]
    df["pickup_latitude_r"] = (df["pickup_latitude"] // 0.01 * 0.01).astype("float32")
    df["pickup_longitude_r"] = (df["pickup_longitude"] // 0.01 * 0.01).astype("float32")
    df["dropoff_latitude_r"] = (df["dropoff_latitude"] // 0.01 * 0.01).astype("float32")
    df["dropoff_longitude_r"] = (df["dropoff_longitude"] // 0.01 * 0.01).astype("float32")
    df["h_distance"] = haversine_distance(
        df["pickup_latitude"], df["pickup_longitude"], df["dropoff_latitude"], df["dropoff_longitude"]
    ).astype("float32")
    df["is_weekend"] = (df["day_of_week"] > 5).astype("int32")
    return df


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    data_dir, out_dir = sys.argv[1], sys.argv[2]
    remap = {"tpep_pickup_datetime": "pickup_datetime", "tpep_dropoff_datetime": "dropoff_datetime", "RatecodeID": "rate_code"}
    must_haves = {
        "VendorID": "object", "pickup_datetime": "datetime64[ms]", "dropoff_datetime": "datetime64[ms]",
        "passenger_count": "int32", "trip_distance": "float32", "pickup_longitude": "float32", "pickup_latitude": "float32",
        "rate_code": "int32", "payment_type": "int32", "dropoff_longitude": "float32", "dropoff_latitude": "float32",
        "fare_amount": "float32", "tip_amount": "float32", "total_amount": "float32",
    }
    query_frags = [
        "fare_amount > 0 and fare_amount < 500",
        "passenger_count > 0 and passenger_count < 6",
        "pickup_longitude > -75 and pickup_longitude < -73",
        "dropoff_longitude > -75 and dropoff_longitude < -73",
        "pickup_latitude > 40 and pickup_latitude < 42",
        "dropoff_latitude > 40 and dropoff_latitude < 42",
    ]
    query = " and ".join(query_frags)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = Client(cluster)
    try:
        t0 = time.time()
        # The fix Dask's own error suggests: its dtype inference from the first rows fails on
        # this data (empty passenger counts and rate codes make those columns float).
        df = dd.read_csv(
            f"{data_dir}/*.csv",
            parse_dates=["tpep_pickup_datetime", "tpep_dropoff_datetime"],
            dtype={"RateCodeID": "float64", "passenger_count": "float64"},
        )
        taxi_df = add_features(clean(df, remap, must_haves, query))
        taxi_df = taxi_df.persist()
        wait(taxi_df)
        rows = len(taxi_df)
        t1 = time.time()
        shutil.rmtree(out_dir, ignore_errors=True)
        t2 = time.time()
        taxi_df.to_csv(os.path.join(out_dir, "part-*.csv"), index=False)
        t3 = time.time()
        workers = c.run(peak_rss)
        sched = c.run_on_scheduler(peak_rss)
        print(json.dumps({
            "seconds": t1 - t0, "csvSeconds": t3 - t2, "rowsOut": rows, "partitions": taxi_df.npartitions,
            "peakRss": list(workers.values()), "schedulerRss": sched, "clientRss": peak_rss(),
        }))
    finally:
        c.close()
        cluster.close()


if __name__ == "__main__":
    main()
