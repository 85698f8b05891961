"""POST /api/v1/jobs/{job_id}/steps: srun asks for a step of a running job.

The caller is named as on every route (routes/deps.py), or by the job's own token
(CORRAL_JOB_TOKEN) in the body as `job_token`, which acts as the job's owner for that job only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from corral.controller.routes.deps import Ctl, resolve_caller
from corral.controller.steps import StepAsk, start_step

router = APIRouter(prefix="/api/v1")


class StepRequest(BaseModel):
    """A step as srun asks for it; a missing count is derived from the allocation."""

    model_config = ConfigDict(extra="forbid")

    argv: list[str] = Field(..., min_length=1)
    work_dir: str
    io_addr: str = Field(..., pattern=r"^[^\s/]+:\d+$")
    io_key: str = Field(..., min_length=16, max_length=256)
    ntasks: int | None = Field(None, ge=1, le=1_000_000)
    nodes: int | None = Field(None, ge=1, le=100_000)
    cpus_per_task: int = Field(1, ge=1, le=100_000)
    ntasks_per_node: int | None = Field(None, ge=1)
    gpus_per_task: int | None = Field(None, ge=0, le=1024)
    overcommit: bool = False
    environment: dict[str, str] = {}
    label: bool = False
    pty: bool = False
    winsize: list[int] | None = Field(None, min_length=2, max_length=2)
    name: str | None = Field(None, max_length=1024)
    job_token: str | None = None


@router.post("/jobs/{job_id}/steps")
async def create_step(job_id: int, body: StepRequest, request: Request, c: Ctl) -> dict[str, Any]:
    # The one caller resolver, given the body's token when srun sends one.
    caller = resolve_caller(request, job_token=body.job_token or None, job_id=job_id)
    ask = StepAsk(argv=tuple(body.argv), work_dir=body.work_dir, io_addr=body.io_addr,
                  io_key=body.io_key, ntasks=body.ntasks, nodes=body.nodes,
                  cpus_per_task=body.cpus_per_task, ntasks_per_node=body.ntasks_per_node,
                  gpus_per_task=body.gpus_per_task, overcommit=body.overcommit,
                  environment=dict(body.environment), label=body.label, pty=body.pty,
                  winsize=tuple(body.winsize) if body.winsize else None,
                  name=body.name)
    return await start_step(c.jobs, job_id, ask, caller)
