"""SubmitRequest is generated from JobSpec: the same body, bounds and 422 wording as the
hand-written model it replaced (kept here, verbatim, as the reference)."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corral.api.schemas import SubmitRequest
from corral.model.job import JobSpec


class _HandWritten(BaseModel):
    """A batch job as sbatch sends it; sizes in MiB, time limit in minutes (null = unlimited)."""

    model_config = ConfigDict(extra="forbid", title="SubmitRequest")

    name: str = Field("sbatch", max_length=1024)
    script: str = Field("", max_length=4 * 1024 * 1024)
    argv: list[str] = []
    work_dir: str
    environment: dict[str, str] = {}
    stdout: str | None = None
    stderr: str | None = None
    stdin: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    num_nodes: int = Field(1, ge=1, le=100000)
    max_nodes: int | None = Field(None, ge=1, le=100000)
    num_tasks: int = Field(1, ge=1, le=10_000_000)
    cpus_per_task: int = Field(1, ge=1, le=100000)
    ntasks_per_node: int | None = Field(None, ge=1)
    mem_per_node: int | None = Field(None, ge=0)
    mem_per_cpu: int | None = Field(None, ge=0)
    gpus_per_node: int = Field(0, ge=0, le=1024)
    gpu_type: str | None = None
    time_limit: int | None = Field(None, ge=0)
    req_nodes: list[str] = []
    exc_nodes: list[str] = []
    exclusive: bool = False
    hold: bool = False
    requeue: bool = True
    nice: int = Field(0, ge=-2147483645, le=2147483645)
    submit_host: str = ""
    command: str = ""
    uid: int | None = None
    gid: int | None = None
    array: str | None = Field(None, max_length=100_000)
    dependency: str | None = Field(None, max_length=100_000)
    kill_on_invalid_dep: bool = False
    begin_time: float | None = None
    interactive: bool = False
    frontend: str | None = Field(None, pattern="^(pbs|lsf)$")
    comment: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    constraint: str | None = None
    signal: str | None = None
    open_mode: str | None = Field(None, pattern="^(append|truncate)$")
    time_min: int | None = Field(None, ge=0)
    deadline: float | None = None
    gpus_per_task: int | None = Field(None, ge=0)
    cpus_per_gpu: int | None = Field(None, ge=1)
    mem_per_gpu: int | None = Field(None, ge=0)
    wckey: str | None = None
    gpus: int = Field(0, ge=0, le=1_000_000)


def test_the_generated_schema_is_the_hand_written_one() -> None:
    assert SubmitRequest.model_json_schema() == _HandWritten.model_json_schema()


def test_every_jobspec_field_but_the_names_is_in_the_body() -> None:
    names = {f.name for f in dataclasses.fields(JobSpec)} - {"user", "group"}
    assert set(SubmitRequest.model_fields) == names


@pytest.mark.parametrize("body", [
    {"work_dir": "/", "num_nodes": 0}, {"work_dir": "/", "num_tasks": 10_000_001},
    {"work_dir": "/", "gpus_per_node": 1025}, {"work_dir": "/", "cpus_per_gpu": 0},
    {"work_dir": "/", "open_mode": "sideways"}, {"work_dir": "/", "frontend": "sge"},
    {"work_dir": "/", "name": "x" * 1025}, {"work_dir": "/", "bogus": 1}, {},
    {"work_dir": "/", "argv": "notalist"}, {"work_dir": "/", "environment": {"A": 1}},
    {"work_dir": "/", "nice": -2147483646}, {"work_dir": "/", "uid": "root"},
])
def test_a_bad_body_gets_the_same_errors(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as new:
        SubmitRequest(**body)
    with pytest.raises(ValidationError) as old:
        _HandWritten(**body)
    assert new.value.errors(include_url=False) == old.value.errors(include_url=False)


def test_a_good_body_dumps_the_same() -> None:
    body = {"work_dir": "/w", "argv": ["a"], "environment": {"A": "1"}, "num_tasks": 4,
            "gpus_per_task": 1, "req_nodes": ["n1"], "open_mode": "append"}
    assert SubmitRequest(**body).model_dump() == _HandWritten(**body).model_dump()
