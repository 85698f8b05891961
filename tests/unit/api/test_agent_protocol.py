"""The agent protocol's models hold what both sides really send (docs/spec/02-agent-protocol.md):
every command the controller builds, with its own functions and through its own job manager,
and every report and body the agent builds, validates, with no field the models do not name."""

from __future__ import annotations

import asyncio
import os
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from corral.agent.agent import Agent
from corral.agent.jobdir import job_dir_name, make_dir, mark, write_json_atomic
from corral.agent.resources import NodeFacts
from corral.agent.steps import step_dir_name
from corral.api.agent_protocol import (
    PROTOCOL_VERSION,
    CancelCommand,
    Command,
    CommandBatch,
    FinishedReport,
    InventoryEntry,
    LaunchCommand,
    LaunchSpec,
    Load,
    Registration,
    Report,
    ReportBatch,
    SignalCommand,
    StartedReport,
    StepCommand,
    StepFinishedReport,
    StepSpec,
    TimeLimitCommand,
    unknown_fields,
)
from corral.clock import ManualClock
from corral.controller.auth import Caller
from corral.controller.jobs import JobManager
from corral.controller.launch import launch_payload
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.routes import agents as agent_routes
from corral.controller.steps import StepAsk, lay_out, node_commands, start_step
from corral.controller.writer import drive
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url

COMMAND: TypeAdapter[Command] = TypeAdapter(Command)
REPORT: TypeAdapter[Report] = TypeAdapter(Report)


def exact(model: type[BaseModel] | TypeAdapter[Any], data: dict[str, Any]) -> BaseModel:
    """Validates `data` and checks it carries no field the models leave unnamed."""
    parsed = model.validate_python(data) if isinstance(model, TypeAdapter) \
        else model.model_validate(data)
    assert unknown_fields(parsed) == []
    return parsed


def sample_job(**spec: Any) -> Job:
    fields: dict[str, Any] = {"name": "j", "uid": 1000, "gid": 1000, "user": "u", "group": "g",
                              "work_dir": "/home/u", "script": "#!/bin/sh\ntrue\n", **spec}
    allocation = {"n1": NodeAllocation(2, 1024, (0, 1)), "n2": NodeAllocation(2, 1024, (2, 3))}
    return Job(job_id=7, spec=JobSpec(**fields), state=JobState.RUNNING, submit_time=1.0,
               partition="batch", mem_per_node=1024, time_limit=60, attempt=1, start_time=2.0,
               allocation=allocation)


SAMPLES = {
    "plain": {},
    "pbs": {"frontend": "pbs", "account": "acct"},
    "lsf": {"frontend": "lsf"},
    "append-signal": {"open_mode": "append", "signal": "B:USR1@60", "stdin": "/dev/null",
                      "argv": ("a", "b"), "environment": {"A": "1"}},
}


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_every_launch_the_controller_builds_is_a_launch_spec(sample: str) -> None:
    host, payload = launch_payload(sample_job(**SAMPLES[sample]), cluster="c", kill_wait=30,
                                   controller_addr="head:6817", token_key="k" * 32,
                                   socket_path="/run/corral.sock", gpu_idle_after=600.0)
    spec = exact(LaunchSpec, payload)
    assert isinstance(spec, LaunchSpec) and spec.node == host
    exact(COMMAND, {"kind": "launch", "job_id": 7, "attempt": 1, "launch": payload})


@pytest.mark.parametrize("ask", [
    {},
    {"ntasks": 4, "gpus_per_task": 1, "cpus_per_task": 1},
    {"pty": True, "winsize": (24, 80), "environment": {"X": "y"}, "name": "sh"},
])
def test_every_step_command_the_controller_builds_is_a_step_spec(ask: dict[str, Any]) -> None:
    job = sample_job()
    step_ask = StepAsk(argv=("hostname",), work_dir="/tmp", io_addr="127.0.0.1:5000",
                       io_key="k" * 32, **ask)
    placement = lay_out(job.allocation, step_ask, job.job_id)
    commands = node_commands(job, step_ask, placement, 0, cluster="c",
                             controller_addr="head:6817", token_key="k" * 32, kill_wait=30)
    for node, step in commands.items():
        assert exact(StepSpec, step).node == node  # type: ignore[attr-defined]


# -- the commands as the job manager queues them -----------------------------------------------

@pytest.fixture
def manager(tmp_path: Path) -> Iterator[JobManager]:
    store = Store.open(sqlite_url(tmp_path))
    registry = NodeRegistry([Node("n1", 2, 4000, connected=True),
                             Node("n2", 2, 4000, connected=True)])
    clock = ManualClock(100.0)
    for node in registry.nodes.values():
        node.last_seen = clock.now
        store.save_node(node.name, node.persistent())
    settings = ControllerSettings(data_dir=tmp_path, db_url=sqlite_url(tmp_path),
                                  socket_path=tmp_path / "corral.sock")
    yield JobManager(settings, store, registry, clock)
    store.close()


def test_every_command_the_job_manager_queues_validates(manager: JobManager) -> None:
    root = Caller(uid=0, gid=0, user="root", operator=True)
    spec = JobSpec(name="j", uid=0, gid=0, user="root", group="root", work_dir="/",
                   script="#!/bin/sh\ntrue\n", num_nodes=2)
    job = drive(manager.submit(spec, root))
    drive(manager.schedule())
    assert manager.jobs[job.job_id].state is JobState.RUNNING
    drive(manager.update(job.job_id, {"time_limit": 5}, root))
    drive(manager.cancel([manager.jobs[job.job_id]], root, signal=10, batch_only=True))
    drive(start_step(manager, job.job_id, StepAsk(argv=("hostname",), work_dir="/",
                                                  io_addr="h:1", io_key="k" * 32), root))
    drive(manager.reconcile("n2", [InventoryEntry(job_id=99, attempt=0, finished=False)]))  # a stray
    drive(manager.cancel([manager.jobs[job.job_id]], root))
    kinds = set()
    for node in ("n1", "n2"):
        handed = manager.registry.queue(node).hand_out()
        batch = exact(CommandBatch, {"commands": handed})
        kinds |= {type(c) for c in batch.commands}  # type: ignore[attr-defined]
    assert kinds == {LaunchCommand, TimeLimitCommand, SignalCommand, StepCommand, CancelCommand}


# -- what the agent sends ----------------------------------------------------------------------

@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    facts = NodeFacts(name="n1", cpus=2, memory=1024, gpus=1, gpu_type="h100", hostname="h",
                      arch="x86_64", os="Linux", boot_time=1.0,
                      gpu_devices=({"index": 0, "uuid": "GPU-1", "name": "H100", "type": "h100",
                                    "memory_mb": 81559, "minor": 0, "mig": "disabled"},),
                      cgroup="cgroup/v2", enforced="cpuset,memory")
    made = Agent("http://head:6817", facts, tmp_path / "state", "key")
    yield made
    asyncio.run(made.http.aclose())


def _job_dir(agent: Agent, job_id: int, status: dict[str, Any] | None = None) -> Path:
    path = agent.jobs_dir / job_dir_name(job_id, 0)
    make_dir(path, 0o700)
    mark(path / "started")
    if status is not None:
        write_json_atomic(path / "status.json", status)
    return path


# status.json as the supervisors write it, in each way a job or step ends.
JOB_ENDS: list[dict[str, Any]] = [
    {"exit_code": 3, "exit_signal": 0, "max_rss_kb": 100, "total_cpu_s": 0.5, "user_cpu_s": 0.4,
     "system_cpu_s": 0.1, "gpu_util": 12.5, "gpu_mem_kb": 2048, "gpu_idle": False,
     "end_time": 10.0},
    {"timed_out": True, "exit_code": 0, "exit_signal": 15, "max_rss_kb": 1, "total_cpu_s": 0.0,
     "user_cpu_s": 0.0, "system_cpu_s": 0.0, "end_time": 10.0},
    {"cancelled": True, "out_of_memory": True, "exit_code": 0, "exit_signal": 9,
     "max_rss_kb": 1, "total_cpu_s": 0.0, "end_time": 10.0},
    {"preempted": True, "exit_code": 0, "exit_signal": 15, "max_rss_kb": 1,
     "total_cpu_s": 0.0, "end_time": 10.0},
    {"launch_failed": True, "error": "cannot open stdout", "max_rss_kb": 0, "total_cpu_s": 0.0,
     "end_time": 10.0},
]
STEP_END = {"exit_code": 0, "exit_signal": 0, "cancelled": False, "end_time": 10.0,
            "max_rss_kb": 5, "total_cpu_s": 0.1, "out_of_memory": True, "launch_failed": True,
            "error": "cannot open output", "tasks": [{"procid": 0, "exit_code": 0, "signal": 0}]}


def test_every_report_the_agent_builds_validates(agent: Agent) -> None:
    _job_dir(agent, 1)
    for i, status in enumerate(JOB_ENDS):
        _job_dir(agent, 10 + i, status)
    step = agent.jobs_dir / step_dir_name(1, 0, 0)
    make_dir(step, 0o700)
    write_json_atomic(step / "status.json", STEP_END)
    agent._record_unknown((20, 0))  # a cancel for an attempt the node never had
    lost = _job_dir(agent, 21)  # a supervisor lost with the node
    write_json_atomic(lost / "status.json", {"exit_code": 0, "exit_signal": 9,
                                             "error": "supervisor lost", "node_fail": True,
                                             "end_time": 1.0})
    reports = agent._pending_reports()
    batch = exact(ReportBatch, {"reports": reports})
    kinds = [type(r) for r in batch.reports]  # type: ignore[attr-defined]
    assert kinds.count(FinishedReport) == len(JOB_ENDS) + 2
    assert StartedReport in kinds and StepFinishedReport in kinds


def test_the_agents_registration_and_heartbeat_validate(agent: Agent) -> None:
    _job_dir(agent, 1)
    _job_dir(agent, 2, JOB_ENDS[0])
    body = agent.registration()
    registration = exact(Registration, body)
    assert isinstance(registration, Registration)
    assert registration.protocol == PROTOCOL_VERSION
    assert {(j.job_id, j.finished) for j in registration.jobs} == {(1, False), (2, True)}
    from corral.agent.resources import load
    exact(Load, load())
    # The controller's routes take these very models.
    hints = typing.get_type_hints
    assert hints(agent_routes.register)["body"] is Registration
    assert hints(agent_routes.heartbeat)["body"] is Load


def test_the_agent_hands_a_launch_on_as_sent(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    """A field this agent does not know reaches the supervisor; unset ones stay unset."""
    started: list[Any] = []
    monkeypatch.setattr("corral.agent.agent.subprocess.Popen",
                        lambda *a, **k: started.append(a))
    _, payload = launch_payload(sample_job(), cluster="c", kill_wait=30,
                                controller_addr="head:6817")
    payload["uid"], payload["gid"] = os.getuid(), os.getgid()
    agent.handle({"kind": "launch", "job_id": 7, "attempt": 1, "seq": 1,
                  "launch": {**payload, "from_the_future": 1}})
    from corral.agent.jobdir import read_json
    written = read_json(agent.jobs_dir / job_dir_name(7, 1) / "launch.json")
    assert written is not None and written["from_the_future"] == 1
    assert "pids_max" not in written and "script" not in written
    assert {k: v for k, v in written.items() if k != "from_the_future"} == \
        {k: v for k, v in payload.items() if k != "script"}
    assert started


def test_a_command_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        COMMAND.validate_python({"kind": "reboot", "job_id": 1, "attempt": 0})

