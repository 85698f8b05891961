"""simple_slurm's `Slurm` class, unchanged, against a live cluster with only corral's commands
on PATH.

simple_slurm writes every option as a column-padded directive (`#SBATCH --job-name            x`,
a flag as `#SBATCH --parsable` followed by blanks) and gives the script to sbatch on stdin
(`sbatch << EOF`) or as a job file. It reads the job id as the first word of a `--parsable`
answer, or as the fourth word of "Submitted batch job N". Its helpers run
`squeue --me -o '"%i","%j",…'` (read as CSV, by the header's names) and `scancel [--me] ID`;
`Slurm.srun` runs `srun --option=value … command`."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from simple_slurm import Slurm

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


def _sacct(job_id: int) -> dict[str, str]:
    out = subprocess.run(["sacct", "-n", "-P", "-o", "JobID,State", "-j", str(job_id)],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "." not in line.split("|")[0])


def _ended(job_id: int) -> dict[str, str]:
    """sacct's State of each job (array task) once none is pending or running any more."""
    while True:
        states = _sacct(job_id)
        if states and not set(states.values()) & {"PENDING", "RUNNING", "COMPLETING"}:
            return states
        time.sleep(0.2)


def test_a_parsable_directive_on_stdin_gives_the_bare_job_id(slurm_env: Path,
                                                             capfd: pytest.CaptureFixture[str]
                                                             ) -> None:
    slurm = Slurm(job_name="ss-array", parsable=True, array=range(3), cpus_per_task=1,
                  mem="100M", time=timedelta(minutes=2), output=f"{slurm_env}/%A_%a.out")
    assert "#SBATCH --parsable            \n" in slurm.script()
    # `sbatch << EOF`: the options reach sbatch only as directives, --parsable among them.
    job_id = slurm.sbatch("echo task $SLURM_ARRAY_TASK_ID of $SLURM_JOB_NAME")
    assert capfd.readouterr().out == f"{job_id}\n"
    assert _ended(job_id) == {f"{job_id}_{i}": "COMPLETED" for i in range(3)}
    assert [(slurm_env / f"{job_id}_{i}.out").read_text() for i in range(3)] == \
        [f"task {i} of ss-array\n" for i in range(3)]


def test_a_job_file_squeue_and_scancel_helpers(slurm_env: Path) -> None:
    slurm = Slurm(job_name="ss-sleeper", time=timedelta(minutes=2), mem="50M",
                  output=f"{slurm_env}/%x-%j.out")
    job_file = slurm_env / "sleeper.sh"
    first = slurm.sbatch("sleep 60", job_file=str(job_file), verbose=False)
    second = Slurm(job_name="ss-other", time=timedelta(minutes=2)).sbatch(
        "sleep 60", verbose=False)
    assert job_file.read_text().startswith("#!/bin/sh\n\n#SBATCH --job-name            ss-sleeper")
    assert second == first + 1

    slurm.squeue.update_squeue()
    assert set(slurm.squeue.jobs) >= {first, second}
    mine = slurm.squeue.get_filtered_jobs("ss-sleeper")
    assert list(mine) == [first]
    assert mine[first]["JOBID"] == str(first) and mine[first]["MIN_MEMORY"] == "50M"
    assert mine[first]["ST"] in ("PD", "R")

    slurm.scancel.cancel_job(first)
    assert _ended(first) == {str(first): "CANCELLED by 0"}
    slurm.scancel.cancel_all()  # scancel --me
    assert _ended(second) == {str(second): "CANCELLED by 0"}
    slurm.squeue.update_squeue()
    assert not set(slurm.squeue.jobs) & {first, second}


def test_srun_helper_runs_its_command_as_tasks(slurm_env: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    slurm = Slurm(ntasks=2, nodes=2, job_name="ss-srun", time=timedelta(minutes=1))
    # srun's command line goes through a local shell (shell=True): quoted for the task's.
    assert slurm.srun("sh", "-c", "'echo rank $SLURM_PROCID of $SLURM_JOB_NAME'") == 0
    assert sorted(capfd.readouterr().out.splitlines()) == ["rank 0 of ss-srun",
                                                           "rank 1 of ss-srun"]


def _all_ids() -> set[str]:
    return set(subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True,
                              text=True, check=True).stdout.split())


def test_a_malformed_directive_is_refused_and_nothing_queued(
        slurm_env: Path, capfd: pytest.CaptureFixture[str]) -> None:
    before = _all_ids()
    with pytest.raises(AssertionError):  # simple_slurm asserts "Submitted batch job" was said
        Slurm(job_name="ss-bad", cpus_per_task="abc").sbatch("echo never")
    assert 'sbatch: error: Invalid numeric value "abc" for --cpus-per-task.' in \
        capfd.readouterr().err
    assert _all_ids() == before
