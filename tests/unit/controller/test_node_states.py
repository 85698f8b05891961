"""The node state machine: every (state, event) pair is either in its table or refused, and
the states derived from a node's record agree with what the scheduler may use."""

from __future__ import annotations

import itertools

import pytest

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
from corral.model.errors import InvalidTransition

REFUSED_LINK = {(Link.UNKNOWN, NodeEvent.HEARD), (Link.UNKNOWN, NodeEvent.SILENT),
                (Link.UNKNOWN, NodeEvent.HUNG_UP)}


def test_events_are_link_or_admin_events() -> None:
    assert set(LINK_EVENTS) | set(ADMIN_EVENTS) == set(NodeEvent)
    assert not set(LINK_EVENTS) & set(ADMIN_EVENTS)


@pytest.mark.parametrize("state,event", itertools.product(Link, LINK_EVENTS))
def test_every_link_pair_is_decided(state: Link, event: NodeEvent) -> None:
    if (state, event) in REFUSED_LINK:
        assert (state, event) not in LINK_TRANSITIONS
        with pytest.raises(InvalidTransition):
            next_link(state, event)
    else:
        assert next_link(state, event) is LINK_TRANSITIONS[(state, event)]


@pytest.mark.parametrize("state,event", itertools.product(Admin, ADMIN_EVENTS))
def test_every_admin_pair_is_decided(state: Admin, event: NodeEvent) -> None:
    assert next_admin(state, event) is ADMIN_TRANSITIONS[(state, event)]


@pytest.mark.parametrize("state,event", itertools.product(Link, ADMIN_EVENTS))
def test_admin_events_leave_the_link_alone(state: Link, event: NodeEvent) -> None:
    with pytest.raises(InvalidTransition):
        next_link(state, event)


def test_only_a_registration_or_a_poll_brings_a_node_back() -> None:
    back = {(s, e) for (s, e), new in LINK_TRANSITIONS.items()
            if new is Link.RESPONDING and s is not Link.RESPONDING}
    assert {e for _, e in back} == {NodeEvent.REGISTERED, NodeEvent.HEARD}
    assert (Link.DISCONNECTED, NodeEvent.HEARD) not in back


@pytest.mark.parametrize("connected,registered_at,age,drain,down", itertools.product(
    (False, True), (0.0, 50.0), (0.0, 5.0, 20.0), (False, True), (False, True)))
def test_derived_states_agree_with_the_node_record(connected: bool, registered_at: float,
                                                   age: float, drain: bool, down: bool) -> None:
    now, timeout = 100.0, 10.0
    node = Node("n1", 2, 1000, drain=drain, down=down, connected=connected,
                registered_at=registered_at, last_seen=now - age)
    link = link_of(connected, registered_at, node.last_seen, now, timeout)
    admin = admin_of(drain, down)
    assert (link is Link.RESPONDING) == node.responding(now, timeout)
    assert schedulable(link, admin) == node.schedulable(now, timeout)
