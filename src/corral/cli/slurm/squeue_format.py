"""squeue's output: the -o/-O format languages, Slurm's field values and sort order (pure: `now` is given)."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from corral.model.hostlist import compress
from corral.model.timefmt import (
    format_limit_squeue,
    format_memory_mb,
    format_squeue_time,
    format_timestamp,
)

Job = Mapping[str, Any]
Tz = _dt.tzinfo | None

DEFAULT_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
LONG_FORMAT = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"
START_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %20Y %R"
LONG_FORMAT_WIDTH = 20

SHORT_STATE: dict[str, str] = {
    "PENDING": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG", "COMPLETED": "CD",
    "CONFIGURING": "CF", "CANCELLED": "CA", "FAILED": "F", "TIMEOUT": "TO",
    "OUT_OF_MEMORY": "OOM", "NODE_FAIL": "NF", "PREEMPTED": "PR", "DEADLINE": "DL",
    "BOOT_FAIL": "BF", "REQUEUED": "RQ", "RESIZING": "RS", "REVOKED": "RV", "SIGNALING": "SI",
    "SPECIAL_EXIT": "SE", "STAGE_OUT": "SO", "STOPPED": "ST",
}
LONG_STATE: dict[str, str] = {short: long for long, short in SHORT_STATE.items()}
# Ended jobs whose %R shows "(Reason)" rather than their node list, as squeue does.
_REASON_LIST_STATES = frozenset({"PENDING", "TIMEOUT", "FAILED", "OUT_OF_MEMORY", "DEADLINE"})


class Field(NamedTuple):
    """One item of a format: a column (`key`) laid out in `width`, then literal `suffix` text.

    A field without a key is literal text only (the text before the first % code, or a code
    squeue does not know, which is printed as written).
    """

    key: str | None
    width: int = 0
    right: bool = False
    suffix: str = ""


def pad(text: str, width: int, right: bool, cut: bool = True) -> str:
    """Lays `text` out as Slurm's _print_str: `%Ns` or `%.Ns`, truncated to `width` when `cut`."""
    if width <= 0:
        return text
    if right:
        laid = text.rjust(width)
        return laid[:width] if cut else laid
    return text[:width].ljust(width)


# --------------------------------------------------------------------------- field values


def state_of(job: Job) -> str:
    return str(job.get("state") or "UNKNOWN")


def as_text(value: Any, default: str = "(null)") -> str:
    return default if value is None or value == "" else str(value)


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ts(epoch: Any, tz: Tz) -> str:
    return format_timestamp(float(epoch), tz) if epoch else "N/A"


def nodelist(value: Any) -> str:
    """A node list (list of names, or an already-compressed string) as a hostlist expression."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    names = [str(n) for n in value]
    try:
        return compress(names)
    except ValueError:
        return ",".join(names)


def job_id_text(job: Job) -> str:
    """%i: `N`, an array task `N_T`, or a folded pending array `N_[2-4%2]`."""
    array_id = job.get("array_job_id")
    if array_id:
        if job.get("array_task_string"):
            return f"{array_id}_[{job['array_task_string']}]"
        if job.get("array_task_id") is not None:
            return f"{array_id}_{job['array_task_id']}"
    return as_text(job.get("job_id"), "")


def time_used(job: Job, now: float) -> float:
    """Seconds the job has run (0 while pending), as Slurm's job_time_used."""
    start = job.get("start_time")
    state = state_of(job)
    if not start or state == "PENDING":
        return 0.0
    end = job.get("end_time")
    if state == "RUNNING" or not end:
        end = now
    return max(0.0, float(end) - float(start))


def _time_left(job: Job, now: float) -> str:
    limit = job.get("time_limit")
    if limit is None:
        return "UNLIMITED"
    return format_squeue_time(int(limit) * 60 - int(time_used(job, now)))


def start_of(job: Job) -> Any:
    return job.get("estimated_start") if state_of(job) == "PENDING" else job.get("start_time")


def expected_end(job: Job) -> float | None:
    """The end time: the real one once ended, else start (or estimated start) plus the limit."""
    if job.get("end_time"):
        return float(job["end_time"])
    start, limit = start_of(job), job.get("time_limit")
    if start and limit is not None:
        return float(start) + int(limit) * 60
    return None


def _end_time(job: Job, now: float, tz: Tz) -> str:
    end = expected_end(job)
    unlimited = job.get("time_limit") is None
    if unlimited and state_of(job) in ("RUNNING", "COMPLETING", "SUSPENDED") and (
            end is None or end > now):
        return "NONE"
    return _ts(end, tz)


def _min_memory(job: Job) -> str:
    mem = job.get("mem_per_cpu") or job.get("min_memory_node")
    if mem is None:
        mem = job.get("mem_per_node") or 0
    return format_memory_mb(as_int(mem))


def tres_per_node(job: Job) -> str:
    """%b: the job's per-node TRES request (`gres:gpu:2`), N/A when none."""
    if job.get("tres_per_node"):
        return str(job["tres_per_node"])
    gpus = as_int(job.get("gpus_per_node"))
    if gpus > 0:
        kind = job.get("gpu_type")
        return f"gres:gpu:{kind}:{gpus}" if kind else f"gres:gpu:{gpus}"
    return "N/A"


def num_nodes(job: Job) -> int:
    nodes = job.get("nodes")
    if isinstance(nodes, list) and nodes:
        return len(nodes)
    return as_int(job.get("num_nodes"), 1)


def _reason(job: Job) -> str:
    return as_text(job.get("reason"), "None")


def _reason_list(job: Job) -> tuple[str, bool]:
    if state_of(job) in _REASON_LIST_STATES:
        return f"({_reason(job)})", True
    return nodelist(job.get("nodes")), False


def _priority_float(job: Job) -> str:
    return f"{as_int(job.get('priority')) / 4294967295:16.14f}"


def _array_job_id(job: Job) -> str:
    if job.get("array_job_id") and (
        job.get("array_task_string") or job.get("array_task_id") is not None
    ):
        return str(job["array_job_id"])
    return as_text(job.get("job_id"), "")


def _array_task_id(job: Job) -> str:
    if job.get("array_task_string"):
        return str(job["array_task_string"])
    if job.get("array_task_id") is not None:
        return str(job["array_task_id"])
    return "N/A"


Getter = Callable[[Job, float, Tz], str | tuple[str, bool]]


def _f(name: str, default: str = "(null)") -> Getter:
    return lambda job, now, tz: as_text(job.get(name), default)


# key -> (header, value, header is cut to width). A value may say (text, cut) itself.
COLUMNS: dict[str, tuple[str, Getter, bool]] = {
    "i": ("JOBID", lambda j, n, t: job_id_text(j), True),
    "A": ("JOBID", _f("job_id", ""), True),
    "F": ("ARRAY_JOB_ID", lambda j, n, t: _array_job_id(j), True),
    "K": ("ARRAY_TASK_ID", lambda j, n, t: _array_task_id(j), True),
    "P": ("PARTITION", _f("partition"), True),
    "j": ("NAME", _f("name"), True),
    "u": ("USER", lambda j, n, t: as_text(j.get("user"), as_text(j.get("uid"), "")), True),
    "U": ("UID", _f("uid", ""), True),
    "g": ("GROUP", lambda j, n, t: as_text(j.get("group"), as_text(j.get("gid"), "")), True),
    "G": ("GID", _f("gid", ""), True),
    "t": ("ST", lambda j, n, t: SHORT_STATE.get(state_of(j), state_of(j)), True),
    "T": ("STATE", lambda j, n, t: state_of(j), True),
    "M": ("TIME", lambda j, n, t: format_squeue_time(time_used(j, n)), True),
    "l": ("TIME_LIMIT", lambda j, n, t: format_limit_squeue(j.get("time_limit")), True),
    "L": ("TIME_LEFT", lambda j, n, t: _time_left(j, n), True),
    "D": ("NODES", lambda j, n, t: str(num_nodes(j)), True),
    "C": ("CPUS", lambda j, n, t: str(as_int(j.get("num_cpus"), 1)), True),
    "c": ("MIN_CPUS", lambda j, n, t: str(as_int(j.get("cpus_per_task"), 1)), True),
    "m": ("MIN_MEMORY", lambda j, n, t: _min_memory(j), True),
    "b": ("TRES_PER_NODE", lambda j, n, t: tres_per_node(j), True),
    "R": ("NODELIST(REASON)", lambda j, n, t: _reason_list(j), False),
    "r": ("REASON", lambda j, n, t: _reason(j), True),
    "N": ("NODELIST", lambda j, n, t: (nodelist(j.get("nodes")), False), False),
    "S": ("START_TIME", lambda j, n, t: _ts(start_of(j), t), True),
    "V": ("SUBMIT_TIME", lambda j, n, t: _ts(j.get("submit_time"), t), True),
    "e": ("END_TIME", _end_time, True),
    "a": ("ACCOUNT", _f("account"), True),
    "q": ("QOS", _f("qos"), True),
    "p": ("PRIORITY", lambda j, n, t: _priority_float(j), True),
    "Q": ("PRIORITY", lambda j, n, t: str(as_int(j.get("priority"))), True),
    "y": ("NICE", lambda j, n, t: str(as_int(j.get("nice"))), True),
    "E": ("DEPENDENCY", _f("dependency"), True),
    "Z": ("WORK_DIR", _f("work_dir"), True),
    "o": ("COMMAND", _f("command"), True),
    "x": ("EXC_NODES", lambda j, n, t: nodelist(j.get("exc_nodes")), True),
    "n": ("REQ_NODES", lambda j, n, t: nodelist(j.get("req_nodes")), True),
    "h": ("OVER_SUBSCRIBE", lambda j, n, t: "NO" if j.get("exclusive") else "OK", True),
    "B": ("EXEC_HOST", _f("batch_host", "n/a"), True),
    "k": ("COMMENT", _f("comment"), True),
    "w": ("WCKEY", _f("wckey"), True),
    "z": ("S:C:T", lambda j, n, t: "*:*:*", True),
    "d": ("MIN_TMP_DISK", lambda j, n, t: "0", True),
    "f": ("FEATURES", lambda j, n, t: as_text(j.get("constraint") or ""), True),
    "H": ("SOCKETS_PER_NODE", lambda j, n, t: "*", True),
    "I": ("CORES_PER_SOCKET", lambda j, n, t: "*", True),
    "J": ("THREADS_PER_CORE", lambda j, n, t: "*", True),
    "O": ("CONTIGUOUS", lambda j, n, t: "0", True),
    "v": ("RESERVATION", _f("reservation"), True),
    "Y": ("SCHEDNODES", _f("sched_nodes"), False),
    # Reachable through -O only.
    "stdout": ("STDOUT", _f("stdout"), True),
    "stderr": ("STDERR", _f("stderr"), True),
    "stdin": ("STDIN", _f("stdin"), True),
    "tasks": ("TASKS", lambda j, n, t: str(as_int(j.get("num_tasks"), 1)), True),
    "cpus_per_task": ("CPUS_PER_TASK", lambda j, n, t: str(as_int(j.get("cpus_per_task"), 1)), True),
    "eligible_time": ("ELIGIBLE_TIME", lambda j, n, t: _ts(j.get("eligible_time"), t), True),
    "submit_host": ("EXEC_HOST", _f("submit_host"), True),
    # --deadline and --time-min, recorded at submission.
    "deadline": ("DEADLINE", lambda j, n, t: _ts(j.get("deadline"), t), True),
    "min_time": ("MIN_TIME", lambda j, n, t: format_limit_squeue(j["time_min"])
                 if j.get("time_min") is not None else "N/A", True),
}

# -O names (lower case) -> column keys.
LONG_NAMES: dict[str, str] = {
    "account": "a", "arrayjobid": "F", "arraytaskid": "K", "batchhost": "B", "command": "o",
    "comment": "k", "contiguous": "O", "cores": "I", "cpus-per-task": "cpus_per_task",
    "deadline": "deadline", "mintime": "min_time", "dependency": "E", "eligibletime": "eligible_time", "endtime": "e", "excnodes": "x",
    "feature": "f", "groupid": "G", "groupname": "g", "jobarrayid": "i", "jobid": "A",
    "mincpus": "c", "minmemory": "m", "mintmpdisk": "d", "name": "j", "nice": "y",
    "nodelist": "N", "numcpus": "C", "numnodes": "D", "numtasks": "tasks",
    "oversubscribe": "h", "partition": "P", "priority": "p", "prioritylong": "Q", "qos": "q",
    "reason": "r", "reasonlist": "R", "reqnodes": "n", "reservation": "v", "schednodes": "Y",
    "sct": "z", "sockets": "H", "starttime": "S", "state": "T", "statecompact": "t",
    "stderr": "stderr", "stdin": "stdin", "stdout": "stdout", "submittime": "V",
    "threads": "J", "timeleft": "L", "timelimit": "l", "timeused": "M",
    "tres-per-node": "b", "userid": "U", "username": "u", "wckey": "w", "workdir": "Z",
}


# --------------------------------------------------------------------------- format parsing

_TOKEN = re.compile(r"([.-]?)([0-9]*)(.?)(.*)", re.DOTALL)


def parse_format(fmt: str, known: Container[str] = COLUMNS) -> list[Field]:
    """Parses an -o format: `%[.|-][width]code[suffix]` items after optional leading text.

    As squeue and sinfo split on `%` (strtok), `%%` collapses; a code not in `known` prints
    as written.
    """
    fields: list[Field] = []
    if not fmt.startswith("%"):
        fields.append(Field(None, suffix=fmt.split("%", 1)[0]))
    tokens = [t for t in fmt.split("%") if t]
    if not fmt.startswith("%"):
        tokens = tokens[1:]
    for token in tokens:
        match = _TOKEN.fullmatch(token)
        assert match is not None
        justify, digits, code, suffix = match.groups()
        if len(code) == 1 and code in known:
            fields.append(Field(code, int(digits or 0), justify == ".", suffix))
        else:
            fields.append(Field(None, suffix="%" + token))
    return fields


def parse_long_format(fmt: str) -> list[Field]:
    """Parses an -O format: `Name[:[.][width][suffix]]`, comma-separated, case-insensitive.

    A name alone gets 20 columns, left-justified. An unknown name prints as written.
    """
    fields: list[Field] = []
    for token in (t for t in fmt.split(",") if t):
        name, colon, spec = token.partition(":")
        key = LONG_NAMES.get(name.strip().lower())
        if key is None:
            fields.append(Field(None, suffix=token))
            continue
        if not colon:
            fields.append(Field(key, LONG_FORMAT_WIDTH, False, ""))
            continue
        right = spec.startswith(".")
        body = spec[1:] if right else spec
        digits = re.match(r"[0-9]*", body)
        width_text = digits.group(0) if digits else ""
        fields.append(Field(key, int(width_text or 0), right, body[len(width_text):]))
    return fields


# --------------------------------------------------------------------------- rendering


def header_line(fields: Sequence[Field]) -> str:
    parts: list[str] = []
    for field in fields:
        if field.key is not None:
            title, _, cut = COLUMNS[field.key]
            parts.append(pad(title, field.width, field.right, cut))
        parts.append(field.suffix)
    return "".join(parts)


def job_line(job: Job, fields: Sequence[Field], now: float, tz: Tz = None) -> str:
    parts: list[str] = []
    for field in fields:
        if field.key is not None:
            value = COLUMNS[field.key][1](job, now, tz)
            text, cut = value if isinstance(value, tuple) else (value, True)
            parts.append(pad(text, field.width, field.right, cut))
        parts.append(field.suffix)
    return "".join(parts)


def render(jobs: Iterable[Job], fields: Sequence[Field], now: float, *, header: bool = True,
           tz: Tz = None) -> list[str]:
    """The lines squeue prints for `jobs` (already filtered and sorted)."""
    lines = [header_line(fields)] if header else []
    lines.extend(job_line(job, fields, now, tz) for job in jobs)
    return lines
