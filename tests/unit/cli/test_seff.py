"""seff: Slurm contrib's efficiency report, computed from a job's accounting record."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from corral.cli.slurm.seff import kbytes2str, report, time2str


def _job(**changes: Any) -> dict[str, Any]:
    job = {"job_id": 12, "user": "ana", "group": "lab", "state": "COMPLETED", "exit_code": 0,
           "num_cpus": 2, "num_nodes": 1, "mem_per_node": 200, "mem_per_cpu": None,
           "start_time": 1000.0, "end_time": 1010.0, "gpus_per_node": 0,
           "batch_step": {"total_cpu_s": 4.6, "max_rss_kb": 80000},
           "steps": [{"step_id": 0, "total_cpu_s": 1.7, "max_rss_kb": 1000}]}
    job.update(changes)
    return job


def test_a_finished_job_is_laid_out_as_slurms_seff() -> None:
    assert report(_job(), now=2000.0) == """\
Job ID: 12
Cluster: corral
User/Group: ana/lab
State: COMPLETED (exit code 0)
Nodes: 1
Cores per node: 2
CPU Utilized: 00:00:06
CPU Efficiency: 30.00% of 00:00:20 core-walltime
Job Wall-clock time: 00:00:10
Memory Utilized: 78.12 MB
Memory Efficiency: 39.06% of 200.00 MB (200.00 MB/node)
"""


def test_one_core_memory_per_cpu_and_an_array_task() -> None:
    text = report(_job(num_cpus=1, mem_per_cpu=200, array_job_id=10, array_task_id=3,
                       state="OUT_OF_MEMORY"), now=2000.0)
    lines = text.splitlines()
    assert lines[1] == "Array Job ID: 10_3"
    assert "State: OUT_OF_MEMORY (exit code 0)" in lines
    assert "Cores: 1" in lines
    assert lines[-1] == "Memory Efficiency: 39.06% of 200.00 MB (200.00 MB/core)"


def test_pending_and_running_jobs() -> None:
    pending = report(_job(state="PENDING", start_time=None, end_time=None), now=2000.0)
    assert pending.splitlines()[-1] == "Efficiency not available for jobs in the PENDING state."
    running = report(_job(state="RUNNING", end_time=None), now=1020.0).splitlines()
    assert "State: RUNNING" in running
    assert "Job Wall-clock time: 00:00:20" in running
    assert running[-1].startswith("WARNING: Efficiency statistics can only be obtained after")


def test_gpu_jobs_get_gpu_lines() -> None:
    measured = _job(gpus_per_node=2, batch_step={"total_cpu_s": 1.0, "max_rss_kb": 10,
                                                 "gpu_util": 87.5, "gpu_mem_kb": 10 * 1024**2})
    lines = report(measured, now=2000.0).splitlines()
    assert lines[-3:] == ["GPUs: 2", "GPU Utilization: 87.50%", "GPU Memory Utilized: 10.00 GB"]
    unmeasured = report(_job(gpus_per_node=1), now=2000.0).splitlines()
    assert unmeasured[-1] == "GPU Utilization: not measured (no NVML on the node)"


def test_units_as_seff_prints_them() -> None:
    assert kbytes2str(0) == "0.00 MB"
    assert kbytes2str(512) == "512.00 KB"
    assert kbytes2str(3 * 1024**2) == "3.00 GB"
    assert time2str(90061) == "1-01:01:01"


def test_usage_and_bad_ids_without_a_controller() -> None:
    env = {"CORRAL_CONTROLLER": "/nonexistent/corral.sock", "PATH": "/usr/bin:/bin"}
    usage = subprocess.run([sys.executable, "-m", "corral.cli.slurm.seff"], capture_output=True,
                           text=True, env=env)
    assert (usage.returncode, usage.stdout.splitlines()[0]) == (1, "Usage: seff [Options] <Jobid>")
    bad = subprocess.run([sys.executable, "-m", "corral.cli.slurm.seff", "x1"], capture_output=True,
                         text=True, env=env)
    assert (bad.returncode, bad.stderr) == (2, "Job not found.\n")


def test_seff_stays_lean() -> None:
    code = ("import sys, corral.cli.slurm.seff; print(','.join(m for m in "
            "('fastapi', 'sqlalchemy', 'pydantic', 'httpx', 'corral.agent', 'pynvml') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""
