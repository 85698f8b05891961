"""Standard Workload Format (Parallel Workloads Archive) reader.

One job per line, 18 whitespace-separated numeric fields, `-1` for unknown; `;` lines are the
header ("; MaxProcs: 100", "; Queue: 1 express"). A line that cannot be read, or a job that no
scheduler could have run (no processor count, unknown run time), is skipped and counted under a
reason: the replay never invents a value the trace does not hold.
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

FIELDS = 18

# Field positions (0-based) of the ones a replay needs.
JOB, SUBMIT, RUN, ALLOC_PROCS, REQ_PROCS, REQ_TIME = 0, 1, 3, 4, 7, 8
STATUS, USER, GROUP, QUEUE, PARTITION = 10, 11, 12, 14, 15


@dataclass(frozen=True, slots=True)
class TraceJob:
    number: int
    submit: int
    run: int
    procs: int
    requested_time: int | None
    user: int | None
    group: int | None
    queue: int | None
    partition: int | None
    status: int


@dataclass(slots=True)
class Trace:
    header: dict[str, str] = field(default_factory=dict)
    queues: dict[int, str] = field(default_factory=dict)
    partitions: dict[int, str] = field(default_factory=dict)
    jobs: list[TraceJob] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    # The first line number skipped for each reason, so a user can look at one.
    first_skipped_line: dict[str, int] = field(default_factory=dict)
    lines: int = 0

    def header_int(self, key: str) -> int | None:
        value = self.header.get(key.lower())
        if value is None:
            return None
        try:
            number = int(value.split()[0])
        except (ValueError, IndexError):
            return None
        return number if number > 0 else None

    def skip(self, reason: str, line_number: int) -> None:
        self.skipped[reason] += 1
        self.first_skipped_line.setdefault(reason, line_number)


class SkipLine(ValueError):
    """A data line that is not used; the message is the reason, counted in the summary."""


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise SkipLine("malformed: a field is not a number") from None
    if not math.isfinite(value):
        raise SkipLine("malformed: a field is not a number")
    return round(value)


def parse_job(fields: list[str]) -> TraceJob:
    if len(fields) != FIELDS:
        raise SkipLine(f"malformed: {len(fields)} fields instead of {FIELDS}")
    values = [_number(f) for f in fields]
    if values[SUBMIT] < 0:
        raise SkipLine("unknown submit time")
    if values[RUN] < 0:
        raise SkipLine("unknown (negative) run time")
    procs = values[ALLOC_PROCS] if values[ALLOC_PROCS] > 0 else values[REQ_PROCS]
    if procs <= 0:
        raise SkipLine("no processor count")

    def known(value: int) -> int | None:
        return value if value >= 0 else None

    requested = values[REQ_TIME] if values[REQ_TIME] > 0 else None
    return TraceJob(values[JOB], values[SUBMIT], values[RUN], procs, requested,
                    known(values[USER]), known(values[GROUP]), known(values[QUEUE]),
                    known(values[PARTITION]), values[STATUS])


def _header_line(trace: Trace, text: str) -> None:
    body = text.lstrip(";").strip()
    key, sep, value = body.partition(":")
    if not sep or not key.strip() or " " in key.strip():
        return
    key, value = key.strip().lower(), value.strip()
    if key in ("queue", "partition"):
        number, _, name = value.partition(" ")
        try:
            (trace.queues if key == "queue" else trace.partitions)[int(number)] = name.strip()
        except ValueError:
            pass
        return
    trace.header.setdefault(key, value)


def read_lines(lines: Iterable[str]) -> Trace:
    trace = Trace()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith(";"):
            _header_line(trace, text)
            continue
        trace.lines += 1
        try:
            trace.jobs.append(parse_job(text.split()))
        except SkipLine as skipped:
            trace.skip(str(skipped), number)
    # The archive's logs are in submit order; a hand-made one may not be.
    trace.jobs.sort(key=lambda j: (j.submit, j.number))
    return trace


def _open_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        yield from handle


def read_trace(path: Path) -> Trace:
    """Reads an SWF file, plain or gzip-compressed (recognised by content, not by name)."""
    return read_lines(_open_lines(path))
