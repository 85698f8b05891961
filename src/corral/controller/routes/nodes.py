"""Nodes: list, show, and an operator's DRAIN / DOWN / RESUME (scontrol update node)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from corral.api.schemas import NodeUpdate
from corral.controller.routes.deps import Ctl, Named
from corral.model.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/v1")


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
    if state == "DRAIN":
        node.drain = True
    elif state == "DOWN":
        node.down = True
    elif state in ("RESUME", "UNDRAIN", "IDLE"):
        node.drain = node.down = False
    else:
        raise InvalidRequest(f"Invalid node state specified: {body.state}")
    node.reason = body.reason if state in ("DRAIN", "DOWN") else None
    node.reason_time = c.clock() if node.reason else None
    node.reason_uid = caller.uid if node.reason else None
    c.store.save_node(name, node.persistent())
    if state == "DOWN":
        c.jobs.node_failed(name, cause=f"down:{name}")  # Slurm kills a DOWN node's jobs
    c.wake.set()
    return next(r for r in c.node_records() if r["name"] == name)
