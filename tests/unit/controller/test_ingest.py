"""The controller's ingest: one owner for a job request (validators, then the derived values)."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from corral.api.schemas import SubmitRequest
from corral.cli.slurm import sbatch_options
from corral.cli.slurm.sbatch_options import SbatchError, build_request
from corral.controller.auth import Caller
from corral.controller.ingest import derive_gpus, from_body, ingest
from corral.model.errors import InvalidRequest
from corral.model.job import JobSpec

CALLER = Caller(os.getuid(), os.getgid(), "someone")


def _old_gpu_derived(request: dict[str, Any]) -> None:
    """sbatch_options._gpu_derived as it was before the rule moved (commit 4678e17), verbatim."""
    tasks = request.get("num_tasks", 1)
    nodes = request.get("num_nodes", 1)
    spread = bool(request.get("gpus_per_task")) and "num_nodes" not in request \
        and not request.get("ntasks_per_node")
    if spread:
        request["gpus"] = max(request.get("gpus", 0), request["gpus_per_task"] * tasks)
    elif request.get("gpus_per_task"):
        per_node_tasks = request.get("ntasks_per_node") or -(-tasks // nodes)
        request["gpus_per_node"] = max(request.get("gpus_per_node", 0),
                                       request["gpus_per_task"] * per_node_tasks)
    gpus = request.get("gpus_per_node", 0) or -(-request.get("gpus", 0) // nodes)
    if gpus and request.get("cpus_per_gpu"):
        per_node_tasks = request.get("ntasks_per_node") or -(-tasks // nodes)
        request["cpus_per_task"] = max(request.get("cpus_per_task", 1),
                                       -(-request["cpus_per_gpu"] * gpus // per_node_tasks))
    if not gpus or not request.get("mem_per_gpu") or "mem_per_node" in request:
        return
    if spread and "mem_per_cpu" not in request:
        per_task = request["mem_per_gpu"] * request["gpus_per_task"]
        request["mem_per_cpu"] = -(-per_task // request.get("cpus_per_task", 1))
    elif not spread:
        request["mem_per_node"] = request["mem_per_gpu"] * gpus


def _build(values: dict[str, str | None]) -> dict[str, Any]:
    return build_request(values, script="#!/bin/sh\n", script_args=[], default_name="job.sh",
                         cwd="/home/u", environ={}, hostname="login", command="job.sh")


def _stored(body: dict[str, Any]) -> JobSpec:
    """What the controller stored for a body before ingest derived anything."""
    return from_body(SubmitRequest(**body), CALLER).spec


# Every option the old _gpu_derived read, each absent or with values on both sides of its
# branches (a node count from -N, from --ntasks-per-node, from -w; GPUs per node, per job, per
# task; CPUs and memory per GPU against explicit -c, --mem and --mem-per-cpu).
OPTIONS: dict[str, tuple[str, ...]] = {
    "ntasks": ("3", "4"), "nodes": ("1", "2"), "ntasks-per-node": ("2",),
    "cpus-per-task": ("2",), "gpus": ("6",), "gpus-per-node": ("2",),
    "gpus-per-task": ("1", "2"), "cpus-per-gpu": ("3",), "mem-per-gpu": ("1G",),
    "mem": ("4G",), "mem-per-cpu": ("100",), "nodelist": ("n[1-3]",),
}


def _combinations() -> list[dict[str, str | None]]:
    choices = [[None, *values] for values in OPTIONS.values()]
    return [{k: v for k, v in zip(OPTIONS, pick, strict=True) if v is not None}
            for pick in itertools.product(*choices)]


def test_every_combination_is_the_same_job_through_the_command_or_the_api(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """For each: the command's body is what the old command sent; the controller's spec for it
    is what the old controller stored; and the same body with nothing derived (what a caller of
    the API sends) gets the same spec, since the controller now derives."""
    checked = derived = 0
    for values in _combinations():
        try:
            body = _build(values)
        except SbatchError:
            continue
        with monkeypatch.context() as patch:
            patch.setattr(sbatch_options, "_gpu_derived", lambda request: None)
            raw = _build(values)
        old = {**raw}
        _old_gpu_derived(old)
        old["environment"] = body["environment"]  # echoed from the derived values, as before
        assert body == old, values
        expected = _stored(old)
        assert ingest(SubmitRequest(**body), CALLER) == expected, values
        raw["environment"] = body["environment"]
        assert ingest(SubmitRequest(**raw), CALLER) == expected, values
        checked += 1
        derived += raw != old
    assert checked > 5000 and derived > 1000


def test_a_request_through_the_api_is_sized_by_its_gpu_options() -> None:
    body = SubmitRequest(script="#!/bin/sh\n", work_dir="/", num_nodes=2, gpus_per_node=2,
                         cpus_per_gpu=4, mem_per_gpu=1000)
    spec = ingest(body, CALLER)
    assert (spec.cpus_per_task, spec.mem_per_node) == (8, 2000)
    spread = ingest(SubmitRequest(script="#!/bin/sh\n", work_dir="/", num_tasks=4,
                                  gpus_per_task=1, mem_per_gpu=1000, cpus_per_task=2), CALLER)
    assert (spread.gpus, spread.mem_per_cpu, spread.mem_per_node) == (4, 500, None)


def test_deriving_twice_changes_nothing() -> None:
    request = from_body(SubmitRequest(script="x", work_dir="/", num_tasks=3, gpus_per_task=2,
                                      cpus_per_gpu=3, mem_per_gpu=512), CALLER)
    once = derive_gpus(request)
    assert once.spec != request.spec and derive_gpus(once) == once


def test_a_request_without_gpu_options_passes_through_unchanged() -> None:
    request = from_body(SubmitRequest(script="x", work_dir="/", num_tasks=8, mem_per_cpu=10),
                        CALLER)
    assert derive_gpus(request) is request


def test_the_first_failing_validator_answers() -> None:
    body = SubmitRequest(script="x", work_dir="relative", mail_type="BOGUS")
    with pytest.raises(InvalidRequest, match="work directory must be an absolute path"):
        ingest(body, CALLER)
