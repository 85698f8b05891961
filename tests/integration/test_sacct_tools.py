"""sacct as the client tools run it, and allocations ending with their command's status.

The command lines are copied from the tools installed with the `tools` extra (snakemake's
slurm plugin, parsl's SlurmProvider, submitit), run against a live cluster.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import pty
import select
import signal
import time
from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


def sacct(cluster: Cluster, *args: str, cwd: Path | None = None) -> str:
    return cluster.run("sacct", *args, cwd=cwd, check=True).stdout


def _job_lines(cluster: Cluster, job: int) -> list[str]:
    return sacct(cluster, "-j", str(job), "--parsable2", "--noheader",
                 "--format=JobID,State,ExitCode").splitlines()


# -- allocations: the job ends with its command's status (Slurm's slurm_complete_job) --------


def test_a_salloc_whose_command_exits_3_fails_with_3(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("salloc", "-N1", "--job-name=alloc3", "bash", "-c",
                         "srun true; exit 3", input="", cwd=workdir)
    assert result.returncode == 3, result.stderr
    job = int(next(line for line in result.stderr.splitlines()
                   if line.startswith("salloc: Granted")).rpartition(" ")[2])
    assert cluster.wait_job(job)["state"] == "FAILED"
    lines = _job_lines(cluster, job)
    assert lines[0] == f"{job}|FAILED|3:0"
    assert f"{job}.0|COMPLETED|0:0" in lines


def test_a_salloc_whose_command_exits_0_completes(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("salloc", "-N1", "true", input="", cwd=workdir)
    assert result.returncode == 0, result.stderr
    job = int(next(line for line in result.stderr.splitlines()
                   if line.startswith("salloc: Granted")).rpartition(" ")[2])
    cluster.wait_job(job)
    assert _job_lines(cluster, job)[0] == f"{job}|COMPLETED|0:0"


def test_srun_outside_a_job_ends_its_allocation_with_the_steps_status(
        cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("srun", "--job-name=srun4", "bash", "-c", "exit 4", input="",
                         cwd=workdir)
    assert result.returncode == 4
    job = max(int(line.split("|")[0]) for line in sacct(
        cluster, "-X", "-n", "-P", "--name=srun4", "-o", "JobIDRaw").splitlines())
    cluster.wait_job(job)
    lines = _job_lines(cluster, job)
    assert lines[0] == f"{job}|FAILED|4:0"
    assert f"{job}.0|FAILED|4:0" in lines


def _read_until(fd: int, wanted: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_an_srun_pty_shell_that_exits_3_fails_its_allocation(
        cluster: Cluster, workdir: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(workdir)
        env = {**cluster.env, "PS1": "remote$ ", "TERM": "dumb"}
        os.execvpe("srun", ["srun", "--pty", "--job-name=pty3", "bash", "--norc",
                            "--noprofile", "-i"], env)
    try:
        assert _read_until(fd, b"remote$ ").endswith(b"remote$ ")
        os.write(fd, b"echo job=$SLURM_JOB_ID.; exit 3\r")
        seen = _read_until(fd, b"exit code 3")
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 3
    job = int(seen.split(b"job=")[-1].split(b".")[0])
    assert cluster.wait_job(job)["state"] == "FAILED"
    lines = _job_lines(cluster, job)
    assert lines[0] == f"{job}|FAILED|3:0"
    assert f"{job}.0|FAILED|3:0" in lines
