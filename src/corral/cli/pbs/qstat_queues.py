"""qstat -Q: corral's partitions as PBS Pro's queues, in its summary table or (-f) in full.

Counts come from the live queue: each PBS job (an array counts once) by its state letter.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.pbs import qstat_format as fmt
from corral.cli.pbs.options import EXIT_UNKQUE
from corral.client import Client

HEADER = ("Queue              Max   Tot Ena Str   Que   Run   Hld   Wat   Trn   Ext Type\n"
          "---------------- ----- ----- --- --- ----- ----- ----- ----- ----- ----- ----")
# PBS's state_count names, in its order, and the letters each counts.
_COUNTS = (("Transit", "T"), ("Queued", "Q"), ("Held", "H"), ("Waiting", "W"),
           ("Running", "RS"), ("Exiting", "E"), ("Begun", "B"))


def counts(jobs: Sequence[fmt.PbsJob]) -> dict[str, int]:
    letters = [fmt.job_state(j) for j in jobs]
    return {name: sum(1 for s in letters if s in states) for name, states in _COUNTS}


def summary_row(part: Mapping[str, Any], jobs: Sequence[fmt.PbsJob]) -> str:
    c = counts(jobs)
    up = "yes" if part.get("state", "UP") == "UP" else "no"
    return (f"{fmt.trunc(str(part['name']), 16):<16.16} {0:>5} {len(jobs):>5} {up:>3} {up:>3} "
            f"{c['Queued']:>5} {c['Running'] + c['Begun']:>5} {c['Held']:>5} "
            f"{c['Waiting']:>5} {c['Transit']:>5} {c['Exiting']:>5} Exec")


def full_queue(part: Mapping[str, Any], jobs: Sequence[fmt.PbsJob]) -> str:
    c = counts(jobs)
    up = "True" if part.get("state", "UP") == "UP" else "False"
    live = [j.record for j in jobs if fmt.job_state(j) in "RSE" and j.kind == "job"]
    attrs = [("queue_type", "Execution"), ("total_jobs", str(len(jobs)))]
    if part.get("max_time") is not None:
        attrs.append(("resources_max.walltime", fmt.hms(int(part["max_time"]) * 60)))
    if part.get("default_time") is not None:
        attrs.append(("resources_default.walltime", fmt.hms(int(part["default_time"]) * 60)))
    attrs += [("resources_assigned.mem",
               f"{sum(int(r.get('mem_per_node') or 0) * len(r.get('nodes') or []) for r in live) * 1024}kb"),
              ("resources_assigned.ncpus", str(sum(int(r.get("num_cpus") or 0) for r in live))),
              ("resources_assigned.nodect", str(sum(len(r.get("nodes") or []) for r in live))),
              ("hasnodes", "True"), ("enabled", up), ("started", up)]
    lines = [f"Queue: {part['name']}"] + [fmt.attribute(k, v) for k, v in attrs]
    # state_count is one line however long (attribute() would wrap it at its blanks' commas).
    lines.insert(3, "    state_count = " + " ".join(f"{k}:{v}" for k, v in c.items()) + " ")
    return "\n".join(lines) + "\n"


def show(client: Client, operands: Sequence[str], *, full: bool, server: str) -> int:
    partitions = client.partitions()
    wanted = [o.split("@")[0] for o in operands if o.split("@")[0]]
    known = {str(p["name"]) for p in partitions}
    failed = 0
    for name in wanted:
        if name not in known:
            print(f"qstat: Unknown queue {name}", file=sys.stderr)
            failed = EXIT_UNKQUE
    chosen = [p for p in partitions if not wanted or p["name"] in wanted]
    # Finished jobs stay in corral's live list a while; PBS counts only unfinished ones.
    jobs = [j for j in fmt.group(client.jobs(), subjobs=False) if fmt.job_state(j) != "F"]
    by_queue = {str(p["name"]): [j for j in jobs if j.record.get("partition") == p["name"]]
                for p in chosen}
    if chosen and not full:
        print(HEADER)
    for part in chosen:
        print(full_queue(part, by_queue[str(part["name"])]) if full
              else summary_row(part, by_queue[str(part["name"])]))
    return failed
