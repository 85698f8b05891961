"""Who is calling: every request is a user, a job acting through its token, or an agent.

- On the local Unix socket the kernel names the caller (SO_PEERCRED), as munge does for Slurm.
- A process of a job proves itself with the job's token (X-Corral-Job-Id/-Token): it acts as
  the job's owner, but may change only that job and its steps, and never as an operator, so
  a leaked token of a root job is not root.
- The cluster key names an agent, never a user: with it a caller may act only as a node
  (register, fetch commands, report). X-Corral-Uid is not trusted from anyone.

Anything else is refused, reads included; only the health check is open.
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass

from fastapi import Request

from corral.controller.jobtoken import token_matches
from corral.model.errors import PermissionDenied, UserError
from corral.model.job import Job


class Unauthenticated(UserError):
    status = 401


@dataclass(frozen=True, slots=True)
class Caller:
    uid: int
    gid: int
    user: str
    operator: bool = False
    # A job token's job: the only job (and steps) this caller may change.
    job_scope: int | None = None

    def may_change(self, job: Job) -> bool:
        if self.job_scope is not None:
            return job.job_id == self.job_scope
        return self.operator or self.uid == job.spec.uid

    def require_operator(self, message: str = "Access/permission denied") -> None:
        if not self.operator:
            raise PermissionDenied(message)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def peer_caller(uid: int, gid: int, operators: frozenset[int]) -> Caller:
    return Caller(uid, gid, user_name(uid), operator=uid in operators)


def job_caller(job: Job | None, token: str | None, token_key: str) -> Caller:
    """The owner of `job`, scoped to it, when `token` is the job's current token."""
    if job is None or not job.state.is_active or not token_matches(
            token_key, job.job_id, job.attempt, token):
        raise Unauthenticated("invalid job token")
    return Caller(job.spec.uid, job.spec.gid, job.spec.user, job_scope=job.job_id)


def is_agent(request: Request, cluster_key: str) -> bool:
    return bool(cluster_key) and request.headers.get("authorization") == f"Bearer {cluster_key}"


def require_agent(request: Request, cluster_key: str) -> None:
    if not is_agent(request, cluster_key):
        raise Unauthenticated("cluster key required")


def refuse_unknown(request: Request, cluster_key: str) -> Unauthenticated:
    """The error for a request that names no user: why, in one line."""
    if is_agent(request, cluster_key):
        return Unauthenticated("the cluster key authenticates agents, not users")
    return Unauthenticated("authentication required: use the controller's local socket, "
                           "or a job's token from inside the job")


def job_identity(caller: Caller, uid: int | None, gid: int | None) -> tuple[int, int]:
    """(uid, gid) a submitted job runs as: the caller's own; only root may name others, as
    Slurm's --uid/--gid. Supplementary groups come from the group database at launch."""
    if caller.job_scope is not None:
        # A token that leaked from a job must not start new work as the job's owner.
        raise PermissionDenied(f"Access/permission denied: a job token acts on job "
                               f"{caller.job_scope} only")
    if caller.uid == 0:
        if uid is None or uid == caller.uid:
            return caller.uid, caller.gid if gid is None else gid
        if gid is None:
            try:
                gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                raise PermissionDenied(f"Invalid user id: {uid}") from None
        return uid, gid
    if uid is not None and uid != caller.uid:
        raise PermissionDenied("Access/permission denied: cannot submit as another user")
    if gid is not None and gid != caller.gid:
        raise PermissionDenied("Access/permission denied: cannot submit with another group")
    return caller.uid, caller.gid
