"""Replay time of `corral sim` against trace length: the first N jobs of a trace, for growing N.

    .venv/bin/python bench/sim_replay.py [TRACE] [--policy easy] [--sizes 10000,30000,100000]
    .venv/bin/python bench/sim_replay.py TRACE --sizes 20000 --profile   # where the time goes

Without TRACE it uses LLNL-Thunder (1002 nodes, 121k jobs) from ../shared/traces, or, where
that is absent, a synthetic trace of the same shape. Reading the trace is timed apart. Each
size is replayed --repeat times and the median reported, with the growth exponent k of
time ∝ jobs^k between successive sizes (1: linear).
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import random
import statistics
import time
from pathlib import Path

from corral.sim.replay import replay
from corral.sim.swf import Trace, read_lines, read_trace
from corral.sim.workload import from_trace

DEFAULT = Path(__file__).resolve().parents[2] / "shared/traces/LLNL-Thunder-2007-1.1-cln.swf.gz"


def synthetic(jobs: int, seed: int = 1) -> Trace:
    """1002 nodes of 4 cores at about 85% offered load, jobs of 1-256 nodes."""
    rng = random.Random(seed)
    lines = ["; MaxProcs: 4008", "; MaxNodes: 1002"]
    submit = 0
    for number in range(1, jobs + 1):
        submit += int(rng.expovariate(1 / 110))
        procs = 4 * min(256, int(rng.paretovariate(1.2)))
        run = int(rng.lognormvariate(7, 1.6))
        req = rng.choice([run * 2 + 60, run + 600, -1])
        lines.append(f"{number} {submit} -1 {run} {procs} -1 -1 {procs} {req} -1 1 "
                     f"{rng.randint(1, 300)} 1 -1 -1 -1 -1 -1")
    return read_lines(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace", nargs="?")
    parser.add_argument("--policy", default="easy")
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    clock = time.perf_counter()
    path = Path(args.trace) if args.trace else DEFAULT
    trace = read_trace(path) if path.exists() else synthetic(max(sizes))
    name = path.name if path.exists() else "synthetic"
    print(f"{name}: read {len(trace.jobs)} jobs in {time.perf_counter() - clock:.1f} s")
    everything = trace.jobs
    previous: tuple[int, float] | None = None
    for size in sizes:
        trace.jobs = everything[:size]
        clock = time.perf_counter()
        workload = from_trace(trace)
        mapped = time.perf_counter() - clock
        if args.profile:
            profile = cProfile.Profile()
            done = profile.runcall(replay, workload, args.policy)
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
            times = [done.elapsed_s]
        else:
            times = []
            for _ in range(args.repeat):
                done = replay(workload, args.policy)
                times.append(done.elapsed_s)
        median = statistics.median(times)
        jobs = len(done.outcomes)
        growth = ""
        if previous is not None and previous[1] > 0 and jobs > previous[0]:
            exponent = math.log(median / previous[1]) / math.log(jobs / previous[0])
            growth = f" growth k={exponent:.2f}"
        previous = (jobs, median)
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(f"{args.policy:12s} jobs={jobs:7d} replay median={median:7.1f} s [{runs}] "
              f"({jobs / median:6.0f} jobs/s){growth} core passes={done.passes} "
              f"machine={len(workload.machine.nodes)} nodes (mapping {mapped:.1f} s)",
              flush=True)

if __name__ == "__main__":
    main()
