"""The node state machine: the analogue of the job transition table (core/lifecycle.py).

A node has two independent parts of state, as Slurm's base state and flags:
- its link: UNKNOWN (not registered since the controller started), RESPONDING,
  NOT_RESPONDING (silent past SlurmdTimeout: a poll brings it back), or DISCONNECTED (its
  agent hung up mid-poll: it takes no job until it registers again);
- its admin state: UP, DRAIN (takes no new job, keeps its jobs), DOWN (its jobs are killed).
A node is schedulable when RESPONDING and UP. Each table lists every (state, event) pair
that changes or keeps the state; a pair missing from it is refused (InvalidTransition).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from corral.model.errors import InvalidTransition


class Link(enum.Enum):
    UNKNOWN = "UNKNOWN"
    RESPONDING = "RESPONDING"
    NOT_RESPONDING = "NOT_RESPONDING"
    DISCONNECTED = "DISCONNECTED"


class Admin(enum.Enum):
    UP = "UP"
    DRAIN = "DRAIN"
    DOWN = "DOWN"


class NodeEvent(enum.Enum):
    REGISTERED = "registered"  # the agent (re)registered
    HEARD = "heard"  # a poll or a heartbeat
    SILENT = "silent"  # not heard within SlurmdTimeout
    HUNG_UP = "hung_up"  # the agent hung up in the middle of a poll
    DRAINED = "drained"  # scontrol update state=DRAIN
    DOWNED = "downed"  # scontrol update state=DOWN
    RESUMED = "resumed"  # scontrol update state=RESUME/UNDRAIN/IDLE


LINK_EVENTS = (NodeEvent.REGISTERED, NodeEvent.HEARD, NodeEvent.SILENT, NodeEvent.HUNG_UP)
ADMIN_EVENTS = (NodeEvent.DRAINED, NodeEvent.DOWNED, NodeEvent.RESUMED)

L, A, E = Link, Admin, NodeEvent

LINK_TRANSITIONS: Mapping[tuple[Link, NodeEvent], Link] = {
    (L.UNKNOWN, E.REGISTERED): L.RESPONDING,
    (L.RESPONDING, E.REGISTERED): L.RESPONDING,
    (L.NOT_RESPONDING, E.REGISTERED): L.RESPONDING,
    (L.DISCONNECTED, E.REGISTERED): L.RESPONDING,
    (L.RESPONDING, E.HEARD): L.RESPONDING,
    (L.NOT_RESPONDING, E.HEARD): L.RESPONDING,
    # A heartbeat says it lives, but a node that hung up takes no job until it registers
    # (its polls are answered "register first").
    (L.DISCONNECTED, E.HEARD): L.DISCONNECTED,
    (L.RESPONDING, E.SILENT): L.NOT_RESPONDING,
    (L.NOT_RESPONDING, E.SILENT): L.NOT_RESPONDING,
    (L.DISCONNECTED, E.SILENT): L.DISCONNECTED,
    (L.RESPONDING, E.HUNG_UP): L.DISCONNECTED,
    (L.NOT_RESPONDING, E.HUNG_UP): L.DISCONNECTED,
    (L.DISCONNECTED, E.HUNG_UP): L.DISCONNECTED,
    # UNKNOWN hears nothing but a registration: a node the controller has not met yet.
}

ADMIN_TRANSITIONS: Mapping[tuple[Admin, NodeEvent], Admin] = {
    (A.UP, E.DRAINED): A.DRAIN,
    (A.DRAIN, E.DRAINED): A.DRAIN,
    (A.DOWN, E.DRAINED): A.DOWN,  # Slurm: DOWN+DRAIN shows DOWN; RESUME clears both
    (A.UP, E.DOWNED): A.DOWN,
    (A.DRAIN, E.DOWNED): A.DOWN,
    (A.DOWN, E.DOWNED): A.DOWN,
    (A.UP, E.RESUMED): A.UP,
    (A.DRAIN, E.RESUMED): A.UP,
    (A.DOWN, E.RESUMED): A.UP,
}


def next_link(state: Link, event: NodeEvent) -> Link:
    new = LINK_TRANSITIONS.get((state, event))
    if new is None:
        raise InvalidTransition(f"node: {event.value} while {state.value}")
    return new


def next_admin(state: Admin, event: NodeEvent) -> Admin:
    new = ADMIN_TRANSITIONS.get((state, event))
    if new is None:
        raise InvalidTransition(f"node: {event.value} while {state.value}")
    return new


def schedulable(link: Link, admin: Admin) -> bool:
    return link is Link.RESPONDING and admin is Admin.UP


def link_of(connected: bool, registered_at: float, last_seen: float, now: float,
            timeout: float) -> Link:
    """The link state of a node record (controller/nodes.py keeps the facts)."""
    if not connected:
        return Link.DISCONNECTED if registered_at else Link.UNKNOWN
    return Link.RESPONDING if now - last_seen <= timeout else Link.NOT_RESPONDING


def admin_of(drain: bool, down: bool) -> Admin:
    return Admin.DOWN if down else Admin.DRAIN if drain else Admin.UP
