"""scancel: cancels or signals jobs, with Slurm 22.05's options, messages and exit codes."""

from __future__ import annotations

import os
import pwd
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command
from corral.cli.common.unsupported import first_refused
from corral.client import Client
from corral.model.signals import signal_number

VERSION = "slurm-wlm 22.05.8"

OPTIONS: tuple[Option, ...] = (
    Option("batch", "b", False), Option("full", "f", False), Option("interactive", "i", False),
    Option("name", "n"), Option("jobname"), Option("partition", "p"),
    Option("quiet", "Q", False), Option("signal", "s"), Option("state", "t"), Option("user", "u"),
    Option("verbose", "v", False), Option("version", "V", False), Option("help", None, False),
    Option("usage", None, False), Option("me", None, False), Option("clusters", "M"),
    # Accepted with no effect (NO_EFFECT below).
    Option("ctld", None, False), Option("cron", "c", False), Option("hurry", "H", False),
    # Refused by name (REFUSED below): the rest of scancel(1)'s options.
    Option("account", "A"), Option("nodelist", "w"), Option("qos", "q"),
    Option("reservation", "R"), Option("sibling"), Option("wckey"),
)
# scancel(1)'s options corral does not do: refused by name (cli/common/unsupported.py), never
# dropped, so that no job outside the asked-for set is cancelled; docs/options.md says why.
REFUSED = frozenset({"account", "interactive", "nodelist", "qos", "reservation", "sibling",
                     "wckey"})
# Accepted with no effect: signals always go through the controller (--ctld), there are no
# burst buffers to skip (--hurry) and no scrontab jobs to confirm (--cron).
NO_EFFECT = frozenset({"ctld", "cron", "hurry"})

USAGE = """\
Usage: scancel [-A account] [--batch] [--full] [--interactive] [-n job_name]
               [-p partition] [-Q] [-q qos] [--reservation=reservation]
               [-s signal | integer] [-t PENDING | RUNNING | SUSPENDED]
               [--usage] [-u user_name] [--hurry] [-V] [-v] [-w hosts...]
               [--wckey=wckey] [job_id[_array_id][.step_id]]"""

HELP = """\
Usage: scancel [OPTIONS] [job_id[_array_id][.step_id]]
  -b, --batch                     signal batch shell for specified job
  -f, --full                      signal batch shell and all steps for specified job
  -i, --interactive               require response from user for each job
      --me                        equivalent to --user=<my username>
  -n, --name=job_name             act only on jobs with this name
  -p, --partition=partition       act only on jobs in this partition
  -Q, --quiet                     disable warnings
  -s, --signal=name | integer     signal to send to job, default is SIGKILL
  -t, --state=states              act only on jobs in this state.  Valid job
                                  states are PENDING, RUNNING and SUSPENDED
  -u, --user=user_name            act only on jobs of this user
  -V, --version                   output version information and exit
  -v, --verbose                   verbosity level

Help options:
  --help                          show this help message
  --usage                         display brief usage message"""

_STATES = {"PENDING": "PENDING", "PD": "PENDING", "RUNNING": "RUNNING", "R": "RUNNING",
           "SUSPENDED": "SUSPENDED", "S": "SUSPENDED"}
_PLAIN_ID = re.compile(r"[0-9]+")
_ARRAY_ID = re.compile(r"[0-9]+_(?:[0-9]+|\[[0-9,\-%]+\])|[0-9]+\+[0-9]+")
# What the controller says of ids that are unknown or already finished: silent, as in Slurm.
_QUIET_ERRORS = ("Invalid job id specified", "Job/step already completing or completed")


def parse_signal(text: str) -> int:
    """A signal by name (KILL, SIGKILL, any case) or number; Slurm's error otherwise."""
    try:
        return signal_number(text)
    except ValueError:
        raise CommandError(f"Invalid job signal: {text}") from None


def parse_job_id(text: str) -> int | str:
    """A plain id as an int; array (`1234_7`, `1234_[1-3]`) and het forms as given."""
    if _PLAIN_ID.fullmatch(text):
        return int(text)
    if _ARRAY_ID.fullmatch(text):
        return text
    raise CommandError(f"Invalid job id {text}")


def _known_user(name: str) -> bool:
    try:
        if name.isdigit():
            pwd.getpwuid(int(name))
        else:
            pwd.getpwnam(name)
    except (KeyError, OverflowError):
        return name.isdigit()
    return True


def _my_name() -> str:
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def parse_selection(argv: Sequence[str],
                    user_exists: Callable[[str], bool] = _known_user) -> dict[str, Any]:
    """The controller's cancel request for a command line (keys left out when not asked).

    Returns {"show": "version"|"help"|"usage"} for those options. Raises OptionError (getopt)
    or CommandError (scancel's own errors, already in Slurm's wording).
    """
    found, operands = parse("scancel", argv, OPTIONS, stop_at_positional=False)
    refused = first_refused(found, REFUSED)
    if refused is not None:
        raise CommandError(refused)
    selection: dict[str, Any] = {"batch_only": False}
    for name, value in found:
        key, arg = "name" if name == "jobname" else name, value or ""
        if key in ("version", "help", "usage"):
            return {"show": key}
        if key == "batch":
            selection["batch_only"] = True
        elif key == "name":
            selection["name"] = arg
        elif key == "partition":
            selection["partition"] = arg
        elif key == "signal":
            selection["signal"] = parse_signal(arg)
        elif key == "state":
            states = []
            for state in (s for s in arg.split(",") if s):
                if state.upper() not in _STATES:
                    raise CommandError(f"Invalid job state specified: {state}\n"
                                       "Valid job states are PENDING, RUNNING, and SUSPENDED")
                states.append(_STATES[state.upper()])
            selection["states"] = states
        elif key == "user":
            if not user_exists(arg):
                raise CommandError(f"Invalid user name: {arg}")
            selection["user"] = arg
        elif key == "me":  # simple_slurm's cancel_all runs `scancel --me`
            selection["user"] = _my_name()
        elif key in ("verbose", "quiet", "full"):
            selection[key] = True
        elif key == "clusters":  # checked against this cluster's name before any cancel
            selection["clusters"] = arg
    job_ids = [parse_job_id(text) for text in operands]
    if job_ids:
        selection["job_ids"] = job_ids
    if not any(k in selection for k in ("job_ids", "name", "partition", "states", "user")):
        raise CommandError("No job identification provided")
    return selection


def request_body(selection: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a selection the controller reads (options that only shape output dropped)."""
    keys = ("job_ids", "user", "name", "states", "partition", "signal", "batch_only")
    return {k: selection[k] for k in keys if k in selection}


def report(reply: Any, selection: Mapping[str, Any]) -> tuple[list[str], int]:
    """The stderr lines and exit code for the controller's `{"cancelled": […], "errors": […]}`."""
    lines: list[str] = []
    rc = 0
    reply = reply if isinstance(reply, Mapping) else {}
    verbose = bool(selection.get("verbose"))
    if verbose:
        sig = selection.get("signal")
        for job_id in reply.get("cancelled") or []:
            lines.append(f"scancel: Terminating job {job_id}" if sig is None
                         else f"scancel: Signal {sig} to job {job_id}")
    for error in reply.get("errors") or []:
        if isinstance(error, Mapping):
            job_id = error.get("job_id", "")
            text = str(error.get("error") or error.get("message") or error.get("detail") or "")
        else:
            job_id, text = "", str(error)
        line = f"scancel: error: Kill job error on job id {job_id}: {text}"
        if text in _QUIET_ERRORS:
            if verbose:
                lines.append(line)
            continue
        lines.append(line)
        rc = 1
    return lines, rc


def _body(client: Client, argv: list[str]) -> int:
    try:
        selection = parse_selection(argv)
    except OptionError as exc:
        print(exc, file=sys.stderr)
        print('Try "scancel --help" for more information', file=sys.stderr)
        return 1
    if "show" in selection:
        print({"version": VERSION, "help": HELP, "usage": USAGE}[selection["show"]])
        return 0
    if "clusters" in selection:
        from corral.cli.common import clusters

        clusters.check(client, selection["clusters"])
    reply = client.cancel(**request_body(selection))
    lines, rc = report(reply, selection)
    for line in lines:
        print(line, file=sys.stderr)
    return rc


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("scancel", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
