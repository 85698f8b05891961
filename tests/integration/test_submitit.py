"""submitit, unchanged, drives corral through its Slurm executor (only corral's commands on PATH)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from cluster import BIN, Cluster

submitit = pytest.importorskip("submitit")

pytestmark = pytest.mark.integration


def _final_state(job: object) -> str:
    """The state submitit reads from sacct once the job has ended (result files come first)."""
    deadline = time.monotonic() + 20
    while True:
        state = job.get_info(mode="force").get("State", "")  # type: ignore[attr-defined]
        if state not in ("RUNNING", "COMPLETING", "PENDING") or time.monotonic() > deadline:
            return str(state)
        time.sleep(0.2)


@pytest.fixture
def slurm_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Only corral's commands (and the interpreter's own directory) ahead of the system's.
    assert shutil.which("sbatch", path=f"{BIN}") is not None
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    return workdir


def test_submitit_runs_a_function_and_a_map_array(slurm_env: Path) -> None:
    # Nested functions: cloudpickle sends them by value, the job cannot import this module.
    def _where() -> tuple[str, str, str]:
        import os

        return (os.environ["SLURM_JOB_ID"], os.environ.get("SLURM_PROCID", "?"),
                os.environ.get("SLURM_STEP_ID", "?"))

    def _square(x: int) -> int:
        return x * x

    executor = submitit.SlurmExecutor(folder=slurm_env / "logs", python=sys.executable)
    executor.update_parameters(time=2, mem="200MB", cpus_per_task=1)
    job = executor.submit(_where)
    job_id, procid, step = job.result()
    assert job_id == job.job_id and procid == "0" and step == "0"
    assert _final_state(job) == "COMPLETED"

    jobs = executor.map_array(_square, range(4))
    assert [j.result() for j in jobs] == [0, 1, 4, 9]
    assert {j.job_id.split("_")[0] for j in jobs} == {jobs[0].job_id.split("_")[0]}
    assert all(_final_state(j) == "COMPLETED" for j in jobs)


def test_auto_executor_picks_slurm(slurm_env: Path) -> None:
    executor = submitit.AutoExecutor(folder=slurm_env / "auto", cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_mem="200MB")
    assert executor.cluster == "slurm"
    assert executor.submit(pow, 7, 2).result() == 49
