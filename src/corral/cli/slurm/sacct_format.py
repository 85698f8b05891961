"""sacct's fields, row values and table layout, computed from corral's JSON job records (pure)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from corral.model.hostlist import compress
from corral.model.timefmt import format_hms, format_limit_hms, format_memory_mb, format_timestamp

Record = Mapping[str, Any]
Mode = Literal["plain", "parsable", "parsable2"]

DEFAULT_FIELDS = "jobid,jobname,partition,account,alloccpus,state,exitcode"
BRIEF_FIELDS = "jobid,state,exitcode"
LONG_FIELDS = (
    "jobid,jobidraw,jobname,partition,maxvmsize,maxvmsizenode,maxvmsizetask,avevmsize,maxrss,"
    "maxrssnode,maxrsstask,averss,maxpages,maxpagesnode,maxpagestask,avepages,mincpu,mincpunode,"
    "mincputask,avecpu,ntasks,alloccpus,elapsed,state,exitcode,avecpufreq,reqcpufreqmin,"
    "reqcpufreqmax,reqcpufreqgov,reqmem,consumedenergy,maxdiskread,maxdiskreadnode,"
    "maxdiskreadtask,avediskread,maxdiskwrite,maxdiskwritenode,maxdiskwritetask,avediskwrite,"
    "reqtres,alloctres,tresusageinave,tresusageinmax,tresusageinmaxn,tresusageinmaxt,"
    "tresusageinmin,tresusageinminn,tresusageinmint,tresusageintot,tresusageoutmax,"
    "tresusageoutmaxn,tresusageoutmaxt,tresusageoutave,tresusageouttot"
)
CLUSTER = "corral"
_NO_EXIT_CODE_STATES = frozenset({"CANCELLED", "TIMEOUT"})

# Slurm's field table, in its order (the order decides which field a prefix selects).
# Kind: "s" text (cut with '+'), "n" number or duration (never cut), "d" date (cut, no '+').
_TABLE = (
    "Account 10 s|AdminComment 15 s|AllocCPUS 10 n|AllocNodes 10 s|AllocTRES 10 s|AssocID 7 n|"
    "AveCPU 10 s|AveCPUFreq 10 s|AveDiskRead 14 s|AveDiskWrite 14 s|AvePages 10 s|AveRSS 10 s|"
    "AveVMSize 10 s|BlockID 16 s|Cluster 10 s|Comment 14 s|Constraints 19 s|ConsumedEnergy 14 s|"
    "ConsumedEnergyRaw 17 n|Container 19 s|CPUTime 10 n|CPUTimeRAW 10 n|DBIndex -21 n|"
    "DerivedExitCode 15 s|Elapsed 10 n|ElapsedRaw 10 n|Eligible 19 d|End 19 d|ExitCode 8 s|"
    "Extra 14 s|FailedNode 8 s|Flags 19 s|GID 6 n|Group 9 s|JobID -12 s|JobIDRaw -12 s|"
    "JobName 10 s|Layout 9 s|Licenses 10 s|MaxDiskRead 12 s|MaxDiskReadNode 15 s|"
    "MaxDiskReadTask 15 n|MaxDiskWrite 12 s|MaxDiskWriteNode 16 s|MaxDiskWriteTask 16 n|"
    "MaxPages 8 s|MaxPagesNode 12 s|MaxPagesTask 14 n|MaxRSS 10 s|MaxRSSNode 10 s|MaxRSSTask 10 n|"
    "MaxVMSize 10 s|MaxVMSizeNode 14 s|MaxVMSizeTask 14 n|McsLabel 12 s|MinCPU 10 s|"
    "MinCPUNode 10 s|MinCPUTask 10 n|NCPUS 10 n|NNodes 8 n|NodeList 15 s|NTasks 8 n|"
    "Partition 10 s|Priority 10 n|QOS 10 s|QOSRAW 6 n|Reason 22 s|ReqCPUFreq 10 s|"
    "ReqCPUFreqGov 13 s|ReqCPUFreqMax 13 s|ReqCPUFreqMin 13 s|ReqCPUS 8 n|ReqMem 10 s|"
    "ReqNodes 8 s|ReqTRES 10 s|Reservation 20 s|ReservationId 8 n|Restarts 8 n|Start 19 d|"
    "State 10 s|StdErr 20 s|StdIn 20 s|StdOut 20 s|Submit 19 d|SubmitLine 20 s|Suspended 10 n|"
    "SystemComment 15 s|SystemCPU 10 s|Timelimit 10 s|TimelimitRaw 10 s|TotalCPU 10 s|"
    "TRESUsageInAve 14 s|TRESUsageInMax 14 s|TRESUsageInMaxNode 18 s|TRESUsageInMaxTask 18 s|"
    "TRESUsageInMin 14 s|TRESUsageInMinNode 18 s|TRESUsageInMinTask 18 s|TRESUsageInTot 14 s|"
    "TRESUsageOutAve 15 s|TRESUsageOutMax 15 s|TRESUsageOutMaxNode 19 s|TRESUsageOutMaxTask 19 s|"
    "TRESUsageOutMin 15 s|TRESUsageOutMinNode 19 s|TRESUsageOutMinTask 19 s|TRESUsageOutTot 15 s|"
    "UID 6 n|User 9 s|UserCPU 10 s|WCKey 10 s|WCKeyID 10 n|WorkDir 20 s"
)
FIELDS: tuple[tuple[str, int, str], ...] = tuple(
    (name, int(width), kind)
    for name, width, kind in (entry.split() for entry in _TABLE.split("|"))
)


@dataclass(frozen=True)
class Column:
    """One output column: a field of FIELDS and its signed width (negative = left-justified)."""

    name: str
    width: int
    kind: str


def parse_format(spec: str) -> list[Column]:
    """Columns for a `-o` list such as ``JobID,jobname%30``; as Slurm, a name may be a prefix.

    Raises ValueError('Invalid field requested: "X"') for a name that matches no field.
    """
    columns: list[Column] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        width: int | None = None
        if "%" in item:
            item, _, digits = item.partition("%")
            width = _atoi(digits)
        lowered = item.lower()
        if "all".startswith(lowered):
            columns.extend(Column(n, w if width is None else width, k) for n, w, k in FIELDS)
            continue
        for name, default_width, kind in FIELDS:
            if name.lower().startswith(lowered):
                columns.append(Column(name, default_width if width is None else width, kind))
                break
        else:
            raise ValueError(f'Invalid field requested: "{item}"')
    return columns


def _atoi(text: str) -> int:
    """C's atoi: the leading optionally-signed digits, 0 when there are none."""
    match = re.match(r"\s*([+-]?[0-9]+)", text)
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------------------- values


def display_job_id(rec: Record) -> str:
    """``12``, or ``2454_1`` for an array task, ``2454_[2-4%2]`` for its pending remainder."""
    array_job = rec.get("array_job_id")
    task = rec.get("array_task_string") or rec.get("array_task_id")
    if array_job and task is not None:
        text = str(task)
        return f"{array_job}_{text}" if text.isdigit() else f"{array_job}_[{text.strip('[]')}]"
    return str(rec["job_id"])


UNITS = "KMGTP"  # sacct --units=: the letters after none (0), as Slurm numbers them (1..5)


def convert_num_unit(num: float, orig: int, units: str | None = None,
                     convert: bool = True) -> str:
    """Slurm's convert_num_unit for a size of unit `orig` (0 bytes, 1 K, 2 M …): --units
    converts to that unit (and overrides --noconvert), --noconvert (`convert` False) prints it
    as it is, and the default converts while no precision is lost (half units count)."""
    if int(num) == 0:
        return "0"
    if units is not None:
        spec = UNITS.index(units) + 1
        num = num * 1024 ** (orig - spec) if spec < orig else num / 1024 ** (spec - orig)
        orig = spec
    elif convert:
        while num >= 1024 and int(num) % 512 == 0:
            num /= 1024
            orig += 1
    letter = ("", *UNITS)[orig] if 0 <= orig <= len(UNITS) else "?"
    return f"{int(num)}{letter}" if num == int(num) else f"{num:.2f}{letter}"


def format_kb(kb: float, units: str | None = None, convert: bool = True) -> str:
    """KiB as sacct prints MaxRSS (kept in bytes by Slurm): ``1088K``, ``2M``, ``1.50M``."""
    return convert_num_unit(float(kb) * 1024, 0, units, convert)


def format_cpu_time(seconds: float | None) -> str:
    """TotalCPU/UserCPU/SystemCPU: ``MM:SS.mmm`` below an hour when there are milliseconds."""
    total = max(0.0, float(seconds or 0.0))
    secs = math.floor(total)
    msecs = round((total - secs) * 1e6) // 1000
    if msecs and secs < 3600:
        return f"{secs // 60:02d}:{secs % 60:02d}.{msecs:03d}"
    return format_hms(secs)


def _tres(cpus: int, mem_mb: int | None, nodes: int, gpus: int, billing: bool) -> str:
    parts = {"cpu": str(cpus), "node": str(nodes)}
    if billing:
        parts["billing"] = str(cpus)
    if mem_mb:
        parts["mem"] = format_memory_mb(int(mem_mb))
    if gpus:
        parts["gres/gpu"] = str(gpus)
    return ",".join(f"{k}={v}" for k, v in sorted(parts.items()))


@dataclass
class RowView:
    """What one sacct line is computed from: the job (``step`` None) or one of its steps."""

    job: Record
    step: Record | None
    now: float
    tz: dt.tzinfo | None
    units: str | None = None  # --units: the letter every size field is printed in
    convert: bool = True  # False with --noconvert: sizes in their own unit, unconverted

    @property
    def is_job(self) -> bool:
        return self.step is None

    @property
    def started(self) -> bool:
        return self.job.get("start_time") is not None

    def start(self) -> float | None:
        if self.step is not None:
            return self.step.get("start_time")
        start = self.job.get("start_time")
        return start if start is not None else self.job.get("end_time")

    def end(self) -> float | None:
        if self.step is not None:
            end = self.step.get("end_time")
            return end if end is not None else self.job.get("end_time")
        return self.job.get("end_time")

    def step_nodes(self) -> list[str]:
        return list((self.step or {}).get("nodes") or [])

    def elapsed(self) -> int:
        start, end = self.start(), self.end()
        if start is None:
            return 0
        return max(0, math.floor(end if end is not None else self.now) - math.floor(start))

    def cpus(self) -> int:
        job_cpus = int(self.job.get("num_cpus") or 0)
        if self.step is not None:
            if self.step.get("num_cpus") is not None:
                return int(self.step["num_cpus"])
            return max(1, job_cpus // max(1, int(self.job.get("num_nodes") or 1)))
        return job_cpus if self.started else 0

    def gpus(self) -> int:
        per_node = int(self.job.get("gpus_per_node") or 0)
        if self.step is None and self.job.get("gpus"):  # --gpus: over the whole job
            return int(self.job["gpus"])
        return per_node if self.step is not None else per_node * int(self.job.get("num_nodes") or 1)

    def job_mem(self) -> int | None:
        per_node = self.job.get("mem_per_node") or self.job.get("min_memory_node")
        return None if not per_node else int(per_node) * int(self.job.get("num_nodes") or 1)

    def time(self, value: float | None) -> str:
        return format_timestamp(value, self.tz)

    def job_only(self, value: Any) -> str | None:
        return None if self.step is not None or value is None else str(value)


def _job_id(v: RowView, raw: bool) -> str:
    base = str(v.job["job_id"]) if raw else display_job_id(v.job)
    return base if v.step is None else f"{base}.{v.step.get('step_id', 'batch')}"


def _state(v: RowView) -> str:
    if v.step is not None:
        return str(v.step["state"])
    state = str(v.job["state"])
    by = v.job.get("cancelled_by")
    return f"{state} by {by}" if state == "CANCELLED" and by is not None else state


def _exit_code(v: RowView) -> str:
    if v.step is not None:
        return f"{v.step.get('exit_code') or 0}:{v.step.get('exit_signal') or 0}"
    if v.job["state"] in _NO_EXIT_CODE_STATES:
        return "0:0"
    return f"{v.job.get('exit_code') or 0}:{v.job.get('exit_signal') or 0}"


def _node_list(v: RowView) -> str:
    if v.step is not None:
        nodes = v.step_nodes()
        return compress(nodes) if nodes else str(v.job.get("batch_host") or "")
    nodes = v.job.get("nodes") or []
    return compress(nodes) if v.started and nodes else "None assigned"


def _reason(v: RowView) -> str | None:
    if v.step is not None:
        return None
    state = v.job["state"]
    if state == "PENDING" or (state not in ("RUNNING", "COMPLETING") and not v.started):
        return str(v.job.get("reason") or "None")
    return "None"


def _job_tres(v: RowView, requested: bool) -> str | None:
    """ReqTRES (job lines only) and AllocTRES (once started); sacct sorts them by name."""
    if v.step is not None:
        mem = v.job.get("mem_per_node")
        nodes = len(v.step_nodes()) or 1
        return None if requested else _tres(v.cpus(), mem, nodes, v.gpus(), False)
    if not requested and not v.started:
        return None
    cpus = int(v.job.get("num_cpus") or 0)
    return _tres(cpus, v.job_mem(), int(v.job.get("num_nodes") or 1), v.gpus(), True)


def _timelimit(v: RowView, raw: bool) -> str | None:
    if v.step is not None:
        return None
    limit = v.job.get("time_limit")
    if limit is None:
        return "UNLIMITED"
    return str(limit) if raw else format_limit_hms(int(limit))


def _total_cpu(v: RowView, key: str) -> str:
    source = v.step if v.step is not None else (v.job.get("batch_step") or {})
    value = source.get(key)
    if value is None and v.step is None:
        value = v.job.get(key)
    return format_cpu_time(value)


def _step_tasks(v: RowView) -> int:
    return max(1, int((v.step or {}).get("num_tasks") or 1))


def _per_task(v: RowView, key: str, *, minimum: bool = False) -> float | None:
    """A step's usage per task: Ave* divides the step's total; Min*/Ave of one task is exact."""
    if v.step is None or v.step.get(key) is None:
        return None
    tasks = _step_tasks(v)
    if minimum and tasks > 1:
        return None  # only the total is kept, which says nothing of the smallest task
    return float(v.step[key]) / tasks


def _cpu_hms(seconds: float | None) -> str | None:
    return None if seconds is None else format_hms(math.floor(seconds))


def _usage_node(v: RowView) -> str | None:
    if v.step is None or v.step.get("max_rss_kb") is None:
        return None
    nodes = v.step_nodes()
    return nodes[0] if nodes else str(v.job.get("batch_host") or "")


def _tres_usage(v: RowView, how: str) -> str | None:
    """TRESUsageIn{Max,Ave,Tot}: cpu, mem and, where sampled through NVML, GPU memory and
    utilisation (gres/gpumem, gres/gpuutil), sorted by name as sacct prints them."""
    step = v.step
    if step is None or (step.get("total_cpu_s") is None and step.get("max_rss_kb") is None):
        return None
    tasks = _step_tasks(v)
    cpu = float(step.get("total_cpu_s") or 0.0)
    rss = int(step.get("max_rss_kb") or 0)
    if how == "ave":
        cpu, rss = cpu / tasks, rss // tasks if tasks > 1 else rss
    elif how == "max" and tasks > 1:
        cpu = cpu / tasks  # the busiest task is not known apart; the average stands for it
    parts = {"cpu": format_hms(math.floor(cpu)), "mem": format_kb(rss)}
    if step.get("gpu_mem_kb") is not None:
        parts["gres/gpumem"] = format_kb(int(step["gpu_mem_kb"]))
    if step.get("gpu_util") is not None:
        parts["gres/gpuutil"] = str(round(float(step["gpu_util"])))
    return ",".join(f"{k}={v}" for k, v in sorted(parts.items()))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _nodes(v: RowView) -> str:
    return str(v.job.get("num_nodes") or 1) if v.is_job else str(len(v.step_nodes()) or 1)


_VALUES: dict[str, Callable[[RowView], str | None]] = {
    "Account": lambda v: _str_or_none(v.job.get("account")),
    "AllocCPUS": lambda v: str(v.cpus()),
    "AllocNodes": lambda v: "0" if v.is_job and not v.started else _nodes(v),
    "AllocTRES": lambda v: _job_tres(v, requested=False),
    "Cluster": lambda v: str(v.job.get("cluster") or CLUSTER),
    "Comment": lambda v: v.job_only(v.job.get("comment")),
    "Constraints": lambda v: v.job_only("&".join(v.job.get("features") or []) or None),
    "CPUTime": lambda v: format_hms(v.elapsed() * v.cpus()),
    "CPUTimeRAW": lambda v: str(v.elapsed() * v.cpus()),
    "DerivedExitCode": lambda v: "0:0" if v.step is None else None,
    "Elapsed": lambda v: format_hms(v.elapsed()),
    "ElapsedRaw": lambda v: str(v.elapsed()),
    "Eligible": lambda v: v.time(v.job.get("eligible_time") if v.is_job else v.start()),
    "End": lambda v: v.time(v.end()),
    "ExitCode": _exit_code,
    "GID": lambda v: v.job_only(v.job.get("gid")),
    "Group": lambda v: v.job_only(v.job.get("group")),
    "JobID": lambda v: _job_id(v, raw=False),
    "JobIDRaw": lambda v: _job_id(v, raw=True),
    "JobName": lambda v: str(v.job.get("name") or "") if v.step is None
    else str(v.step.get("name") or "batch"),
    "MaxRSS": lambda v: None if v.step is None or v.step.get("max_rss_kb") is None
    else format_kb(v.step["max_rss_kb"], v.units, v.convert),
    "MaxRSSNode": _usage_node,
    "MaxRSSTask": lambda v: None if _usage_node(v) is None else "0",
    "AveRSS": lambda v: None if (rss := _per_task(v, "max_rss_kb")) is None
    else format_kb(int(rss), v.units, v.convert),
    "AveCPU": lambda v: _cpu_hms(_per_task(v, "total_cpu_s")),
    "MinCPU": lambda v: _cpu_hms(_per_task(v, "total_cpu_s", minimum=True)),
    "MinCPUNode": lambda v: None if _per_task(v, "total_cpu_s", minimum=True) is None
    else _usage_node(v),
    "MinCPUTask": lambda v: None if _per_task(v, "total_cpu_s", minimum=True) is None
    else "0",
    "TRESUsageInMax": lambda v: _tres_usage(v, "max"),
    "TRESUsageInAve": lambda v: _tres_usage(v, "ave"),
    "TRESUsageInTot": lambda v: _tres_usage(v, "tot"),
    "NCPUS": lambda v: str(v.cpus()),
    "NNodes": _nodes,
    "NodeList": _node_list,
    "NTasks": lambda v: None if v.step is None else str(v.step.get("num_tasks") or 1),
    "Partition": lambda v: v.job_only(v.job.get("partition")),
    "Priority": lambda v: v.job_only(v.job.get("priority")),
    "QOS": lambda v: v.job_only(v.job.get("qos")),
    "Reason": _reason,
    "ReqCPUS": lambda v: str(v.job.get("num_cpus") or 0) if v.is_job else str(v.cpus()),
    "ReqMem": lambda v: convert_num_unit(v.job_mem() or 0, 2, v.units, v.convert)
    if v.is_job and v.job_mem() else None,
    "ReqNodes": _nodes,
    "ReqTRES": lambda v: _job_tres(v, requested=True),
    "Restarts": lambda v: v.job_only(v.job.get("restarts", 0)),
    "Start": lambda v: v.time(v.start()),
    "State": _state,
    "StdErr": lambda v: v.job_only(v.job.get("stderr")),
    "StdIn": lambda v: v.job_only(v.job.get("stdin")),
    "StdOut": lambda v: v.job_only(v.job.get("stdout")),
    "Submit": lambda v: v.time(v.job.get("submit_time") if v.is_job else v.start()),
    "Suspended": lambda v: "00:00:00",
    "SystemCPU": lambda v: _total_cpu(v, "system_cpu_s"),
    "Timelimit": lambda v: _timelimit(v, raw=False),
    "TimelimitRaw": lambda v: _timelimit(v, raw=True),
    "TotalCPU": lambda v: _total_cpu(v, "total_cpu_s"),
    "UID": lambda v: v.job_only(v.job.get("uid")),
    "User": lambda v: v.job_only(v.job.get("user")),
    "UserCPU": lambda v: _total_cpu(v, "user_cpu_s"),
    "WorkDir": lambda v: v.job_only(v.job.get("work_dir")),
}

_VALUES.update(dict.fromkeys(("ConsumedEnergy", "ConsumedEnergyRaw"), lambda v: "0"))
_VALUES.update(dict.fromkeys(
    ("ReqCPUFreq", "ReqCPUFreqGov", "ReqCPUFreqMax", "ReqCPUFreqMin"), lambda v: "Unknown"))


def field_value(name: str, view: RowView) -> str | None:
    """One field of one line; None where sacct leaves the field blank."""
    compute = _VALUES.get(name)
    return None if compute is None else compute(view)


def job_views(rec: Record, now: float, tz: dt.tzinfo | None, units: str | None = None,
              convert: bool = True) -> list[RowView]:
    """The job's line followed by its steps' lines (the batch step once the job has started)."""
    views = [RowView(rec, None, now, tz, units, convert)]
    if rec.get("batch_step"):
        views.append(RowView(rec, {"step_id": "batch", "name": "batch", **rec["batch_step"]},
                             now, tz, units, convert))
    views.extend(RowView(rec, step, now, tz, units, convert) for step in rec.get("steps") or [])
    return views


# ---------------------------------------------------------------------------- layout


def _pad(text: str, width: int) -> str:
    size = abs(width)
    return (text.rjust(size) if width >= 0 else text.ljust(size)) + " "


def _cell(column: Column, value: str | None) -> str:
    size = abs(column.width)
    text = "" if value is None else value
    if column.kind == "s" and len(text) > size:
        text = text[: size - 1] + "+" if size else ""
    elif column.kind == "d":
        text = text[:size]
    return _pad(text, column.width)


def format_lines(columns: Sequence[Column], rows: Sequence[Sequence[str | None]], *,
                 mode: Mode = "plain", header: bool = True, delimiter: str = "|") -> list[str]:
    """sacct's output lines (without newlines): header, dashes and rows, as print_fields does."""
    lines: list[str] = []
    if mode == "plain":
        if header:
            lines.append("".join(_pad(c.name[: abs(c.width)], c.width) for c in columns))
            lines.append("".join("-" * abs(c.width) + " " for c in columns))
        lines.extend("".join(_cell(c, v) for c, v in zip(columns, row, strict=True))
                     for row in rows)
        return lines
    tail = delimiter if mode == "parsable" else ""
    if header:
        lines.append(delimiter.join(c.name for c in columns) + tail)
    lines.extend(delimiter.join("" if v is None else v for v in row) + tail for row in rows)
    return lines
