"""Jobs confined to what they were given: memory (OUT_OF_MEMORY), cores, processes, GPUs.

The cgroup tests need root and a writable cgroup hierarchy; elsewhere they are skipped with
the reason shown, except under CI, where only the GPU tests may skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, cgroups_or_skip, open_dir
from corral.agent import cgroups, gpus
from corral.agent.isolation import instance_name

pytestmark = pytest.mark.integration

PY = sys.executable


@pytest.fixture(scope="module")
def node() -> Iterator[Cluster]:
    cgroups_or_skip()
    root = open_dir("corral-test-isolation-")
    running = Cluster(root, nodes=1, cpus=2, memory="2G").start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def _out(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(int(entry))
    return found


def _cgroup_dirs(job_id: int, cluster: Cluster, node: str = "node1") -> list[str]:
    """The job's cgroup directories that still exist, in any hierarchy."""
    jobs_dir = cluster.root / "agents" / node / "jobs"
    hierarchy, _ = cgroups.detect(instance_name(node, jobs_dir))
    assert hierarchy is not None
    return [str(b / f"job_{job_id}") for b in hierarchy.bases.values()
            if (b / f"job_{job_id}").exists()]


def test_job_over_its_memory_ends_out_of_memory_and_its_neighbour_survives(
        node: Cluster, workdir: Path) -> None:
    neighbour = node.sbatch("--mem=50M", "-o", "neighbour.out", "--wrap",
                            "sleep 2; echo still here", cwd=workdir)
    hog = node.sbatch("--mem=50M", "-o", "hog.out", "--wrap",
                      f"{PY} -c 'b = bytearray(300 * 1024 * 1024); print(len(b))'", cwd=workdir)
    ended = node.wait_job(hog)
    assert ended["state"] == "OUT_OF_MEMORY"
    assert (ended["exit_code"], ended["exit_signal"]) == (0, 125)
    assert (f"error: Detected 1 oom_kill event in StepId={hog}.batch. "
            "Some of the step tasks have been OOM Killed.") in _out(workdir / "hog.out")
    sacct = node.run("sacct", "-j", str(hog), "-n", "-P", "-o", "JobID,State,ExitCode").stdout
    assert sacct.splitlines() == [f"{hog}|OUT_OF_MEMORY|0:125",
                                  f"{hog}.batch|OUT_OF_MEMORY|0:125"]
    assert node.wait_job(neighbour)["state"] == "COMPLETED"
    assert _out(workdir / "neighbour.out") == "still here\n"


def test_cancel_leaves_nothing_of_a_job_whose_children_detached(
        node: Cluster, workdir: Path) -> None:
    token = f"corral-detach-{os.getpid()}-{time.time_ns()}"
    script = workdir / "detach.sh"
    # Children that leave the job's session and process group, one of them ignoring SIGTERM.
    script.write_text(f"""#!/bin/bash
setsid bash -c 'exec -a {token}-a sleep 300' < /dev/null > /dev/null 2>&1 &
(trap '' TERM; nohup bash -c 'exec -a {token}-b sleep 300' < /dev/null > /dev/null 2>&1 &)
echo ready
exec -a {token}-c sleep 300
""")
    job = node.sbatch("-o", "detach.out", str(script), cwd=workdir)
    node.wait_for(lambda: len(_processes_with(token)) == 3, what="the job's three processes")
    node.run("scancel", str(job), check=True)
    assert node.wait_job(job)["state"] == "CANCELLED"
    node.wait_for(lambda: not _processes_with(token), timeout=10, what="every process to end")
    assert _cgroup_dirs(job, node) == []


def test_cpuset_holds_exactly_the_allocated_cores(node: Cluster, workdir: Path) -> None:
    show = ("sleep 1; grep Cpus_allowed_list /proc/self/status | cut -f2; "
            "cat /sys/fs/cgroup/cpuset$(grep :cpuset: /proc/self/cgroup | cut -d: -f3)/cpuset.cpus")
    first = node.sbatch("-c", "1", "-o", "first.out", "--wrap", show, cwd=workdir)
    second = node.sbatch("-c", "1", "-o", "second.out", "--wrap", show, cwd=workdir)
    both = node.sbatch("-c", "2", "-o", "both.out", "--wrap", show, cwd=workdir)
    for job in (first, second, both):
        assert node.wait_job(job)["state"] == "COMPLETED"
    seen = {name: _out(workdir / f"{name}.out").split() for name in ("first", "second", "both")}
    usable = cgroups.format_cpus(sorted(os.sched_getaffinity(0))[:2])
    # Affinity and the cgroup's cpuset agree; one core each, different ones while both ran.
    assert seen["first"][0] == seen["first"][1] and len(cgroups.parse_cpus(seen["first"][0])) == 1
    assert seen["second"][0] == seen["second"][1]
    assert seen["first"][0] != seen["second"][0]
    assert seen["both"] == [usable, usable]


def test_usage_reaches_accounting_and_seff(node: Cluster, workdir: Path) -> None:
    work = f"{PY} -c 'b = bytearray(80 * 1024 * 1024); import time; t = time.process_time(); " \
           "exec(\"while time.process_time() - t < 1.0: pass\")'"
    job = node.sbatch("--mem=200M", "-o", "/dev/null", "--wrap", work, cwd=workdir)
    assert node.wait_job(job)["state"] == "COMPLETED"
    rows = node.run("sacct", "-j", str(job), "-n", "-P", "-o", "JobID,MaxRSS,TotalCPU").stdout
    batch = [line.split("|") for line in rows.splitlines() if line.startswith(f"{job}.batch")][0]
    assert batch[1].endswith("K") and int(batch[1][:-1]) >= 80 * 1024
    minutes, seconds = batch[2].split(":")
    assert int(minutes) * 60 + float(seconds) >= 0.9
    seff = node.run("seff", str(job))
    assert seff.returncode == 0, seff.stderr
    lines = seff.stdout.splitlines()
    assert lines[:3] == [f"Job ID: {job}", "Cluster: corral", "User/Group: root/root"]
    assert "State: COMPLETED (exit code 0)" in lines
    assert any(line.startswith("CPU Efficiency: ") for line in lines)
    assert any(line.startswith("Memory Efficiency: ")
               and line.endswith("of 200.00 MB (200.00 MB/node)") for line in lines)


def test_jobs_run_on_through_an_agent_restart_and_are_cleaned_up(
        node: Cluster, workdir: Path) -> None:
    job = node.sbatch("-o", "restart.out", "--wrap", "sleep 3; echo done", cwd=workdir)
    node.wait_job(job, states=("RUNNING",))
    node.wait_for(lambda: bool(_cgroup_dirs(job, node)), what="the job's cgroup")
    node.stop_process(node.agents["node1"])
    node.start_agent("node1")
    assert node.wait_job(job)["state"] == "COMPLETED"
    assert _out(workdir / "restart.out") == "done\n"
    assert _cgroup_dirs(job, node) == []


# ------------------------------------------------------------------------------ without cgroups


@pytest.fixture(scope="module")
def plain_node() -> Iterator[Cluster]:
    root = open_dir("corral-test-nocgroup-")
    running = Cluster(root, nodes=1, cpus=2, memory="2G")
    running.env["CORRAL_CGROUPS"] = "off"
    running.start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_without_cgroups_memory_is_polled_and_the_job_ends_out_of_memory(
        plain_node: Cluster, workdir: Path) -> None:
    hog = plain_node.sbatch(
        "--mem=50M", "-o", "hog.out", "--wrap",
        f"{PY} -c 'import time; b = bytearray(200 * 1024 * 1024); time.sleep(30)'", cwd=workdir)
    assert plain_node.wait_job(hog)["state"] == "OUT_OF_MEMORY"
    assert f"StepId={hog}.batch exceeded memory limit" in _out(workdir / "hog.out")
    check = plain_node.run("corral", "agent", "--check", "--gpus", "0")
    assert "cgroups:  none (disabled by CORRAL_CGROUPS)" in check.stdout


# ------------------------------------------------------------------------------ GPUs


def _gpus_or_skip() -> list[gpus.GpuInfo]:
    found, why = gpus.discover()
    if not found:
        pytest.skip(f"no NVIDIA GPU: {why}")
    return found


@pytest.mark.gpu
def test_nvml_finds_the_gpus_and_check_reports_them() -> None:
    found = _gpus_or_skip()
    result = subprocess.run([str(Path(PY).parent / "corral"), "agent", "--check"],
                            capture_output=True, text=True, timeout=60)
    assert f"gpus:     {len(found)}" in result.stdout
    for gpu in found:
        assert f"uuid={gpu.uuid}" in result.stdout


@pytest.mark.gpu
def test_a_gpu_job_sees_only_its_gpu(workdir: Path) -> None:
    found = _gpus_or_skip()
    root = open_dir("corral-test-gpu-")
    cluster = Cluster(root, nodes=1, cpus=2, memory="2G", gpus=len(found)).start()
    try:
        job = cluster.sbatch("--gres=gpu:1", "-o", "gpu.out", "--wrap",
                             "echo $CUDA_VISIBLE_DEVICES; nvidia-smi -L | wc -l", cwd=workdir)
        assert cluster.wait_job(job)["state"] == "COMPLETED"
        visible, listed = _out(workdir / "gpu.out").split()
        assert len(visible.split(",")) == 1
        if len(found) > 1 and cgroups.detect("gpu-check")[1] == "cgroup/v1":
            assert listed == "1"  # the other GPUs' device files are denied
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
