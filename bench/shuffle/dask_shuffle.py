"""Python Dask's task-based shuffle on the same CSV files, for the Tessera
shuffle benchmark (bench/shuffle/run.ts):

    python3 dask_shuffle.py DATA_DIR GROUPS_SPLIT_OUT SHUFFLE

SHUFFLE is "tasks" (Dask's multi-stage task shuffle) or "p2p" (Dask
2022.12's P2P shuffle, which needs pyarrow). Runs on a LocalCluster of 2
worker processes x 1 thread. Prints one JSON line per workload: a join of
left and right on k (merge, shuffle=SHUFFLE) and a group-by of left on g
(sum, split_out=GROUPS_SPLIT_OUT, shuffle=SHUFFLE where Dask takes it),
each with its graph's task count, wall seconds, CPU seconds and peak RSS
of each worker, output rows and the bytes the workers spilled to disk.
"""
import json
import resource
import sys
import time

import dask
import dask.dataframe as dd
from dask.distributed import Client, LocalCluster


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def spilled(dask_worker):
    total = getattr(dask_worker.data, "spilled_total", None)
    return getattr(total, "disk_write_bytes_total", None) if total is not None else None


def measure(name, make, shuffle):
    # A fresh cluster per workload: each worker's peak RSS is its own.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        try:
            frame = make()
            (opt,) = dask.optimize(frame)
            tasks = len(opt.__dask_graph__())
            t0 = time.perf_counter()
            rows = int(opt.map_partitions(len).compute().sum())
            seconds = time.perf_counter() - t0
            rss = list(client.run(peak_rss).values())
            cpu = list(client.run(cpu_seconds).values())
            spill = list(client.run(spilled).values())
            print(json.dumps({"name": f"dask {name} shuffle={shuffle}", "tasks": tasks, "seconds": seconds, "rows": rows, "peakRss": rss, "cpu": cpu,
                              "spilled": sum(s for s in spill if s is not None) if any(s is not None for s in spill) else None}), flush=True)
        except Exception as err:  # Dask 2022.12's p2p needs pyarrow, which Debian lacks
            print(json.dumps({"name": f"dask {name} shuffle={shuffle}", "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}), flush=True)


def main():
    data, split_out, shuffle = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    left = lambda: dd.read_csv(f"{data}/left/*.csv", blocksize=None)
    right = lambda: dd.read_csv(f"{data}/right/*.csv", blocksize=None)
    measure("join", lambda: left().merge(right(), on="k", how="inner", shuffle=shuffle), shuffle)

    def grouped():
        try:
            return left().groupby("g").agg({"v": "sum"}, split_out=split_out, shuffle=shuffle)
        except TypeError:  # older Dask: split_out reduces by hash partitions, without a shuffle= choice
            return left().groupby("g").agg({"v": "sum"}, split_out=split_out)
    measure("group-by", grouped, shuffle)


main()
