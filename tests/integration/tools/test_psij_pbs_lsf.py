"""psij-python's pbs and lsf executors, unchanged, against a live corral: they submit their own
#PBS/#BSUB scripts (`qsub FILE`, `bsub FILE`), poll `qstat -f -F json -x IDS` and
`bjobs -o "JOBID STAT ..." -json -a IDS`, and cancel with qdel/bkill."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import psij
import pytest
from psij.executors.batch.lsf import LsfExecutorConfig
from psij.executors.batch.pbs import PBSExecutorConfig

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration

_WAIT = timedelta(seconds=40)


@pytest.fixture
def tool_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert shutil.which("qstat", path=f"{BIN}") and shutil.which("bjobs", path=f"{BIN}")
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    return workdir


def _executor(kind: str, workdir: Path) -> psij.JobExecutor:
    # psij polls every 30 s by default; once a second keeps each test short.
    config_class = PBSExecutorConfig if kind == "pbs" else LsfExecutorConfig
    config = config_class(work_directory=workdir / "psij", queue_polling_interval=1)
    return psij.JobExecutor.get_instance(kind, config=config)


def _job(executor: psij.JobExecutor, workdir: Path, *argv: str) -> psij.Job:
    spec = psij.JobSpec(executable=argv[0], arguments=list(argv[1:]), directory=workdir)
    spec.attributes.duration = timedelta(minutes=2)
    job = psij.Job(spec)
    executor.submit(job)
    return job


@pytest.mark.parametrize("kind", ["pbs", "lsf"])
def test_psij_runs_fails_and_cancels(kind: str, tool_env: Path, cluster: Cluster) -> None:
    executor = _executor(kind, tool_env)

    done = _job(executor, tool_env, "/bin/sh", "-c", "echo hi > out.txt")
    status = done.wait(timeout=_WAIT)
    assert status is not None and status.state == psij.JobState.COMPLETED
    assert status.exit_code == 0 and (tool_env / "out.txt").read_text() == "hi\n"
    assert done.native_id is not None and cluster.job(int(done.native_id.split(".")[0]))

    failing = _job(executor, tool_env, "/bin/sh", "-c", "exit 3")
    status = failing.wait(timeout=_WAIT)
    assert status is not None and status.state == psij.JobState.FAILED
    assert status.exit_code == 3

    sleeper = _job(executor, tool_env, "/bin/sleep", "60")
    assert sleeper.wait(target_states=[psij.JobState.ACTIVE], timeout=_WAIT) is not None
    sleeper.cancel()
    status = sleeper.wait(timeout=_WAIT)
    # qdel's SIGTERM makes PBS's Exit_status 256+15 (psij reads only 265 as CANCELED) and
    # a bkilled job is EXIT: psij reports both as FAILED, as on real PBS Pro and LSF.
    assert status is not None and status.state == psij.JobState.FAILED
    record = cluster.wait_job(int(sleeper.native_id.split(".")[0]), ("CANCELLED",))
    assert record["state"] == "CANCELLED"
