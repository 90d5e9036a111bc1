#!/usr/bin/python3
"""Python Dask side of Tessera's million-task benchmark (bench/graph).

Runs ONE workload on a fresh LocalCluster (2 worker processes x 1 thread)
and prints ONE JSON line to stdout:

  {"workload": "map", "tasks": N, "seconds": s, "client_peak_rss": bytes,
   "scheduler_cpu": s, "scheduler_rss_delta": bytes}

  map:  client.map(inc, range(N)) then client.gather: N tasks
  tree: a pairwise tree reduction of N leaves built with dask.delayed,
        computed with client.compute(...).result(): 2N - 1 tasks

Wall time runs from building the work on the client to having the results
back. Scheduler CPU and RSS come from /proc of the scheduler process.

  /usr/bin/python3 bench/graph/dask_graph.py --workload map --n 100000
"""

import argparse
import json
import logging
import os
import resource
import time
import warnings

TICKS = os.sysconf("SC_CLK_TCK")


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICKS


def rss_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["map", "tree"], required=True)
    parser.add_argument("--n", type=int, required=True, help="items (map) or leaves (tree)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("distributed").setLevel(logging.ERROR)

    import dask
    from dask import delayed
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2)
        client.gather(client.map(inc, range(100)))  # warm-up
        sched_pid = client.run_on_scheduler(os.getpid)
        reset_peak(sched_pid)
        reset_peak(os.getpid())
        rss0 = rss_fields(sched_pid)["VmRSS"]
        cpu0 = cpu_seconds(sched_pid)
        t0 = time.perf_counter()
        if args.workload == "map":
            futures = client.map(inc, range(args.n), pure=False)
            results = client.gather(futures)
            assert results[-1] == args.n
            tasks = args.n
        else:
            level = [delayed(inc)(i) for i in range(args.n)]
            while len(level) > 1:
                nxt = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
                if len(level) % 2:
                    nxt.append(level[-1])
                level = nxt
            total = client.compute(level[0]).result()
            assert total == args.n * (args.n + 1) // 2
            tasks = 2 * args.n - 1
        seconds = time.perf_counter() - t0
        sched = rss_fields(sched_pid)
        out = {
            "workload": args.workload, "tasks": tasks, "seconds": seconds,
            "client_peak_rss": rss_fields(os.getpid())["VmHWM"],
            "scheduler_cpu": cpu_seconds(sched_pid) - cpu0,
            "scheduler_rss_delta": sched["VmHWM"] - rss0,
            "version": f"dask {dask.__version__}",
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
