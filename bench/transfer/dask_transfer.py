"""Dask's figure for the same transfers: a value made on one worker, consumed on another.
Run by run.ts with Debian's python3-distributed: python3 dask_transfer.py BYTES COUNT REPEAT"""
import sys, time
from distributed import Client, LocalCluster

def make(n, seed):
    return bytes([seed & 0xff]) * n

def size_of(*values):
    return sum(len(v) for v in values)

if __name__ == '__main__':
    nbytes, count, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        a, b = sorted(client.scheduler_info()['workers'])
        best = None
        for r in range(repeat):
            parts = [client.submit(make, nbytes, i + 1000 * r, workers=[a], pure=False) for i in range(count)]
            client.gather(client.submit(size_of, *parts[:1], workers=[a], pure=False))
            from distributed import wait
            wait(parts)
            t0 = time.perf_counter()
            total = client.submit(size_of, *parts, workers=[b], pure=False).result()
            t = time.perf_counter() - t0
            assert total == nbytes * count
            best = t if best is None else min(best, t)
            client.cancel(parts)
        print(f"{best:.6f}")
