"""dask-jobqueue's SLURMCluster, unchanged, against a live cluster with only corral's commands
on PATH: each worker is a batch job (its options as `#SBATCH` directives: -J, -e/-o with %J,
-n 1, --cpus-per-task, --mem, -t, sbatch given the script's path), the job id is read from
sbatch's "Submitted batch job N", and close() scancels every worker job."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dask.distributed import Client
from dask_jobqueue import SLURMCluster

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def slurm_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert shutil.which("sbatch", path=f"{BIN}") is not None
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(workdir)
    return workdir


def _sacct_states(job_ids: list[str]) -> dict[str, str]:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if line)


def test_slurm_cluster_scales_to_workers_that_compute_and_closes(slurm_env: Path) -> None:
    # Nested: cloudpickle sends it by value, the workers cannot import this module.
    def _where(x: int) -> tuple[int, str]:
        import os

        return x * x, os.environ["SLURM_JOB_ID"]

    logs = slurm_env / "dask-logs"
    cluster = SLURMCluster(
        cores=1, processes=1, memory="300MB", walltime="00:05:00", job_name="dask-worker",
        log_directory=str(logs), python=sys.executable, scheduler_options={"host": "127.0.0.1"},
        worker_extra_args=["--host", "127.0.0.1"], job_extra_directives=["--nice=0"])
    try:
        script = cluster.job_script()
        assert "#SBATCH -J dask-worker" in script and "#SBATCH --cpus-per-task=1" in script
        cluster.scale(jobs=2)
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=50)
            squares = client.map(_where, range(6))
            results = client.gather(squares)
            assert [value for value, _ in results] == [0, 1, 4, 9, 16, 25]
            job_ids = sorted(job.job_id for job in cluster.workers.values())
            assert len(job_ids) == 2
            # The work ran inside the worker jobs that sbatch queued for dask.
            assert {job for _, job in results} <= set(job_ids)
            assert set(_sacct_states(job_ids).values()) == {"RUNNING"}
            # Each worker's log went where the directives sent it (%J: job id and step).
            assert sorted(p.name for p in logs.iterdir() if p.suffix == ".err") == \
                sorted(f"dask-worker-{j}.err" for j in job_ids)
    finally:
        cluster.close()
    # close() ran scancel for each worker job: sacct shows them CANCELLED.
    while set(states := _sacct_states(job_ids).values()) & {"RUNNING", "COMPLETING"}:
        time.sleep(0.2)
    assert all(state.startswith("CANCELLED") for state in states), states
