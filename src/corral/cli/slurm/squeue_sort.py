"""squeue's sort order: -S keys over Slurm's base order (pure: `now` is given)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from corral.cli.common.sortspec import apply_sort_spec
from corral.cli.slurm.squeue_format import (
    SHORT_STATE,
    Job,
    as_int,
    as_text,
    nodelist,
    num_nodes,
    start_of,
    state_of,
    time_used,
)

DEFAULT_SORT = "P,t,-p"

_INFINITE = float("inf")


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"([0-9]+)", text))


def _id_key(job: Job) -> tuple[int, int]:
    if job.get("array_job_id") and job.get("array_task_id") is not None:
        return as_int(job["array_job_id"]), as_int(job["array_task_id"])
    return as_int(job.get("job_id")), -1


def _start_key(now: float) -> Callable[[Job], float]:
    def key(job: Job) -> float:
        start = start_of(job)
        if not start:
            return now + 100
        if state_of(job) == "PENDING" and start < now:
            return now
        return float(start)
    return key


def _sort_keys(now: float) -> dict[str, Callable[[Job], Any] | None]:
    return {
        "P": None, "b": None, "c": None, "d": None, "f": None, "h": None, "n": None, "O": None,
        "z": None, "H": None, "I": None, "J": None,
        "i": _id_key,
        "t": lambda j: SHORT_STATE.get(state_of(j), state_of(j)),
        "T": state_of,
        "p": lambda j: as_int(j.get("priority")),
        "Q": lambda j: as_int(j.get("priority")),
        "j": lambda j: as_text(j.get("name"), ""),
        "u": lambda j: as_text(j.get("user"), ""),
        "U": lambda j: as_int(j.get("uid")),
        "g": lambda j: as_text(j.get("group"), ""),
        "G": lambda j: as_int(j.get("gid")),
        "B": lambda j: as_text(j.get("batch_host"), ""),
        "v": lambda j: as_text(j.get("reservation"), ""),
        "C": lambda j: as_int(j.get("num_cpus")),
        "D": num_nodes,
        "m": lambda j: as_int(j.get("mem_per_cpu") or j.get("min_memory_node")),
        "M": lambda j: time_used(j, now),
        "l": lambda j: _INFINITE if j.get("time_limit") is None else as_int(j["time_limit"]),
        "L": lambda j: _INFINITE if j.get("time_limit") is None
        else as_int(j["time_limit"]) * 60 - time_used(j, now),
        "S": _start_key(now),
        "V": lambda j: float(j.get("submit_time") or 0),
        "e": lambda j: float(j.get("end_time") or 0),
        "N": lambda j: _natural(nodelist(j.get("nodes"))),
    }


def sort_jobs(jobs: Iterable[Job], spec: str | None, now: float) -> list[Job]:
    """Orders jobs as squeue 22.05 does, so that the default is state (CG, PD, R ... as
    strings), then priority (highest first), then start time (latest first; pending jobs
    without an estimate last), then job id.

    The -S keys apply right to left with stable sorts over that base order, so the leftmost
    key wins. The partition key is a no-op, as in squeue (it only orders --priority listings).
    Raises ValueError("Invalid sort specification: X") for an unknown key.
    """
    ordered = sorted(jobs, key=_id_key)
    # squeue's first pass (sort_jobs_by_start_time) runs before its clock is read, so a job
    # without a start time ranks as time 0+100 there: after every real one.
    ordered.sort(key=lambda job: float(start_of(job) or 0), reverse=True)
    return apply_sort_spec(ordered, spec or DEFAULT_SORT, _sort_keys(now))
