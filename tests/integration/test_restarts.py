"""Restarts: an agent or the controller restarted while jobs run loses nothing, runs nothing twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    tmp_path.chmod(0o755)
    running = Cluster(tmp_path / "c").start()
    yield running
    running.stop()


def test_agent_restart_keeps_its_running_job(own_cluster: Cluster, tmp_path: Path) -> None:
    c = own_cluster
    marker = tmp_path / "go"
    job = c.sbatch("-w", "node1", "-o", "o.txt", "--wrap",
                   f"while [ ! -e {marker} ]; do sleep 0.1; done; echo done; exit 4", cwd=tmp_path)
    c.wait_job(job, states=["RUNNING"])
    c.wait_for(lambda: c.job(job).get("batch_step") is not None, what="the job to start")
    c.stop_process(c.agents["node1"], signal.SIGKILL)
    marker.touch()  # the job finishes while its agent is away
    time.sleep(1)
    c.start_agent("node1")
    record = c.wait_job(job)
    assert (record["state"], record["exit_code"]) == ("FAILED", 4)
    assert (tmp_path / "o.txt").read_text() == "done\n"


def test_controller_restart_loses_nothing_and_runs_nothing_twice(own_cluster: Cluster,
                                                                  tmp_path: Path) -> None:
    c = own_cluster
    runs = tmp_path / "runs.log"
    gate = tmp_path / "gate"
    running = [c.sbatch("-c", "2", "-o", "/dev/null", "--wrap",
                        f"echo $SLURM_JOB_ID >> {runs}; while [ ! -e {gate} ]; do sleep 0.1; done",
                        cwd=tmp_path) for _ in range(2)]
    for job in running:
        c.wait_job(job, states=["RUNNING"])
    queued = [c.sbatch("-c", "2", "-o", "/dev/null", "--wrap", f"echo $SLURM_JOB_ID >> {runs}",
                       cwd=tmp_path) for _ in range(3)]
    held = c.sbatch("-H", "--wrap", "true", cwd=tmp_path)
    before = c.run("squeue", "-h", "-o", "%i %T %r").stdout
    c.stop_process(c.controller, signal.SIGKILL)
    c.start_controller()
    c.wait_for(c._all_nodes_up, what="agents to re-register")
    assert c.run("squeue", "-h", "-o", "%i %T %r").stdout == before
    gate.touch()
    for job in running + queued:
        assert c.wait_job(job)["state"] == "COMPLETED"
    assert c.job(held)["state"] == "PENDING"
    ran = runs.read_text().split()
    assert sorted(ran) == sorted(str(j) for j in running + queued)
    ids = c.run("sacct", "-X", "-n", "-P", "-o", "JobID,State").stdout.split()
    assert [line.split("|")[0] for line in ids] == [str(j) for j in sorted(running + queued + [held])]
