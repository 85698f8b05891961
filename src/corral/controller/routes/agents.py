"""The agents' side of the API: register, long-poll for commands, report, heartbeat. Every
route here takes the cluster key (AgentKey), never a user."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from corral.api.schemas import AgentLoad, AgentRegistration, AgentReports
from corral.controller.nodes import Node
from corral.controller.routes.deps import AgentKey, Ctl

router = APIRouter(prefix="/api/v1/agents", dependencies=[AgentKey])


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (a GET's only body message comes first)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/register")
async def register(body: AgentRegistration, request: Request, c: Ctl) -> dict[str, Any]:
    now = c.clock()
    node = c.registry.nodes.get(body.name) or Node(body.name, body.cpus, body.memory)
    node.cpus, node.memory, node.gpus, node.gpu_type = body.cpus, body.memory, body.gpus, body.gpu_type
    node.facts = {"hostname": body.hostname, "arch": body.arch, "os": body.os,
                  "boot_time": body.boot_time, "version": body.version,
                  "addr": request.client.host if request.client else "",
                  "cgroup": body.cgroup, "enforced": body.enforced,
                  "gpu_devices": body.gpu_devices}
    node.connected, node.last_seen, node.registered_at = True, now, now
    node.load = {"cpu_load": body.cpu_load or 0.0, "free_memory": body.free_memory or 0}
    c.registry.nodes[body.name] = node
    c.registry.queue(body.name).reset()
    c.store.save_node(body.name, node.persistent())
    c.jobs.reconcile(body.name, body.jobs)
    c.wake.set()
    return {"ok": True}


@router.get("/{name}/commands")
async def commands(name: str, request: Request, c: Ctl, ack: int = 0,
                   wait: float = 20.0) -> dict[str, Any]:
    node = c.registry.nodes.get(name)
    if node is None or not node.connected:
        return JSONResponse({"detail": "register first"}, status_code=409)  # type: ignore[return-value]
    node.last_seen = c.clock()
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
            c.registry.connection_lost(name, registered_at)
            return {"commands": []}
    return {"commands": queue.hand_out()}


@router.post("/{name}/reports")
async def reports(name: str, body: AgentReports, c: Ctl) -> dict[str, Any]:
    c.jobs.agent_reports(name, body.reports)
    return {"ok": True}


@router.post("/{name}/heartbeat")
async def heartbeat(name: str, body: AgentLoad, c: Ctl) -> dict[str, Any]:
    node = c.registry.nodes.get(name)
    if node is not None:
        node.last_seen = c.clock()
        node.load = {k: v for k, v in body.model_dump().items() if v is not None}
    return {"ok": True}
