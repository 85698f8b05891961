"""The time limit: SIGTERM, then SIGKILL after the grace time → TIMEOUT (takes a minute)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


def test_time_limit_ends_the_job_as_timeout(cluster: Cluster, workdir: Path) -> None:
    # --time=0:01 is one second, rounded up to a minute as Slurm does.
    job = cluster.sbatch("--time=0:01", "-o", "t.out", "--wrap",
                         "echo start; sleep 300", cwd=workdir)
    record = cluster.wait_job(job, timeout=120)
    assert (record["state"], record["reason"], record["time_limit"]) == ("TIMEOUT", "TimeLimit", 1)
    assert 60 <= record["end_time"] - record["start_time"] < 90
    lines = (workdir / "t.out").read_text().splitlines()
    assert lines[0] == "start"
    assert lines[1].startswith(f"slurmstepd-{record['nodes'][0]}: error: *** JOB {job} ON ")
    assert lines[1].endswith(" DUE TO TIME LIMIT ***")
    out = cluster.run("sacct", "-j", str(job), "-P", "-o", "JobID,State,ExitCode,Timelimit").stdout
    assert out.splitlines()[1:] == [f"{job}|TIMEOUT|0:0|00:01:00", f"{job}.batch|CANCELLED|0:15|"]
