"""qstat's layouts for corral's job records, as PBS Pro (OpenPBS 20+) prints them: the default
table, the alternate table (-a, -u, -H, -i, -r) and the full listing (-f).

A PBS job is one corral job, or one array (`12[]`) whose subjobs (`12[3]`) are corral's
array tasks, including those still folded into the array's pending record.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from corral.cli.common.translate import expand_indices

Record = Mapping[str, Any]

DEFAULT_HEADER = ("Job id            Name             User              Time Use S Queue\n"
                  "----------------  ---------------- ----------------  -------- - -----")
ALT_HEADER = (" " * 60 + "Req'd  Req'd   Elap\n"
              "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n"
              "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----")
_ACTIVE = ("PENDING", "RUNNING", "COMPLETING", "SUSPENDED")
_STARTED = ("RUNNING", "COMPLETING", "SUSPENDED")
_MAIL_POINTS = {"FAIL": "a", "BEGIN": "b", "END": "e", "ALL": "abe"}
_BLANK = " -- "
# What %a becomes in an output path while no task is named (Slurm's NO_VAL - 1).
NO_TASK = 4294967294


class PbsJob:
    """One line of qstat: a job, an array or a subjob. A plain class (no dataclasses import)."""

    __slots__ = ("seq", "index", "kind", "records")

    def __init__(self, seq: int, kind: str, records: list[Record], index: int | None = None) -> None:
        self.seq = seq
        self.kind = kind  # "job", "array" or "subjob"
        self.records = records
        self.index = index

    @property
    def record(self) -> Record:
        return self.records[0]

    def job_id(self, server: str) -> str:
        if self.kind == "job":
            return f"{self.seq}.{server}"
        return f"{self.seq}[{'' if self.index is None else self.index}].{server}"


# -- grouping --------------------------------------------------------------------------------

def _tasks(records: Sequence[Record]) -> list[tuple[int, Record]]:
    """(index, record) of every subjob; still-pending ones share the array's pending record."""
    tasks: list[tuple[int, Record]] = []
    for rec in records:
        if rec.get("array_task_id") is not None:
            tasks.append((int(rec["array_task_id"]), rec))
        if rec.get("array_task_string"):
            tasks.extend((i, rec) for i in expand_indices(str(rec["array_task_string"])))
    return sorted(tasks, key=lambda t: t[0])


def group(records: Iterable[Record], *, subjobs: bool) -> list[PbsJob]:
    """PBS jobs in id order: arrays folded into `N[]`, followed by their subjobs if asked."""
    plain: dict[int, PbsJob] = {}
    arrays: dict[int, list[Record]] = {}
    for rec in records:
        if rec.get("array_job_id") is not None:
            arrays.setdefault(int(rec["array_job_id"]), []).append(rec)
        else:
            plain[int(rec["job_id"])] = PbsJob(int(rec["job_id"]), "job", [rec])
    for seq, members in arrays.items():
        plain[seq] = PbsJob(seq, "array", sorted(members, key=lambda r: int(r["job_id"])))
    jobs: list[PbsJob] = []
    for seq in sorted(plain):
        jobs.append(plain[seq])
        if subjobs and plain[seq].kind == "array":
            jobs.extend(PbsJob(seq, "subjob", [rec], index)
                        for index, rec in _tasks(plain[seq].records))
    return jobs


# -- states ----------------------------------------------------------------------------------

def record_state(rec: Record) -> str:
    """PBS's letter for one corral job: Q queued, H held (also by a dependency), W waiting for
    its start time, R running, E exiting, S suspended, F finished."""
    state = rec["state"]
    if state == "PENDING":
        if rec.get("held") or str(rec.get("reason", "")).startswith("Dependency"):
            return "H"
        return "W" if rec.get("reason") == "BeginTime" else "Q"
    return {"RUNNING": "R", "COMPLETING": "E", "SUSPENDED": "S"}.get(state, "F")


def job_state(job: PbsJob) -> str:
    if job.kind == "job":
        return record_state(job.record)
    if job.kind == "subjob":
        # A finished subjob is X ("expired"), whether it ran or was deleted while queued.
        return "X" if job.record["state"] not in _ACTIVE else record_state(job.record)
    if all(r["state"] not in _ACTIVE for r in job.records):
        return "F"
    if any(r["state"] in _STARTED or ran(r) for r in job.records):
        return "B"  # begun: some subjob has run (one deleted while queued had no node)
    return record_state(next(r for r in job.records if r["state"] == "PENDING"))


def state_counts(job: PbsJob) -> str:
    counts = {"Queued": 0, "Running": 0, "Exiting": 0, "Expired": 0}
    for _, rec in _tasks(job.records):
        key = {"PENDING": "Queued", "RUNNING": "Running", "COMPLETING": "Exiting",
               "SUSPENDED": "Running"}.get(rec["state"], "Expired")
        counts[key] += 1
    return " ".join(f"{k}:{v}" for k, v in counts.items())


# -- values ----------------------------------------------------------------------------------

def trunc(value: str, width: int) -> str:
    """PBS marks a value cut to fit its column with a final `*`."""
    return value if len(value) <= width else value[:width - 1] + "*"


def hms(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def cpu_time(job: PbsJob) -> str | None:
    step = job.record.get("batch_step") if job.kind != "array" else None
    total = step.get("total_cpu_s") if step else None
    return None if total is None else hms(total)


def ran(rec: Record) -> bool:
    """Whether the job got nodes (one cancelled while pending has a start time, not nodes)."""
    return rec["state"] != "PENDING" and bool(rec.get("nodes")) and bool(rec.get("start_time"))


def walltime_used(rec: Record, now: float) -> str | None:
    start = rec.get("start_time")
    if start is None or not ran(rec):  # ran: start_time is set
        return None
    return hms((rec.get("end_time") or now) - start)


def size(mb: int) -> str:
    """A size as PBS's qstat shows it: the unit that keeps the number within four digits."""
    units = "mgtp"
    unit = 0
    while mb > 9999 and unit < len(units) - 1:
        mb = (mb + 1023) >> 10
        unit += 1
    return f"{mb}{units[unit]}b"


def _nodes(rec: Record) -> int:
    return max(1, int(rec.get("num_nodes") or 1))


def _cpus_per_node(rec: Record) -> int:
    return max(1, int(rec.get("num_cpus") or 1) // _nodes(rec))


def exec_host(rec: Record) -> str:
    per_node = _cpus_per_node(rec)
    return "+".join(f"{node}/0*{per_node}" for node in rec.get("nodes") or [])


def exec_vnode(rec: Record) -> str:
    cpus, mem = _cpus_per_node(rec), int(rec.get("mem_per_node") or 0)
    gpus = int(rec.get("gpus_per_node") or 0)
    extra = f":ngpus={gpus}" if gpus else ""
    return "+".join(f"({node}:ncpus={cpus}:mem={mem * 1024}kb{extra})"
                    for node in rec.get("nodes") or [])


# -- the default and alternate tables --------------------------------------------------------

def short_server(server: str) -> str:
    return server.split(".")[0]


def default_row(job: PbsJob, server: str) -> str:
    rec = job.record
    name = str(rec.get("name") or "")
    name = name if len(name) < 16 else name[:15] + "*"
    return (f"{trunc(job.job_id(short_server(server)), 17):<17} {name:<16} "
            f"{trunc(str(rec.get('user') or ''), 16):<16}  {cpu_time(job) or '0':>8} "
            f"{job_state(job):>1} {trunc(str(rec.get('partition') or ''), 16):<16}")


def alt_row(job: PbsJob, server: str, now: float) -> str:
    rec = job.record
    limit = rec.get("time_limit")
    mem = int(rec.get("mem_per_node") or 0) * _nodes(rec)
    elapsed = None if job.kind == "array" else walltime_used(rec, now)
    return (f"{trunc(job.job_id(server), 15):<15.15} {trunc(str(rec.get('user') or ''), 8):<8.8} "
            f"{trunc(str(rec.get('partition') or ''), 8):<8.8} "
            f"{trunc(str(rec.get('name') or ''), 10):<10.10} {_BLANK:>6.6} "
            f"{str(_nodes(rec)):>3.3} {str(rec.get('num_cpus') or 1):>3.3} "
            f"{size(mem) if mem else _BLANK:>6.6} "
            f"{hms(limit * 60) if limit is not None else _BLANK:>5.5} {job_state(job):1.1} "
            f"{elapsed or _BLANK:>5.5}")


def node_lines(rec: Record) -> list[str]:
    """-n: the job's hosts, broken at `+` to stay within 80 columns."""
    lines: list[str] = []
    current = ""
    for part in exec_host(rec).split("+"):
        piece = part if not current else "+" + part
        if current and len(current) + len(piece) >= 77:
            lines.append("   " + current)
            current, piece = "", part
        current += piece
    if current:
        lines.append("   " + current)
    return lines


# -- the full listing ------------------------------------------------------------------------

def attribute(name: str, value: str) -> str:
    """`    name = value`, wrapped as qstat -f wraps: at commas, else anywhere, at 78 columns."""
    out = [f"    {name} = "]
    start = len(name) + 7
    pieces = [p for p in value.split(",") if p]
    for k, piece in enumerate(pieces):
        if len(piece) + start < 78:
            out.append(piece)
            start += len(piece)
        else:
            if k:
                out.append("\n\t")
                start = 9
            for ch in piece:
                out.append(ch)
                start += 1
                if start > 78:
                    start = 8
                    out.append("\n\t")
        if k + 1 < len(pieces):
            out.append(",")
    return "".join(out)


def _path(job: PbsJob, host: str, path: object) -> str | None:
    """`host:path`; an array's own paths name its subjobs' files with PBS's ^array_index^
    where corral's record has Slurm's no-task placeholder."""
    if not path:
        return None
    text = str(path)
    if job.kind == "array":
        text = text.replace(str(NO_TASK), "^array_index^")
    return f"{host}:{text}"


def _stamp(epoch: float | None) -> str | None:
    return time.ctime(epoch) if epoch else None


def _comment(job: PbsJob, rec: Record) -> str | None:
    start = rec.get("start_time")
    if ran(rec):
        when = time.strftime("%a %b %d at %H:%M", time.localtime(start))
        done = " and finished" if rec["state"] not in _ACTIVE else ""
        return f"Job run at {when} on {exec_vnode(rec)}{done}"
    if rec["state"] == "PENDING":
        reason = str(rec.get("reason") or "None")
        if rec.get("held"):
            return "Job held by user"
        if reason not in ("None", "Priority"):
            return f"Not Running: {reason}"
    return None


def full_attributes(job: PbsJob, server: str, now: float) -> list[tuple[str, str]]:
    rec = job.record
    nodes, state = _nodes(rec), job_state(job)
    started = ran(rec) and job.kind != "array"
    host = str(rec.get("submit_host") or server)
    gpus = int(rec.get("gpus_per_node") or 0)
    tasks = max(1, int(rec.get("num_tasks") or 1) // nodes)
    select = f"{nodes}:ncpus={_cpus_per_node(rec)}:mem={int(rec.get('mem_per_node') or 0)}mb"
    select += (f":ngpus={gpus}" if gpus else "") + (f":mpiprocs={tasks}" if tasks > 1 else "")
    step = rec.get("batch_step") or {}
    attrs: list[tuple[str, str | None]] = [
        ("Job_Name", str(rec.get("name") or "")),
        ("Job_Owner", f"{rec.get('user')}@{host}"),
        ("resources_used.cput", cpu_time(job) if started else None),
        ("resources_used.mem", f"{step['max_rss_kb']}kb" if step.get("max_rss_kb") else None),
        ("resources_used.ncpus", str(rec.get("num_cpus")) if started else None),
        ("resources_used.walltime", walltime_used(rec, now) if started else None),
        ("job_state", state),
        ("queue", str(rec.get("partition") or "")),
        ("server", server),
        ("Checkpoint", "u"),
        ("ctime", _stamp(rec.get("submit_time"))),
        ("depend", str(rec["dependency"]) if rec.get("dependency") else None),
        ("Error_Path", _path(job, host, rec.get("stderr"))),
        ("exec_host", exec_host(rec) if started else None),
        ("exec_vnode", exec_vnode(rec) if started else None),
        ("Hold_Types", "u" if rec.get("held") else "n"),
        ("Join_Path", "oe" if rec.get("stderr") == rec.get("stdout") else "n"),
        ("Keep_Files", "n"),
        ("Mail_Points", "".join(_MAIL_POINTS.get(m, "") for m in
                                str(rec.get("mail_type") or "FAIL").split(",")) or "n"),
        ("Mail_Users", str(rec["mail_user"]) if rec.get("mail_user") else None),
        ("mtime", _stamp(rec.get("end_time") or rec.get("start_time") or rec.get("submit_time"))),
        ("Output_Path", _path(job, host, rec.get("stdout"))),
        ("Priority", "0"),
        ("qtime", _stamp(rec.get("submit_time"))),
        ("Rerunable", "True" if rec.get("requeue", True) else "False"),
        ("Resource_List.mem", f"{int(rec.get('mem_per_node') or 0) * nodes}mb"),
        ("Resource_List.ncpus", str(rec.get("num_cpus") or 1)),
        ("Resource_List.ngpus", str(gpus * nodes) if gpus else None),
        ("Resource_List.nodect", str(nodes)),
        ("Resource_List.place", "scatter:excl" if rec.get("exclusive") else "scatter"),
        ("Resource_List.select", select),
        ("Resource_List.walltime",
         hms(rec["time_limit"] * 60) if rec.get("time_limit") is not None else None),
        ("stime", _stamp(rec.get("start_time")) if started else None),
        ("obittime", _stamp(rec.get("end_time")) if state in ("F", "X") else None),
        ("comment", _comment(job, rec) if job.kind != "array" else None),
        ("etime", _stamp(rec.get("eligible_time"))),
        ("run_count", str(int(rec.get("restarts") or 0) + 1) if started else None),
        ("Exit_status", _exit_status(rec) if state in ("F", "X") and started else None),
        ("project", str(rec.get("wckey") or "_pbs_project_default")),
        ("Submit_Host", host),
    ]
    if job.kind == "array":
        tasks_all = _tasks(job.records)
        pending = [i for i, r in tasks_all if r.get("array_task_id") is None]
        attrs += [("array", "True"),
                  ("array_state_count", state_counts(job)),
                  ("array_indices_submitted", _fold([i for i, _ in tasks_all])),
                  ("array_indices_remaining", _fold(pending) if pending else "-")]
    elif job.kind == "subjob":
        attrs += [("array_id", f"{job.seq}[].{server}"), ("array_index", str(job.index))]
    return [(k, v) for k, v in attrs if v is not None]


def _exit_status(rec: Record) -> str:
    """PBS's Exit_status: the exit code, or 256 + the signal that killed the job."""
    signal = int(rec.get("exit_signal") or 0)
    return str(256 + signal if signal else int(rec.get("exit_code") or 0))


def _fold(ids: Sequence[int]) -> str:
    """[1, 2, 3, 5] → `1-3,5`."""
    parts: list[str] = []
    ordered = sorted(set(ids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def full_listing(job: PbsJob, server: str, now: float) -> str:
    """`Job Id: ID` and its attributes, then the blank line that ends each job."""
    lines = [f"Job Id: {job.job_id(server)}"]
    lines += [attribute(k, v) for k, v in full_attributes(job, server, now)]
    return "\n".join(lines) + "\n"


# -- qstat -f -F json / dsv --------------------------------------------------------------------

def _json_value(value: str) -> Any:
    """PBS prints a value that reads as a number as a JSON number (Exit_status, ncpus)."""
    if value.lstrip("-").isdigit() and not (len(value) > 1 and value.startswith("0")):
        return int(value)
    return value


def json_job(job: PbsJob, server: str, now: float) -> dict[str, Any]:
    """One job's attributes as `qstat -f -F json` nests them: `Resource_List.ncpus` becomes
    "Resource_List": {"ncpus": 1}."""
    out: dict[str, Any] = {}
    for name, value in full_attributes(job, server, now):
        head, dot, rest = name.partition(".")
        if dot:
            out.setdefault(head, {})[rest] = _json_value(value)
        else:
            out[name] = _json_value(value)
    return out


def json_report(jobs: Iterable[PbsJob], server: str, now: float, version: str) -> str:
    """The whole report, laid out as PBS Pro lays it out (4-space indent, no blank after `:`)."""
    import json

    report = {"timestamp": int(now), "pbs_version": version, "pbs_server": server,
              "Jobs": {job.job_id(server): json_job(job, server, now) for job in jobs}}
    return json.dumps(report, indent=4, separators=(",", ":"))


def dsv_line(job: PbsJob, server: str, now: float, delimiter: str = "|") -> str:
    """`qstat -f -F dsv`: one line per job, `name=value` fields, the delimiter escaped with `\\`."""
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace(delimiter, "\\" + delimiter)

    fields = [f"Job Id: {job.job_id(server)}"]
    fields += [f"{k}={esc(v)}" for k, v in full_attributes(job, server, now)]
    return delimiter.join(fields)
