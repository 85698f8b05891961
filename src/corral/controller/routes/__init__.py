"""The REST API (/api/v1), one router per resource; create_app (controller/app.py) assembles
them in ROUTERS' order. Adding a resource (the portal, /metrics) is adding a router here."""

from __future__ import annotations

from fastapi import APIRouter

from corral.controller.routes import accounts, admin, agents, jobs, nodes, partitions, steps

# steps before jobs: POST /jobs/{job_id}/steps would otherwise match /jobs/{job_id}/{action}.
ROUTERS: tuple[APIRouter, ...] = (
    admin.router, steps.router, jobs.router, accounts.router, nodes.router,
    partitions.router, agents.router,
)
