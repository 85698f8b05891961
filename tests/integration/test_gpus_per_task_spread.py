"""`--gpus-per-task` without `-N` on a cluster of two nodes of 2 CPUs and 2 GPUs (declared, no
hardware): the GPUs go with the tasks as the controller spreads them, as Slurm's do, so
`-n 4 --gpus-per-task=1` runs on both nodes with 2 GPUs each, not asking 4 of one node."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, open_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = open_dir("corral-test-gpus-per-task-")
    running = Cluster(root, nodes=2, cpus=2, gpus=2).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_sbatch_four_tasks_with_a_gpu_each_take_two_gpus_on_each_node(
        cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-n", "4", "--gpus-per-task=1", "-o", "gpt.txt", "--wrap",
                         "echo $SLURM_JOB_NUM_NODES $SLURM_JOB_NODELIST $SLURM_GPUS_ON_NODE",
                         cwd=workdir)
    assert cluster.wait_job(job)["state"] == "COMPLETED"
    assert (workdir / "gpt.txt").read_text().split() == ["2", "node[1-2]", "2"]
    record = cluster.job(job)
    assert {node: len(gpus) for node, gpus in record["alloc_gpus"].items()} == \
        {"node1": 2, "node2": 2}


def test_srun_tasks_see_their_nodes_two_gpus(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("srun", "-n", "4", "--gpus-per-task=1", "-l", "sh", "-c",
                         "echo $SLURMD_NODENAME $SLURM_GPUS_ON_NODE", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = sorted(line.split(": ", 1)[1] for line in result.stdout.splitlines())
    assert lines == ["node1 2", "node1 2", "node2 2", "node2 2"]
