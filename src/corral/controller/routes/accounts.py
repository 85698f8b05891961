"""Accounts, fair-share, priorities (sshare, sprio, sacctmgr) and accounting (sacct)."""

from __future__ import annotations

import asyncio
import pwd
from typing import Any

from fastapi import APIRouter

from corral.api.schemas import AccountAdmin
from corral.controller.records import job_record
from corral.controller.routes.deps import Ctl, Named, job_ids

router = APIRouter(prefix="/api/v1")


@router.get("/accounting/jobs")
async def accounting(c: Ctl, caller: Named, user: str | None = None, all_users: int = 0,
                     job_id: str | None = None, start: float | None = None,
                     end: float | None = None, state: str | None = None) -> list[dict[str, Any]]:
    uid: int | None = caller.uid
    if all_users or job_id:
        uid = None
    if user:
        try:
            uid = pwd.getpwnam(user).pw_uid
        except KeyError:
            uid = int(user) if user.isdigit() else -1
    # Read in a thread: no blocking database call runs on the event loop.
    jobs = await asyncio.to_thread(c.store.history, uid=uid, job_ids=job_ids(job_id),
                                   start=start, end=end, states=state.split(",") if state else ())
    live = c.jobs.jobs
    return [job_record(live.get(j.job_id, j)) for j in jobs]


@router.get("/accounts")
async def accounts(c: Ctl, _: Named) -> dict[str, Any]:
    return c.jobs.accounting.as_dict()


@router.post("/accounts/admin")
async def account_admin(body: AccountAdmin, c: Ctl, caller: Named) -> dict[str, Any]:
    caller.require_operator("Your user doesn't have privilege to perform this action")
    result = await c.jobs.accounting.admin({**body.model_dump(by_alias=True)})
    if result["changed"] and not body.dry_run:
        c.wake.set()  # limits, shares or QOS changed: decide again
    return result


@router.get("/shares")
async def shares(c: Ctl, _: Named) -> dict[str, Any]:
    return c.jobs.accounting.shares()


@router.get("/priorities")
async def priorities(c: Ctl, _: Named, user: str | None = None,
                     job_id: str | None = None) -> dict[str, Any]:
    return c.jobs.priority_factors(user=user, job_ids=job_ids(job_id))
