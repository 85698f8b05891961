"""The agents' side of the API: register, long-poll for commands, report, heartbeat. Every
route here takes the cluster key (AgentKey), never a user."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from corral.api.agent_protocol import PROTOCOLS, Load, Registration, ReportBatch
from corral.controller.node_states import NodeEvent
from corral.controller.nodes import Node
from corral.controller.routes.deps import AgentKey, Ctl
from corral.model.errors import InvalidTransition

router = APIRouter(prefix="/api/v1/agents", dependencies=[AgentKey])


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (a GET's only body message comes first)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/register")
async def register(body: Registration, request: Request, c: Ctl) -> dict[str, Any]:
    if body.protocol not in PROTOCOLS:
        spoken = ", ".join(str(v) for v in sorted(PROTOCOLS))
        return JSONResponse(  # type: ignore[return-value]
            {"detail": f"agent protocol version {body.protocol} is not spoken by this "
                       f"controller (it speaks {spoken}): upgrade the agent or the controller"},
            status_code=409)
    now = c.clock()
    node = c.registry.nodes.get(body.name) or Node(body.name, body.cpus, body.memory)
    node.cpus, node.memory, node.gpus, node.gpu_type = body.cpus, body.memory, body.gpus, body.gpu_type
    node.facts = {"hostname": body.hostname, "arch": body.arch, "os": body.os,
                  "boot_time": body.boot_time, "version": body.version,
                  "addr": request.client.host if request.client else "",
                  "cgroup": body.cgroup, "enforced": body.enforced,
                  "gpu_devices": [d.model_dump(mode="json", exclude_unset=True)
                                  for d in body.gpu_devices]}
    node.load = {"cpu_load": body.cpu_load or 0.0, "free_memory": body.free_memory or 0}
    c.registry.queue(body.name).reset()
    await c.registry.register(node, now, cause="register")  # committed (saved) and published
    await c.jobs.reconcile(body.name, body.jobs)
    c.wake.set()
    return {"ok": True}


@router.get("/{name}/commands")
async def commands(name: str, request: Request, c: Ctl, ack: int = 0,
                   wait: float = 20.0) -> dict[str, Any]:
    node = c.registry.nodes.get(name)
    if node is None or not node.connected:
        return JSONResponse({"detail": "register first"}, status_code=409)  # type: ignore[return-value]
    c.registry.apply(name, NodeEvent.HEARD, c.clock(), cause="poll")
    registered_at = node.registered_at
    queue = c.registry.queue(name)
    queue.ack(ack)
    if not queue.items:
        # Each poll is a sign of life: a poll lasts at most a third of SlurmdTimeout (as
        # Slurm pings its nodes), so a live agent is never taken for a silent one; and an
        # agent that hangs up mid-poll has died or stopped, and takes no job meanwhile.
        ready = asyncio.ensure_future(queue.ready.wait())
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({ready, gone}, timeout=min(wait, 30.0, c.settings.node_timeout / 3),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            gone.cancel()
        if gone.done() and not gone.cancelled():
            c.registry.connection_lost(name, registered_at, c.clock())
            return {"commands": []}
    return {"commands": queue.hand_out()}


@router.post("/{name}/reports")
async def reports(name: str, body: ReportBatch, c: Ctl) -> dict[str, Any]:
    await c.jobs.agent_reports(name, body.reports)
    return {"ok": True}


@router.post("/{name}/heartbeat")
async def heartbeat(name: str, body: Load, c: Ctl) -> dict[str, Any]:
    try:
        if name not in c.registry.nodes:
            raise InvalidTransition(f"node {name}: heard while UNKNOWN")
        node = c.registry.apply(name, NodeEvent.HEARD, c.clock(), cause="heartbeat")
    except InvalidTransition:  # not registered since the controller started
        return JSONResponse({"detail": "register first"}, status_code=409)  # type: ignore[return-value]
    load = {"cpu_load": body.cpu_load, "free_memory": body.free_memory}
    node.load = {k: v for k, v in load.items() if v is not None}
    return {"ok": True}
