"""bkill: cancel or signal jobs as IBM Spectrum LSF's bkill does (`bkill ID...`, `bkill 0`)."""

from __future__ import annotations

import fnmatch
import os
import pwd
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.common.runner import run_command
from corral.cli.lsf.bjobs import UNFINISHED, Row, parse_job_arg, rows_of
from corral.cli.lsf.options import LsfError, parse_args
from corral.client import Client

VERSION = "IBM Spectrum LSF 10.1.0.0 (corral)"
OPTIONS: dict[str, bool] = {
    "u": True, "q": True, "J": True, "s": True, "l": False, "h": False, "V": False,
    "b": False,
}
# -b (bulk kill) changes nothing: corral cancels a list of jobs in one request anyway.
NO_EFFECT = frozenset({"b"})
# LSF 10.1's other bkill options, refused by name (docs/options.md): corral keeps no kill
# reason (-C), no DONE-by-kill (-d), no forced removal (-r), no application profiles, job
# groups, service classes or host filters, and -stat's selection is not done.
REFUSED: dict[str, bool] = {
    "app": True, "C": True, "d": False, "g": True, "m": True, "r": False, "sla": True,
    "stat": True,
}
USAGE = """\
Usage: bkill [-h] [-V] [-l] [-q queue_name]
               [-u user_name | -u all] [0] [-s sigval] [-J job_name]
               [jobId | "jobId[index_list]"]..."""
# Linux's numbers for LSF's signal names (the signal module would cost an enum import).
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
           "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
           "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
           "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31}
# The controller's refusals, in LSF's words (lsb_errmsg).
_ERRORS = {
    "Access/permission denied": "User permission denied",
    "Invalid job id specified": "No matching job found",
    "Job/step already completing or completed": "Job has already finished",
}


def parse_signal(text: str) -> int:
    name = text.strip().upper().removeprefix("SIG")
    if name.isdigit() and 0 < int(name) < 65:
        return int(name)
    if name in SIGNALS:
        return SIGNALS[name]
    raise LsfError(f"{text}: Illegal signal value")


def _me() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


class Target:
    """One job or array element bkill acts on, as LSF names it and as the controller does."""

    __slots__ = ("lsf", "slurm", "error")

    def __init__(self, lsf: str, slurm: str, error: str | None = None) -> None:
        self.lsf = lsf
        self.slurm = slurm
        self.error = error


def _target(row: Row) -> Target:
    slurm = f"{row.job_id}_{row.index}" if row.index is not None else str(row.job_id)
    return Target(row.id_text, slurm)


def _by_id(client: Client, text: str) -> Target:
    """An explicit `123` or `123[4]`: what is left of it to kill, or why nothing is."""
    job_id, indices = parse_job_arg(text)
    slurm = str(job_id) if indices is None else f"{job_id}_{indices[0]}"
    if indices is not None and len(indices) > 1:
        slurm = f"{job_id}_[{','.join(str(i) for i in indices)}]"
    lsf = str(job_id) if indices is None else text

    def matching(jobs: Sequence[Mapping[str, Any]]) -> list[Row]:
        return [r for job in jobs for r in rows_of(job)
                if (r.job_id == job_id or int(r.job["job_id"]) == job_id)
                and (indices is None or r.index in indices)]

    rows = matching(client.jobs(job_ids=[str(job_id)]))
    if any(r.stat in UNFINISHED for r in rows):
        return Target(lsf, slurm)
    if rows or matching(client.history(job_ids=[str(job_id)])):
        return Target(lsf, slurm, "Job has already finished")
    return Target(lsf, slurm, "No matching job found")


def _selected(client: Client, user: str | None, queue: str | None, name: str | None,
              every: bool) -> list[Target]:
    """-u, -q, -J: the unfinished jobs (array elements) that match — with job ID 0 all of
    them, without it only the most recently submitted job, as LSF's bkill does."""
    rows = [r for job in client.jobs(user=user) for r in rows_of(job) if r.stat in UNFINISHED]
    if queue:
        rows = [r for r in rows if r.job.get("partition") == queue]
    if name:
        rows = [r for r in rows if fnmatch.fnmatchcase(str(r.job.get("name") or ""), name)
                or fnmatch.fnmatchcase(r.name, name)]
    if rows and not every:
        last = max(r.job_id for r in rows)
        rows = [r for r in rows if r.job_id == last]
    return [_target(r) for r in sorted(rows, key=lambda r: (r.job_id, r.index or 0))]


def _errors_of(reply: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in (reply.get("errors") if isinstance(reply, Mapping) else None) or []:
        if isinstance(error, Mapping):
            text = str(error.get("error") or error.get("message") or "")
            errors[str(error.get("job_id"))] = _ERRORS.get(text, text)
    return errors


def _body(client: Client, argv: list[str]) -> int:
    try:
        found, operands = parse_args("bkill", argv, {**OPTIONS, **REFUSED},
                                     stop_at_operand=False)
        refused = next((name for name, _ in found if name in REFUSED), None)
        if refused is not None:
            raise LsfError(f"-{refused}: option not supported by corral")
        values = dict(found)
        if "h" in values:
            print(USAGE, file=sys.stderr)
            return 0
        if "V" in values:
            print(VERSION, file=sys.stderr)
            return 0
        if "l" in values:
            print(" ".join(SIGNALS))
            return 0
        signal = parse_signal(values["s"] or "") if "s" in values else None
        if not operands and not any(k in values for k in ("u", "q", "J")):
            print("Job ID or one of '-m', '-u' '-q' and '-J' must be specified.", file=sys.stderr)
            print(USAGE, file=sys.stderr)
            return 255
        explicit = [text for text in operands if text != "0"]
        for text in explicit:
            parse_job_arg(text)
    except LsfError as exc:
        print(exc.message, file=sys.stderr)
        if exc.message.startswith("bkill: "):
            print(USAGE, file=sys.stderr)
        return 255
    if explicit:
        targets = [_by_id(client, text) for text in explicit]
    else:
        user = values.get("u")
        targets = _selected(client, None if user == "all" else (user or _me()), values.get("q"),
                            values.get("J"), every="0" in operands)
        if not targets:
            print("No unfinished job found", file=sys.stderr)
            return 255
    live = [t for t in targets if t.error is None]
    if live:
        body: dict[str, Any] = {"job_ids": [t.slurm for t in live]}
        if signal is not None:
            body["signal"] = signal
        errors = _errors_of(client.cancel(**body))
        for target in live:
            target.error = errors.get(target.slurm) or errors.get(target.slurm.split("_")[0])
    verb = "terminated" if signal in (None, 9) else "signaled"
    failed = False
    for target in targets:
        if target.error:
            failed = True
            print(f"Job <{target.lsf}>: {target.error}", file=sys.stderr)
        else:
            print(f"Job <{target.lsf}> is being {verb}", flush=True)
    return 255 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("bkill", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
