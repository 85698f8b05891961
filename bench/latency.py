"""Median wall time of single command calls on an idle `corral up` (Slurm: squeue 4.3 ms,
sbatch 4.8 ms on this machine; corral's target is under 40 ms each)."""

from __future__ import annotations

import statistics
import subprocess
import time

from _cluster import UpCluster


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    cluster = UpCluster()
    try:
        job = subprocess.run(["sbatch", "--parsable", "-H", "--wrap", "true"], env=cluster.env,
                             capture_output=True, text=True, check=True).stdout.strip()
        calls = {
            "squeue": ["squeue"],
            "sbatch --wrap true": ["sbatch", "-o", "/dev/null", "--wrap", "true"],
            "scontrol show job": ["scontrol", "show", "job", job],
            "sinfo": ["sinfo"],
            "sacct -j": ["sacct", "-X", "-n", "-P", "-j", job, "-o", "JobID,State"],
            "python -c pass (floor)": ["python3", "-c", "pass"],
        }
        for name, argv in calls.items():
            samples = timed(argv, cluster.env, 21)
            print(f"{name:24s} median={statistics.median(samples):6.1f} ms  "
                  f"min={min(samples):6.1f}  max={max(samples):6.1f}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
