"""Typed views of the API's records: tolerant of missing keys, Slurm's ids and states."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from corral.client import JobInfo, NodeInfo, StepInfo

RECORD = {
    "job_id": 42, "name": "train", "user": "alice", "account": "lab", "partition": "gpu",
    "state": "COMPLETED", "reason": "None", "nodes": ["node1", "node2"], "num_nodes": 2,
    "num_cpus": 8, "time_limit": 90, "submit_time": 1700000000, "start_time": 1700000005.5,
    "end_time": 1700000100, "exit_code": 0, "exit_signal": 0, "stdout": "/w/slurm-42.out",
    "stderr": "/w/slurm-42.out", "work_dir": "/w", "array_job_id": None,
    "array_task_id": None, "array_task_string": None, "dependency": None,
    "steps": [{"step_id": "0", "name": "python", "state": "COMPLETED", "exit_code": 0,
               "exit_signal": 0, "start_time": 1700000006, "end_time": 1700000090,
               "nodes": ["node1"], "num_tasks": 4, "num_cpus": 4}],
    "qos": "normal",
}


def test_job_info_reads_every_typed_field_and_keeps_the_record() -> None:
    info = JobInfo.from_record(RECORD)
    assert (info.job_id, info.name, info.user, info.account, info.partition) == \
        (42, "train", "alice", "lab", "gpu")
    assert info.nodes == ("node1", "node2") and info.num_nodes == 2 and info.num_cpus == 8
    assert info.time_limit == 90 and info.start_time == 1700000005.5
    assert info.reason is None and info.dependency is None
    assert info.steps == (StepInfo(step_id="0", name="python", state="COMPLETED", exit_code=0,
                                   exit_signal=0, start_time=1700000006, end_time=1700000090,
                                   nodes=("node1",), num_tasks=4, num_cpus=4),)
    assert info.raw["qos"] == "normal"
    assert info.finished and info.succeeded and info.slurm_id == "42"


def test_job_info_tolerates_missing_and_null_keys() -> None:
    info = JobInfo.from_record({"job_id": 7})
    assert info.job_id == 7 and info.state == "" and info.nodes == () and info.steps == ()
    assert info.time_limit is None and info.exit_code is None and not info.finished
    assert JobInfo.from_record({}).job_id == 0
    assert JobInfo.from_record({"job_id": 7, "nodes": None, "steps": None}).nodes == ()


@pytest.mark.parametrize(("state", "exit_code", "signal", "finished", "succeeded"), [
    ("PENDING", None, None, False, False),
    ("RUNNING", None, None, False, False),
    ("COMPLETING", 0, 0, False, False),
    ("COMPLETED", 0, 0, True, True),
    ("FAILED", 3, 0, True, False),
    ("CANCELLED", 0, 15, True, False),
    ("TIMEOUT", 0, 0, True, False),
    ("OUT_OF_MEMORY", 0, 9, True, False),
    ("NODE_FAIL", None, None, True, False),
])
def test_finished_and_succeeded_follow_the_state(state: str, exit_code: int | None,
                                                 signal: int | None, finished: bool,
                                                 succeeded: bool) -> None:
    info = JobInfo.from_record({"job_id": 1, "state": state, "exit_code": exit_code,
                                "exit_signal": signal})
    assert (info.finished, info.succeeded) == (finished, succeeded)


def test_slurm_id_names_array_tasks_and_folded_pending_tasks() -> None:
    assert JobInfo.from_record({"job_id": 130, "array_job_id": 123, "array_task_id": 4}).slurm_id \
        == "123_4"
    assert JobInfo.from_record({"job_id": 123, "array_job_id": 123,
                                "array_task_string": "5-9%2"}).slurm_id == "123_[5-9%2]"


def test_views_are_frozen_and_hashable_despite_the_raw_record() -> None:
    info = JobInfo.from_record(RECORD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.state = "FAILED"  # type: ignore[misc]
    assert hash(info) == hash(JobInfo.from_record({**RECORD, "qos": "high"}))
    assert info == JobInfo.from_record({**RECORD, "qos": "high"})


def test_node_info_reads_sinfo_fields() -> None:
    node = NodeInfo.from_record({"name": "node1", "state": "MIXED", "reason": None, "cpus": 8,
                                 "alloc_cpus": 3, "memory": 16384, "alloc_memory": 1024,
                                 "gpus": 2, "alloc_gpus": 1, "gpu_type": "h100",
                                 "partitions": ["main", "gpu"], "responding": True})
    assert node.idle_cpus == 5 and node.partitions == ("main", "gpu") and node.gpu_type == "h100"
    assert node.reason is None and node.memory == 16384
    assert NodeInfo.from_record({"name": "n"}).cpus == 0


def test_importing_the_client_does_not_load_the_typed_layer() -> None:
    code = ("import sys, corral.client; "
            "print(','.join(m for m in ('dataclasses', 'corral.client.types', "
            "'corral.client.submission', 'corral.model.timefmt') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""
