"""Partitions (sinfo, scontrol show partition)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from corral.controller.records import partition_record
from corral.controller.routes.deps import Ctl, Named

router = APIRouter(prefix="/api/v1")


@router.get("/partitions")
async def list_partitions(c: Ctl, _: Named) -> list[dict[str, Any]]:
    nodes = sorted(c.registry.nodes.values(), key=lambda n: n.name)
    return [partition_record(p, [n for n in nodes if p.contains(n.name)])
            for p in c.settings.partitions]
