"""Why a job is where it is, in plain words, from a pass's decisions (what `corral why` prints)."""

from __future__ import annotations

import math

from corral.core.decisions import CycleResult
from corral.core.limits import LIMIT_REASONS
from corral.core.selection import per_node_request
from corral.model.job import Job
from corral.model.states import Reason

R = Reason
_LIMITS = LIMIT_REASONS
_CONFIG = {R.PARTITION_CONFIG, R.PARTITION_TIME_LIMIT, R.PARTITION_NODE_LIMIT,
           R.PARTITION_DOWN, R.PARTITION_INACTIVE, R.BAD_CONSTRAINTS, R.ACCOUNT_NOT_ALLOWED,
           R.QOS_NOT_ALLOWED, R.INVALID_ACCOUNT, R.INVALID_QOS, R.REQ_NODE_NOT_AVAIL}


def after(seconds: float) -> str:
    """A duration as people say it: "now", "in 45 s", "in 2 h 05 min", "in 3 days 4 h"."""
    if seconds <= 0:
        return "now"
    s = int(math.ceil(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"in {days} day{'s' if days > 1 else ''} {hours} h"
    if hours:
        return f"in {hours} h {minutes:02d} min"
    if minutes:
        return f"in {minutes} min"
    return f"in {secs} s"


def _request(job: Job) -> str:
    need = per_node_request(job.spec, job.mem_per_node)
    nodes = job.spec.num_nodes
    what = "whole node" if need.exclusive else f"{need.cpus} CPU(s), {need.memory} MB"
    if need.gpus and not need.exclusive:
        what += f", {need.gpus} GPU(s)" + (f" of type {need.gpu_type}" if need.gpu_type else "")
    if job.spec.constraint:
        what += f", features {job.spec.constraint}"
    return f"{nodes} node(s), each with {what}"


def explain(result: CycleResult, job: Job) -> str:
    jid = job.job_id
    now = result.now
    start = next((s for s in result.starts if s.job_id == jid), None)
    if start is not None:
        text = f"Job {jid} starts now on {', '.join(sorted(start.allocation))}."
        if start.backfilled:
            text += (" It goes ahead of higher-priority jobs (backfill): it fits in what is free"
                     " and ends before anything reserved for them is needed.")
        return text
    victim = [p for p in result.preemptions if p.job_id == jid]
    if victim:
        p = victim[0]
        return (f"Job {jid} is preempted for job {p.for_job}, whose QOS may preempt it: it is "
                f"{'requeued' if p.mode.value == 'REQUEUE' else 'cancelled'} after a grace time "
                f"of {p.grace_time} s.")
    reason = result.reasons.get(jid)
    if reason is None:
        return f"Job {jid} was not pending in this pass."
    detail = result.details.get(jid)
    estimate = result.estimates.get(jid)
    reservation = next((r for r in result.reservations if r.job_id == jid), None)
    making_room = [p.job_id for p in result.preemptions if p.for_job == jid]
    lines: list[str] = []
    if making_room:
        lines.append(f"Job {jid} starts as soon as job(s) {', '.join(map(str, making_room))} "
                     "make room: its QOS may preempt theirs.")
    elif reason is R.RESOURCES:
        lines.append(f"Job {jid} is the first job waiting in partition {job.partition}: there "
                     f"are not enough free resources for it now ({_request(job)}).")
        if reservation is not None and reservation.start != math.inf:
            when = after(reservation.start - now)
            lines.append(f"Nodes {', '.join(sorted(reservation.nodes))} are reserved for it "
                         f"{'from now' if when == 'now' else 'starting ' + when}, when running "
                         "jobs reach their time limits; a job that would still be running then "
                         "may not use them.")
        elif reservation is not None:
            lines.append("No running job's time limit frees enough for it, so when it can start "
                         "is unknown; the nodes it could use are kept from jobs without a limit.")
    elif reason is R.PRIORITY:
        lines.append(f"Job {jid} waits behind higher-priority jobs in partition {job.partition}. "
                     "It could start ahead of them only by fitting into free resources without "
                     "delaying the jobs reserved before it, and it does not fit that way now "
                     f"({_request(job)}).")
    elif reason in (R.HELD_USER, R.HELD_ADMIN):
        who = "its owner" if reason is R.HELD_USER else "an administrator"
        lines.append(f"Job {jid} is held by {who}; `scontrol release {jid}` lets it run.")
    elif reason is R.BEGIN_TIME:
        begin = job.spec.begin_time
        lines.append(f"Job {jid} may not start before its --begin time"
                     + (f", {after(begin - now)}." if begin is not None else "."))
    elif reason in (R.DEPENDENCY, R.DEPENDENCY_NEVER_SATISFIED):
        lines.append(f"Job {jid} waits for its dependencies ({job.spec.dependency or 'see scontrol'})"
                     + (", which can never be satisfied." if reason is R.DEPENDENCY_NEVER_SATISFIED
                        else "."))
    elif reason in _LIMITS:
        lines.append(f"Job {jid} is held back by a limit ({reason.value}): {detail or 'see sacctmgr'}."
                     " It can start once jobs under the same limit end.")
    elif reason in _CONFIG:
        lines.append(f"Job {jid} cannot run as it stands ({reason.value}): "
                     f"{detail or 'see scontrol show partition'}.")
    else:
        lines.append(f"Job {jid} is pending ({reason.value})" + (f": {detail}." if detail else "."))
    if estimate is not None and not math.isinf(estimate):
        lines.append(f"Expected start: {after(estimate - now)}, if running jobs use their full "
                     "time limits and no higher-priority job arrives.")
    return " ".join(lines)
