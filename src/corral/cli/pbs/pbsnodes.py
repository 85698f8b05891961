"""pbsnodes: corral's nodes as PBS Pro's vnodes (`pbsnodes -a`, `pbsnodes NODE...`, `-l`).

Each node is its name, then its attributes indented five blanks, then a blank line, as PBS
Pro prints them. State: free (CPUs left), job-busy (none left), offline (drained), down.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.pbs.options import OptionProblem, getopt, run_pbs_command
from corral.client import Client

USAGE = """\
usage:
\tpbsnodes [-o|-r|-l] [-s server] [-C comment] node node ...
\tpbsnodes -l [-s server]
\tpbsnodes -a [-s server]
\tpbsnodes [-s server] -v vnode vnode ...
\tpbsnodes --version
"""
Node = Mapping[str, Any]


def pbs_state(node: Node) -> str:
    state = str(node.get("state") or "").upper()
    if not node.get("responding", True) or state.startswith("DOWN"):
        return "down"
    if state.startswith(("DRAIN", "FAIL")):
        return "offline"
    if int(node.get("alloc_cpus") or 0) >= int(node.get("cpus") or 1):
        return "job-busy"
    return "free"


def node_jobs(node: Node, jobs: Sequence[Mapping[str, Any]], server: str) -> str:
    """`jobs = 12.server/0, 12.server/1`: one entry per CPU a job holds on the node."""
    entries: list[str] = []
    for job in jobs:
        if job.get("state") not in ("RUNNING", "COMPLETING", "SUSPENDED"):
            continue
        if node["name"] not in (job.get("nodes") or []):
            continue
        per_node = max(1, int(job.get("num_cpus") or 1) // max(1, len(job.get("nodes") or [])))
        task = job.get("array_task_id")
        seq = f"{job['array_job_id']}[{task}]" if task is not None else str(job["job_id"])
        entries += [f"{seq}.{server}/{len(entries) + i}" for i in range(per_node)]
    return ", ".join(entries)


def node_text(node: Node, jobs: Sequence[Mapping[str, Any]], server: str) -> str:
    name = str(node["name"])
    attrs: list[tuple[str, str]] = [("Mom", str(node.get("hostname") or name)),
                                    ("ntype", "PBS"), ("state", pbs_state(node)),
                                    ("pcpus", str(node.get("cpus") or 0))]
    held = node_jobs(node, jobs, server)
    if held:
        attrs.append(("jobs", held))
    gpus = int(node.get("gpus") or 0)
    attrs += [("resources_available.arch", "linux"), ("resources_available.host", name),
              ("resources_available.mem", f"{int(node.get('memory') or 0) * 1024}kb"),
              ("resources_available.ncpus", str(node.get("cpus") or 0))]
    if gpus:
        attrs.append(("resources_available.ngpus", str(gpus)))
    attrs += [("resources_available.vnode", name),
              ("resources_assigned.mem", f"{int(node.get('alloc_memory') or 0) * 1024}kb"),
              ("resources_assigned.ncpus", str(node.get("alloc_cpus") or 0))]
    if gpus:
        attrs.append(("resources_assigned.ngpus", str(node.get("alloc_gpus") or 0)))
    if node.get("reason"):
        attrs.append(("comment", str(node["reason"])))
    attrs += [("resv_enable", "True"), ("sharing", "default_shared")]
    if node.get("reason_time"):
        attrs.append(("last_state_change_time", time.ctime(float(node["reason_time"]))))
    return "\n".join([name] + [f"     {k} = {v}" for k, v in attrs]) + "\n"


def _body(client: Client, argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("pbs_version = 2022.1.0")
        return 0
    try:
        found, operands, _ = getopt("pbsnodes", argv, "alSs:", permute=True)
    except OptionProblem as exc:
        print(exc, file=sys.stderr)
        sys.stderr.write(USAGE)
        return 1
    flags = dict(found)
    nodes = client.nodes()
    if "l" in flags:
        # The nodes that cannot run jobs, each with its state (and why, if known).
        for node in nodes:
            state = pbs_state(node)
            if state in ("down", "offline"):
                print(f"{node['name']:<20} {state:<15} {node.get('reason') or ''}".rstrip())
        return 0
    if not operands and "a" not in flags:
        sys.stderr.write(USAGE)
        return 1
    server = str(client.ping()["controller"])
    jobs = client.jobs()
    by_name = {str(n["name"]): n for n in nodes}
    failed = 0
    for name in operands or list(by_name):
        if name not in by_name:
            print(f"pbsnodes: Unknown node  {name}", file=sys.stderr)
            failed = 1
            continue
        print(node_text(by_name[name], jobs, server))
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    return run_pbs_command("pbsnodes", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
