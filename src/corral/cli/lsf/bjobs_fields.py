"""bjobs -o "field[:[-]width] ... [delimiter='c']" and -json: LSF 10.1's customized output.

Each field has LSF's name, aliases and default width. The table pads each column to its width
(a longer value is cut, its last kept character a `*`), `-` for no value; a delimiter joins
values unpadded. -json gives {"COMMAND", "JOBS", "RECORDS"} with every value a string, "" for
no value, and an {"JOBID", "ERROR"} record for each job id not found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from corral.cli.lsf.bjobs import (
    Row,
    _host_entries,
    pending_reason,
    slots_per_host,
    submit_time,
)
from corral.cli.lsf.options import LsfError

Getter = Callable[[Row, float], str]

# The termination reasons LSF documents (as bjobs -l, bhist and bacct word them) for the ends
# LSF itself causes. A job its owner bkilled has none in this field (bjobs -l says TERM_OWNER):
# psij, which polls this field on LSF machines, reads a reason only as a failure of its own.
_ENDINGS = {
    "TIMEOUT": "Job killed after reaching LSF run time limit",
    "OUT_OF_MEMORY": "Job killed after reaching LSF memory usage limit",
    "PREEMPTED": "Job killed after preemption",
    "DEADLINE": "Job killed after deadline expires",
    "NODE_FAIL": "Job killed because its host failed",
}


def _when(key: str) -> Getter:
    def get(row: Row, now: float) -> str:
        value = row.job.get(key)
        if not value or (key == "start_time" and row.stat in ("PEND", "PSUSP")):
            return ""
        return submit_time(float(value)) + (" L" if key == "end_time" else "")
    return get


def _exit_code(row: Row, now: float) -> str:
    if row.stat != "EXIT":
        return ""
    code, signal = int(row.job.get("exit_code") or 0), int(row.job.get("exit_signal") or 0)
    return str(code or (128 + signal if signal else 0))


def _run_time(row: Row, now: float) -> str:
    start = row.job.get("start_time")
    if not start or row.stat in ("PEND", "PSUSP"):
        return "0 second(s)"
    end = row.job.get("end_time") or now
    return f"{int(float(end) - float(start))} second(s)"


def _cpu_used(row: Row, now: float) -> str:
    step = row.job.get("batch_step") or {}
    cpu = step.get("total_cpu_s") if isinstance(step, dict) else None
    return "" if cpu is None else f"{float(cpu):.1f} second(s)"


def _text(key: str) -> Getter:
    return lambda row, now: str(row.job.get(key) or "")


# name → (aliases, default width, getter)
FIELDS: dict[str, tuple[tuple[str, ...], int, Getter]] = {
    "jobid": (("id",), 7, lambda r, n: str(r.job_id)),
    "jobindex": ((), 8, lambda r, n: str(r.index or 0)),
    "stat": ((), 5, lambda r, n: r.stat),
    "user": ((), 7, _text("user")),
    "queue": ((), 10, _text("partition")),
    "job_name": (("name",), 10, lambda r, n: r.name),
    "job_description": (("description",), 17, _text("comment")),
    "proj_name": (("proj", "project"), 11, lambda r, n: str(r.job.get("account") or "default")),
    "dependency": ((), 15, _text("dependency")),
    "command": (("cmd",), 15, _text("command")),
    "pend_reason": ((), 11,
                    lambda r, n: pending_reason(r.job) if r.stat in ("PEND", "PSUSP") else ""),
    "from_host": ((), 11, _text("submit_host")),
    "exec_host": (("ehost",), 11,
                  lambda r, n: "" if r.stat in ("PEND", "PSUSP") else ":".join(_host_entries(r.job))),
    "first_host": ((), 11, lambda r, n: next(iter(r.job.get("nodes") or []), "")
                   if r.stat not in ("PEND", "PSUSP") else ""),
    "nexec_host": ((), 10, lambda r, n: str(len(slots_per_host(r.job)))
                   if r.stat not in ("PEND", "PSUSP") else ""),
    "nalloc_slot": ((), 10, lambda r, n: str(int(r.job.get("num_tasks") or 1))
                    if r.stat not in ("PEND", "PSUSP") else ""),
    "slots": ((), 5, lambda r, n: str(int(r.job.get("num_tasks") or 1))),
    "nreq_slot": ((), 10, lambda r, n: str(int(r.job.get("num_tasks") or 1))),
    "submit_time": ((), 15, _when("submit_time")),
    "start_time": ((), 15, _when("start_time")),
    "finish_time": ((), 16, _when("end_time")),
    "run_time": ((), 15, _run_time),
    "cpu_used": ((), 10, _cpu_used),
    "runtimelimit": ((), 12, lambda r, n: f"{float(r.job['time_limit']):.1f}"
                     if r.job.get("time_limit") else ""),
    "exit_code": ((), 9, _exit_code),
    "exit_reason": ((), 50, lambda r, n: _ENDINGS.get(str(r.job.get("state")), "")),
    # Set by `bkill -C reason`, which corral does not take; suspensions carry none either.
    "kill_reason": ((), 50, lambda r, n: ""),
    "suspend_reason": ((), 50, lambda r, n: ""),
    "sub_cwd": ((), 10, _text("work_dir")),
    "output_file": ((), 11, _text("stdout")),
    "error_file": ((), 10, _text("stderr")),
    "input_file": ((), 10, _text("stdin")),
}
_BY_NAME = {alias: name for name, (aliases, _, _) in FIELDS.items() for alias in (name, *aliases)}
_SPEC = re.compile(r"([A-Za-z_%]+)(?::(-)?([0-9]+)?)?$")


class Layout:
    """The parsed -o string: [(field name, width, right-aligned)] and the delimiter, if any."""

    def __init__(self, columns: list[tuple[str, int, bool]], delimiter: str | None) -> None:
        self.columns = columns
        self.delimiter = delimiter


def parse_layout(text: str) -> Layout:
    delimiter = None
    match = re.search(r"\s*delimiter=(['\"])(.)\1\s*$", text)
    if match:
        delimiter = match.group(2)
        text = text[:match.start()]
    columns: list[tuple[str, int, bool]] = []
    for item in text.split():
        spec = _SPEC.match(item)
        name = _BY_NAME.get(spec.group(1).lower()) if spec else None
        if spec is None or name is None:
            raise LsfError(f"Invalid field name: {item.split(':')[0]}")
        width = int(spec.group(3)) if spec.group(3) else FIELDS[name][1]
        columns.append((name, width, bool(spec.group(2))))
    if not columns:
        raise LsfError("Output format is empty")
    return Layout(columns, delimiter)


def _cell(value: str, width: int, right: bool) -> str:
    shown = value or "-"
    if len(shown) > width:
        shown = shown[:width - 1] + "*"
    return f"{shown:>{width}}" if right else f"{shown:<{width}}"


def table(rows: Sequence[Row], layout: Layout, now: float, header: bool) -> str:
    lines: list[str] = []
    names = [name.upper() for name, _, _ in layout.columns]
    if layout.delimiter is not None:
        if header:
            lines.append(layout.delimiter.join(names))
        for row in rows:
            lines.append(layout.delimiter.join(
                FIELDS[name][2](row, now) or "-" for name, _, _ in layout.columns))
    else:
        if header:
            lines.append(" ".join(_cell(n, w, r) for n, (_, w, r) in zip(names, layout.columns,
                                                                      strict=True)).rstrip())
        for row in rows:
            lines.append(" ".join(_cell(FIELDS[name][2](row, now), width, right)
                                  for name, width, right in layout.columns).rstrip())
    return "\n".join(lines) + "\n" if lines else ""


def json_report(rows: Sequence[Row], layout: Layout | None, now: float,
                missing: Sequence[str]) -> str:
    columns = layout.columns if layout else [(n, 0, False) for n in
                                             ("jobid", "user", "stat", "queue", "from_host",
                                              "exec_host", "job_name", "submit_time")]
    records: list[dict[str, Any]] = []
    for row in rows:
        record = {name.upper(): FIELDS[name][2](row, now) for name, _, _ in columns}
        if "JOBID" in record and row.index is not None:
            record["JOBID"] = row.id_text
        records.append(record)
    records += [{"JOBID": text, "ERROR": f"Job <{text}> is not found"} for text in missing]
    report = {"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}
    return json.dumps(report, indent=2, separators=(",", ":")) + "\n"


