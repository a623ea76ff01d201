"""Dask part of benches/batch_2400.sh: detect_many on a LocalCluster of N worker processes over
the given products; prints the cluster start-up, the wall time, pairs per minute and the Dask
overhead per task (wall x workers - the seconds the workers spent detecting, from the 'runs'
table, per pair).

Usage: python dask_bench.py WORKERS OUT.gpkg PRODUCT...
"""

import sqlite3
import sys
import time

from dask.distributed import Client, LocalCluster

from fringewatch.distributed import detect_many


def main(workers, out, products):
    started = time.monotonic()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        ready = time.monotonic()
        outcomes = detect_many(products, out, client, backend="cpu")
        wall = time.monotonic() - ready
    done = sum(o["status"] == "done" for o in outcomes)
    with sqlite3.connect(out) as db:
        (busy,) = db.execute("SELECT sum(seconds) FROM runs WHERE status = 'done'").fetchone()
    n = len(products)
    print(f"dask, {workers} worker(s): cluster up in {ready - started:.1f} s; {done}/{n} pairs "
          f"in {wall:.1f} s: {60 * n / wall:.2f} pairs per minute; workers busy {busy:.1f} s; "
          f"overhead {(wall * workers - busy) / n:.2f} s per task")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
