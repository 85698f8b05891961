"""psij-python's `slurm` executor, unchanged, against a live cluster with only corral's commands
on PATH.

psij writes a script of `#SBATCH --long-option="quoted"` directives (-e/-o /dev/null, --export),
reads the job id as the last word of sbatch's answer, polls
`squeue -O JobArrayID,StateCompact,Reason -t all --me` (three columns; a job squeue no longer
shows is taken as COMPLETED), reads the exit code the script leaves in `<id>.ec`, and cancels
with `scancel -Q`. Its `srun` launcher runs the processes as a step inside the batch job."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psij
import pytest
from psij.executors.batch.slurm import SlurmExecutorConfig

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration

WAIT = psij.JobState.ACTIVE


@pytest.fixture
def slurm_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert shutil.which("sbatch", path=f"{BIN}") is not None
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(workdir)
    return workdir


@pytest.fixture
def executor(slurm_env: Path) -> Iterator[psij.JobExecutor]:
    # Poll every second instead of psij's 30 s: the tests' jobs last a moment.
    config = SlurmExecutorConfig(work_directory=slurm_env / "psij", queue_polling_interval=1,
                                 initial_queue_polling_delay=1)
    yield psij.JobExecutor.get_instance("slurm", config=config)


def _spec(workdir: Path, name: str, executable: str, *args: str, **kw: object) -> psij.JobSpec:
    return psij.JobSpec(executable=executable, arguments=list(args), name=name,
                        directory=workdir, stdout_path=workdir / f"{name}.out",
                        stderr_path=workdir / f"{name}.err",
                        attributes=psij.JobAttributes(duration=timedelta(minutes=2)),
                        **kw)  # type: ignore[arg-type]


def test_a_job_runs_and_completes_with_its_output(executor: psij.JobExecutor,
                                                  slurm_env: Path) -> None:
    job = psij.Job(_spec(slurm_env, "hello", "/bin/sh", "-c",
                         'echo "hello from $SLURM_JOB_ID"'))
    executor.submit(job)
    assert job.native_id is not None and job.native_id.isdigit()
    status = job.wait()
    assert status is not None and status.state == psij.JobState.COMPLETED
    assert status.exit_code == 0
    assert (slurm_env / "hello.out").read_text() == f"hello from {job.native_id}\n"
    assert job.native_id in executor.list()


def test_processes_launched_by_srun_run_as_a_step(executor: psij.JobExecutor,
                                                  slurm_env: Path) -> None:
    resources = psij.ResourceSpecV1(process_count=2, processes_per_node=1)
    job = psij.Job(_spec(slurm_env, "ranks", "/bin/sh", "-c",
                         'echo "$SLURM_PROCID of $SLURM_NTASKS on $SLURMD_NODENAME"',
                         resources=resources, launcher="srun"))
    executor.submit(job)
    status = job.wait()
    assert status is not None and status.state == psij.JobState.COMPLETED, status
    lines = sorted((slurm_env / "ranks.out").read_text().splitlines())
    assert lines == ["0 of 2 on node1", "1 of 2 on node2"]


def test_a_failing_job_reports_its_exit_code(executor: psij.JobExecutor, slurm_env: Path) -> None:
    job = psij.Job(_spec(slurm_env, "fails", "/bin/sh", "-c", "echo oops >&2; exit 3"))
    executor.submit(job)
    status = job.wait()
    assert status is not None and status.state == psij.JobState.FAILED
    assert status.exit_code == 3
    assert (slurm_env / "fails.err").read_text() == "oops\n"


def test_cancel_ends_a_running_job_as_canceled(executor: psij.JobExecutor,
                                               slurm_env: Path) -> None:
    job = psij.Job(_spec(slurm_env, "sleeps", "/bin/sleep", "120"))
    executor.submit(job)
    assert job.wait(target_states=[WAIT]) is not None
    job.cancel()
    status = job.wait()
    assert status is not None and status.state == psij.JobState.CANCELED
