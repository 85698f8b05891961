"""bjobs: corral's jobs as IBM Spectrum LSF's bjobs shows them (default table, -w, -p, -l).

The layouts follow LSF: fixed-width columns with the job name cut from the left behind a `*`,
one row per array element, and -l's 80-column text where a line that runs over continues
after 21 blanks, wherever it breaks.
"""

from __future__ import annotations

import fnmatch
import os
import pwd
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from corral.cli.common.runner import run_command
from corral.cli.common.translate import expand_indices
from corral.cli.lsf.options import (
    INDEX_LIMIT,
    LsfError,
    lsf_dependency,
    parse_args,
    parse_index_list,
)
from corral.client import Client, ClientError
from corral.clock import system_clock

Job = Mapping[str, Any]

VERSION = "IBM Spectrum LSF 10.1.0.0 (corral)"
OPTIONS: dict[str, bool] = {
    "a": False, "d": False, "p": False, "r": False, "s": False, "l": False, "w": False,
    "noheader": False, "h": False, "V": False, "u": True, "q": True, "J": True,
    "o": True, "json": False, "P": True, "X": False,
}
# Every other option of LSF 10.1's bjobs (docs/options.md): refused by name, since corral has
# no such data (affinity, APS, data jobs, forwarded jobs, plans, service classes, ...) or
# layout for it; -X changes nothing, since corral never condenses host names.
NO_EFFECT = frozenset({"X"})
REFUSED: dict[str, bool] = {
    "A": False, "aff": False, "app": True, "aps": False, "cname": False, "data": False,
    "env": False, "fwd": False, "G": True, "g": True, "gpu": False, "hms": False,
    "hostfile": False, "Jd": True, "Lp": True, "m": True, "N": True, "p0": False,
    "p1": False, "p2": False, "p3": False, "pe": False, "pei": False, "pi": False,
    "plan": False, "prio": False, "psum": False, "rusage": True, "script": False, "sla": True,
    "ss": False, "sum": False, "UF": False, "W": False, "WF": False, "WL": False, "WP": False,
    "x": False,
}
_ALL_OPTIONS = {**OPTIONS, **REFUSED}
USAGE = """\
Usage: bjobs [-h] [-V] [-w | -l] [-a] [-d] [-p] [-s] [-r] [-noheader]
             [-o "field_name[:[-]output_width] ... [delimiter='character']"] [-json]
             [-q queue_name] [-u user_name | -u all] [-J name_spec] [-P project_name]
             [jobId | "jobId[idxList]" ...]"""

HEADER = "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"
PEND_HEADER = "JOBID   USER    STAT  QUEUE       FROM_HOST      JOB_NAME           SUBMIT_TIME"
CLEAN_PERIOD = 3600.0  # LSF keeps finished jobs visible to bjobs for an hour by default
UNFINISHED = frozenset({"PEND", "PSUSP", "RUN", "USUSP", "SSUSP"})
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_REASONS = {
    "None": "New job is waiting for scheduling",
    "Priority": "New job is waiting for scheduling",
    "Resources": "Not enough job slot(s)",
    "Dependency": "Job dependency condition not satisfied",
    "DependencyNeverSatisfied": "Dependency condition invalid or never satisfied",
    "JobHeldUser": "The job was suspended by the user while pending",
    "JobHeldAdmin": "The job was suspended by LSF admin or root while pending",
    "BeginTime": "The job has a specified start time",
    "ReqNodeNotAvail": "Specified host(s) not usable",
    "PartitionTimeLimit": "The job's run limit exceeds the queue's run limit",
    "PartitionNodeLimit": "Not enough hosts in the queue",
    "NodeDown": "Not enough hosts available",
}
_ENDINGS = {
    "CANCELLED": "TERM_OWNER: job killed by owner",
    "TIMEOUT": "TERM_RUNLIMIT: job killed after reaching LSF run time limit",
    "OUT_OF_MEMORY": "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit",
    "PREEMPTED": "TERM_PREEMPT: job killed after preemption",
    "DEADLINE": "TERM_DEADLINE: job killed after deadline expires",
    "NODE_FAIL": "TERM_HOST: job killed because its host failed",
}


# --------------------------------------------------------------------------- field values

def status(job: Job) -> str:
    """corral's state in LSF's words: held pending jobs are PSUSP, every unsuccessful end EXIT."""
    state = job.get("state")
    if state == "PENDING":
        return "PSUSP" if job.get("held") else "PEND"
    if state in ("RUNNING", "COMPLETING"):
        return "RUN"
    if state == "SUSPENDED":
        return "USUSP"
    return "DONE" if state == "COMPLETED" else "EXIT"


def submit_time(epoch: float) -> str:
    """ctime's `%b %e %H:%M`, as bjobs prints SUBMIT_TIME: `Oct  3 17:10`."""
    t = time.localtime(epoch)
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"


def long_time(epoch: float) -> str:
    """ctime without the year, as bjobs -l starts its event lines: `Wed Sep  3 22:58:20`."""
    t = time.localtime(epoch)
    return (f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")


def trunc(text: str, width: int) -> str:
    """LSF's TRUNC_STR: a long name keeps its tail behind a `*`."""
    return text if len(text) <= width else "*" + text[len(text) - width + 1:]


def slots_per_host(job: Job) -> list[tuple[str, int]]:
    nodes = [str(n) for n in job.get("nodes") or []]
    if not nodes:
        return []
    tasks = max(int(job.get("num_tasks") or 1), len(nodes))
    share, extra = divmod(tasks, len(nodes))
    return [(node, share + (1 if i < extra else 0)) for i, node in enumerate(nodes)]


def _host_entries(job: Job) -> list[str]:
    """EXEC_HOST in LSF's short form (LSB_SHORT_HOSTLIST=1): `4*hostA` per host."""
    hosts = slots_per_host(job)
    if len(hosts) == 1 and hosts[0][1] == 1:
        return [hosts[0][0]]
    return [f"{count}*{host}" for host, count in hosts]


class Row:
    """One line of bjobs: a job, or one element of an array."""

    __slots__ = ("job", "job_id", "index", "stat")

    def __init__(self, job: Job, job_id: int, index: int | None) -> None:
        self.job = job
        self.job_id = job_id
        self.index = index
        self.stat = status(job)

    @property
    def id_text(self) -> str:
        return f"{self.job_id}[{self.index}]" if self.index is not None else str(self.job_id)

    @property
    def name(self) -> str:
        name = str(self.job.get("name") or "")
        return f"{name}[{self.index}]" if self.index is not None else name


def rows_of(job: Job) -> list[Row]:
    """A record as bjobs lists it: the folded pending tasks of an array become one row each."""
    parent = job.get("array_job_id")
    folded = job.get("array_task_string")
    if folded:
        return [Row(job, int(parent or job["job_id"]), i)
                for i in expand_indices(str(folded), INDEX_LIMIT)]
    if job.get("array_task_id") is not None:
        return [Row(job, int(parent or job["job_id"]), int(job["array_task_id"]))]
    return [Row(job, int(job["job_id"]), None)]


def _order(row: Row) -> tuple[int, int, int]:
    group = 0 if row.stat in ("RUN", "USUSP", "SSUSP") else 1 if row.stat in ("PEND", "PSUSP") else 2
    return group, row.job_id, row.index or 0


# --------------------------------------------------------------------------- the tables

def default_line(row: Row, wide: bool = False) -> str:
    job = row.job
    hosts = _host_entries(job)
    if row.stat in ("PEND", "PSUSP"):
        exec_host = "   -    " if wide else ""
    elif not hosts:
        exec_host = "   -   "
    else:
        exec_host = ":".join(hosts) if wide else hosts[0]
    fields = (str(job.get("user") or ""), row.stat, str(job.get("partition") or ""),
              str(job.get("submit_host") or ""))
    when = submit_time(float(job.get("submit_time") or 0))
    if wide:
        return (f"{row.job_id:<7} {fields[0]:<7} {fields[1]:<5.5} {fields[2]:<10} "
                f"{fields[3]:<11} {exec_host:<11} {row.name:<10} {when}")
    line = (f"{row.job_id:<7} {fields[0]:<7.7} {fields[1]:<5.5} {fields[2]:<10.10} "
            f"{fields[3]:<11.11} {exec_host:<11.11} {trunc(row.name, 10):<10.10} {when}")
    if row.stat not in ("PEND", "PSUSP"):
        line += "".join(f"\n{'':45}{host}" for host in hosts[1:])
    return line


def pending_reason(job: Job) -> str:
    reason = str(job.get("reason") or "None")
    if job.get("held") and reason not in ("JobHeldUser", "JobHeldAdmin"):
        reason = "JobHeldUser"
    return _REASONS.get(reason, reason)


def pending_line(row: Row) -> str:
    """bjobs -p: its own columns, and each job's pending reason under it."""
    job = row.job
    return (f"{row.job_id:<7} {str(job.get('user') or ''):<7.7} {row.stat:<5.5} "
            f"{str(job.get('partition') or ''):<11.11} {str(job.get('submit_host') or ''):<14.14} "
            f"{trunc(row.name, 20):<18.18} {submit_time(float(job.get('submit_time') or 0))}\n"
            f" {pending_reason(job)};")


# --------------------------------------------------------------------------- bjobs -l

class Wrapper:
    """LSF's prtLine: text is cut at column 80 and goes on after 21 blanks, mid-word or not."""

    WIDTH = 80
    BLANK = 22

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.cursor = 0

    def put(self, text: str) -> None:
        if text.startswith("\n"):
            self.cursor = 0
        i = 0
        while i < len(text):
            if self.cursor == self.WIDTH:
                self.parts.append("\n" + " " * (self.BLANK - 1))
                self.cursor = self.BLANK
                if text[i] == " ":
                    i += 1
                    if i >= len(text):
                        break
            self.parts.append(text[i])
            if text[i] == "\n":
                self.cursor = 0
            i += 1
            self.cursor += 1

    def raw(self, text: str) -> None:
        """What LSF prints with printf: not wrapped, and the cursor is left as it was."""
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


THRESHOLDS = (
    "           r15s   r1m  r15m   ut      pg    io   ls    it    tmp    swp    mem\n"
    " loadSched   -     -     -     -       -     -    -     -     -      -      -  \n"
    " loadStop    -     -     -     -       -     -    -     -     -      -      -  \n"
)


def _home_relative(path: str, user: str) -> str:
    try:
        home = pwd.getpwnam(user).pw_dir.rstrip("/")
    except KeyError:
        return path
    if home and path == home:
        return "$HOME"
    if home and path.startswith(home + "/"):
        return "$HOME" + path[len(home):]
    return path


def _hosts_text(hosts: list[tuple[str, int]]) -> str:
    return " ".join(f"<{count}*{host}>" if count > 1 else f"<{host}>" for host, count in hosts)


def long_job(out: Wrapper, row: Row, now: float) -> None:
    job = row.job
    user = str(job.get("user") or "")
    out.put(f"\nJob <{row.id_text}>,")
    command = str(job.get("command") or "")
    if row.name and row.name != command:
        out.put(f" Job Name <{row.name}>,")
    out.put(f" User <{user}>,")
    out.put(" Project <default>,")
    out.put(f" Status <{row.stat}>, Queue <{job.get('partition')}>,")
    out.put(f" Command <{command}>\n")
    out.put(f"{long_time(float(job.get('submit_time') or 0))}: Submitted from host "
            f"<{job.get('submit_host')}>")
    if job.get("held") and row.stat == "PSUSP":
        out.put(" with hold")
    out.put(f", CWD <{_home_relative(str(job.get('work_dir') or ''), user)}>")
    if job.get("stdin") and job.get("stdin") != "/dev/null":
        out.put(f", Input File <{job['stdin']}>")
    if job.get("stdout"):
        out.put(f", Output File <{job['stdout']}>")
    if job.get("stderr") and job.get("stderr") != job.get("stdout"):
        out.put(f", Error File <{job['stderr']}>")
    if job.get("exclusive"):
        out.put(", Exclusive Execution")
    tasks = int(job.get("num_tasks") or 1)
    if tasks > 1:
        out.put(f", {tasks} Task(s)")
    if job.get("dependency"):
        out.put(f", Dependency Condition <{lsf_dependency(str(job['dependency']))}>")
    out.put(";\n")
    if job.get("time_limit"):
        out.raw(f"\n {'RUNLIMIT':<24}\n {float(job['time_limit']):.1f} min\n")
    hosts = slots_per_host(job)
    if job.get("start_time") and hosts and row.stat not in ("PEND", "PSUSP"):
        listed = _hosts_text(hosts)
        home = ""
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            pass
        out.put(f"{long_time(float(job['start_time']))}: Started {tasks} Task(s) on Host(s) "
                f"{listed}, Allocated {tasks} Slot(s) on Host(s) {listed}")
        if home:
            out.put(f", Execution Home <{home}>")
        out.put(f", Execution CWD <{job.get('work_dir')}>;\n")
    if row.stat in ("DONE", "EXIT"):
        out.put(f"{long_time(float(job.get('end_time') or now))}: ")
        out.put(_ending(job))
        step = job.get("batch_step") or {}
        if hosts:
            cpu = step.get("total_cpu_s") if isinstance(step, Mapping) else None
            out.put(" The CPU time used is unknown.\n" if cpu is None
                    else f" The CPU time used is {float(cpu):.1f} seconds.\n")
        else:
            out.put("\n")
    elif row.stat in ("PEND", "PSUSP"):
        out.put(" PENDING REASONS:\n")
        out.put(f" {pending_reason(job)};\n")
    out.put("\n SCHEDULING PARAMETERS:\n")
    out.raw(THRESHOLDS)


def _ending(job: Job) -> str:
    state = str(job.get("state"))
    if state == "COMPLETED":
        return "Done successfully."
    if state in _ENDINGS:
        return f"Completed <exit>; {_ENDINGS[state]}."
    code, signal = int(job.get("exit_code") or 0), int(job.get("exit_signal") or 0)
    if code:
        return f"Exited with exit code {code}."
    return f"Exited by signal {signal}." if signal else "Exited."


def long_format(rows: Sequence[Row], now: float) -> str:
    out = Wrapper()
    for i, row in enumerate(rows):
        if i:
            out.put("-" * 78 + "\n")
        long_job(out, row, now)
    out.put("\n")
    return out.text()


# --------------------------------------------------------------------------- the command

class Request:
    def __init__(self) -> None:
        self.flags: set[str] = set()
        self.user: str | None = None
        self.queue: str | None = None
        self.name: str | None = None
        self.ids: list[tuple[int, list[int] | None]] = []
        self.id_texts: list[str] = []
        self.output: str | None = None
        self.project: str | None = None


def _expand_flags(argv: Sequence[str]) -> list[str]:
    """Plain getopt clusters (`-al`) as separate flags, as classic bjobs takes them."""
    out: list[str] = []
    for arg in argv:
        word = arg[1:]
        if (arg.startswith("-") and len(word) > 1 and word not in _ALL_OPTIONS
                and all(ch in OPTIONS and not OPTIONS[ch] for ch in word)):
            out.extend(f"-{ch}" for ch in word)
        else:
            out.append(arg)
    return out


def parse_job_arg(text: str) -> tuple[int, list[int] | None]:
    """`123` → (123, None); `123[1-3,5]` → (123, [1, 2, 3, 5])."""
    head, bracket, rest = text.partition("[")
    if not head.isdigit() or (bracket and not rest.endswith("]")):
        raise LsfError(f"{text}: Illegal job ID.")
    if not bracket:
        return int(head), None
    try:
        items = parse_index_list(rest[:-1])
    except ValueError:
        raise LsfError(f"{text}: Bad job array index list.") from None
    indices: list[int] = []
    for start, end, step in items:
        if start < 1 or start > end:
            raise LsfError(f"{start}-{end}: Job Array index invalid range.")
        indices.extend(range(start, end + 1, step))
    return int(head), indices


def parse_request(argv: Sequence[str]) -> Request:
    found, operands = parse_args("bjobs", _expand_flags(argv), _ALL_OPTIONS,
                                 stop_at_operand=False)
    req = Request()
    for name, value in found:
        if name in REFUSED:
            raise LsfError(f"-{name}: option not supported by corral")
        if name == "u":
            req.user = value
        elif name == "q":
            req.queue = value
        elif name == "J":
            req.name = value
        elif name == "o":
            req.output = value
        elif name == "P":
            req.project = value  # bsub -P is the job's account
        else:
            req.flags.add(name)
    if "l" in req.flags and "w" in req.flags:
        raise LsfError("bjobs: options -l and -w are exclusive")
    if req.output is not None and req.flags & {"l", "w"}:
        raise LsfError("bjobs: option -o cannot be used with -l or -w")
    for text in operands:
        if text == "0":
            continue
        req.ids.append(parse_job_arg(text))
        req.id_texts.append(text)
    return req


def wanted_states(flags: set[str], by_id: bool) -> frozenset[str] | None:
    """None: any state (-a, or jobs asked for by id)."""
    if "a" in flags or by_id:
        return None
    chosen: set[str] = set()
    if "d" in flags:
        chosen |= {"DONE", "EXIT"}
    if "p" in flags:
        chosen |= {"PEND", "PSUSP"}
    if "r" in flags:
        chosen.add("RUN")
    if "s" in flags:
        chosen |= {"USUSP", "SSUSP", "PSUSP"}
    return frozenset(chosen) or UNFINISHED


def none_found(flags: set[str]) -> str:
    """What LSF says when nothing matched (jobInfoErr)."""
    if "a" in flags:
        return "No job found"
    for flag, text in (("d", "No DONE/EXIT job found"), ("p", "No pending job found"),
                       ("s", "No suspended job found"), ("r", "No running job found")):
        if flags & {"d", "p", "s", "r"} == {flag}:
            return text
    return "No unfinished job found"


def _me() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def fetch(client: Client, req: Request, now: float) -> list[Job]:
    """Live jobs, and from accounting the finished ones when they are asked for."""
    user = None if req.ids or req.user == "all" else (req.user or _me())
    ids = [str(job_id) for job_id, _ in req.ids] or None
    jobs: dict[int, Job] = {}
    flags = req.flags
    if ids or flags & {"a", "d"}:
        start = None if ids else now - CLEAN_PERIOD
        history = client.history(user=user, all_users=user is None, job_ids=ids, start=start)
        for job in history:
            end = job.get("end_time")
            if ids or end is None or float(end) >= now - CLEAN_PERIOD:
                jobs[int(job["job_id"])] = job
    for job in client.jobs(user=user, job_ids=ids):
        jobs[int(job["job_id"])] = job
    return list(jobs.values())


def select(jobs: Iterable[Job], req: Request, states: frozenset[str] | None) -> list[Row]:
    rows = [row for job in jobs for row in rows_of(job)]
    if req.ids:
        rows = [r for r in rows
                if any(r.job_id == job_id and (indices is None or r.index in indices)
                       for job_id, indices in req.ids)]
    if states is not None:
        rows = [r for r in rows if r.stat in states]
    if req.queue:
        rows = [r for r in rows if r.job.get("partition") == req.queue]
    if req.project:
        rows = [r for r in rows if r.job.get("account") == req.project]
    if req.name:
        rows = [r for r in rows if fnmatch.fnmatchcase(str(r.job.get("name") or ""), req.name)
                or fnmatch.fnmatchcase(r.name, req.name)]
    return sorted(rows, key=_order)


def render(rows: Sequence[Row], flags: set[str], now: float) -> str:
    if "l" in flags:
        return long_format(rows, now)
    lines: list[str] = []
    only_pending = flags & {"a", "d", "p", "r", "s"} == {"p"}
    if "noheader" not in flags:
        lines.append(PEND_HEADER if only_pending else HEADER)
    for row in rows:
        lines.append(pending_line(row) if only_pending else default_line(row, "w" in flags))
    return "\n".join(lines) + "\n"


def _body(client: Client, argv: list[str]) -> int:
    try:
        req = parse_request(argv)
    except LsfError as exc:
        print(exc.message, file=sys.stderr)
        if exc.message.startswith("bjobs: "):
            print(USAGE, file=sys.stderr)
        return 255
    if "h" in req.flags:
        print(USAGE, file=sys.stderr)
        return 0
    if "V" in req.flags:
        print(VERSION, file=sys.stderr)
        return 0
    now = system_clock()
    try:
        jobs = fetch(client, req, now)
    except ClientError as exc:
        print(exc.message, file=sys.stderr)
        return 255
    rows = select(jobs, req, wanted_states(req.flags, bool(req.ids)))
    missing = [text for text, (job_id, _) in zip(req.id_texts, req.ids, strict=True)
               if not any(r.job_id == job_id for r in rows)]
    if req.output is not None or "json" in req.flags:
        return _custom(req, rows, missing, now)
    if rows:
        sys.stdout.write(render(rows, req.flags, now))
        sys.stdout.flush()
    for text in missing:
        print(f"Job <{text}> is not found", file=sys.stderr)
    if not rows and not missing:
        print(none_found(req.flags), file=sys.stderr)
    return 255 if missing or not rows else 0


def _custom(req: Request, rows: Sequence[Row], missing: Sequence[str], now: float) -> int:
    """-o and -json (psij polls with `-o "JOBID STAT ..." -json -a IDS`)."""
    from corral.cli.lsf import bjobs_fields

    try:
        layout = bjobs_fields.parse_layout(req.output) if req.output is not None else None
    except LsfError as exc:
        print(exc.message, file=sys.stderr)
        return 255
    if "json" in req.flags:
        sys.stdout.write(bjobs_fields.json_report(rows, layout, now, missing))
        return 255 if missing else 0
    assert layout is not None
    sys.stdout.write(bjobs_fields.table(rows, layout, now, "noheader" not in req.flags))
    for text in missing:
        print(f"Job <{text}> is not found", file=sys.stderr)
    if not rows and not missing:
        print(none_found(req.flags), file=sys.stderr)
    return 255 if missing or not rows else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("bjobs", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
