#!/usr/bin/python3
"""Python Dask baseline for Tessera's core benchmark (bench/core).

Times the same four workloads the TypeScript side runs, on a LocalCluster of
2 worker processes with 1 thread each, and prints ONE JSON line to stdout:

  {"submit": {"tasks": N, "seconds": s}, "map": {...}, "delayed": {...}, "tree": {...}}

Each figure is wall time from building the work on the client to having the
results back in the client (what a user waits for), after a warm-up round
(small, then full-size) so worker start-up and first-use imports are not
counted.

Run with Debian's Dask (apt-get install python3-dask python3-distributed):
  /usr/bin/python3 bench/core/dask_baseline.py [--scale 0.1]
"""

import argparse
import json
import logging
import sys
import time
import warnings


def trivial(x):
    return x


def inc(x):
    return x + 1


def dec(x):
    return x - 1


def add(x, y):
    return x + y


def n_of(base, scale):
    return max(1, int(round(base * scale)))


def run_submit(client, n):
    t0 = time.perf_counter()
    futures = [client.submit(trivial, i, pure=False) for i in range(n)]
    results = client.gather(futures)
    seconds = time.perf_counter() - t0
    assert results == list(range(n))
    return {"tasks": n, "seconds": seconds}


def run_map(client, n):
    # pure=False as for submit: no argument hashing, keys are random, like
    # the TypeScript side which does not tokenize arguments.
    t0 = time.perf_counter()
    futures = client.map(trivial, range(n), pure=False)
    results = client.gather(futures)
    seconds = time.perf_counter() - t0
    assert results == list(range(n))
    return {"tasks": n, "seconds": seconds}


def run_delayed(n):
    import dask
    from dask import delayed

    t0 = time.perf_counter()
    zs = []
    for i in range(n):
        x = delayed(inc)(i)
        y = delayed(dec)(x)
        zs.append(delayed(add)(x, y))
    results = dask.compute(*zs)
    seconds = time.perf_counter() - t0
    assert list(results) == [2 * i + 1 for i in range(n)]
    return {"tasks": 3 * n, "seconds": seconds}


def run_tree(n):
    import dask
    from dask import delayed

    t0 = time.perf_counter()
    level = [delayed(inc)(i) for i in range(n)]
    tasks = n
    while len(level) > 1:
        nxt = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        tasks += len(level) // 2
        level = nxt
    (total,) = dask.compute(level[0])
    seconds = time.perf_counter() - t0
    assert total == n * (n + 1) // 2
    return {"tasks": tasks, "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every task count by this (e.g. 0.1 for a quick run)")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error("--scale must be positive")

    warnings.simplefilter("ignore")
    logging.getLogger("distributed").setLevel(logging.ERROR)

    import dask
    import distributed
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2)
        # Warm-up: every code path once on every worker, then one full-size
        # round of each (as the Tessera side does before its measured runs).
        run_submit(client, 200)
        run_map(client, 200)
        run_delayed(70)
        run_tree(200)
        run_submit(client, n_of(10_000, args.scale))
        run_map(client, n_of(10_000, args.scale))
        run_delayed(n_of(5_000, args.scale))
        run_tree(n_of(10_000, args.scale))

        out = {
            "submit": run_submit(client, n_of(10_000, args.scale)),
            "map": run_map(client, n_of(10_000, args.scale)),
            "delayed": run_delayed(n_of(5_000, args.scale)),
            "tree": run_tree(n_of(10_000, args.scale)),
        }
    print(f"dask {dask.__version__}, distributed {distributed.__version__}, python {sys.version.split()[0]}",
          file=sys.stderr)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
