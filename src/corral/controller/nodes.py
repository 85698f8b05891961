"""The node registry: what each agent declared, its admin state, and its command queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from corral.controller.node_states import Admin, Link, admin_of, link_of
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


class NodeRegistry:
    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.queues: dict[str, CommandQueue] = {}
        self._seq = 0

    def send(self, node: str, command: dict[str, Any]) -> None:
        self._seq += 1
        self.queues.setdefault(node, CommandQueue()).put(self._seq, command)

    def queue(self, node: str) -> CommandQueue:
        return self.queues.setdefault(node, CommandQueue())

    def connection_lost(self, name: str, registered_at: float) -> None:
        """The agent hung up in the middle of a long poll (it died, or was stopped): the
        node takes no new job until it registers again. A poll of an agent that has
        registered since (`registered_at` differs) says nothing about the new one."""
        node = self.nodes.get(name)
        if node is not None and node.registered_at == registered_at:
            node.connected = False

    def stranded_launches(self, now: float, timeout: float) -> list[tuple[str, int, int]]:
        """(node, job id, attempt) of launches that a node not responding never received:
        those jobs never ran, and may go back to the queue."""
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
