"""submitit, unchanged, against a live cluster with only corral's commands on PATH.

The paths a submitit user takes: `AutoExecutor(cluster="slurm")` and `SlurmExecutor` with a log
folder named per job (`logs/%j`, submitit's documented form), `map_array` whose tasks run the
function through submitit's default `srun --output DIR/%A_%a/%A_%a_%t_log.out` inside each array
task, a function that raises (the traceback comes back through `job.exception()` and
`job.result()`, sacct says FAILED) and `job.cancel()` (scancel, sacct says CANCELLED)."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import submitit

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration

RUNNING = ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "")


def _state(job: submitit.Job) -> str:  # type: ignore[type-arg]
    """sacct's State for the job once it has left the queue (submitit's own get_info call);
    a job's result file can appear before the job has ended."""
    while True:
        state = str(job.get_info(mode="force").get("State", ""))
        if state not in RUNNING:
            return state
        time.sleep(0.2)


@pytest.fixture
def slurm_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    assert shutil.which("sbatch", path=f"{BIN}") is not None
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    # submitit's sacct cache is one per process, keyed by job id: another module's cluster
    # numbered its jobs from 1 as well.
    submitit.SlurmJob.watcher.clear()
    yield workdir
    submitit.SlurmJob.watcher.clear()


def test_auto_executor_runs_a_function_in_a_folder_per_job(slurm_env: Path) -> None:
    def _where() -> tuple[str, str, str]:
        import os

        return os.environ["SLURM_JOB_ID"], os.environ["SLURM_JOB_NAME"], os.environ["SLURM_STEP_ID"]

    executor = submitit.AutoExecutor(folder=slurm_env / "logs" / "%j", cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_mem="200MB", cpus_per_task=1,
                               name="auto-where")
    assert executor.cluster == "slurm"
    job = executor.submit(_where)
    assert job.result() == (job.job_id, "auto-where", "0")
    assert _state(job) == "COMPLETED"
    assert (slurm_env / "logs" / job.job_id / f"{job.job_id}_0_log.out").is_file()


def test_map_array_runs_each_task_through_srun(slurm_env: Path) -> None:
    def _task(x: int) -> tuple[int, str, str, str]:
        import os

        print(f"task sees {x}")
        return (x * x, os.environ["SLURM_ARRAY_JOB_ID"], os.environ["SLURM_ARRAY_TASK_ID"],
                os.environ["SLURM_STEP_ID"])

    executor = submitit.SlurmExecutor(folder=slurm_env / "logs" / "%j", python=sys.executable)
    executor.update_parameters(time=2, mem="200MB", cpus_per_task=1, array_parallelism=4)
    jobs = executor.map_array(_task, [1, 2, 3])
    array_id = jobs[0].job_id.split("_")[0]
    assert [j.job_id for j in jobs] == [f"{array_id}_{i}" for i in range(3)]
    results = [j.result() for j in jobs]
    # Each task's function ran in step 0 of its task, which knew the array's ids.
    assert results == [(1, array_id, "0", "0"), (4, array_id, "1", "0"), (9, array_id, "2", "0")]
    assert [_state(j) for j in jobs] == ["COMPLETED"] * 3
    # srun wrote each task's output where submitit reads it: logs/%A_%a/%A_%a_%t_log.out.
    printed = [[line for line in (j.stdout() or "").splitlines() if "task sees" in line]
               for j in jobs]
    assert printed == [["task sees 1"], ["task sees 2"], ["task sees 3"]]


def test_a_failing_function_reports_its_exception_and_fails(slurm_env: Path) -> None:
    def _fails(x: int) -> int:
        raise ValueError(f"no square for {x}")

    executor = submitit.SlurmExecutor(folder=slurm_env / "fail" / "%j", python=sys.executable)
    executor.update_parameters(time=2, mem="200MB")
    job = executor.submit(_fails, 3)
    error = job.exception()
    assert isinstance(error, submitit.core.utils.FailedJobError)
    assert "ValueError: no square for 3" in str(error)
    with pytest.raises(submitit.core.utils.FailedJobError, match="no square for 3"):
        job.result()
    assert _state(job) == "FAILED"


def test_cancel_ends_a_running_job_as_cancelled(slurm_env: Path) -> None:
    def _sleeps() -> None:
        import time

        time.sleep(120)

    executor = submitit.AutoExecutor(folder=slurm_env / "cancel" / "%j", cluster="slurm")
    executor.update_parameters(timeout_min=3, slurm_mem="200MB")
    job = executor.submit(_sleeps)
    while job.get_info(mode="force").get("State") != "RUNNING":
        time.sleep(0.2)
    job.cancel()
    # Slurm's sacct says "CANCELLED by <uid>"; submitit counts any state outside its running
    # list as done.
    assert _state(job).startswith("CANCELLED")
    assert job.done(force_check=True)
    # (job.exception() would now wait submitit's 15 s for a result file that never comes.)
    assert "CANCELLED" in (job.stderr() or "")


def test_a_job_over_two_nodes_runs_one_task_per_node(slurm_env: Path) -> None:
    def _rank() -> tuple[int, int, int, list[str]]:
        env = submitit.JobEnvironment()  # read from SLURM_PROCID, _NODEID, _JOB_NODELIST …
        return env.global_rank, env.node, env.num_tasks, env.hostnames

    executor = submitit.AutoExecutor(folder=slurm_env / "multi" / "%j", cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_mem="200MB", nodes=2, tasks_per_node=1)
    job = executor.submit(_rank)
    # submitit reads one result file per task (%j_%t_result.pkl), written by srun's tasks.
    assert job.results() == [(0, 0, 2, ["node1", "node2"]), (1, 1, 2, ["node1", "node2"])]
    assert _state(job) == "COMPLETED"


def test_a_batch_of_submissions_becomes_one_array(slurm_env: Path) -> None:
    executor = submitit.AutoExecutor(folder=slurm_env / "batch" / "%j", cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_mem="200MB", slurm_array_parallelism=2)
    with executor.batch():
        jobs = [executor.submit(pow, x, 3) for x in range(4)]
    assert len({j.job_id.split("_")[0] for j in jobs}) == 1
    assert [j.result() for j in jobs] == [0, 1, 8, 27]
