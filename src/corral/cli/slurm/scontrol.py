"""scontrol: show jobs, nodes, partitions, config; hold, release, requeue, update jobs and nodes."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command
from corral.cli.slurm import scontrol_format as fmt
from corral.client import Client, ClientError, ControllerUnreachable
from corral.model.hostlist import compress, expand
from corral.model.timefmt import parse_time_limit

VERSION = "slurm-wlm 22.05.8"
NICE_LIMIT = 2147483645
_NODE_STATES = ("DRAIN", "DOWN", "RESUME", "UNDRAIN")
# Every option of Slurm 22.05's scontrol (docs/options.md has the table, pinned by a test).
OPTIONS = (
    Option("all", "a", False), Option("details", "d", False), Option("help", "h", False),
    Option("clusters", "M"), Option("oneliner", "o", False), Option("quiet", "Q", False),
    Option("verbose", "v", False), Option("version", "V", False),
    Option("federation", None, False), Option("future", "F", False),
    Option("hide", None, False), Option("json", None, False), Option("local", None, False),
    Option("sibling", None, False), Option("uid", "u"), Option("yaml", None, False),
)
# Nothing to do on corral: no hidden partitions (-a, --hide), no FUTURE nodes (-F), one
# cluster and no federation, no per-CPU detail to add (-d), nothing more to say (-v).
NO_EFFECT = frozenset({"all", "details", "federation", "future", "hide", "local", "sibling",
                       "verbose"})
REFUSED = frozenset({"json", "yaml", "uid"})
_USAGE = """\
Usage: scontrol [-o] [-V] COMMAND
  show job [ID] | node [NAME] | partition [NAME] | config | hostnames LIST | hostlist LIST
  hold|uhold|release|requeue JOB_ID[,JOB_ID...]
  update JobId=ID [TimeLimit=T] [Name=N] [Nice=N] [Dependency=D]
  update NodeName=LIST State=DRAIN|DOWN|RESUME|UNDRAIN [Reason=TEXT]
  ping | version
"""


@dataclass
class Invocation:
    """scontrol's command line: the global flags and the command words."""

    one_liner: bool = False
    quiet: bool = False
    words: list[str] = field(default_factory=list)
    clusters: str | None = None  # -M, checked against the cluster's name before anything


def parse_args(argv: Sequence[str]) -> Invocation:
    """Global options may appear anywhere (GNU getopt permutes), as in `show job -o 12`.

    Raises OptionError, worded as getopt_long words it, for an unknown option.
    """
    pairs, words = parse("scontrol", argv, OPTIONS, stop_at_positional=False)
    inv = Invocation(words=words)
    for name, value in pairs:
        if name in REFUSED:
            raise CommandError(f"--{name}: option not supported by corral")
        if name == "clusters":
            inv.clusters = value
        elif name == "oneliner":
            inv.one_liner = True
        elif name == "quiet":
            inv.quiet = True
        elif name in ("version", "help"):
            inv.words = [name]
            break
    return inv


def keyword(word: str, full: str, min_len: int = 1) -> bool:
    """Slurm's abbreviation rule: `word` is a prefix of `full`, at least `min_len` long."""
    return len(word) >= min_len and full.startswith(word.lower())


def split_pair(token: str) -> tuple[str, str | None]:
    key, sep, value = token.partition("=")
    return key, (value if sep else None)


def _say(out: TextIO, text: str) -> None:
    out.write(text if text.endswith("\n") else text + "\n")


def job_error(exc: ClientError) -> str:
    """Slurm's wording for a refused job request."""
    if exc.status == 404:
        return "Invalid job id specified"
    if exc.status == 403:
        return "Access/permission denied"
    return exc.message


def job_ids(args: Sequence[str]) -> list[str]:
    """`12 13,14 JobId=15` → ['12', '13', '14', '15'] (as hold/release/requeue take them)."""
    ids: list[str] = []
    for arg in args:
        for prefix in ("jobid=", "job="):
            if arg.lower().startswith(prefix):
                arg = arg[len(prefix):]
        ids += [part for part in arg.replace(" ", ",").split(",") if part]
    return ids


def controller_host(address: str) -> str:
    """The host a `ping` line names: the URL's host, or this host for a local socket."""
    if address.startswith(("http://", "https://")):
        return urlsplit(address).hostname or "localhost"
    return socket.gethostname().split(".")[0]


class Scontrol:
    """One scontrol invocation against `client`; writes to `out`/`err`, returns the exit code."""

    def __init__(self, client: Client, inv: Invocation, out: TextIO, err: TextIO,
                 now: Callable[[], float] = time.time) -> None:
        self.client, self.inv, self.out, self.err, self.now = client, inv, out, err, now

    def run(self) -> int:
        if not self.inv.words:
            raise CommandError("no command given (interactive mode is not supported)")
        if self.inv.clusters is not None:
            self.check_clusters(self.inv.clusters)
        command, args = self.inv.words[0], self.inv.words[1:]
        handlers: list[tuple[str, int, Callable[[list[str]], int]]] = [
            ("show", 3, self.show), ("ping", 3, self.ping), ("version", 4, self.version),
            ("uhold", 5, lambda a: self.hold_release("uhold", a)),
            ("hold", 2, lambda a: self.hold_release("hold", a)),
            ("release", 3, lambda a: self.hold_release("release", a)),
            ("requeue", 3, lambda a: self.hold_release("requeue", a)),
            ("update", 1, self.update), ("help", 2, self.help),
        ]
        for full, min_len, handler in handlers:
            if keyword(command, full, min_len):
                return handler(args)
        _say(self.err, f"invalid keyword: {command}")
        return 1

    def help(self, _args: list[str]) -> int:
        self.out.write(_USAGE)
        return 0

    def version(self, _args: list[str]) -> int:
        _say(self.out, VERSION)
        return 0

    def ping(self, _args: list[str]) -> int:
        try:
            reply = self.client.ping()
        except (ControllerUnreachable, ClientError):
            _say(self.out, fmt.ping_line(controller_host(self.client.address), False))
            return 1
        host = str(reply.get("controller") or controller_host(self.client.address))
        up = str(reply.get("status", "UP")).upper() == "UP"
        _say(self.out, fmt.ping_line(host, up))
        return 0 if up else 1

    # -- show ---------------------------------------------------------------------------

    def show(self, args: list[str]) -> int:
        if not args:
            _say(self.err, "too few arguments for keyword:show")
            return 1
        entity, rest = args[0], args[1:]
        if keyword(entity, "jobs"):
            return self.show_job(rest[0] if rest else None)
        if keyword(entity, "nodes"):
            return self.show_node(rest[0] if rest else None)
        if keyword(entity, "partitions", 2):
            return self.show_partition(rest[0] if rest else None)
        if keyword(entity, "configuration"):
            self.out.write(fmt.format_config(self.client.config(), self.now()))
            return 0
        if keyword(entity, "hostnames", 5):
            names = rest[0] if rest else os.environ.get("SLURM_JOB_NODELIST", "")
            self.out.write("".join(f"{name}\n" for name in expand(names)))
            return 0
        if keyword(entity, "hostlist", 5) or keyword(entity, "hostlistsorted", 9):
            hosts = [h for arg in rest for h in expand(arg)]
            _say(self.out, compress(hosts))
            return 0
        _say(self.err, f"invalid entity: {entity} for keyword: show")
        return 1

    def show_job(self, job_id: str | None) -> int:
        try:
            records = [self.client.job(job_id)] if job_id else self.client.jobs()
        except ClientError as exc:
            _say(self.err, f"slurm_load_jobs error: {job_error(exc)}")
            return 1
        if not records:
            _say(self.out, "No jobs in the system")
            return 0
        now = self.now()
        self.out.write("".join(fmt.format_job(r, now, one_liner=self.inv.one_liner)
                               for r in records))
        return 0

    def show_node(self, name: str | None) -> int:
        nodes = self.client.nodes()
        if name:
            wanted = set(expand(name))
            nodes = [n for n in nodes if n.get("name") in wanted]
            if not nodes:
                _say(self.out, f"Node {name} not found")
                return 1
        elif not nodes:
            _say(self.out, "No nodes in the system")
            return 1
        self.out.write("".join(fmt.format_node(n, one_liner=self.inv.one_liner) for n in nodes))
        return 0

    def show_partition(self, name: str | None) -> int:
        parts = self.client.partitions()
        if name:
            parts = [p for p in parts if p.get("name") == name]
            if not parts:
                _say(self.out, f"Partition {name} not found")
                return 1
        elif not parts:
            _say(self.out, "No partitions in the system")
            return 1
        nodes = self.client.nodes()
        self.out.write("".join(fmt.format_partition(p, nodes, self.inv.one_liner)
                               for p in parts))
        return 0

    # -- job actions ----------------------------------------------------------------------

    def hold_release(self, op: str, args: list[str]) -> int:
        ids = job_ids(args)
        if not ids:
            _say(self.err, f"too few arguments for keyword:{op}")
            return 1
        action = {"hold": self.client.hold, "uhold": self.client.hold,
                  "release": self.client.release, "requeue": self.client.requeue}[op]
        code = 0
        for job_id in ids:
            try:
                action(job_id)
            except ClientError as exc:
                code = 1
                if not self.inv.quiet:
                    _say(self.err, f"{job_error(exc)} for job {job_id}")
        return code

    def update(self, args: list[str]) -> int:
        pairs = [split_pair(arg) for arg in args]
        if any(v is not None and keyword(k, "nodename", 3) for k, v in pairs):
            return self.update_node(args)
        if any(v is not None and (keyword(k, "jobid", 3) or keyword(k, "jobname", 4))
               for k, v in pairs):
            return self.update_job(args)
        _say(self.err, "No valid entity in update command")
        _say(self.err, 'Input line must include "NodeName", "PartitionName", "Reservation", '
                       '"JobId", or "SlurmctldDebug"')
        return 1

    def update_job(self, args: list[str]) -> int:
        target: str | None = None
        changes: dict[str, Any] = {}
        increment = 0
        for arg in args:
            tag, value = split_pair(arg)
            if value is None:
                if keyword(tag, "nice", 2):
                    changes["nice"] = 100
                    continue
                _say(self.err, f"Invalid input: {arg}\nRequest aborted")
                return 1
            if keyword(tag, "jobid", 3):
                target = value
            elif keyword(tag, "timelimit", 5):
                sign = value[:1] if value[:1] in "+-" else ""
                try:
                    minutes = parse_time_limit(value[len(sign):])
                except ValueError:
                    raise CommandError("Invalid TimeLimit value") from None
                if sign and minutes is None:
                    raise CommandError("Invalid TimeLimit value")
                increment = 0 if not sign else (minutes or 0) * (1 if sign == "+" else -1)
                changes["time_limit"] = minutes
            elif keyword(tag, "nice", 2):
                changes["nice"] = _nice(value)
            elif keyword(tag, "name", 2) or keyword(tag, "jobname", 4):
                changes["name"] = value
            elif keyword(tag, "dependency", 3):
                changes["dependency"] = value
            else:
                _say(self.err, f"Update of this parameter is not supported: {arg}\nRequest aborted")
                return 1
        if not changes:
            _say(self.err, "No changes specified")
            return 1
        if target is None:
            raise CommandError("No job ID specified")
        code = 0
        for job_id in job_ids([target]):
            try:
                fields = dict(changes)
                if increment:
                    fields["time_limit"] = self._shifted_limit(job_id, increment)
                self.client.update_job(job_id, fields)
            except ClientError as exc:
                code = 1
                if not self.inv.quiet:
                    _say(self.err, f"{job_error(exc)} for job {job_id}")
            except CommandError as exc:
                code = 1
                _say(self.err, f"scontrol: error: {exc.message}")
        return code

    def _shifted_limit(self, job_id: str, increment: int) -> int | None:
        current = self.client.job(job_id).get("time_limit")
        if current is None:
            return None  # UNLIMITED plus or minus a few minutes stays UNLIMITED
        if -increment > current:
            raise CommandError(f"TimeLimit decrement larger than current time limit "
                               f"({-increment} > {current})")
        return int(current) + increment

    def update_node(self, args: list[str]) -> int:
        names: list[str] = []
        state: str | None = None
        reason: str | None = None
        for arg in args:
            tag, value = split_pair(arg)
            if value is None:
                raise CommandError(f"Invalid input: {arg}  Request aborted")
            if keyword(tag, "nodename", 1):
                try:
                    names = expand(value)
                except ValueError:
                    raise CommandError(f"Invalid node name specified: {value}") from None
            elif keyword(tag, "reason", 1):
                reason = value.removeprefix('"')
                reason = reason.removesuffix('"')
            elif keyword(tag, "state", 1):
                state = next((s for s in _NODE_STATES if keyword(value, s.lower(), 3)), None)
                if state is None:
                    _say(self.err, f"Invalid input: {arg}\nRequest aborted\n"
                                   f"Valid states are: {' '.join(_NODE_STATES)}")
                    return 1
            else:
                _say(self.err, f"Update of this parameter is not supported: {arg}\nRequest aborted")
                return 1
        if state in ("DRAIN", "DOWN") and not reason:
            _say(self.err, "You must specify a reason when DOWNING or DRAINING a node. "
                           "Request denied")
            return 1
        if state is None and reason is None:
            _say(self.err, "No changes specified")
            return 1
        fields: dict[str, Any] = {"state": state} if state else {}
        if reason is not None:
            fields["reason"] = reason
        code = 0
        for name in names:
            try:
                self.client.update_node(name, fields)
            except ClientError as exc:
                code = 1
                message = {404: "Invalid node name specified",
                           403: "Access/permission denied"}.get(exc.status, exc.message)
                _say(self.err, f"slurm_update error: {message}")
        return code


    def check_clusters(self, names: str) -> None:
        """-M: this cluster (or all, which is this one); any other, in Slurm's words."""
        from corral.cli.common import clusters

        clusters.check(self.client, names)


def _nice(value: str) -> int:
    try:
        nice = int(value.strip())
    except ValueError:
        nice = 0  # strtoll's reading of text that is not a number
    if abs(nice) > NICE_LIMIT:
        raise CommandError(f"Nice value out of range (+/- {NICE_LIMIT}). Value ignored")
    return nice


def _body(client: Client, args: list[str]) -> int:
    try:
        inv = parse_args(args)
    except OptionError as exc:
        sys.stderr.write(f'{exc}\nTry "scontrol --help" for more information\n')
        return 1
    return Scontrol(client, inv, sys.stdout, sys.stderr).run()


def main(argv: list[str] | None = None) -> int:
    return run_command("scontrol", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
