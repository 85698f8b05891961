"""End-to-end throughput: N `sbatch --wrap true` submitted one by one on `corral up`,
from the first submit until every job has ended (Slurm 22.05 on this machine: 0.77 jobs/s)."""

from __future__ import annotations

import argparse
import subprocess
import time

from _cluster import UpCluster

from corral.client import Client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--jobs", type=int, default=1000)
    args = parser.parse_args()
    cluster = UpCluster()
    try:
        client = Client(str(cluster.socket))
        start = time.perf_counter()
        ids = []
        for _ in range(args.jobs):
            out = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"],
                                 env=cluster.env, capture_output=True, text=True, check=True)
            ids.append(out.stdout.strip())
        submitted = time.perf_counter() - start
        while True:
            live = client.jobs(states=["PENDING", "RUNNING", "COMPLETING"])
            if not live:
                break
            time.sleep(0.05)
        total = time.perf_counter() - start
        states = {j["state"] for j in client.history(job_ids=ids)}
        print(f"jobs={args.jobs} submit_s={submitted:.1f} total_s={total:.1f} "
              f"submit_rate={args.jobs / submitted:.1f}/s end_to_end={args.jobs / total:.2f} jobs/s "
              f"states={sorted(states)}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
