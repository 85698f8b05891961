"""The job manager and node registry, in-process on a manual clock with a SQLite store:
launches a silent node never received, DOWN nodes, and the GPUs of a split machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.api.agent_protocol import FinishedReport, StartedReport
from corral.clock import ManualClock
from corral.controller.jobs import Caller, JobManager
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.writer import drive
from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url

TIMEOUT = 10.0


class Setup:
    def __init__(self, tmp_path: Path, nodes: list[Node]) -> None:
        self.clock = ManualClock(100.0)
        self.store = Store.open(sqlite_url(tmp_path))
        self.registry = NodeRegistry(nodes)
        settings = ControllerSettings(data_dir=tmp_path, db_url=sqlite_url(tmp_path),
                                      socket_path=tmp_path / "corral.sock", node_timeout=TIMEOUT)
        self.manager = JobManager(settings, self.store, self.registry, self.clock)
        for node in nodes:
            node.last_seen = self.clock.now
            self.store.save_node(node.name, node.persistent())

    def submit(self, **fields: object) -> Job:
        spec = JobSpec(**{"name": "j", "uid": 0, "gid": 0, "user": "root", "group": "root",
                          "work_dir": "/", "script": "#!/bin/sh\ntrue\n", **fields})  # type: ignore[arg-type]
        return drive(self.manager.submit(spec, Caller(uid=0, gid=0, user="root")))

    def job(self, job_id: int) -> Job:
        return self.manager.jobs[job_id]


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[Setup]:
    setup = Setup(tmp_path, [Node("n1", 2, 4000, connected=True),
                             Node("n2", 2, 4000, connected=True)])
    yield setup
    setup.store.close()


def test_a_launch_the_silent_node_never_received_returns_the_job_to_the_queue(two_nodes: Setup) -> None:
    s = two_nodes
    job = s.submit(req_nodes=("n1",), requeue=False)
    drive(s.manager.schedule())
    assert s.job(job.job_id).state is JobState.RUNNING
    assert [c["kind"] for c in s.registry.queue("n1").undelivered()] == ["launch"]
    s.clock.advance(TIMEOUT + 1)  # n1 never polls again
    s.registry.nodes["n2"].last_seen = s.clock.now
    drive(s.manager.schedule())
    back = s.job(job.job_id)
    # It never ran, so it goes back even with --no-requeue; n1 will not start the old attempt.
    assert (back.state, back.attempt, back.allocation) == (JobState.PENDING, 1, {})
    assert not any(c["kind"] == "launch" for c in s.registry.queue("n1").items)


def test_a_launch_handed_to_the_node_stays_until_the_node_returns_or_is_down(two_nodes: Setup) -> None:
    s = two_nodes
    job = s.submit(req_nodes=("n1",), requeue=False)
    drive(s.manager.schedule())
    s.registry.queue("n1").hand_out()  # the agent may have started it before it went silent
    s.clock.advance(TIMEOUT + 1)
    drive(s.manager.schedule())
    assert (s.job(job.job_id).state, s.job(job.job_id).attempt) == (JobState.RUNNING, 0)
    drive(s.manager.node_failed("n1", cause="test"))
    assert s.job(job.job_id).state is JobState.NODE_FAIL


def test_no_job_is_placed_on_a_node_that_missed_its_heartbeats(two_nodes: Setup) -> None:
    s = two_nodes
    s.clock.advance(TIMEOUT + 1)
    s.registry.nodes["n2"].last_seen = s.clock.now
    pinned = s.submit(req_nodes=("n1",))
    free = s.submit()
    drive(s.manager.schedule())
    assert s.job(pinned.job_id).state is JobState.PENDING
    assert s.job(free.job_id).nodes == ("n2",)


def test_a_dropped_connection_stops_scheduling_until_the_agent_registers_again(two_nodes: Setup) -> None:
    s = two_nodes
    node = s.registry.nodes["n1"]
    s.registry.connection_lost("n1", registered_at=node.registered_at + 1)  # an older agent's poll
    assert node.connected
    s.registry.connection_lost("n1", registered_at=node.registered_at)
    assert not node.responding(s.clock.now, TIMEOUT)
    job = s.submit(req_nodes=("n1",))
    drive(s.manager.schedule())
    assert s.job(job.job_id).state is JobState.PENDING


def test_down_ends_running_jobs_node_fail_or_requeues_them_and_stops_them_there(two_nodes: Setup) -> None:
    s = two_nodes
    stays = s.submit(req_nodes=("n1",), requeue=False)
    again = s.submit(req_nodes=("n1",))
    drive(s.manager.schedule())
    s.registry.queue("n1").ack(10**6)
    drive(s.manager.node_failed("n1", cause="test"))
    assert s.job(stays.job_id).state is JobState.NODE_FAIL
    assert (s.job(again.job_id).state, s.job(again.job_id).attempt) == (JobState.PENDING, 1)
    cancels = {(c["job_id"], c["attempt"]) for c in s.registry.queue("n1").items if c["kind"] == "cancel"}
    assert cancels == {(stays.job_id, 0), (again.job_id, 0)}


def test_a_lost_supervisor_is_a_node_failure_not_a_failed_job(two_nodes: Setup) -> None:
    s = two_nodes
    job = s.submit(req_nodes=("n1",), requeue=False)
    drive(s.manager.schedule())
    drive(s.manager.agent_reports("n1", [StartedReport(job_id=job.job_id, attempt=0)]))
    drive(s.manager.agent_reports("n1", [FinishedReport(job_id=job.job_id, attempt=0,
                                                  exit_code=0, exit_signal=9, node_fail=True)]))
    ended = s.job(job.job_id)
    assert (ended.state, ended.exit_code, ended.exit_signal) == (JobState.NODE_FAIL, 0, 0)


def test_the_nodes_of_a_split_machine_hand_out_only_their_own_gpus(tmp_path: Path) -> None:
    devices = [{"index": 2, "uuid": ""}, {"index": 3, "uuid": ""}]
    s = Setup(tmp_path, [Node("n2", 2, 4000, gpus=2, connected=True, facts={"gpu_devices": devices})])
    first, second = s.submit(gpus_per_node=1), s.submit(gpus_per_node=1)
    drive(s.manager.schedule())
    given = [s.job(j.job_id).allocation["n2"].gpu_indices for j in (first, second)]
    assert sorted(given) == [(2,), (3,)]
    launches = {c["job_id"]: c["launch"]["environment"]["CUDA_VISIBLE_DEVICES"]
                for c in s.registry.queue("n2").items if c["kind"] == "launch"}
    assert sorted(launches.values()) == ["2", "3"]
    orders = {c["launch"]["environment"]["CUDA_DEVICE_ORDER"]
              for c in s.registry.queue("n2").items if c["kind"] == "launch"}
    assert orders == {"PCI_BUS_ID"}  # NVML's indices mean the same devices to CUDA
