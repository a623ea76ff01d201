"""How busy a command keeps the machine's cores over its run (a benchmark, not a test).

    python3 benches/cores_busy.py [--every S] [--below B] -- COMMAND [ARGS...]

Samples the command's CPU time (user + system, from /proc, threads included) every S seconds
(default 1) and prints, per sample, the cores it kept busy, then the mean and the longest
stretch below B cores (default 1.5). #21 asks that both cores be used throughout a frame's
run: no stretch below 1.5 cores longer than a few seconds. Run the command with `--quiet`
(its progress bar is hidden anyway when stderr is not a terminal); the stretches' times say
which stage they fall in when compared with the stages' own timings (benches/frame.sh).
"""

import argparse
import os
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` and its threads (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields after the command name: state is [0], utime [11], stime [12]
    return (int(fields[11]) + int(fields[12])) / TICKS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--below", type=float, default=1.5)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    start = time.monotonic()
    samples = []
    last_time, last_cpu = start, 0.0
    while process.poll() is None:
        time.sleep(args.every)
        cpu = cpu_seconds(process.pid)
        now = time.monotonic()
        if cpu is None:
            break
        busy = (cpu - last_cpu) / (now - last_time)
        samples.append((now - start, busy))
        print(f"{now - start:7.1f} s  {busy:4.2f} cores", flush=True)
        last_time, last_cpu = now, cpu
    process.wait()
    total = time.monotonic() - start
    longest, run_start, worst = 0.0, None, (0.0, 0.0)
    for t, busy in samples:
        if busy < args.below:
            if run_start is None:
                run_start = t - args.every
            if t - run_start > longest:
                longest, worst = t - run_start, (run_start, t)
        else:
            run_start = None
    mean = sum(b for _, b in samples) / max(len(samples), 1)
    print(f"exit {process.returncode}; {total:.1f} s; mean {mean:.2f} cores; longest stretch "
          f"below {args.below} cores: {longest:.0f} s (from {worst[0]:.0f} s to {worst[1]:.0f} s)")
    sys.exit(process.returncode)


if __name__ == "__main__":
    main()
