"""seff: a finished job's CPU and memory efficiency, laid out as Slurm's contrib `seff` does.

Read from the accounting record (sacct's data): CPU time summed over the job's steps,
memory as the largest step's peak, against what the job was allocated. GPU jobs get
corral's extra lines on GPU utilisation and memory, sampled on the node through NVML.
"""

from __future__ import annotations

import getopt
import math
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.common.runner import run_command
from corral.client import Client

Record = Mapping[str, Any]
VERSION = "2.1"
USAGE = """Usage: seff [Options] <Jobid>
       Options:
       -h    Help menu
       -v    Version
       -d    Debug mode: display raw Slurm data
"""


def time2str(seconds: float) -> str:
    """``[D-]HH:MM:SS``, as seff prints durations."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}-" if days >= 1 else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


def kbytes2str(kbytes: float) -> str:
    """KiB in the largest unit below 1024 of it: ``78.12 MB``; nothing at all is ``0.00 MB``."""
    if kbytes <= 0:
        return "0.00 MB"
    exp = max(0, min(5, int(math.log(kbytes) / math.log(1024))))
    return f"{kbytes / 1024 ** exp:.2f} {'KMGTPE'[exp]}B"


def _steps(rec: Record) -> list[Record]:
    steps = [rec["batch_step"]] if rec.get("batch_step") else []
    return steps + list(rec.get("steps") or [])


def cpu_seconds(rec: Record) -> int:
    """Whole seconds summed, then the fractions summed and rounded (seff's tot_cpu_sec/usec)."""
    times = [float(s.get("total_cpu_s") or 0.0) for s in _steps(rec)]
    whole = sum(math.floor(t) for t in times)
    return whole + int(sum(t - math.floor(t) for t in times) + 0.5)


def memory_kb(rec: Record) -> int:
    return max((int(s.get("max_rss_kb") or 0) for s in _steps(rec)), default=0)


def _elapsed(rec: Record, now: float) -> int:
    start = rec.get("start_time")
    if start is None:
        return 0
    end = rec.get("end_time")
    return max(0, math.floor(end if end is not None else now) - math.floor(start))


def _gpu_lines(rec: Record, nnodes: int) -> list[str]:
    per_node = int(rec.get("gpus_per_node") or 0)
    if not per_node:
        return []
    lines = [f"GPUs: {per_node * nnodes}"]
    samples = [s for s in _steps(rec) if s.get("gpu_util") is not None]
    if not samples:
        return lines + ["GPU Utilization: not measured (no NVML on the node)"]
    util = max(float(s["gpu_util"]) for s in samples)
    mem = max(int(s.get("gpu_mem_kb") or 0) for s in samples)
    lines.append(f"GPU Utilization: {util:.2f}%")
    lines.append(f"GPU Memory Utilized: {kbytes2str(mem)}")
    if any(s.get("gpu_idle") for s in samples):
        lines.append("WARNING: the job's GPUs stayed idle longer than allowed.")
    return lines


def report(rec: Record, now: float, debug: bool = False) -> str:
    """seff's whole output for one job record."""
    state = str(rec["state"])
    ncpus = int(rec.get("num_cpus") or 0) or 1
    nnodes = int(rec.get("num_nodes") or 0) or 1
    walltime = _elapsed(rec, now)
    cput = cpu_seconds(rec)
    mem = memory_kb(rec)
    per_node = not rec.get("mem_per_cpu")
    alloc_kb = int(rec.get("mem_per_node") or 0) * nnodes * 1024
    user, group = rec.get("user") or "", rec.get("group") or ""
    array = ""
    if rec.get("array_job_id") and rec.get("array_task_id") is not None:
        array = f"{rec['array_job_id']}_{rec['array_task_id']}"
    lines: list[str] = []
    if debug:
        lines.append("Slurm data: JobID ArrayJobID User Group State Clustername Ncpus Nnodes "
                     "Ntasks Reqmem PerNode Cput Walltime Mem ExitStatus")
        lines.append(f"Slurm data: {rec['job_id']} {array} {user} {group} {state} "
                     f"{rec.get('cluster') or 'corral'} {ncpus} {nnodes} {alloc_kb} "
                     f"{int(per_node)} {cput} {walltime} {mem} {rec.get('exit_code') or 0}")
        lines.append("")
    lines.append(f"Job ID: {rec['job_id']}")
    if array:
        lines.append(f"Array Job ID: {array}")
    lines.append(f"Cluster: {rec.get('cluster') or 'corral'}")
    lines.append(f"User/Group: {user}/{group}")
    if state in ("PENDING", "RUNNING"):
        lines.append(f"State: {state}")
    else:
        lines.append(f"State: {state} (exit code {rec.get('exit_code') or 0})")
    if ncpus == 1:
        lines.append(f"Cores: {ncpus}")
    else:
        lines.append(f"Nodes: {nnodes}")
        lines.append(f"Cores per node: {ncpus // nnodes}")
    if state == "PENDING":
        lines.append("Efficiency not available for jobs in the PENDING state.")
        return "\n".join(lines) + "\n"
    core_walltime = walltime * ncpus
    cpu_eff = cput / core_walltime * 100 if core_walltime else 0.0
    mem_eff = mem / alloc_kb * 100 if alloc_kb else 0.0
    lines.append(f"CPU Utilized: {time2str(cput)}")
    lines.append(f"CPU Efficiency: {cpu_eff:.2f}% of {time2str(core_walltime)} core-walltime")
    lines.append(f"Job Wall-clock time: {time2str(walltime)}")
    lines.append(f"Memory Utilized: {kbytes2str(mem)}")
    share = kbytes2str(alloc_kb / nnodes) + "/node" if per_node else \
        kbytes2str(alloc_kb / ncpus) + "/core"
    lines.append(f"Memory Efficiency: {mem_eff:.2f}% of {kbytes2str(alloc_kb)} ({share})")
    lines.extend(_gpu_lines(rec, nnodes))
    if state == "RUNNING":
        lines.append("WARNING: Efficiency statistics can only be obtained after the job has "
                     "ended as seff tool is based on the accounting database data.")
    return "\n".join(lines) + "\n"


def _body(client: Client, args: list[str]) -> int:
    try:
        opts, rest = getopt.getopt(args, "hvdf:")
    except getopt.GetoptError:
        opts, rest = [("-h", "")], []
    flags = {flag for flag, _ in opts}
    if "-v" in flags:
        print(f"seff Version {VERSION}")
        return 1
    if "-h" in flags or len(rest) != 1:
        sys.stdout.write(USAGE)
        return 1
    job_id = rest[0]
    if not re.fullmatch(r"\d+(_\d+)?", job_id):
        print("Job not found.", file=sys.stderr)
        return 2
    records = client.history(all_users=True, job_ids=[job_id])
    wanted = [r for r in records if _names(r, job_id)] or records
    if not wanted:
        print("Job not found.", file=sys.stderr)
        return 2
    sys.stdout.write(report(wanted[0], time.time(), debug="-d" in flags))
    return 0


def _names(rec: Record, job_id: str) -> bool:
    if str(rec.get("job_id")) == job_id:
        return True
    array, _, task = job_id.partition("_")
    return bool(task) and str(rec.get("array_job_id")) == array \
        and str(rec.get("array_task_id")) == task


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("seff", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
