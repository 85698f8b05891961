"""dask-jobqueue's PBSCluster and LSFCluster, unchanged, against a live corral: they write their
own #PBS/#BSUB job scripts, submit them with qsub/bsub, and close with qdel/bkill; only corral's
commands are on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from dask_jobqueue import LSFCluster, PBSCluster
from distributed import Client

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def tool_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert shutil.which("qsub", path=f"{BIN}") and shutil.which("bsub", path=f"{BIN}")
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(workdir)
    return workdir


def _finished(cluster: Cluster, job_ids: list[str]) -> list[str]:
    """The states the workers' jobs end in once the cluster is closed."""
    ids = [int(j.split(".")[0]) for j in job_ids]
    return [cluster.wait_job(i, ("CANCELLED", "COMPLETED", "FAILED"))["state"] for i in ids]


# Workers reach the scheduler on loopback: both listen on `lo`.
_COMMON = {"cores": 1, "memory": "200MB", "processes": 1, "interface": "lo",
           "scheduler_options": {"interface": "lo"}, "python": sys.executable}


def test_pbs_cluster_scales_computes_and_closes(tool_env: Path, cluster: Cluster) -> None:
    with PBSCluster(walltime="00:05:00", log_directory=str(tool_env / "logs"),
                    **_COMMON) as pbs:
        assert "#PBS -l select=1:ncpus=1:mem=" in pbs.job_script()
        pbs.scale(2)
        with Client(pbs) as client:
            client.wait_for_workers(2, timeout=45)
            assert client.submit(sum, [1, 2, 3]).result() == 6
        job_ids = [job.job_id for job in pbs.workers.values()]
    # dask-jobqueue keeps the digits of qsub's `SEQ.SERVER` and gives them to qdel.
    assert len(job_ids) == 2 and all(j.isdigit() for j in job_ids)
    # close() ran qdel on each worker's job: none is left running.
    assert set(_finished(cluster, job_ids)) <= {"CANCELLED", "COMPLETED"}


def test_lsf_cluster_scales_computes_and_closes(tool_env: Path, cluster: Cluster) -> None:
    with LSFCluster(walltime="00:05", lsf_units="mb", log_directory=str(tool_env / "logs"),
                    **_COMMON) as lsf:
        assert "#BSUB -M 200" in lsf.job_script()
        lsf.scale(1)
        with Client(lsf) as client:
            client.wait_for_workers(1, timeout=45)
            assert client.submit(sum, [4, 5]).result() == 9
        job_ids = [job.job_id for job in lsf.workers.values()]
        record = cluster.job(int(job_ids[0]))
        assert record["mem_per_node"] == 200 and record["time_limit"] == 5
    assert set(_finished(cluster, job_ids)) <= {"CANCELLED", "COMPLETED"}
