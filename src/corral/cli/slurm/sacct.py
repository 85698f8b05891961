"""sacct: accounting records of finished and live jobs, printed as Slurm 22.05's sacct does."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import run_command
from corral.cli.slurm import sacct_format as fmt
from corral.client import Client
from corral.model.arrays import parse_indices
from corral.model.states import SHORT_STATE
from corral.model.timefmt import parse_timestamp

VERSION = "slurm-wlm 22.05.8"


def _options(spec: str, takes_value: bool) -> tuple[Option, ...]:
    """Options from ``long/s`` words (``/s`` is the short letter, when there is one)."""
    out = []
    for word in spec.split():
        long, _, short = word.partition("/")
        out.append(Option(long, short or None, takes_value))
    return tuple(out)


# Every option of Slurm 22.05's sacct (docs/options.md has the table, pinned by a test).
OPTIONS = _options(
    "accounts/A constraints/C delimiter endtime/E file/f flags/F gid/g group name nnodes/i "
    "ncpus/I jobs/j timelimit-min/k timelimit-max/K cluster clusters/M nodelist/N units fields "
    "format/o qos/q partition/r reason/R state/s starttime/S uid user/u wckeys/W "
    "associations/x", True) + _options(
    "allusers/a allocations/X brief/b completion/c duplicates/D federation helpformat/e "
    "help-fields help/h local long/l allclusters/L noconvert noheader/n parsable/p "
    "parsable2/P truncate/T usage/U verbose/v version/V json array t/t batch-script/B "
    "env-vars whole-hetjob use-local-uid yaml", False)
# Accepted with nothing to do on corral: one cluster, no federation, one record per job (a
# requeued job's record is its latest run, so -D has no older ones to add), nothing more to
# say with -v, and every node of the cluster in one local database.
NO_EFFECT = frozenset({"federation", "local", "duplicates", "verbose", "use-local-uid"})
# Refused by name: corral keeps no such data (scripts, environments, energy, WCKeys …) or
# does not filter on it; a tool that needs one learns so instead of reading a wrong answer.
REFUSED = frozenset({
    "associations", "batch-script", "completion", "constraints", "env-vars", "file", "flags",
    "gid", "group", "ncpus", "nnodes", "nodelist", "reason", "timelimit-max",
    "timelimit-min", "truncate", "wckeys", "whole-hetjob", "yaml"})

_EXTRA_STATES = {"S": "SUSPENDED", "RQ": "REQUEUED", "RS": "RESIZING", "RV": "REVOKED",
                 "SE": "SPECIAL_EXIT", "ST": "STOPPED"}
STATE_NAMES: dict[str, str] = {
    **{short: state.value for state, short in SHORT_STATE.items()}, **_EXTRA_STATES,
    **{state.value: state.value for state in SHORT_STATE}, **{v: v for v in _EXTRA_STATES.values()},
}
_JOB_SELECTOR = re.compile(r"([0-9]+(?:_[0-9]+)?)(?:\.([A-Za-z0-9_]+))?")
_USAGE = """\
Usage: sacct [OPTIONS]
  -a, --allusers       all users' jobs          -j, --jobs=JOB[.STEP],...  these jobs
  -u, --user=LIST      these users' jobs        -S, --starttime / -E, --endtime=TIME
  -s, --state=LIST     jobs in these states     -r, --partition=LIST / --name=LIST
  -o, --format=FIELDS  columns (see -e)         -b, --brief / -l, --long
  -p, --parsable / -P, --parsable2 / --delimiter=C / -n, --noheader
  -X, --allocations    no step lines            --json    JSON output
  -e, --helpformat     list the fields          -V, --version
"""


class SacctExit(Exception):
    """Ends sacct early with `text` on stdout or stderr and exit status `code`."""

    def __init__(self, text: str, code: int = 1, stdout: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.stdout = stdout


@dataclass
class SacctOptions:
    all_users: bool = False
    users: list[str] = field(default_factory=list)
    jobs: list[tuple[str, str | None]] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    states: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    format: str = ""
    mode: fmt.Mode = "plain"
    delimiter: str = "|"
    header: bool = True
    no_steps: bool = False
    as_json: bool = False
    qos: list[str] = field(default_factory=list)
    # -M: the clusters asked for; None when every one is (no -M, -M all, -L).
    clusters: list[str] | None = None
    expand_arrays: bool = False
    units: str | None = None  # --units: K, M, G, T or P for every size field
    convert: bool = True  # False with --noconvert


def _split(value: str) -> list[str]:
    return [item for item in (part.strip() for part in value.strip("'\"").split(",")) if item]


def _fatal(message: str) -> SacctExit:
    return SacctExit(f"sacct: fatal: {message}\n")


def parse_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> SacctOptions:
    """sacct's command line, as Slurm's getopt_long reads it; raises SacctExit to stop early."""
    env = os.environ if environ is None else environ
    try:
        pairs, rest = parse("sacct", argv, OPTIONS, stop_at_positional=False)
    except OptionError as exc:
        raise SacctExit(f'{exc}\nTry "sacct --help" for more information\n') from None
    opts = SacctOptions()
    fields: list[str] = []
    brief = long_output = False
    for key, raw in pairs:
        value = raw or ""
        if key in REFUSED:
            raise SacctExit(f"sacct: error: --{key}: option not supported by corral\n")
        if key == "allusers":
            opts.all_users = True
        elif key == "accounts":
            opts.accounts += _split(value)
        elif key == "brief":
            brief = True
        elif key == "delimiter":
            opts.delimiter = value
        elif key in ("helpformat", "help-fields"):
            raise SacctExit(help_fields(), 0, stdout=True)
        elif key == "endtime":
            opts.end = value
        elif key in ("help", "usage"):
            raise SacctExit(_USAGE, 0, stdout=True)
        elif key == "jobs":
            opts.jobs += [_job_selector(item) for item in _split(value)]
        elif key == "long":
            long_output = True
        elif key == "name":
            opts.names += _split(value)
        elif key == "noheader":
            opts.header = False
        elif key in ("format", "fields"):
            fields.append(value)
        elif key == "parsable":
            opts.mode = "parsable"
        elif key == "parsable2":
            opts.mode = "parsable2"
        elif key == "partition":
            opts.partitions += _split(value)
        elif key == "state":
            opts.states += [_state_name(item) for item in _split(value)]
        elif key == "starttime":
            opts.start = value
        elif key in ("user", "uid"):
            opts.all_users = value.strip() == "-1"
            opts.users += [] if opts.all_users else _split(value)
        elif key == "version":
            raise SacctExit(VERSION + "\n", 0, stdout=True)
        elif key in ("t", "allocations"):
            opts.no_steps = True
        elif key == "json":
            opts.as_json = True
        elif key in ("clusters", "cluster"):
            # As Slurm's: "all" or -1 is every cluster; names are not checked here.
            names = [name.lower() for name in _split(value)]
            opts.clusters = None if {"all", "-1"} & set(names) else names
        elif key == "allclusters":
            opts.clusters = None
        elif key == "qos":
            opts.qos += _split(value)
        elif key == "array":
            opts.expand_arrays = True
        elif key == "units":
            opts.units = _unit(value)
        elif key == "noconvert":
            opts.convert = False
    if rest:
        raise SacctExit("sacct: error: Unknown arguments:\n"
                        + "".join(f"sacct: error:  {arg}\n" for arg in rest))
    fields += [fmt.BRIEF_FIELDS] * brief + [fmt.LONG_FIELDS] * long_output
    opts.format = ",".join(fields) or env.get("SACCT_FORMAT") or fmt.DEFAULT_FIELDS
    return opts


def _job_selector(text: str) -> tuple[str, str | None]:
    match = _JOB_SELECTOR.fullmatch(text)
    if match is None:
        raise _fatal(f"Bad job/step specified: {text}")
    return match.group(1), match.group(2)


def _unit(text: str) -> str:
    """--units: its first letter, any case, one of KMGTP (Slurm's get_unit_type)."""
    letter = text[:1].upper()
    if not letter or letter not in fmt.UNITS:
        raise SacctExit(f"sacct: error: Invalid unit type '{text[:1]}'. Possible options are "
                        f"'{fmt.UNITS}'\n" + _fatal("Invalid unit type").text)
    return letter


def _state_name(text: str) -> str:
    name = STATE_NAMES.get(text.upper())
    if name is None:
        raise _fatal(f"unrecognized job state value '{text}'")
    return name


def help_fields() -> str:
    """`sacct -e`: the field names, four to a line, each padded to 19 characters."""
    out = []
    for index, (name, _, _) in enumerate(fmt.FIELDS):
        out.append(" " if index & 3 else "\n" if index else "")
        out.append(f"{name:<19}")
    return "".join(out) + "\n"


def resolve_window(opts: SacctOptions, now: float,
                   tz: dt.tzinfo | None = None) -> tuple[float | None, float | None]:
    """-S/-E as epochs. Without -S: none with -j, now with -s, else 00:00 today (as Slurm)."""
    try:
        start = parse_timestamp(opts.start, now, tz) if opts.start else None
        end = parse_timestamp(opts.end, now, tz) if opts.end else None
    except ValueError as exc:
        raise SacctExit(f"sacct: error: {exc}\n") from None
    if start is None and not opts.jobs:
        midnight = dt.datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)
        start = float(now) if opts.states else midnight.timestamp()
    return start, end


def _matches(rec: Mapping[str, Any], selector: str) -> bool:
    return selector in (str(rec["job_id"]), fmt.display_job_id(rec)) or (
        bool(rec.get("array_job_id")) and selector == str(rec.get("array_job_id")))


def select_views(records: Sequence[Mapping[str, Any]], opts: SacctOptions, now: float,
                 tz: dt.tzinfo | None = None) -> list[fmt.RowView]:
    """The lines to print, in order: each chosen job's line, then its step lines unless -X."""
    views: list[fmt.RowView] = []
    for rec in records:
        if opts.names and rec.get("name") not in opts.names:
            continue
        if opts.partitions and rec.get("partition") not in opts.partitions:
            continue
        if opts.accounts and rec.get("account") not in opts.accounts:
            continue
        if opts.qos and rec.get("qos") not in opts.qos:
            continue
        chosen = [step for job, step in opts.jobs if _matches(rec, job)]
        if opts.jobs and not chosen:
            continue
        for view in (view for task in _tasks(rec, opts.expand_arrays)
                     for view in fmt.job_views(task, now, tz, opts.units,
                                                     opts.convert)):
            step_id = None if view.step is None else str(view.step.get("step_id"))
            if step_id is None:
                keep = not opts.jobs or None in chosen
            else:
                whole_job = not opts.jobs or None in chosen
                keep = step_id in chosen or (not opts.no_steps and whole_job)
            if keep:
                views.append(view)
    return views


def _tasks(rec: Mapping[str, Any], expand: bool) -> list[Mapping[str, Any]]:
    """--array: the pending remainder of an array (``N_[1-5]``) as one line per task."""
    folded = rec.get("array_tasks")
    if not expand or not folded or rec.get("state") != "PENDING":
        return [rec]
    return [{**rec, "array_task_string": None, "array_task_id": index}
            for index in parse_indices(str(folded).partition("%")[0])]


def render_table(views: Sequence[fmt.RowView], opts: SacctOptions) -> str:
    columns = fmt.parse_format(opts.format)
    rows = [[fmt.field_value(c.name, view) for c in columns] for view in views]
    lines = fmt.format_lines(columns, rows, mode=opts.mode, header=opts.header,
                             delimiter=opts.delimiter)
    return "".join(line + "\n" for line in lines)


def _exit_json(code: int, signal: int) -> dict[str, Any]:
    status = "SIGNALED" if signal else "FAILED" if code else "SUCCESS"
    return {"status": status, "return_code": code, "signal": {"signal_id": signal}}


def _epoch(value: float | None) -> int:
    return 0 if value is None else int(value)


def _view_json(view: fmt.RowView) -> dict[str, Any]:
    exit_code = fmt.field_value("ExitCode", view) or "0:0"
    code, _, signal = exit_code.partition(":")
    return {
        "exit_code": _exit_json(int(code), int(signal or 0)),
        "nodes": {"count": int(fmt.field_value("NNodes", view) or 0),
                  "range": fmt.field_value("NodeList", view)},
        "state": fmt.field_value("State", view),
        "time": {"elapsed": view.elapsed(), "start": _epoch(view.start()),
                 "end": _epoch(view.end())},
    }


def _job_json(view: fmt.RowView) -> dict[str, Any]:
    rec = view.job
    entry = _view_json(view)
    entry["state"] = {"current": rec["state"], "reason": fmt.field_value("Reason", view)}
    entry["time"].update({"submission": _epoch(rec.get("submit_time")),
                          "eligible": _epoch(rec.get("eligible_time")),
                          "limit": rec.get("time_limit"), "suspended": 0})
    entry.update({
        "job_id": rec["job_id"], "name": rec.get("name"), "account": rec.get("account"),
        "partition": rec.get("partition"), "user": rec.get("user"), "group": rec.get("group"),
        "cluster": fmt.field_value("Cluster", view), "qos": rec.get("qos"),
        "priority": rec.get("priority"), "nodes": fmt.field_value("NodeList", view),
        "allocation_nodes": int(fmt.field_value("AllocNodes", view) or 0),
        "derived_exit_code": _exit_json(0, 0), "working_directory": rec.get("work_dir"),
        "kill_request_user": rec.get("cancelled_by"),
        "required": {"CPUs": rec.get("num_cpus"), "memory": view.job_mem() or 0},
        "tres": {"allocated": fmt.field_value("AllocTRES", view) or "",
                 "requested": fmt.field_value("ReqTRES", view) or ""},
        "steps": [],
    })
    return entry


def to_json(views: Sequence[fmt.RowView]) -> dict[str, Any]:
    """Slurm's data-parser style document: meta, errors and one entry per job with its steps."""
    jobs: list[dict[str, Any]] = []
    for view in views:
        rec = view.job
        if not jobs or jobs[-1]["job_id"] != rec["job_id"]:
            jobs.append(_job_json(fmt.RowView(rec, None, view.now, view.tz)))
        if view.step is not None:
            step = _view_json(view)
            step["step"] = {"job_id": rec["job_id"], "id": fmt.field_value("JobID", view),
                            "name": fmt.field_value("JobName", view)}
            step["tasks"] = {"count": int(fmt.field_value("NTasks", view) or 1)}
            step["statistics"] = {"max_rss": fmt.field_value("MaxRSS", view)}
            jobs[-1]["steps"].append(step)
    return {
        "meta": {"plugin": {"type": "openapi/dbv0.0.38", "name": "Slurm OpenAPI DB v0.0.38"},
                 "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5},
                           "release": "22.05.8"}},
        "errors": [],
        "jobs": jobs,
    }


def _body(client: Client, args: list[str]) -> int:
    try:
        opts = parse_args(args)
        now = time.time()
        start, end = resolve_window(opts, now)
        if not opts.as_json:
            fmt.parse_format(opts.format)  # a bad -o stops sacct before it asks for data
    except SacctExit as stop:
        (sys.stdout if stop.stdout else sys.stderr).write(stop.text)
        return stop.code
    except ValueError as exc:
        print(f"sacct: error: {exc}", file=sys.stderr)
        return 1
    users = None if opts.all_users or not opts.users else ",".join(opts.users)
    all_users = opts.all_users or (not opts.users and (bool(opts.jobs) or os.getuid() == 0))
    job_ids = list(dict.fromkeys(job for job, _ in opts.jobs)) or None
    records = client.history(user=users, all_users=all_users, job_ids=job_ids, start=start,
                             end=end, states=opts.states or None)
    if opts.clusters is not None and _cluster_name(client) not in opts.clusters:
        # Slurm 22.05's sacct does not check -M's names: slurmdbd answers a cluster it does
        # not know with no jobs (a table that does not exist), and so does corral.
        records = []
    views = select_views(records, opts, now)
    if opts.as_json:
        text = json.dumps(to_json(views), indent=2).replace("/", "\\/")
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(render_table(views, opts))
    return 0


def _cluster_name(client: Client) -> str:
    from corral.cli.common import clusters

    return clusters.local_name(client)


def main(argv: list[str] | None = None) -> int:
    return run_command("sacct", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
