"""sacct's usage fields of a step line: AveCPU, MinCPU, AveRSS, MaxRSSNode, TRESUsageIn*."""

from __future__ import annotations

from typing import Any

from corral.cli.slurm.sacct_format import field_value, job_views


def _job(**batch: Any) -> dict[str, Any]:
    return {"job_id": 5, "state": "COMPLETED", "num_cpus": 1, "num_nodes": 1,
            "start_time": 100.0, "end_time": 160.0, "batch_host": "node1", "nodes": ["node1"],
            "batch_step": {"state": "COMPLETED", "start_time": 100.0, "end_time": 160.0,
                           "max_rss_kb": 1088, "total_cpu_s": 61.4, **batch}}


def _fields(rec: dict[str, Any], *names: str) -> list[list[str | None]]:
    return [[field_value(n, view) for n in names] for view in job_views(rec, 200.0, None)]


def test_batch_step_usage() -> None:
    names = ("AveCPU", "MinCPU", "AveRSS", "MaxRSSNode", "MaxRSSTask", "TRESUsageInMax")
    job_line, batch_line = _fields(_job(), *names)
    assert job_line == [None] * len(names)
    assert batch_line == ["00:01:01", "00:01:01", "1088K", "node1", "0",
                          "cpu=00:01:01,mem=1088K"]


def test_gpu_usage_appears_as_gres_tres() -> None:
    _, batch_line = _fields(_job(gpu_util=87.4, gpu_mem_kb=2 * 1024 * 1024), "TRESUsageInMax")
    assert batch_line == ["cpu=00:01:01,gres/gpumem=2G,gres/gpuutil=87,mem=1088K"]


def test_several_tasks_show_averages_and_no_minimum() -> None:
    rec = _job()
    rec["steps"] = [{"step_id": 0, "state": "COMPLETED", "num_tasks": 2, "nodes": ["node1"],
                     "start_time": 100.0, "end_time": 150.0, "max_rss_kb": 2048,
                     "total_cpu_s": 10.0}]
    step_line = _fields(rec, "AveCPU", "MinCPU", "TRESUsageInTot")[2]
    assert step_line == ["00:00:05", None, "cpu=00:00:10,mem=2M"]
