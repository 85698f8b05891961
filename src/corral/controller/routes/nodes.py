"""Nodes: list, show, and an operator's DRAIN / DOWN / RESUME (scontrol update node)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from corral.api.schemas import NodeUpdate
from corral.controller.node_states import NodeEvent
from corral.controller.routes.deps import Ctl, Named
from corral.model.errors import InvalidRequest, InvalidTransition, NotFound

router = APIRouter(prefix="/api/v1")

# scontrol update NodeName=… State=… → the node state machine's admin event.
ADMIN_EVENT = {"DRAIN": NodeEvent.DRAINED, "DOWN": NodeEvent.DOWNED, "RESUME": NodeEvent.RESUMED,
               "UNDRAIN": NodeEvent.RESUMED, "IDLE": NodeEvent.RESUMED}


@router.get("/nodes")
async def list_nodes(c: Ctl, _: Named) -> list[dict[str, Any]]:
    return c.node_records()


@router.get("/nodes/{name}")
async def get_node(name: str, c: Ctl, _: Named) -> dict[str, Any]:
    for record in c.node_records():
        if record["name"] == name:
            return record
    raise NotFound(f"Node {name} not found")


@router.patch("/nodes/{name}")
async def update_node(name: str, body: NodeUpdate, c: Ctl, caller: Named) -> dict[str, Any]:
    caller.require_operator()
    node = c.registry.nodes.get(name)
    if node is None:
        raise NotFound(f"Invalid node name specified: {name}")
    state = body.state.upper()
    if state in ("DRAIN", "DOWN") and not body.reason:
        raise InvalidRequest("You must specify a reason when DOWNING or DRAINING a node. "
                             "Request denied")
    event = ADMIN_EVENT.get(state)
    if event is None:
        raise InvalidRequest(f"Invalid node state specified: {body.state}")
    try:  # through the node state machine, which saves and publishes the change
        await c.registry.commit(name, event, c.clock(), cause=f"scontrol:{caller.uid}",
                                reason=body.reason, uid=caller.uid)
    except InvalidTransition:
        # Slurm: "Invalid node state transition requested for node N from=S to=T", which
        # scontrol reports as its error text.
        raise InvalidRequest(f"Invalid node state specified: {body.state}") from None
    if state == "DOWN":
        await c.jobs.node_failed(name, cause=f"down:{name}")  # Slurm kills a DOWN node's jobs
    c.wake.set()
    return next(r for r in c.node_records() if r["name"] == name)
