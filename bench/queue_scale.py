"""Commands against a full queue: median wall time of squeue, sacct -j, sbatch and qstat with
N held jobs pending (default 10,000), and the time to submit a 10,000-task array and see all of
its tasks in `squeue -r`. Target: under 40 ms per command call."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time

from _cluster import UpCluster

from corral.client import Client


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def fill(cluster: UpCluster, count: int) -> int:
    """Queues `count` held one-task jobs over one keep-alive connection; returns the last id."""
    client = Client(str(cluster.socket))
    body = {"name": "filler", "script": "#!/bin/sh\ntrue\n", "work_dir": "/tmp", "hold": True,
            "stdout": "/dev/null", "environment": {"PATH": os.environ["PATH"]}}
    last = 0
    for _ in range(count):
        last = int(client.submit(body)["job_id"])
    client.close()
    return last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    cluster = UpCluster()
    try:
        start = time.perf_counter()
        last = fill(cluster, args.jobs)
        print(f"queued {args.jobs} held jobs in {time.perf_counter() - start:.1f} s")
        calls = {
            "squeue": ["squeue"],
            "squeue -u $USER": ["squeue", "--me"],
            "sacct -j": ["sacct", "-X", "-n", "-P", "-j", str(last), "-o", "JobID,State"],
            "sbatch --wrap true": ["sbatch", "-H", "-o", "/dev/null", "--wrap", "true"],
            "python -c pass (floor)": ["python3", "-c", "pass"],
        }
        if shutil.which("qstat", path=cluster.env["PATH"]):
            calls["qstat"] = ["qstat"]
        for name, argv in calls.items():
            samples = timed(argv, cluster.env, args.runs)
            print(f"{name:24s} median={statistics.median(samples):7.1f} ms  "
                  f"min={min(samples):7.1f}  max={max(samples):7.1f}")

        start = time.perf_counter()
        array = subprocess.run(["sbatch", "--parsable", "-H", "--array=0-9999", "-o", "/dev/null",
                                "--wrap", "true"], env=cluster.env, capture_output=True,
                               text=True, check=True).stdout.strip()
        submitted = time.perf_counter() - start
        lines = subprocess.run(["squeue", "-h", "-r", "-j", array], env=cluster.env,
                               capture_output=True, text=True, check=True).stdout.splitlines()
        seen = time.perf_counter() - start
        assert len(lines) == 10000, len(lines)
        print(f"10,000-task array: sbatch {submitted * 1000:.0f} ms, "
              f"all 10,000 tasks in squeue -r after {seen * 1000:.0f} ms")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
