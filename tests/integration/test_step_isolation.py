"""srun steps confined to their job: the step cgroup, its memory (OUT_OF_MEMORY), its CPUs,
each node's own GPUs, and a step whose output file cannot be opened.

The cgroup tests need root and a writable cgroup hierarchy; elsewhere they are skipped with
the reason shown, except under CI, where only the GPU tests may skip.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, cgroups_or_skip, open_dir
from corral.agent import cgroups
from corral.agent.isolation import instance_name

pytestmark = pytest.mark.integration

PY = sys.executable


@pytest.fixture(scope="module")
def node() -> Iterator[Cluster]:
    cgroups_or_skip()
    root = open_dir("corral-test-step-isolation-")
    running = Cluster(root, nodes=1, cpus=2, memory="2G").start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def _out(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _sacct(cluster: Cluster, job: int) -> list[str]:
    return cluster.run("sacct", "-j", str(job), "-n", "-P", "-o", "JobID,State,ExitCode",
                       check=True).stdout.splitlines()


def _job_cgroup_dirs(cluster: Cluster, job: int) -> list[Path]:
    jobs_dir = cluster.root / "agents" / "node1" / "jobs"
    hierarchy, _ = cgroups.detect(instance_name("node1", jobs_dir))
    assert hierarchy is not None
    return [b / f"job_{job}" for b in hierarchy.bases.values() if (b / f"job_{job}").exists()]


# Prints, for the process running it: its memory and cpuset cgroups, and its CPU affinity.
WHERE = ("grep -E ':(memory|cpuset):' /proc/self/cgroup | sort | cut -d: -f3; "
         "grep Cpus_allowed_list /proc/self/status | cut -f2")


def test_a_steps_tasks_run_in_a_step_cgroup_under_their_job_with_its_cpus(
        node: Cluster, workdir: Path) -> None:
    script = workdir / "job.sh"
    script.write_text(f"#!/bin/bash\n{{ {WHERE}; }} > batch.where\n"
                      f"srun bash -c \"{WHERE}\" > step.where\n"
                      # The step's cgroup is gone once srun returns; the batch step's stays.
                      "ls $(dirname /sys/fs/cgroup/memory$(grep :memory: /proc/self/cgroup "
                      "| cut -d: -f3)) | grep ^step_ > steps.after\n")
    job = node.sbatch("-c", "1", "--mem=100M", "-o", "out.txt", str(script), cwd=workdir)
    assert node.wait_job(job)["state"] == "COMPLETED", _out(workdir / "out.txt")
    batch = _out(workdir / "batch.where").split()
    step = _out(workdir / "step.where").split()
    assert len(step) == 3, _out(workdir / "out.txt")
    # Before: the step's tasks were in the agent's cgroups, with every CPU of the machine.
    assert [p.rpartition("/")[2] for p in step[:2]] == ["step_0", "step_0"]
    assert [p.rpartition("/")[0] for p in step[:2]] == [p.rpartition("/")[0] for p in batch[:2]]
    assert all(p.rpartition("/")[0].endswith(f"/job_{job}") for p in step[:2])
    assert step[2] == batch[2] and len(cgroups.parse_cpus(step[2])) == 1
    assert _out(workdir / "steps.after").split() == ["step_batch"]
    assert _sacct(node, job)[-1] == f"{job}.0|COMPLETED|0:0"
    assert _job_cgroup_dirs(node, job) == []


def test_a_step_over_its_jobs_memory_ends_out_of_memory(node: Cluster, workdir: Path) -> None:
    touch = f"{PY} -c 'b = bytearray(716 * 1024 * 1024); print(len(b))'"
    job = node.sbatch("--mem=512M", "-o", "out.txt", "--wrap",
                      f"srun {touch}; echo srun said $?", cwd=workdir)
    node.wait_job(job)
    out = _out(workdir / "out.txt")
    # Before: the step touched all 716 MB and ended COMPLETED.
    assert str(716 * 1024 * 1024) not in out
    assert (f"slurmstepd: error: Detected 1 oom_kill event in StepId={job}.0. "
            "Some of the step tasks have been OOM Killed.") in out
    assert "srun said 0" not in out
    assert _sacct(node, job)[-1] == f"{job}.0|OUT_OF_MEMORY|0:125"
    assert _job_cgroup_dirs(node, job) == []


def test_steps_of_a_job_share_its_memory_limit(node: Cluster, workdir: Path) -> None:
    # Each step alone fits in the job's 300 MB; both at once do not, so one of them is killed.
    hold = f"{PY} -c 'import time; b = bytearray(200 * 1024 * 1024); time.sleep(1000)'"
    job = node.sbatch("--mem=300M", "-o", "out.txt", "--wrap",
                      f"srun {hold} & sleep 1; srun {hold}; wait", cwd=workdir)
    ended = "|OUT_OF_MEMORY|0:125"
    node.wait_for(lambda: any(r.endswith(ended) for r in _sacct(node, job)),
                  what="a step to be killed for the job's memory")
    node.run("scancel", str(job), check=True)
    node.wait_job(job)
    steps = sorted(r for r in _sacct(node, job) if r.startswith(f"{job}.") and "batch" not in r)
    assert [r.endswith(ended) for r in steps].count(True) == 1, steps
    assert "Some of the step tasks have been OOM Killed." in _out(workdir / "out.txt")


# ------------------------------------------------------------------------------ without cgroups


@pytest.fixture(scope="module")
def plain_node() -> Iterator[Cluster]:
    root = open_dir("corral-test-step-nocgroup-")
    running = Cluster(root, nodes=1, cpus=2, memory="2G")
    running.env["CORRAL_CGROUPS"] = "off"
    running.start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_without_cgroups_a_step_keeps_its_jobs_cpus_and_memory_is_polled(
        plain_node: Cluster, workdir: Path) -> None:
    affinity = "grep Cpus_allowed_list /proc/self/status | cut -f2"
    hog = f"{PY} -c 'import time; b = bytearray(200 * 1024 * 1024); time.sleep(30)'"
    script = workdir / "job.sh"
    script.write_text(f"#!/bin/bash\n{affinity} > batch.cpus\n"
                      f"srun bash -c '{affinity}' > step.cpus\n"
                      f"srun {hog}\n")
    job = plain_node.sbatch("-c", "1", "--mem=50M", "-o", "out.txt", str(script), cwd=workdir)
    plain_node.wait_job(job)
    cpus = _out(workdir / "step.cpus").split()
    assert cpus == _out(workdir / "batch.cpus").split() and len(cgroups.parse_cpus(cpus[0])) == 1
    assert f"StepId={job}.1 exceeded memory limit" in _out(workdir / "out.txt")
    assert _sacct(plain_node, job)[-2:] == [f"{job}.0|COMPLETED|0:0",
                                            f"{job}.1|OUT_OF_MEMORY|0:125"]


# ------------------------------------------------------------------------------ GPUs per node


@pytest.fixture(scope="module")
def gpu_nodes() -> Iterator[Cluster]:
    root = open_dir("corral-test-step-gpus-")
    running = Cluster(root, nodes=2, cpus=2, gpus=2).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


SHOW_GPUS = "echo $SLURMD_NODENAME step=$SLURM_STEP_GPUS cuda=$CUDA_VISIBLE_DEVICES"


def test_a_step_gets_each_nodes_own_gpus(gpu_nodes: Cluster, workdir: Path) -> None:
    job = gpu_nodes.sbatch("-N2", "-n3", "--gpus=3", "-o", "out.txt", "--wrap",
                           f"srun -l bash -c '{SHOW_GPUS}' | sort; "  # every task of the job
                           f"srun -l -n3 --gpus-per-task=1 bash -c '{SHOW_GPUS}' | sort",
                           cwd=workdir)
    record = gpu_nodes.wait_job(job)
    assert record["state"] == "COMPLETED", _out(workdir / "out.txt")
    # The declared GPUs are numbered from 0 on each node: node1 holds 2 of the job's, node2 1.
    assert _out(workdir / "out.txt").splitlines() == [
        "0: node1 step=0,1 cuda=0,1", "1: node1 step=0,1 cuda=0,1", "2: node2 step=0 cuda=0",
        "0: node1 step=0,1 cuda=0", "1: node1 step=0,1 cuda=1", "2: node2 step=0 cuda=0"]


# ------------------------------------------------------------------------------ output files


def test_a_step_whose_output_file_cannot_be_opened_ends_failed(
        node: Cluster, workdir: Path) -> None:
    job = node.sbatch("-o", "out.txt", "--wrap",
                      "srun -o missing/%j.out true; echo srun said $?", cwd=workdir)
    assert node.wait_job(job)["state"] == "COMPLETED"
    out = _out(workdir / "out.txt")
    assert out.splitlines() == [
        f"srun: error: Could not open stdout file {workdir}/missing/{job}.out: "
        "No such file or directory", "srun said 1"]
    # Before: CANCELLED 0:15, as if someone had cancelled it.
    assert _sacct(node, job)[-1] == f"{job}.0|FAILED|1:0"
