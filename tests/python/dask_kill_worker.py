"""Run ``fringewatch-dask`` against a real Dask LocalCluster (2 worker processes) and SIGKILL
the worker process that runs the first detection task (tests/batch.rs checks that every pair
still lands once).

Usage: python dask_kill_worker.py CLI-ARGUMENTS...   (everything but --scheduler)
Exit status: the command line's, or 3 when no worker could be killed during a task.
"""

import os
import signal
import subprocess
import sys
import time

from dask.distributed import Client, LocalCluster


def main(cli_arguments):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        command = [sys.executable, "-m", "fringewatch.distributed",
                   "--scheduler", cluster.scheduler_address, *cli_arguments]
        cli = subprocess.Popen(command)
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and cli.poll() is None and time.monotonic() < deadline:
            for worker, keys in client.processing().items():
                running = [k for k in keys if str(k).startswith("fringewatch-detect-")]
                if running and worker in pids:
                    os.kill(pids[worker], signal.SIGKILL)
                    killed = (worker, pids[worker], running)
                    break
            else:
                time.sleep(0.002)
        code = cli.wait(timeout=600)
        if killed is None:
            print("no worker was killed during a task", file=sys.stderr)
            return 3
        print(f"killed worker {killed[0]} (pid {killed[1]}) while it ran {killed[2]}",
              file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
