"""bqueues, bhosts, bpeek and bhist: corral's partitions, nodes and jobs as IBM Spectrum LSF
shows them in its default layouts.

Slot counts are CPUs; NJOBS counts slots, as LSF's do. A host is `ok` while it has free
slots, `closed` when full, `closed_Adm` when drained and `unavail` when its agent is gone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from corral.cli.common.runner import run_command
from corral.cli.common.translate import expand_indices
from corral.cli.lsf.options import INDEX_LIMIT, LsfError, parse_args
from corral.client import Client, ControllerUnreachable

Rec = Mapping[str, Any]
QUEUE_HEADER = ("QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  "
                "SUSP ")
HOST_HEADER = ("HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV ")
_LIVE = ("PENDING", "RUNNING", "COMPLETING", "SUSPENDED")


def _slots(job: Rec) -> int:
    return max(1, int(job.get("num_tasks") or 1))


def queue_counts(jobs: Sequence[Rec]) -> tuple[int, int, int]:
    """(PEND, RUN, SUSP) slots; a folded pending array counts each of its tasks."""
    pend = run = susp = 0
    for job in jobs:
        state = job.get("state")
        if state == "PENDING":
            text = str(job.get("array_task_string") or "")
            pend += _slots(job) * (len(expand_indices(text, INDEX_LIMIT)) if text else 1)
        elif state in ("RUNNING", "COMPLETING"):
            run += _slots(job)
        elif state == "SUSPENDED":
            susp += _slots(job)
    return pend, run, susp


def queue_line(part: Rec, jobs: Sequence[Rec]) -> str:
    pend, run, susp = queue_counts(jobs)
    status = "Open:Active" if part.get("state", "UP") == "UP" else "Closed:Inact"
    return (f"{str(part['name'])[:15]:<15} {30:>4}  {status:<15} {'-':>3} {'-':>4} {'-':>4} "
            f"{'-':>4} {pend + run + susp:>5} {pend:>5} {run:>5} {susp:>5}")


def host_status(node: Rec) -> str:
    state = str(node.get("state") or "").upper()
    if not node.get("responding", True) or state.startswith("DOWN"):
        return "unavail"
    if state.startswith(("DRAIN", "FAIL")):
        return "closed_Adm"
    return "closed" if int(node.get("alloc_cpus") or 0) >= int(node.get("cpus") or 1) else "ok"


def host_line(node: Rec, jobs: Sequence[Rec]) -> str:
    name = str(node["name"])
    mine = [j for j in jobs if name in (j.get("nodes") or []) and j.get("state") in _LIVE]
    run = sum(_slots(j) // max(1, len(j.get("nodes") or [])) or 1 for j in mine
              if j.get("state") != "SUSPENDED")
    susp = sum(_slots(j) // max(1, len(j.get("nodes") or [])) or 1 for j in mine
               if j.get("state") == "SUSPENDED")
    return (f"{name[:18]:<18} {host_status(node):<12} {'-':>4} {int(node.get('cpus') or 0):>6} "
            f"{run + susp:>6} {run:>6} {0:>6} {susp:>6} {0:>6}")


def bqueues(client: Client, argv: Sequence[str]) -> int:
    found, operands = parse_args("bqueues", argv, {"w": False}, stop_at_operand=False)
    parts = client.partitions()
    known = {str(p["name"]) for p in parts}
    for name in operands:
        if name not in known:
            print(f"{name}: No such queue", file=sys.stderr)
            return 255
    jobs = client.jobs()
    print(QUEUE_HEADER)
    for part in parts:
        if not operands or part["name"] in operands:
            print(queue_line(part, [j for j in jobs if j.get("partition") == part["name"]]))
    return 0


def bhosts(client: Client, argv: Sequence[str]) -> int:
    found, operands = parse_args("bhosts", argv, {"w": False}, stop_at_operand=False)
    nodes = client.nodes()
    known = {str(n["name"]) for n in nodes}
    for name in operands:
        if name not in known:
            print(f"{name}: Bad host name, host group name or cluster name", file=sys.stderr)
            return 255
    jobs = client.jobs()
    print(HOST_HEADER)
    for node in nodes:
        if not operands or node["name"] in operands:
            print(host_line(node, jobs))
    return 0


def _job_of(client: Client, text: str) -> Rec | None:
    from corral.cli.lsf.bjobs import parse_job_arg

    job_id, indices = parse_job_arg(text)
    for job in client.jobs(job_ids=[str(job_id)]):
        if indices is None or job.get("array_task_id") in indices:
            return job
    return None


def bpeek(client: Client, argv: Sequence[str]) -> int:
    """The output so far of an unfinished job (the most recent one of mine without an id)."""
    found, operands = parse_args("bpeek", argv, {"f": False}, stop_at_operand=False)
    if operands:
        job = _job_of(client, operands[0])
        if job is None:
            history = client.history(job_ids=[operands[0].split("[")[0]])
            print(f"Job <{operands[0]}>: " + ("Job has already finished" if history
                                               else "No matching job found"), file=sys.stderr)
            return 255
    else:
        from corral.cli.lsf.bjobs import _me

        running = [j for j in client.jobs(user=_me()) if j.get("state") in _LIVE]
        if not running:
            print("No unfinished job found", file=sys.stderr)
            return 255
        job = max(running, key=lambda j: float(j.get("submit_time") or 0))
    if job.get("state") == "PENDING":
        print(f"Job <{job['job_id']}>: Job has not started yet", file=sys.stderr)
        return 255
    print("<< output from stdout >>")
    path = str(job.get("stdout") or "")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            sys.stdout.write(handle.read())
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
        return 255
    return 0


def bhist(client: Client, argv: Sequence[str]) -> int:
    """The short summary: seconds each job spent pending, running and suspended."""
    from corral.cli.lsf.bjobs import _me, trunc
    from corral.clock import system_clock

    found, operands = parse_args("bhist", argv, {"a": False, "d": False, "u": True},
                                 stop_at_operand=False)
    flags = dict(found)
    user = None if flags.get("u") == "all" or operands else (flags.get("u") or _me())
    ids = [o.split("[")[0] for o in operands] or None
    now = system_clock()
    records = {int(j["job_id"]): j for j in client.history(user=user, all_users=user is None,
                                                           job_ids=ids)}
    if "d" not in flags:
        records.update({int(j["job_id"]): j for j in client.jobs(user=user, job_ids=ids)})
    rows = [j for j in records.values() if "a" in flags or "d" in flags or operands
            or j.get("state") in _LIVE]
    if "d" in flags:
        rows = [j for j in rows if j.get("state") not in _LIVE]
    if not rows:
        print("No matching job found", file=sys.stderr)
        return 255
    print("Summary of time in seconds spent in various states:")
    print("JOBID   USER    JOB_NAME  PEND    PSUSP   RUN     USUSP   SSUSP   UNKWN   TOTAL")
    for job in sorted(rows, key=lambda j: int(j["job_id"])):
        submit = float(job.get("submit_time") or now)
        start = job.get("start_time") if job.get("nodes") else None
        end = float(job.get("end_time") or now)
        pend = int((float(start) if start else end) - submit)
        run = int(end - float(start)) if start else 0
        task = job.get("array_task_id")
        shown = f"{job['array_job_id']}[{task}]" if task is not None else str(job["job_id"])
        print(f"{shown:<7} {str(job.get('user') or '')[:7]:<7} "
              f"{trunc(str(job.get('name') or ''), 9):<9} {pend:<7} {0:<7} {run:<7} "
              f"{0:<7} {0:<7} {0:<7} {pend + run}")
    return 0


def lsf_wording(prog: str, exc: Exception) -> tuple[str, int] | None:
    """LSF's own message, or LSF's words for a master that does not answer; exit 255."""
    if isinstance(exc, LsfError):
        return exc.message, 255
    if isinstance(exc, ControllerUnreachable):
        return f"{exc}. LSF is down. Please wait ...", 255
    return None


def run(prog: str, body: Callable[[Client, list[str]], int], argv: Sequence[str] | None) -> int:
    return run_command(prog, body, argv, lsf_wording)


def main_bqueues(argv: Sequence[str] | None = None) -> int:
    return run("bqueues", bqueues, argv)


def main_bhosts(argv: Sequence[str] | None = None) -> int:
    return run("bhosts", bhosts, argv)


def main_bpeek(argv: Sequence[str] | None = None) -> int:
    return run("bpeek", bpeek, argv)


def main_bhist(argv: Sequence[str] | None = None) -> int:
    return run("bhist", bhist, argv)
