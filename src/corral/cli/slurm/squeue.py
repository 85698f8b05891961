"""squeue: the controller's job queue, printed as Slurm 22.05's squeue prints it."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command, slurm_unreachable
from corral.cli.common.unsupported import first_refused
from corral.cli.common.users import resolve_users
from corral.cli.slurm import squeue_format as sf
from corral.cli.slurm import squeue_sort
from corral.client import Client, ClientError, ControllerUnreachable
from corral.clock import system_clock
from corral.model.arrays import parse_indices
from corral.model.hostlist import expand

VERSION = "slurm-wlm 22.05.8"
ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING",
                           "RESIZING", "SIGNALING", "STAGE_OUT"})
ALL_STATES = tuple(sf.SHORT_STATE)

OPTIONS: tuple[Option, ...] = (
    Option("all", "a", False), Option("account", "A"), Option("accounts"),
    Option("noheader", "h", False), Option("iterate", "i"), Option("jobs", "j"), Option("job"),
    Option("long", "l", False), Option("name", "n"), Option("names"), Option("format", "o"),
    Option("Format", "O"), Option("partition", "p"), Option("partitions"), Option("qos", "q"),
    Option("array", "r", False), Option("sort", "S"), Option("states", "t"), Option("state"),
    Option("user", "u"), Option("users"), Option("verbose", "v", False),
    Option("version", "V", False), Option("nodelist", "w"), Option("me", None, False),
    Option("start", None, False), Option("json", None, False), Option("help", None, False),
    Option("usage", None, False), Option("clusters", "M"),
    # Accepted with no effect (NO_EFFECT below).
    Option("federation", None, False), Option("local", None, False),
    Option("sibling", None, False), Option("hide", None, False),
    # Refused by name (REFUSED below): the rest of squeue(1)'s options.
    Option("array-unique", None, False), Option("licenses", "L"),
    Option("noconvert", None, False), Option("priority", "P", False),
    Option("reservation", "R"), Option("steps", "s", True, True), Option("yaml", None, False),
)
# squeue(1)'s options corral does not do: refused by name (cli/common/unsupported.py), never
# dropped; docs/options.md says why, option by option.
REFUSED = frozenset({"array-unique", "licenses", "noconvert", "priority", "reservation",
                     "steps", "yaml"})
# Accepted with no effect: one cluster, not in a federation (--federation, --local,
# --sibling), no hidden partition to hide (--hide is the default); --verbose only logs.
NO_EFFECT = frozenset({"federation", "local", "sibling", "hide", "verbose"})
# Long spellings that mean the same option (Slurm's getopt table has them too).
_ALIASES = {"accounts": "account", "job": "jobs", "names": "name", "partitions": "partition",
            "state": "states", "users": "user"}

USAGE = """\
Usage: squeue [-A account] [--clusters names] [-i seconds] [--job jobid]
              [-n name] [-o format] [-p partitions] [--qos qos]
              [--reservation reservation] [--sort fields] [--start]
              [--step step_id] [-t states] [-u user_name] [--usage]
              [-L licenses] [-w nodes] [--federation] [--local] [--sibling]
              [--json] [--yaml] [-ahjlrsv]"""

HELP = """\
Usage: squeue [OPTIONS]
  -A, --account=account(s)        comma separated list of accounts
                                  to view, default is all accounts
  -a, --all                       display jobs in hidden partitions
  -h, --noheader                  no headers on output
  -i, --iterate=seconds           specify an interation period
  -j, --job=job(s)                comma separated list of jobs IDs
                                  to view, default is all
      --json                      Produce JSON output
  -l, --long                      long report
      --me                        equivalent to --user=<my username>
  -n, --name=job_name(s)          comma separated list of job names to view
  -o, --format=format             format specification
  -O, --Format=format             format specification
  -p, --partition=partition(s)    comma separated list of partitions
                                  to view, default is all partitions
  -q, --qos=qos(s)                comma separated list of qos's
                                  to view, default is all qos's
  -r, --array                     display one job array element per line
  -S, --sort=fields               comma separated list of fields to sort on
      --start                     print expected start times of pending jobs
  -t, --states=states             comma separated list of states to view,
                                  default is pending and running,
                                  '--states=all' reports all states
  -u, --user=user_name(s)         comma separated list of users to view
  -v, --verbose                   verbosity level
  -V, --version                   output version information and exit
  -w, --nodelist=hostlist         list of nodes to view, default is
                                  all nodes

Help options:
  --help                          show this help message
  --usage                         display a brief summary of squeue options"""

_JOB_ID = re.compile(r"[0-9]+(?:_(?:[0-9]+|\[[0-9,%\-]+\]))?(?:\+[0-9]+)?")


class Request:
    """What the command line asks for."""

    def __init__(self, sort: str | None = None) -> None:
        self.noheader = False
        self.fields: list[sf.Field] = []
        self.users: list[str] | None = None
        self.job_ids: list[str] | None = None
        self.states: frozenset[str] | None = ACTIVE_STATES
        self.partitions: list[str] | None = None
        self.names: list[str] | None = None
        self.accounts: list[str] | None = None
        self.qos: list[str] | None = None
        self.nodes: list[str] | None = None
        self.sort = sort
        self.long = False
        self.iterate = 0.0
        self.json = False
        self.expand_arrays = False
        self.show: str | None = None  # "version", "help" or "usage": print it and stop
        self.clusters: str | None = None  # -M: checked, then each pass headed by its name


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_states(text: str) -> frozenset[str] | None:
    """-t: short or long state names, any case; `all` (None) lifts the filter."""
    wanted: set[str] = set()
    for name in _split(text):
        upper = name.upper()
        if upper == "ALL":
            return None
        if upper in sf.LONG_STATE:
            upper = sf.LONG_STATE[upper]
        if upper not in sf.SHORT_STATE:
            raise CommandError(f"Invalid job state specified: {name}\n"
                               f"Valid job states include: {','.join(ALL_STATES)}")
        wanted.add(upper)
    return frozenset(wanted)


def parse_request(argv: Sequence[str], environ: Mapping[str, str] | None = None,
                  me: Callable[[], str] | None = None) -> Request:
    """Reads squeue's options; raises OptionError (getopt's) or CommandError (squeue's)."""
    env = os.environ if environ is None else environ
    found, operands = parse("squeue", argv, OPTIONS, stop_at_positional=False)
    refused = first_refused(found, REFUSED)
    if refused is not None:
        raise CommandError(refused)
    req = Request(sort=env.get("SQUEUE_SORT") or None)
    fmt: str | None = None
    long_fmt: str | None = None
    start = False
    for name, value in found:
        key, arg = _ALIASES.get(name, name), value or ""
        if key in ("version", "help", "usage"):
            req.show = req.show or key
        elif key == "noheader":
            req.noheader = True
        elif key == "format":
            fmt, long_fmt = arg, None
        elif key == "Format":
            fmt, long_fmt = None, arg
        elif key == "user":
            req.users = (req.users or []) + _split(arg)
        elif key == "me":
            req.users = (req.users or []) + [(me or _current_user)()]
        elif key == "jobs":
            req.job_ids = (req.job_ids or []) + _split(arg)
        elif key == "states":
            req.states = parse_states(arg)
        elif key in ("partition", "name", "account", "qos", "nodelist"):
            attr = {"partition": "partitions", "name": "names", "account": "accounts",
                    "qos": "qos", "nodelist": "nodes"}[key]
            setattr(req, attr, (getattr(req, attr) or []) + _split(arg))
        elif key == "long":
            req.long = True
        elif key == "sort":
            req.sort = arg
        elif key == "start":
            start = True
        elif key == "iterate":
            try:
                req.iterate = float(arg)
            except ValueError:
                req.iterate = 0.0
            if req.iterate <= 0:
                raise CommandError(f"--iterate={arg} invalid value")
        elif key == "json":
            req.json = True
        elif key == "array":
            req.expand_arrays = True
        elif key == "clusters":
            req.clusters = arg
    if operands:
        raise CommandError(f"Unrecognized option: {operands[0]}")
    for job_id in req.job_ids or []:
        if not _JOB_ID.fullmatch(job_id):
            raise CommandError(f"Invalid job id: {job_id}")
    if start:
        # --start only fills in what was not given: the states, the sort, and the format,
        # which it takes over from SQUEUE_FORMAT(2) as squeue does.
        req.states = frozenset({"PENDING"}) if req.states == ACTIVE_STATES else req.states
        req.sort = req.sort or "S"
    if long_fmt is None and fmt is None and not start:
        long_fmt = env.get("SQUEUE_FORMAT2") or None
        fmt = None if long_fmt else env.get("SQUEUE_FORMAT") or None
    if long_fmt is not None:
        req.fields = sf.parse_long_format(long_fmt)
    else:
        default = sf.START_FORMAT if start else sf.LONG_FORMAT if req.long else sf.DEFAULT_FORMAT
        req.fields = sf.parse_format(fmt if fmt is not None else default)
    return req


def _current_user() -> str:
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _matches_id(job: Mapping[str, Any], wanted: Sequence[str]) -> bool:
    own = {str(job.get("job_id"))}
    if job.get("array_job_id"):
        own.add(str(job["array_job_id"]))
        if job.get("array_task_id") is not None:
            own.add(f"{job['array_job_id']}_{job['array_task_id']}")
    for w in wanted:
        base, _, tasks = w.partition("_")
        if w in own or "+" in w:
            return True
        if "[" in tasks and str(job.get("array_job_id")) == base \
                and job.get("array_task_id") in parse_indices(tasks):
            return True
    return False


def select(req: Request, jobs: Iterable[Mapping[str, Any]],
           users: set[str] | None) -> list[Mapping[str, Any]]:
    """The records the request's filters keep (`users`: names/uids; None means everyone's)."""
    kept = []
    for job in jobs:
        if req.states is not None and job.get("state") not in req.states:
            continue
        if users is not None and not {str(job.get("user")), str(job.get("uid"))} & users:
            continue
        if req.job_ids and not _matches_id(job, req.job_ids):
            continue
        if req.partitions and not set(str(job.get("partition", "")).split(",")) & set(
                req.partitions):
            continue
        if req.names and job.get("name") not in req.names:
            continue
        if req.accounts and job.get("account") not in req.accounts:
            continue
        if req.qos and job.get("qos") not in req.qos:
            continue
        if req.nodes and not _on_nodes(job, req.nodes):
            continue
        kept.append(job)
    return kept


def _on_nodes(job: Mapping[str, Any], wanted: Sequence[str]) -> bool:
    names: set[str] = set()
    for expr in wanted:
        try:
            names.update(expand(expr))
        except ValueError:
            names.add(expr)
    return bool(names & set(job.get("nodes") or []))


def _task_records(job: Mapping[str, Any], tasks: Iterable[int]) -> list[Mapping[str, Any]]:
    return [{**job, "array_task_id": task, "array_task_string": None} for task in tasks]


def expand_arrays(req: Request, jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A pending array is one folded record; -r, or asking for one of its tasks, unfolds it."""
    named: dict[str, set[int]] = {}
    for wanted in req.job_ids or []:
        base, _, task = wanted.partition("_")
        if task:
            named.setdefault(base, set()).update(parse_indices(task))
    out: list[Mapping[str, Any]] = []
    for job in jobs:
        folded = job.get("array_task_string")
        if not folded:
            out.append(job)
            continue
        tasks = parse_indices(str(folded).partition("%")[0])
        if req.expand_arrays:
            out.extend(_task_records(job, tasks))
            continue
        picked = named.get(str(job.get("array_job_id")), set()) & set(tasks)
        out.extend(_task_records(job, sorted(picked)) if picked else [job])
    return out


def listing(req: Request, jobs: Iterable[Mapping[str, Any]], users: set[str] | None,
            now: float, tz: Any = None) -> list[str]:
    """The lines one squeue pass prints for `jobs` (the controller's reply)."""
    kept = squeue_sort.sort_jobs(select(req, expand_arrays(req, jobs), users), req.sort, now)
    if req.json:
        from corral.cli.slurm import squeue_json

        return [squeue_json.dumps(squeue_json.document(kept))]
    lines = sf.render(kept, req.fields, now, header=not req.noheader, tz=tz)
    if (req.long or req.iterate) and not req.noheader:
        lines.insert(0, dt.datetime.fromtimestamp(now, tz).ctime())
    return lines


def _fetch(client: Client, req: Request) -> list[Any] | None:
    """The controller's records for the request; None when the one job asked for is unknown."""
    try:
        if req.job_ids:
            jobs = client.jobs(job_ids=req.job_ids)
        else:
            one_user = req.users[0] if req.users and len(req.users) == 1 else None
            jobs = client.jobs(
                user=one_user if one_user and not one_user.isdigit() else None,
                partition=req.partitions[0] if req.partitions and len(req.partitions) == 1
                else None)
    except ClientError as exc:
        if exc.status == 404 and req.job_ids:
            return None
        raise
    if req.job_ids and len(req.job_ids) == 1 and not jobs:
        return None
    return jobs


def _body(client: Client, argv: list[str]) -> int:
    try:
        req = parse_request(argv)
    except OptionError as exc:
        print(exc, file=sys.stderr)
        print('Try "squeue --help" for more information', file=sys.stderr)
        return 1
    if req.show:
        print({"version": VERSION, "help": HELP, "usage": USAGE}[req.show])
        return 0
    users: set[str] | None = None
    if req.users is not None:
        users, invalid = resolve_users(req.users)
        for name in invalid:
            print(f"squeue: error: Invalid user: {name}\n", file=sys.stderr)
    try:
        squeue_sort.sort_jobs([], req.sort, 0.0)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    cluster = None
    if req.clusters is not None:
        from corral.cli.common import clusters

        cluster = clusters.check(client, req.clusters)
    while True:
        try:
            jobs = [] if users is not None and not users else _fetch(client, req)
        except ControllerUnreachable as exc:
            # One line, in Slurm's words first: batchspawner reads them as "controller down,
            # ask again" where any other answer ends the user's server; then where we looked.
            print(f"slurm_load_jobs error: {slurm_unreachable(exc)}: {exc}", file=sys.stderr)
            return 1
        if jobs is None:
            print("slurm_load_jobs error: Invalid job id specified", file=sys.stderr)
            return 1
        now = system_clock()
        lines = listing(req, jobs, users, now)
        if cluster is not None and not req.noheader:
            clusters.head_listing(lines, cluster, bool(req.long or req.iterate) and not req.json)
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
        if not req.iterate:
            return 0
        print()
        time.sleep(req.iterate)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("squeue", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
