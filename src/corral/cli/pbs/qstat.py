"""qstat: PBS job status from corral's queue, and from its history with -x or -H.

Operands are job ids (`12`, `12.server`, `12[]`, `12[3]`) or queue names. Finished jobs are
PBS "history jobs": shown only with -x/-H, and a finished job asked for by id without them
gets PBS's `Job has finished, use -x or -H ...` (exit 35).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from corral.cli.pbs import qstat_format as fmt
from corral.cli.pbs import qstat_queues
from corral.cli.pbs.options import (
    EXIT_HISTJOBID,
    EXIT_UNKJOBID,
    OptionProblem,
    getopt,
    parse_job_id,
    run_pbs_command,
)
from corral.client import Client

VERSION = "pbs_version = 2022.1.0"
SPEC = "aBD:EfF:GHiJMnpqQrsTtu:wx1"
# Every option of PBS Pro's qstat is in SPEC; docs/options.md classes each. These show what
# corral cannot fill in (server and queue limit summaries, CPU-time percentages, start
# estimates, comments, wide or sized columns) and are refused by name, not misprinted.
REFUSED = frozenset("BGMpqsTw")
NO_EFFECT: frozenset[str] = frozenset()
# PBS prints "usage: " with its trailing blank.
USAGE = "usage: \n" + """\
qstat [-f] [-J] [-p] [-t] [-x] [-E] [ job_identifier... | destination... ]
qstat [-a|-i|-r|-H|-T] [-J] [-t] [-u user] [-n] [-s] [-G|-M] [-1] [-w]
\t[ job_identifier... | destination... ]
qstat -Q [-f] [ destination... ]
qstat -q [-G|-M] [ destination... ]
qstat -B [-f] [ server_name... ]
qstat --version
"""
# PBS keeps finished jobs for job_history_duration, two weeks by default.
HISTORY_SECONDS = 14 * 86400
# The letters each alternate selection shows.
_SELECT = {"i": "QHWT", "r": "RS", "H": "FX"}


class Request:
    """What the command line asks for (a plain class: no dataclasses import on this path)."""

    def __init__(self, flags: dict[str, str], operands: list[str]) -> None:
        self.flags = flags
        self.operands = operands
        self.full = "f" in flags
        self.alternate = any(f in flags for f in "aiHrun")
        self.history = "x" in flags or "H" in flags
        self.subjobs = "t" in flags
        self.users = [u.split("@")[0] for u in flags["u"].split(",")] if "u" in flags else None
        # -F json|dsv: the full listing in a form a program reads (psij polls with -f -F json).
        self.format = flags.get("F", "").lower() or None


def parse(argv: Sequence[str]) -> Request:
    found, operands, _ = getopt("qstat", argv, SPEC, permute=True)
    flags = dict(found)
    refused = next((f for f in flags if f in REFUSED), None)
    if refused is not None:
        raise OptionProblem(f"qstat: -{refused}: option not supported by corral")
    if sum(f in flags for f in "aiHr") > 1:
        raise OptionProblem("")
    if "F" in flags and (flags["F"].lower() not in ("json", "dsv") or "f" not in flags):
        raise OptionProblem("qstat: -F is only valid with -f, as json or dsv"
                            if "f" not in flags else f"qstat: invalid -F value: {flags['F']}")
    return Request(flags, operands)


def _shown(job: fmt.PbsJob, request: Request) -> bool:
    state = fmt.job_state(job)
    if not request.history and state == "F":
        return False
    for flag, letters in _SELECT.items():
        if flag in request.flags and state not in letters:
            return False
    if "J" in request.flags and job.kind == "job":
        return False
    rec = job.record
    return request.users is None or rec.get("user") in request.users


class Printer:
    """Prints jobs in the asked layout, the table header once before the first row."""

    def __init__(self, request: Request, server: str, now: float) -> None:
        self.request = request
        self.server = server
        self.now = now
        self.header_done = False
        self.collected: list[fmt.PbsJob] = []

    def print(self, jobs: Iterable[fmt.PbsJob]) -> None:
        request = self.request
        for job in jobs:
            if request.alternate:
                if not self.header_done:
                    print(f"\n{self.server}: \n{fmt.ALT_HEADER}")
                row = fmt.alt_row(job, self.server, self.now)
                nodes = "n" in request.flags and job.kind != "array"
                hosts = fmt.exec_host(job.record) if nodes and "1" in request.flags else ""
                # -n -1: the exec_host string on the job's own line.
                print(f"{row} {hosts}" if hosts else row)
                if nodes and "1" not in request.flags:
                    for line in fmt.node_lines(job.record):
                        print(line)
            elif request.format == "json":
                self.collected.append(job)  # one document for all of them, printed at the end
            elif request.format == "dsv":
                print(fmt.dsv_line(job, self.server, self.now, request.flags.get("D") or "|"))
            elif request.full:
                print(fmt.full_listing(job, self.server, self.now))
            else:
                if not self.header_done:
                    print(fmt.DEFAULT_HEADER)
                print(fmt.default_row(job, self.server))
            self.header_done = True


def _records(client: Client, request: Request, seq: int | None) -> list[dict[str, Any]]:
    """Live records (of one job id, or all), with the history's finished ones when asked."""
    ids = [str(seq)] if seq is not None else None
    user = request.users[0] if request.users and len(request.users) == 1 else None
    records = {r["job_id"]: r for r in client.jobs(job_ids=ids, user=user if ids is None else None)}
    if request.history:
        start = None if ids else time.time() - HISTORY_SECONDS
        older = client.history(job_ids=ids, all_users=user is None, user=user, start=start)
        records = {**{r["job_id"]: r for r in older}, **records}
    return [records[k] for k in sorted(records)]


def _one_job(client: Client, request: Request, printer: Printer, operand: str) -> int:
    """Shows one job id operand; PBS's message and exit status when it cannot."""
    parsed = parse_job_id(operand)
    if parsed is None:
        print(f"qstat: illegally formed job identifier: {operand}", file=sys.stderr)
        return 1
    seq, index = parsed
    shown = f"{seq}{'' if index is None else f'[{index}]'}.{printer.server}"
    jobs = fmt.group(_records(client, request, seq), subjobs=True)
    if index:
        wanted = set(fmt.expand_indices(index))
        jobs = [j for j in jobs if j.kind == "subjob" and j.index in wanted]
    else:
        jobs = [j for j in jobs if j.kind != "subjob" or request.subjobs]
    named = [j for j in jobs if j.kind != "subjob"] or jobs
    if not request.history and (
            (named and all(fmt.job_state(j) in "FX" for j in named))
            or (not jobs and client.history(job_ids=[str(seq)]))):
        print(f"qstat: {shown} Job has finished, use -x or -H to obtain historical job "
              "information", file=sys.stderr)
        return EXIT_HISTJOBID
    if not jobs:
        print(f"qstat: Unknown Job Id {shown}", file=sys.stderr)
        return EXIT_UNKJOBID
    printer.print(j for j in jobs if request.history or fmt.job_state(j) != "F")
    return 0


def _body(client: Client, argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(VERSION)
        return 0
    try:
        request = parse(argv)
    except OptionProblem as exc:
        if str(exc):
            print(exc, file=sys.stderr)
        sys.stderr.write(USAGE)
        return 2
    server = str(client.ping()["controller"])
    if "Q" in request.flags:
        return qstat_queues.show(client, request.operands, full=request.full, server=server)
    printer = Printer(request, server, time.time())
    job_ids = [o for o in request.operands if o[:1].isdigit()]
    if "E" in request.flags:
        # -E: the job ids in ascending order (one server, so one group).
        job_ids.sort(key=lambda o: (parse_job_id(o) or (0, None))[0])
    queues = {o.split("@")[0] for o in request.operands if not o[:1].isdigit()}
    failed = 0
    for operand in job_ids:
        failed = _one_job(client, request, printer, operand) or failed
    if queues or not job_ids:
        jobs = fmt.group(_records(client, request, None), subjobs=request.subjobs)
        printer.print(j for j in jobs if _shown(j, request)
                      and (not queues - {""} or j.record.get("partition") in queues))
    if request.format == "json":
        print(fmt.json_report(printer.collected, server, printer.now, VERSION.split(" = ")[1]))
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    return run_pbs_command("qstat", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
