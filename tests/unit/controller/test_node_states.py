"""The node state machine: every (state, event) pair is either in its table or refused, and
the states derived from a node's record agree with what the scheduler may use."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from corral.api.agent_protocol import PROTOCOL_VERSION
from corral.clock import ManualClock
from corral.controller.app import create_app
from corral.controller.auth import Caller
from corral.controller.node_states import (
    ADMIN_EVENTS,
    ADMIN_TRANSITIONS,
    LINK_EVENTS,
    LINK_TRANSITIONS,
    Admin,
    Link,
    NodeEvent,
    admin_of,
    link_of,
    next_admin,
    next_link,
    schedulable,
)
from corral.controller.nodes import Node
from corral.controller.observers import Change, NodeChange
from corral.controller.routes import deps
from corral.model.errors import InvalidTransition
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url

REFUSED_LINK = {(Link.UNKNOWN, NodeEvent.HEARD), (Link.UNKNOWN, NodeEvent.SILENT),
                (Link.UNKNOWN, NodeEvent.HUNG_UP)}


def test_events_are_link_or_admin_events() -> None:
    assert set(LINK_EVENTS) | set(ADMIN_EVENTS) == set(NodeEvent)
    assert not set(LINK_EVENTS) & set(ADMIN_EVENTS)


@pytest.mark.parametrize("state,event", list(itertools.product(Link, LINK_EVENTS)))
def test_every_link_pair_is_decided(state: Link, event: NodeEvent) -> None:
    if (state, event) in REFUSED_LINK:
        assert (state, event) not in LINK_TRANSITIONS
        with pytest.raises(InvalidTransition):
            next_link(state, event)
    else:
        assert next_link(state, event) is LINK_TRANSITIONS[(state, event)]


@pytest.mark.parametrize("state,event", list(itertools.product(Admin, ADMIN_EVENTS)))
def test_every_admin_pair_is_decided(state: Admin, event: NodeEvent) -> None:
    assert next_admin(state, event) is ADMIN_TRANSITIONS[(state, event)]


@pytest.mark.parametrize("state,event", list(itertools.product(Link, ADMIN_EVENTS)))
def test_admin_events_leave_the_link_alone(state: Link, event: NodeEvent) -> None:
    with pytest.raises(InvalidTransition):
        next_link(state, event)


def test_only_a_registration_or_a_poll_brings_a_node_back() -> None:
    back = {(s, e) for (s, e), new in LINK_TRANSITIONS.items()
            if new is Link.RESPONDING and s is not Link.RESPONDING}
    assert {e for _, e in back} == {NodeEvent.REGISTERED, NodeEvent.HEARD}
    assert (Link.DISCONNECTED, NodeEvent.HEARD) not in back


@pytest.mark.parametrize("connected,registered_at,age,drain,down", list(itertools.product(
    (False, True), (0.0, 50.0), (0.0, 5.0, 20.0), (False, True), (False, True))))
def test_derived_states_agree_with_the_node_record(connected: bool, registered_at: float,
                                                   age: float, drain: bool, down: bool) -> None:
    now, timeout = 100.0, 10.0
    node = Node("n1", 2, 1000, drain=drain, down=down, connected=connected,
                registered_at=registered_at, last_seen=now - age)
    link = link_of(connected, registered_at, node.last_seen, now, timeout)
    admin = admin_of(drain, down)
    assert (link is Link.RESPONDING) == node.responding(now, timeout)
    assert schedulable(link, admin) == node.schedulable(now, timeout)


# -- the registry is the writer: the routes' node changes, each published once -----------------

def _app(tmp_path: Path, clock: ManualClock) -> FastAPI:
    url = sqlite_url(tmp_path)
    settings = ControllerSettings(data_dir=tmp_path, db_url=url, socket_path=tmp_path / "s",
                                  node_timeout=10.0, schedule_interval=3600.0)
    app = create_app(settings, Store.open(url), clock)
    app.dependency_overrides[deps._agent] = lambda: None
    app.dependency_overrides[deps._caller] = lambda: Caller(uid=0, gid=0, user="root",
                                                            operator=True)
    return app


def test_the_routes_node_changes_are_published_once_each_in_commit_order(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    app = _app(tmp_path, clock)
    registration = {"protocol": PROTOCOL_VERSION, "name": "n1", "cpus": 2, "memory": 1000,
                    "gpus": 1, "gpu_devices": [{"index": 3, "uuid": "GPU-x"}],
                    "jobs": [{"job_id": 9, "attempt": 0, "finished": True}]}
    with TestClient(app) as client:
        ctl = app.state.controller
        heard: list[Change] = []
        ctl.observers.subscribe(heard.append)
        api = "/api/v1/agents/n1"
        assert client.post("/api/v1/agents/register", json=registration).json() == {"ok": True}
        assert ctl.registry.nodes["n1"].gpu_ids == (3,)  # gpu_devices kept as dicts
        assert ctl.registry.queue("n1").items[0]["kind"] == "cancel"  # the stray, reconciled
        client.post(f"{api}/heartbeat", json={"cpu_load": 0.5, "free_memory": 900})
        client.get(f"{api}/commands", params={"wait": 0, "ack": 10**6})  # no change: not published
        assert ctl.registry.nodes["n1"].load == {"cpu_load": 0.5, "free_memory": 900}
        clock.advance(11)  # silent past SlurmdTimeout
        ctl.registry.sweep(clock.now)
        ctl.registry.sweep(clock.now)  # committed once
        client.post(f"{api}/heartbeat", json={})  # heard again
        drain = client.patch("/api/v1/nodes/n1", json={"state": "DRAIN", "reason": "fix"})
        assert drain.json()["state"] == "DRAINED"
        client.patch("/api/v1/nodes/n1", json={"state": "DOWN", "reason": "dead"})
        client.patch("/api/v1/nodes/n1", json={"state": "RESUME"})
        bad = client.patch("/api/v1/nodes/n1", json={"state": "FUTURE"})
        assert bad.status_code == 400 and "Invalid node state specified" in bad.text
        ctl.registry.connection_lost("n1", ctl.registry.nodes["n1"].registered_at, clock.now)
        client.post(f"{api}/heartbeat", json={})  # DISCONNECTED stays DISCONNECTED
        assert client.get(f"{api}/commands", params={"wait": 0}).status_code == 409
        assert client.post("/api/v1/agents/register", json=registration).status_code == 200
    changes = [c for c in heard if isinstance(c, NodeChange)]
    assert [(c.before, c.after, c.cause) for c in changes] == [
        (None, "RESPONDING+UP", "register"),
        ("RESPONDING+UP", "NOT_RESPONDING+UP", "silent"),
        ("NOT_RESPONDING+UP", "RESPONDING+UP", "heartbeat"),
        ("RESPONDING+UP", "RESPONDING+DRAIN", "scontrol:0"),
        ("RESPONDING+DRAIN", "RESPONDING+DOWN", "scontrol:0"),
        ("RESPONDING+DOWN", "RESPONDING+UP", "scontrol:0"),
        ("RESPONDING+UP", "DISCONNECTED+UP", "hung_up"),
        ("DISCONNECTED+UP", "RESPONDING+UP", "register"),
    ]
    seqs = [c.seq for c in heard]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_node_not_registered_is_refused_and_so_is_another_protocol(tmp_path: Path) -> None:
    app = _app(tmp_path, ManualClock(1000.0))
    with TestClient(app) as client:
        assert client.post("/api/v1/agents/n9/heartbeat", json={}).status_code == 409
        other = client.post("/api/v1/agents/register", json={
            "protocol": PROTOCOL_VERSION + 1, "name": "n9", "cpus": 1, "memory": 100})
        assert other.status_code == 409
        assert f"agent protocol version {PROTOCOL_VERSION + 1} is not spoken" in other.text
        assert "n9" not in app.state.controller.registry.nodes
