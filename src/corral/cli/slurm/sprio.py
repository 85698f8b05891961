"""sprio: each pending job's multifactor priority, factor by factor, as Slurm 22.05 lays it out.

Plain output shows each factor times its weight (they add up to PRIORITY, less nice); -n the
factors themselves (0..1); -w the weights. Only the factors with a weight get a column in the
default layouts, as in sprio.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command
from corral.cli.common.sortspec import apply_sort_spec
from corral.cli.common.users import resolve_users
from corral.cli.slurm.squeue_format import pad
from corral.client import Client

Job = Mapping[str, Any]
Weights = Mapping[str, Any]

VERSION = "slurm-wlm 22.05.8"
NOT_MULTIFACTOR = ("You are not running a supported priority plugin\n(priority/{type}).\n"
                   "Only 'priority/multifactor' is supported.\n")
NO_MATCH = "Unable to find jobs matching user/id(s) specified"
DEFAULT_SORT = "i"
LONG = "%.15i %9r %.8u %.10Y %.10S %.10A %.10B %.10F %.10J %.10P %.10Q %.11N %.20T"
LONG_NORM = "%.15i %9r %.8u %10y %10a %10b %10f %10j %10p %10q %20t"

OPTIONS: tuple[Option, ...] = (
    Option("noheader", "h", False), Option("jobs", "j", optional_value=True),
    Option("long", "l", False), Option("norm", "n", False), Option("format", "o"),
    Option("sort", "S"), Option("partition", "p"), Option("user", "u"), Option("users"),
    Option("verbose", "v", False), Option("version", "V", False), Option("weights", "w", False),
    Option("federation", None, False), Option("local", None, False),
    Option("sibling", None, False), Option("help", None, False), Option("usage", None, False),
    Option("helpformat", None, False),
)

USAGE = """\
Usage: sprio [-j jid[s]] [-u user_name[s]] [-o format] [-p partitions]
     [--federation] [--local] [--sibling] [--usage] [-hlnvVw]
"""

HELP = """\
Usage: sprio [OPTIONS]
  -h, --noheader                  no headers on output
  -j, --jobs                      comma separated list of jobs
                                  to view, default is all
  -l, --long                      long report
  -n, --norm                      display normalized values
  -o, --format=format             format specification
  -p, --partition=partition_name  comma separated list of partitions
  -S, --sort=fields               comma separated list of fields to sort on
  -u, --user=user_name            comma separated list of users to view
  -v, --verbose                   verbosity level
  -V, --version                   output version information and exit
  -w, --weights                   show the weights of the priority factors

Help options:
  --help                          show this help message
  --helpformat                    list the % fields --format accepts
  --usage                         display a brief summary of sprio options
"""

_JOB_ID = re.compile(r"[0-9]+(?:_[0-9]+)?(?:\+[0-9]+)?")

# Factor letter -> (header, job key, weight key). Upper case prints factor x weight, lower
# case the factor itself.
FACTORS: dict[str, tuple[str, str, str]] = {
    "A": ("AGE", "age", "age"), "B": ("ASSOC", "assoc", "assoc"),
    "F": ("FAIRSHARE", "fairshare", "fairshare"), "J": ("JOBSIZE", "job_size", "jobsize"),
    "P": ("PARTITION", "partition_factor", "partition"), "Q": ("QOS", "qos_factor", "qos"),
}


class Request:
    """What the command line asks for."""

    def __init__(self) -> None:
        self.header = True
        self.long = False
        self.normalized = False
        self.weights = False
        self.format: str | None = None
        self.sort = DEFAULT_SORT
        self.job_flag = False
        self.jobs: list[str] | None = None
        self.partitions: list[str] | None = None
        self.users: list[str] | None = None
        self.show: str | None = None  # "help", "usage", "helpformat" or "version"


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _job_ids(text: str) -> list[str]:
    ids = _split(text)
    for job_id in ids:
        if not _JOB_ID.fullmatch(job_id):
            raise CommandError(f"Invalid job id: {job_id}")
    return ids


def parse_request(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Request:
    """Reads sprio's options; raises OptionError (getopt's) or CommandError (sprio's)."""
    env = os.environ if environ is None else environ
    found, operands = parse("sprio", argv, OPTIONS, stop_at_positional=False)
    req = Request()
    for name, value in found:
        arg = value or ""
        if name in ("help", "usage", "helpformat", "version"):
            req.show = req.show or name
        elif name == "noheader":
            req.header = False
        elif name == "jobs":
            # -j's value is optional, so `-j 12` leaves 12 as an operand picked up below.
            req.job_flag = True
            if arg:
                req.jobs = _job_ids(arg)
        elif name == "long":
            req.long = True
        elif name == "norm":
            req.normalized = True
        elif name == "format":
            req.format = arg
        elif name == "sort":
            req.sort = arg
        elif name == "partition":
            req.partitions = _split(arg)
        elif name in ("user", "users"):
            req.users = _split(arg)
        elif name == "weights":
            req.weights = True
    if operands and req.job_flag:
        req.jobs = _job_ids(operands.pop(0))
    if operands:
        raise CommandError(f"Unrecognized option: {operands[0]}\n{USAGE.rstrip()}")
    if req.format is None and not req.long:
        req.format = env.get("SPRIO_FORMAT") or None
    sort_jobs([], req.sort, {})  # an unknown sort key fails before anything is fetched
    return req


def default_format(req: Request, weights: Weights) -> str:
    """sprio's layout when -o is not given: a column per factor that has a weight."""
    if req.long:
        return LONG_NORM if req.normalized else LONG
    fmt = "%.15i %9r" + (" %.8u" if req.users is not None else "")
    fmt += " %10y" if req.normalized else " %.10Y %.10S"
    for letter, (_, _, weight) in FACTORS.items():
        if weights.get(weight):
            fmt += f" %10{letter.lower()}" if req.normalized else f" %.10{letter}"
    if weights.get("tres"):
        fmt += " %20t" if req.normalized else " %.20T"
    return fmt


# --------------------------------------------------------------------------- fields

Value = Callable[[Job, Weights], str]


def _weighted(letter: str) -> Value:
    _, key, weight = FACTORS[letter]
    return lambda j, w: f"{float(j.get(key) or 0) * float(w.get(weight) or 0):.0f}"


def _normalized(letter: str) -> Value:
    # sprio divides the weighted value by the weight back again: no weight, no factor.
    _, key, weight = FACTORS[letter]
    return lambda j, w: f"{float(j.get(key) or 0) if w.get(weight) else 0.0:.7f}"


def _text(key: str) -> Value:
    return lambda j, w: str(j.get(key) if j.get(key) is not None else "")


# letter -> (header, value for a job, value on the -w line)
COLUMNS: dict[str, tuple[str, Value, Callable[[Weights], str]]] = {
    "i": ("JOBID", _text("job_id"), lambda w: "Weights"),
    "r": ("PARTITION", _text("partition"), lambda w: ""),
    "u": ("USER", _text("user"), lambda w: ""),
    "o": ("ACCOUNT", _text("account"), lambda w: ""),
    "n": ("QOSNAME", _text("qos"), lambda w: ""),
    "Y": ("PRIORITY", lambda j, w: str(int(j.get("priority") or 0)), lambda w: ""),
    "y": ("PRIORITY", lambda j, w: f"{int(j.get('priority') or 0) / 0xFFFFFFFF:16.14f}",
          lambda w: ""),
    "S": ("SITE", lambda j, w: str(int(j.get("site") or 0)), lambda w: "1"),
    "N": ("NICE", lambda j, w: str(int(j.get("nice") or 0)), lambda w: ""),
    # corral has no TRES weights; sprio prints an unset PriorityWeightTRES as C's "(null)".
    "T": ("TRES", lambda j, w: "", lambda w: str(w.get("tres") or "(null)")),
    "t": ("TRES", lambda j, w: "", lambda w: ""),
}


def _weight_of(key: str) -> Callable[[Weights], str]:
    return lambda w: str(int(w.get(key) or 0))


COLUMNS.update({letter: (title, _weighted(letter), _weight_of(weight))
                for letter, (title, _, weight) in FACTORS.items()})
COLUMNS.update({letter.lower(): (title, _normalized(letter), _weight_of(weight))
                for letter, (title, _, weight) in FACTORS.items()})


class Field:
    """One % item: a column (`letter`, or None for the text before the first %) and its layout."""

    __slots__ = ("letter", "width", "right", "suffix")

    def __init__(self, letter: str | None, width: int = 0, right: bool = False,
                 suffix: str = "") -> None:
        self.letter = letter
        self.width = width
        self.right = right
        self.suffix = suffix


def parse_format(fmt: str) -> tuple[list[Field], list[str]]:
    """Parses `%[.][width]letter[suffix]` items as sprio does (splitting on %, so `%%` is
    nothing); returns the fields and the letters it does not know, which are left out."""
    fields: list[Field] = []
    unknown: list[str] = []
    if not fmt.startswith("%"):
        fields.append(Field(None, suffix=fmt.split("%", 1)[0]))
    tokens = [t for t in fmt.split("%") if t]
    for token in tokens[0 if fmt.startswith("%") else 1:]:
        match = re.fullmatch(r"(\.?)([0-9]*)(.?)(.*)", token, re.DOTALL)
        assert match is not None
        dot, digits, letter, suffix = match.groups()
        if letter in COLUMNS:
            fields.append(Field(letter, int(digits or 0), bool(dot), suffix))
        else:
            unknown.append(letter)
    return fields, unknown


def _line(fields: Sequence[Field], value: Callable[[str], str]) -> str:
    parts: list[str] = []
    for field in fields:
        if field.letter is not None:
            parts.append(pad(value(field.letter), field.width, field.right))
        parts.append(field.suffix)
    return "".join(parts)


def render(jobs: Sequence[Job], weights: Weights, fields: Sequence[Field], *,
           header: bool = True, show_weights: bool = False) -> list[str]:
    """The lines sprio prints for `jobs` (already filtered and sorted)."""
    lines = [_line(fields, lambda c: COLUMNS[c][0])] if header else []
    if show_weights:
        lines.append(_line(fields, lambda c: COLUMNS[c][2](weights)))
        return lines
    for job in jobs:
        def value(c: str, j: Job = job) -> str:
            return COLUMNS[c][1](j, weights)
        lines.append(_line(fields, value))
    return lines


# --------------------------------------------------------------------------- order


def _sort_keys(weights: Weights) -> dict[str, Callable[[Job], Any] | None]:
    def weighted(letter: str) -> Callable[[Job], float]:
        _, key, weight = FACTORS[letter]
        return lambda j: float(j.get(key) or 0) * float(weights.get(weight) or 0)

    keys: dict[str, Callable[[Job], Any] | None] = {
        "c": None, "T": None, "t": None,
        "i": lambda j: int(j.get("job_id") or 0),
        "N": lambda j: int(j.get("nice") or 0),
        "n": lambda j: str(j.get("qos") or ""),
        "o": lambda j: str(j.get("account") or ""),
        "r": lambda j: str(j.get("partition") or ""),
        "u": lambda j: str(j.get("user") or ""),
        "Y": lambda j: int(j.get("priority") or 0),
        "y": lambda j: int(j.get("priority") or 0),
    }
    for letter in "AFJPQ":
        keys[letter] = keys[letter.lower()] = weighted(letter)
    return keys


def sort_jobs(jobs: Sequence[Job], spec: str, weights: Weights) -> list[Job]:
    """-S: keys applied right to left with stable sorts, so the leftmost wins; `-` descends."""
    try:
        return apply_sort_spec(list(jobs), spec, _sort_keys(weights))
    except ValueError as exc:
        raise CommandError(str(exc)) from None


# --------------------------------------------------------------------------- command


def listing(req: Request, reply: Mapping[str, Any], users: set[str] | None) -> list[str]:
    """sprio's lines for the controller's /priorities reply (multifactor only)."""
    weights: Weights = reply.get("weights") or {}
    jobs = [j for j in reply.get("jobs") or []
            if (users is None or {str(j.get("user")), str(j.get("uid"))} & users)
            and (not req.partitions or j.get("partition") in req.partitions)]
    if req.jobs and not jobs:
        return [NO_MATCH]
    fields, unknown = parse_format(req.format or default_format(req, weights))
    for letter in unknown:
        print(f"sprio: error: Invalid job format specification: {letter}", file=sys.stderr)
    return render(sort_jobs(jobs, req.sort, weights), weights, fields, header=req.header,
                  show_weights=req.weights)


def refusal(reply: Mapping[str, Any]) -> str | None:
    """sprio's message when the controller does not run priority/multifactor."""
    if reply.get("type") == "multifactor":
        return None
    return NOT_MULTIFACTOR.format(type=reply.get("type") or "basic")


def help_format() -> str:
    letters = sorted(COLUMNS, key=lambda c: (c.lower(), c.isupper()))
    rows = [letters[i:i + 9] for i in range(0, len(letters), 9)]
    return "".join("".join(f"%{c:<5}" for c in row) + "\n" for row in rows)


def _body(client: Client, argv: list[str]) -> int:
    try:
        req = parse_request(argv)
    except OptionError as exc:
        print(exc, file=sys.stderr)
        print('Try "sprio --help" for more information', file=sys.stderr)
        return 1
    if req.show:
        sys.stdout.write({"help": HELP, "usage": USAGE, "helpformat": help_format(),
                          "version": VERSION + "\n"}[req.show])
        return 0
    users: set[str] | None = None
    if req.users is not None:
        users, invalid = resolve_users(req.users)
        for name in invalid:
            print(f"sprio: error: Invalid user: {name}\n", file=sys.stderr)
    names = sorted(u for u in users or () if not u.isdigit())
    reply = client.priorities(job_ids=req.jobs, user=names[0] if len(names) == 1 else None)
    refused = refusal(reply)
    if refused:
        sys.stderr.write(refused)
        return 1
    sys.stdout.write("".join(line + "\n" for line in listing(req, reply, users)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("sprio", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
