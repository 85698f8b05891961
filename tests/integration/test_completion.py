"""Completion on every node, and --deadline, on a real two-node cluster.

A job stays COMPLETING (CG) until every node of it has confirmed its processes of it are gone,
as Slurm's does until each node's epilog reports; and a pending job that can no longer finish
by its --deadline ends DEADLINE.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, open_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow_cluster() -> Iterator[Cluster]:
    # A long KillWait: a process that ignores SIGTERM may take its time to end.
    root = open_dir("corral-test-completion-")
    running = Cluster(root, kill_wait=20.0).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_a_two_node_job_stays_completing_until_its_second_node_is_clean(
        slow_cluster: Cluster, workdir: Path) -> None:
    cluster = slow_cluster
    # Task 1 (on the second node) ignores SIGTERM and lingers a few seconds after the batch
    # script, which ends as soon as the task is running there.
    script = workdir / "job.sh"
    script.write_text(
        "#!/bin/bash\n"
        "env -u CORRAL_SOCKET srun -N2 -n2 bash -c '"
        'if [ "$SLURM_NODEID" = 1 ]; then trap "" TERM; touch started; sleep 4; touch clean; fi'
        "' &\n"
        "while [ ! -e started ]; do sleep 0.1; done\n"
        "exit 0\n")
    job_id = cluster.sbatch("-N2", "-n2", "-o", "out-%j", str(script), cwd=workdir)
    record = cluster.wait_job(job_id, states=("COMPLETING", "COMPLETED"), timeout=60)
    assert record["state"] == "COMPLETING", record
    # The batch step has ended; the second node has not yet confirmed.
    assert not (workdir / "clean").exists()
    with cluster.client() as client:
        held = {n["name"]: n for n in client.nodes()}
    assert all(held[node]["state"] not in ("IDLE", "idle") for node in record["nodes"]), held
    done = cluster.wait_job(job_id, states=("COMPLETED", "FAILED", "CANCELLED"), timeout=60)
    assert done["state"] == "COMPLETED" and (workdir / "clean").exists(), done
    assert done["exit_code"] == 0


def test_a_pending_job_past_its_deadline_ends_deadline(slow_cluster: Cluster,
                                                       workdir: Path) -> None:
    cluster = slow_cluster
    # The cluster is full: the job cannot start before its deadline passes.
    blocker = cluster.sbatch("-N2", "--exclusive", "--wrap", "sleep 60", cwd=workdir)
    try:
        cluster.wait_job(blocker, states=("RUNNING",), timeout=30)
        job_id = cluster.sbatch("--deadline=now+5", "-t", "10", "--wrap", "true", cwd=workdir)
        record = cluster.wait_job(job_id, states=("DEADLINE",), timeout=30)
        assert record["reason"] == "DeadLine", record
        deadline = time.monotonic() + 30
        while True:
            state = cluster.run("sacct", "-j", str(job_id), "-X", "--parsable2", "--noheader",
                                "--format=State", check=True).stdout.strip()
            if state == "DEADLINE" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert state == "DEADLINE"
    finally:
        cluster.run("scancel", str(blocker))
