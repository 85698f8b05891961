"""Tasks and GPUs spread over nodes as Slurm spreads them, on a real cluster of two nodes of
2 CPUs and 2 GPUs (declared, no hardware): `-n 3` holds 2 CPUs on the first node and 1 on
the second, and the CPU left on the second runs another job at the same time; `--gpus=3`
is over the whole job (2 GPUs, then 1), while `--gpus-per-node=3` is refused."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, open_dir

pytestmark = pytest.mark.integration

WAIT_FOR_GO = "while [ ! -e go ]; do sleep 0.1; done"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = open_dir("corral-test-spreading-")
    running = Cluster(root, nodes=2, cpus=2, gpus=2).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def sacct(cluster: Cluster, job_id: int, fields: str) -> list[str]:
    result = cluster.run("sacct", "-j", str(job_id), "-X", "-n", "-P", "-o", fields, check=True)
    return result.stdout.strip().split("|")


def scontrol(cluster: Cluster, job_id: int) -> dict[str, str]:
    text = cluster.run("scontrol", "show", "job", str(job_id), check=True).stdout
    return dict(word.split("=", 1) for word in text.split() if "=" in word)


def test_three_tasks_hold_two_cpus_then_one_and_the_spare_cpu_runs_another_job(
        cluster: Cluster, workdir: Path) -> None:
    wide = cluster.sbatch("-n", "3", "-o", "wide.txt", "--wrap",
                          "echo $SLURM_JOB_NUM_NODES $SLURM_JOB_CPUS_PER_NODE "
                          f"$SLURM_TASKS_PER_NODE $SLURM_CPUS_ON_NODE; {WAIT_FOR_GO}",
                          cwd=workdir)
    cluster.wait_job(wide, ["RUNNING"])
    small = cluster.sbatch("-n", "1", "-o", "small.txt", "--wrap",
                           f"echo $SLURMD_NODENAME; {WAIT_FOR_GO}", cwd=workdir)
    # Both run at once: the second node has one CPU the first job does not hold.
    cluster.wait_job(small, ["RUNNING"])
    assert cluster.job(wide)["state"] == "RUNNING"
    shown = scontrol(cluster, wide)
    assert (shown["NodeList"], shown["NumNodes"], shown["NumCPUs"]) == ("node[1-2]", "2", "3")
    assert scontrol(cluster, small)["NodeList"] == "node2"
    (workdir / "go").touch()
    assert cluster.wait_job(wide)["state"] == "COMPLETED"
    assert cluster.wait_job(small)["state"] == "COMPLETED"
    assert (workdir / "wide.txt").read_text().split() == ["2", "2,1", "2,1", "2"]
    assert (workdir / "small.txt").read_text().split() == ["node2"]
    alloc_tres, nodelist, cpus = sacct(cluster, wide, "AllocTRES,NodeList,AllocCPUS")
    assert (nodelist, cpus) == ("node[1-2]", "3")
    assert "cpu=3" in alloc_tres.split(",") and "node=2" in alloc_tres.split(",")


def test_a_node_range_packs_tasks_that_fit_on_its_minimum(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-N", "1-2", "-n", "2", "-o", "packed.txt", "--wrap",
                         "echo $SLURM_JOB_NUM_NODES $SLURM_JOB_CPUS_PER_NODE", cwd=workdir)
    assert cluster.wait_job(job)["state"] == "COMPLETED"
    assert (workdir / "packed.txt").read_text().split() == ["1", "2"]
    assert sacct(cluster, job, "NodeList,AllocCPUS")[1] == "2"


def test_a_gpu_total_spreads_over_the_nodes_it_needs(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("--gpus=3", "-o", "gpus.txt", "--wrap",
                         "echo $SLURM_JOB_NUM_NODES $SLURM_GPUS $SLURM_JOB_GPUS "
                         "$SLURM_GPUS_ON_NODE $CUDA_VISIBLE_DEVICES", cwd=workdir)
    assert cluster.wait_job(job)["state"] == "COMPLETED"
    # The batch host holds the first block of two; SLURM_GPUS stays the job's total.
    assert (workdir / "gpus.txt").read_text().split() == ["2", "3", "0,1", "2", "0,1"]
    record = cluster.job(job)
    assert {node: len(gpus) for node, gpus in record["alloc_gpus"].items()} == \
        {"node1": 2, "node2": 1}
    alloc_tres, nodelist = sacct(cluster, job, "AllocTRES,NodeList")
    assert nodelist == "node[1-2]" and "gres/gpu=3" in alloc_tres.split(",")
    assert "gres/gpu=3" in scontrol(cluster, job)["TRES"].split(",")


def test_gpus_per_node_beyond_a_node_is_still_refused(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("sbatch", "--gpus-per-node=3", "--wrap", "true", cwd=workdir)
    assert result.returncode != 0
    assert "Invalid generic resource (gres) specification" in result.stderr


@pytest.mark.parametrize("command", [("salloc", "-n", "3", "--gpus=3"),
                                     ("srun", "-n", "3", "--gpus=3")])
def test_salloc_and_srun_spread_as_sbatch_does(cluster: Cluster, workdir: Path,
                                               command: tuple[str, ...]) -> None:
    result = cluster.run(*command, "sh", "-c",
                         "echo $SLURM_JOB_CPUS_PER_NODE $SLURM_TASKS_PER_NODE", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.splitlines()) == {"2,1 2,1"}

