"""The node registry: what each agent declared, its admin state, and its command queue.

The registry is the one writer of a node's state: registrations, polls and heartbeats, a poll
that hangs up, silence past SlurmdTimeout and an operator's DRAIN / DOWN / RESUME each go
through node_states' tables (NodeRegistry.apply), and every committed change is published
once, in commit order, through the observers (Observers.node_committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from corral.api.agent_protocol import CommandBase, command_body
from corral.controller.node_states import (
    ADMIN_EVENTS,
    Admin,
    Link,
    NodeEvent,
    admin_of,
    link_of,
    next_admin,
    next_link,
)
from corral.controller.observers import Observers
from corral.controller.writer import Writer
from corral.model.cluster import NodeResources
from corral.model.job import Job


@dataclass
class Node:
    name: str
    cpus: int
    memory: int
    gpus: int = 0
    gpu_type: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    drain: bool = False
    down: bool = False
    reason: str | None = None
    reason_time: float | None = None
    reason_uid: int | None = None
    last_seen: float = 0.0
    registered_at: float = 0.0
    connected: bool = False
    load: dict[str, float] = field(default_factory=dict)

    def persistent(self) -> dict[str, Any]:
        return {"name": self.name, "cpus": self.cpus, "memory": self.memory, "gpus": self.gpus,
                "gpu_type": self.gpu_type, "facts": self.facts, "drain": self.drain,
                "down": self.down, "reason": self.reason, "reason_time": self.reason_time,
                "reason_uid": self.reason_uid}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Node:
        return cls(name=data["name"], cpus=data["cpus"], memory=data["memory"],
                   gpus=data.get("gpus", 0), gpu_type=data.get("gpu_type"),
                   facts=data.get("facts", {}), drain=data.get("drain", False),
                   down=data.get("down", False), reason=data.get("reason"),
                   reason_time=data.get("reason_time"), reason_uid=data.get("reason_uid"))

    def responding(self, now: float, timeout: float) -> bool:
        """Registered, its connection not seen to drop, and heard from within SlurmdTimeout."""
        return self.connected and now - self.last_seen <= timeout

    @property
    def gpu_ids(self) -> tuple[int, ...]:
        """The physical GPU indices this node owns: a node of a split machine owns some of
        its GPUs, not 0..N-1 (the agent declares them in gpu_devices); a node that declared
        only a count (`--gpus N`) numbers them from 0."""
        devices = self.facts.get("gpu_devices") or []
        indices = tuple(int(d["index"]) for d in devices if isinstance(d, dict) and "index" in d)
        if len(indices) == self.gpus and len(set(indices)) == len(indices):
            return indices
        return tuple(range(self.gpus))

    def schedulable(self, now: float, timeout: float) -> bool:
        return self.responding(now, timeout) and not self.drain and not self.down

    def link(self, now: float, timeout: float) -> Link:
        """Its link state in the node state machine (controller/node_states.py)."""
        return link_of(self.connected, self.registered_at, self.last_seen, now, timeout)

    @property
    def admin(self) -> Admin:
        return admin_of(self.drain, self.down)


class CommandQueue:
    """Commands for one agent, kept until the agent acknowledges their sequence number."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        # The highest sequence number handed to the agent: a command past it never left the
        # controller, so the node cannot have acted on it.
        self.delivered = 0

    def put(self, seq: int, command: dict[str, Any]) -> None:
        self.items.append({**command, "seq": seq})
        self.ready.set()

    def ack(self, upto: int) -> None:
        self.items = [c for c in self.items if c["seq"] > upto]
        if not self.items:
            self.ready.clear()

    def hand_out(self) -> list[dict[str, Any]]:
        if self.items:
            self.delivered = max(self.delivered, max(c["seq"] for c in self.items))
        return list(self.items)

    def undelivered(self) -> list[dict[str, Any]]:
        return [c for c in self.items if c["seq"] > self.delivered]

    def withdraw_launch(self, job_id: int, attempt: int) -> None:
        self.items = [c for c in self.items if not (
            c["kind"] == "launch" and int(c["job_id"]) == job_id and int(c["attempt"]) == attempt
            and c["seq"] > self.delivered)]
        if not self.items:
            self.ready.clear()

    def reset(self) -> None:
        self.items = []
        self.delivered = 0
        self.ready.clear()


def node_state(link: Link, admin: Admin) -> str:
    """A node's state as published: its link and admin state, as `RESPONDING+UP`."""
    return f"{link.value}+{admin.value}"


Save = Callable[[str, dict[str, Any]], None]


class NodeRegistry:
    def __init__(self, nodes: Iterable[Node] = (), *, observers: Observers | None = None,
                 save: Save | None = None, writer: Writer | None = None,
                 timeout: float = 60.0) -> None:
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.queues: dict[str, CommandQueue] = {}
        self._seq = 0
        self.observers = observers if observers is not None else Observers()
        self.save = save  # commits a node's persistent record (Store.save_node)
        self.writer = writer  # where commit runs save: the store's one writer thread
        self.timeout = timeout  # SlurmdTimeout
        # Each node's link as last committed: silence is noticed against it (the record's
        # link, Node.link, follows the clock by itself).
        self._links: dict[str, Link] = {}

    def send(self, node: str, command: CommandBase) -> None:
        """Queues a command (agent_protocol's models) for the node's agent, as it goes on
        the wire: only the fields it was built with."""
        self._seq += 1
        self.queues.setdefault(node, CommandQueue()).put(self._seq, command_body(command))

    def queue(self, node: str) -> CommandQueue:
        return self.queues.setdefault(node, CommandQueue())

    # -- the writer of node state ----------------------------------------------------------

    async def register(self, node: Node, now: float, cause: str) -> Node:
        """The node's agent (re)registered: the node (new, or its record refreshed by the
        caller) is RESPONDING, committed and published."""
        first = node.name not in self.nodes
        self.nodes[node.name] = node
        return await self.commit(node.name, NodeEvent.REGISTERED, now, cause=cause, first=first)

    async def commit(self, name: str, event: NodeEvent, now: float, *, cause: str,
                     reason: str | None = None, uid: int | None = None,
                     first: bool = False) -> Node:
        """As apply, for any event (a registration or an admin change, which are saved):
        the record is saved through the writer (off the event loop) before the change is
        published. A save that fails raises, and publishes nothing."""
        node, saved, before, after = self._transition(name, event, now, reason, uid)
        if saved and self.save is not None:
            record = node.persistent()  # as of now: saves are made in the order asked
            if self.writer is not None:
                await self.writer.write(self.save, name, record)
            else:
                self.save(name, record)
        self._publish(now, name, saved, before, after, cause, first)
        return node

    def apply(self, name: str, event: NodeEvent, now: float, *, cause: str,
              reason: str | None = None, uid: int | None = None, first: bool = False) -> Node:
        """Applies `event` to the node through node_states' tables, writes what it changes,
        commits it (a registration or an admin change is saved) and publishes it when the
        node's state changed or its record was saved. A pair the tables refuse raises
        InvalidTransition and writes nothing."""
        node, saved, before, after = self._transition(name, event, now, reason, uid)
        if saved and self.save is not None:
            self.save(name, node.persistent())
        self._publish(now, name, saved, before, after, cause, first)
        return node

    def _transition(self, name: str, event: NodeEvent, now: float, reason: str | None,
                    uid: int | None) -> tuple[Node, bool, tuple[Link, Admin], tuple[Link, Admin]]:
        """Writes what `event` changes of the node: (node, whether its record is to be
        saved, its (link, admin) before, after)."""
        node = self.nodes[name]
        link, admin = self._committed_link(node, now), node.admin
        if event in ADMIN_EVENTS:
            new_link, new_admin = link, next_admin(admin, event)
        else:
            new_link, new_admin = next_link(link, event), admin
        if event is NodeEvent.REGISTERED:
            node.connected, node.last_seen, node.registered_at = True, now, now
        elif event is NodeEvent.HEARD:
            node.last_seen = now
        elif event is NodeEvent.HUNG_UP:
            node.connected = False
        elif event is NodeEvent.DRAINED:
            node.drain = True  # kept under DOWN, as Slurm's DRAIN flag: RESUME clears both
        elif event is NodeEvent.DOWNED:
            node.down = True
        elif event is NodeEvent.RESUMED:
            node.drain = node.down = False
        if event in ADMIN_EVENTS:
            node.reason = reason if event is not NodeEvent.RESUMED else None
            node.reason_time = now if node.reason else None
            node.reason_uid = uid if node.reason else None
        assert node.admin is new_admin, (node.admin, new_admin)
        self._links[name] = new_link
        saved = event is NodeEvent.REGISTERED or event in ADMIN_EVENTS
        return node, saved, (link, admin), (new_link, new_admin)

    def _publish(self, now: float, name: str, saved: bool, before: tuple[Link, Admin],
                 after: tuple[Link, Admin], cause: str, first: bool) -> None:
        if saved or after != before:
            self.observers.node_committed(now, name, None if first else node_state(*before),
                                          node_state(*after), cause)

    def _committed_link(self, node: Node, now: float) -> Link:
        """The node's link as committed, once silence past SlurmdTimeout is committed too."""
        derived = node.link(now, self.timeout)
        link = self._links.get(node.name, derived)
        if link is Link.RESPONDING and derived is Link.NOT_RESPONDING:
            silent = next_link(link, NodeEvent.SILENT)
            self._links[node.name] = silent
            self.observers.node_committed(now, node.name, node_state(link, node.admin),
                                          node_state(silent, node.admin), "silent")
            return silent
        # A record changed outside the registry (a test's clock or hand): it is the truth.
        self._links[node.name] = derived
        return derived

    def sweep(self, now: float) -> None:
        """Commits the silence of every node not heard from within SlurmdTimeout."""
        for node in self.nodes.values():
            self._committed_link(node, now)

    def connection_lost(self, name: str, registered_at: float, now: float | None = None) -> None:
        """The agent hung up in the middle of a long poll (it died, or was stopped): the
        node takes no new job until it registers again. A poll of an agent that has
        registered since (`registered_at` differs) says nothing about the new one. `now`
        defaults to when the node was last heard (the poll's start)."""
        node = self.nodes.get(name)
        if node is not None and node.registered_at == registered_at:
            self.apply(name, NodeEvent.HUNG_UP, node.last_seen if now is None else now,
                       cause="hung_up")

    def stranded_launches(self, now: float, timeout: float) -> list[tuple[str, int, int]]:
        """(node, job id, attempt) of launches that a node not responding never received:
        those jobs never ran, and may go back to the queue. Asked every pass, which is
        also when the silence of nodes past SlurmdTimeout is committed (sweep)."""
        self.timeout = timeout
        self.sweep(now)
        stranded = []
        for name, queue in self.queues.items():
            node = self.nodes.get(name)
            if node is None or node.responding(now, timeout):
                continue
            stranded += [(name, int(c["job_id"]), int(c["attempt"]))
                         for c in queue.undelivered() if c["kind"] == "launch"]
        return stranded

    def resources(self, active: Iterable[Job], now: float, timeout: float) -> dict[str, NodeResources]:
        """The scheduler's view: each node's size and what running jobs leave free."""
        used: dict[str, list[int]] = {}
        used_gpus: dict[str, set[int]] = {}
        for job in active:
            for name, alloc in job.allocation.items():
                cpus_mem = used.setdefault(name, [0, 0])
                cpus_mem[0] += alloc.cpus
                cpus_mem[1] += alloc.memory
                used_gpus.setdefault(name, set()).update(alloc.gpu_indices)
        view = {}
        for name, node in self.nodes.items():
            cpus, mem = used.get(name, [0, 0])
            taken = used_gpus.get(name, set())
            view[name] = NodeResources(
                name=name, cpus=node.cpus, memory=node.memory, gpus=node.gpus,
                gpu_type=node.gpu_type, free_cpus=max(0, node.cpus - cpus),
                free_memory=max(0, node.memory - mem),
                free_gpus=tuple(i for i in node.gpu_ids if i not in taken),
                available=node.schedulable(now, timeout), idle=cpus == 0 and mem == 0 and not taken)
        return view
