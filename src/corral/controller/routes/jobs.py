"""Jobs: submit, list, show, cancel, hold/release/requeue, update, end an allocation, events,
and why a job waits."""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from corral.api.schemas import AllocationEnd, CancelRequest, JobUpdate, SubmitRequest
from corral.controller.ingest import ingest
from corral.controller.records import job_record
from corral.controller.routes.deps import Ctl, Named, job_ids
from corral.model.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/v1")


def more_ids(pending_tasks: dict[int, set[int]]) -> list[str]:
    ids = [str(meta) for meta in pending_tasks]
    return ids + [f"{meta}_{t}" for meta, tasks in pending_tasks.items() for t in tasks]


@router.post("/jobs")
async def submit(body: SubmitRequest, c: Ctl, caller: Named, test_only: int = 0) -> dict[str, Any]:
    job = await c.jobs.submit(ingest(body, caller), caller, test_only=bool(test_only))
    if not test_only:
        return {"job_id": job.job_id}
    result = c.jobs.test_only(job)
    start = next((s for s in result.starts if s.job_id == job.job_id), None)
    if start is not None:
        return {"job_id": job.job_id, "partition": job.partition, "cpus": job.num_cpus,
                "start_time": c.clock(), "nodes": list(start.allocation)}
    # It cannot start now: where and when the pass reserved for it (Slurm's will_run).
    held = next((r for r in result.reservations if r.job_id == job.job_id), None)
    when = result.estimates.get(job.job_id)
    if when is None and held is not None and held.start != math.inf:
        when = held.start
    return {"job_id": job.job_id, "partition": job.partition, "cpus": job.num_cpus,
            "start_time": when, "nodes": sorted(held.nodes) if held else []}


@router.get("/jobs", response_model=list[dict[str, Any]])
async def list_jobs(c: Ctl, _: Named, user: str | None = None, job_id: str | None = None,
                    state: str | None = None, partition: str | None = None) -> Response:
    jobs = c.jobs.select(job_ids=job_ids(job_id), user=user,
                         states=state.split(",") if state else (), partition=partition)
    encoded = [c.encoded_record(j) for j in sorted(jobs, key=lambda j: j.job_id)]
    return Response(b"[" + b",".join(encoded) + b"]", media_type="application/json")


@router.get("/jobs/{job_id}")
async def get_job(job_id: int, c: Ctl, _: Named) -> dict[str, Any]:
    return job_record(c.jobs.get(job_id))


@router.post("/jobs/cancel")
async def cancel(body: CancelRequest, c: Ctl, caller: Named) -> dict[str, Any]:
    if not body.job_ids and not (body.user or body.name or body.states or body.partition):
        raise InvalidRequest("No job identification provided")
    matching = c.jobs.select(user=body.user, name=body.name, states=body.states,
                             partition=body.partition)
    if body.job_ids:
        jobs, pending_tasks = c.jobs.resolve(body.job_ids)
        allowed = {j.job_id for j in matching}
        jobs = [j for j in jobs if j.job_id in allowed]
    else:
        jobs, pending_tasks = matching, {}
    cancelled, errors = await c.jobs.cancel(jobs, caller, body.signal, body.batch_only)
    # Whole jobs by number, tasks cut out of a pending array as "ID_TASK".
    done: list[int | str] = list(cancelled)
    if body.signal is None or body.signal == 9:
        more, more_errors = await c.jobs.cancel_pending_tasks(pending_tasks, caller)
        done, errors = [*done, *more], [*errors, *more_errors]
    found = {str(j.job_id) for j in jobs} | {str(j.array_job_id) for j in jobs} \
        | {f"{j.array_job_id}_{j.array_task_id}" for j in jobs} | set(more_ids(pending_tasks))
    errors += [{"job_id": str(i), "error": "Invalid job id specified"}
               for i in body.job_ids if str(i) not in found and "[" not in str(i)]
    return {"cancelled": done, "errors": errors}


@router.post("/jobs/{job_id}/complete")  # before /{action}, which would match
async def end_allocation(job_id: int, body: AllocationEnd, c: Ctl, caller: Named) -> dict[str, Any]:
    return job_record(await c.jobs.end_allocation(job_id, caller, body.exit_code,
                                                  body.exit_signal))


@router.post("/jobs/{job_id}/{action}")
async def job_action(job_id: int, action: str, c: Ctl, caller: Named) -> dict[str, Any]:
    verbs = {"hold": c.jobs.hold, "release": c.jobs.release, "requeue": c.jobs.requeue}
    if action not in verbs:
        raise NotFound(f"unknown action {action}")
    return job_record(await verbs[action](job_id, caller))


@router.patch("/jobs/{job_id}")
async def update_job(job_id: int, body: JobUpdate, c: Ctl, caller: Named) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"clear_time_limit"})
    if body.clear_time_limit:
        changes["time_limit"] = None
    if not changes:
        raise InvalidRequest("No changes specified")
    return job_record(await c.jobs.update(job_id, changes, caller))


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: int, c: Ctl, _: Named) -> list[dict[str, Any]]:
    # Read in a thread: no blocking database call runs on the event loop.
    return [asdict(e) for e in await asyncio.to_thread(c.store.events_of, job_id)]


@router.get("/jobs/{job_id}/why")
async def why(job_id: int, c: Ctl, _: Named) -> dict[str, Any]:
    return c.jobs.why(job_id)
