"""The dependencies every route takes: the live controller, and who is calling.

One resolver names the caller of every request the same way (controller/auth.py says who may
be what): the socket's peer credentials, a job's token, or, on the agents' routes, the
cluster key. A route declares `caller: Named` (a user, possibly scoped to one job) or takes
`AgentKey` (an agent); only the health check takes neither.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corral.controller.auth import Caller, job_caller, peer_caller, refuse_unknown, require_agent
from corral.controller.service import Controller
from corral.model.errors import InvalidRequest


def get_controller(request: Request) -> Controller:
    controller: Controller = request.app.state.controller
    return controller


def resolve_caller(request: Request, job_token: str | None = None, job_id: int | None = None) -> Caller:
    """The user behind a request; 401 when it names none. A job's token comes in the
    X-Corral-Job-Id/-Token headers, or (srun's step request) with its body."""
    controller = get_controller(request)
    settings = controller.settings
    state = request.scope.get("state") or {}
    uid = state.get("peer_uid")
    if job_token is not None:
        return job_caller(controller.jobs.jobs.get(job_id or 0), job_token, settings.job_token_key)
    if uid is not None:
        return peer_caller(int(uid), int(state["peer_gid"]), settings.operators)
    header_id = request.headers.get("x-corral-job-id", "")
    token = request.headers.get("x-corral-job-token")
    if token:
        job = controller.jobs.jobs.get(int(header_id)) if header_id.isdigit() else None
        return job_caller(job, token, settings.job_token_key)
    raise refuse_unknown(request, settings.cluster_key)


def _caller(request: Request) -> Caller:
    return resolve_caller(request)


def _agent(request: Request) -> None:
    require_agent(request, get_controller(request).settings.cluster_key)


Ctl = Annotated[Controller, Depends(get_controller)]
Named = Annotated[Caller, Depends(_caller)]
AgentKey = Depends(_agent)


def job_ids(text: str | None) -> list[int]:
    """`12,13_4,14.0` → [12, 13, 14]: the jobs a query names."""
    if not text:
        return []
    ids = []
    for item in text.split(","):
        base = item.split("_")[0].split(".")[0].strip()
        if not base.isdigit():
            raise InvalidRequest(f"Invalid job id specified: {item}")
        ids.append(int(base))
    return ids
