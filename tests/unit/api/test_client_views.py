"""The client's lean views (corral.client.types) stay in step with the records the controller
serves (controller/records.py): every field they type is a key of the record, and decodes to
the record's value. The commands import no pydantic (tests/unit/cli/test_lean_start.py), so
these dataclasses, not the API's models, are what the client decodes with."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from corral.client.types import JobInfo, NodeInfo, StepInfo
from corral.controller.nodes import Node
from corral.controller.records import job_record, node_record
from corral.model.cluster import NodeResources
from corral.model.job import Job, JobSpec, NodeAllocation, StepRecord
from corral.model.states import JobState, Reason


def _typed(view: type[Any]) -> list[str]:
    return [f.name for f in fields(view) if f.name != "raw"]


def _as_view(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _jobs() -> list[Job]:
    spec = JobSpec(name="j", uid=1000, gid=1000, user="u", group="g", work_dir="/home/u",
                   script="#!/bin/sh\ntrue\n", account="acct", stdout="out-%j.txt")
    step = StepRecord(state=JobState.COMPLETED, start_time=3.0, end_time=4.0, step_id=0,
                      name="hostname", nodes=("n1", "n2"), num_tasks=2, num_cpus=2)
    running = Job(job_id=7, spec=spec, state=JobState.RUNNING, submit_time=1.0, partition="batch",
                  mem_per_node=1024, time_limit=60, start_time=2.0, steps=(step,),
                  allocation={"n1": NodeAllocation(2, 1024), "n2": NodeAllocation(2, 1024)})
    pending_task = Job(job_id=9, spec=spec, state=JobState.PENDING, submit_time=1.0,
                       partition="batch", mem_per_node=1024, time_limit=None,
                       reason=Reason.PRIORITY, array_job_id=8, array_task_id=None,
                       array_tasks="3-5", dependency="afterok:7", dependency_shown="afterok:7")
    ended = Job(job_id=10, spec=spec, state=JobState.FAILED, submit_time=1.0, partition="batch",
                mem_per_node=1024, time_limit=5, start_time=2.0, end_time=9.0, exit_code=3,
                array_job_id=8, array_task_id=2)
    return [running, pending_task, ended]


@pytest.mark.parametrize("job", _jobs(), ids=lambda j: j.state.value)
def test_job_and_step_views_name_only_what_a_job_record_holds(job: Job) -> None:
    record = job_record(job)
    assert set(_typed(JobInfo)) <= set(record)
    info = JobInfo.from_record(record)
    for name in _typed(JobInfo):
        if name == "steps":
            continue
        expected = _as_view(record[name])
        if name == "reason" and expected == "None":
            expected = None  # no pending reason: the view says None, the record "None"
        assert getattr(info, name) == expected, name
    for view, step in zip(info.steps, record["steps"], strict=True):
        assert set(_typed(StepInfo)) <= set(step)
        for name in _typed(StepInfo):
            want = str(step[name]) if name == "step_id" else _as_view(step[name])
            assert getattr(view, name) == want, name


@pytest.mark.parametrize("responding", [True, False])
def test_node_view_names_only_what_a_node_record_holds(responding: bool) -> None:
    node = Node("n1", 4, 8000, gpus=2, gpu_type="h100", last_seen=5.0, connected=True)
    view = NodeResources(name="n1", cpus=4, memory=8000, gpus=2, gpu_type="h100", free_cpus=2,
                         free_memory=4000, free_gpus=(1,), idle=False)
    record = node_record(node, view, ["batch"], responding)
    assert set(_typed(NodeInfo)) <= set(record)
    info = NodeInfo.from_record(record)
    for name in _typed(NodeInfo):
        assert getattr(info, name) == _as_view(record[name]), name
