"""sacctmgr: show and edit accounts, users, associations and QOS, in Slurm 22.05's syntax and layout.

Edits run on the controller (POST /accounts/admin); this module only reads the command line,
asks for confirmation the way sacctmgr does, and prints the tables of `show`.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command
from corral.cli.slurm import sacctmgr_format as fmt
from corral.client import Client, ClientError, PermissionDenied

VERSION = "slurm-wlm 22.05.8"

_OPTIONS = (
    Option("immediate", "i", False), Option("noheader", "n", False),
    Option("parsable", "p", False), Option("parsable2", "P", False), Option("quiet", "Q", False),
    Option("help", "h", False), Option("version", "V", False), Option("verbose", "v", False),
    Option("readonly", "r", False),
)

_VERBS = {"add": "add", "create": "add", "modify": "modify", "update": "modify",
          "delete": "delete", "remove": "delete", "show": "show", "list": "show"}
_ENTITIES = {"account": "account", "accounts": "account", "user": "user", "users": "user",
             "qos": "qos", "association": "association", "associations": "association",
             "assoc": "association"}

USAGE = """\
sacctmgr [<OPTION>] [<COMMAND>]
    Valid <OPTION> values are:
     -h or --help: equivalent to "help" command
     -i or --immediate: commit changes immediately
     -n or --noheader: no header will be added to the beginning of output
     -p or --parsable: output will be '|' delimited with a '|' at the end
     -P or --parsable2: output will be '|' delimited without a '|' at the end
     -Q or --quiet: equivalent to "quiet" command
     -V or --version: equivalent to "version" command

  <COMMAND> may be omitted from the command line only for the help and version commands.
    Valid <COMMAND> values are:
     add|create <ENTITY> <SPECS>     add entity (account, user, qos)
     delete|remove <ENTITY> where <SPECS>
     list|show <ENTITY> [<SPECS>]    display info about listed entities
                                     (account, user, association, qos)
     modify|update <ENTITY> where <SPECS> set <SPECS>
"""

_CONFIRM = " Would you like to commit changes? (You have 30 seconds to decide)\n(N/y): "


class Command:
    """One sacctmgr command line, parsed."""

    def __init__(self) -> None:
        self.immediate = False
        self.header = True
        self.parsable: str | None = None  # "p" (trailing |) or "P"
        self.quiet = False
        self.show: str | None = None  # help | version
        self.verb = ""
        self.entity = ""
        self.names: list[str] = []
        self.where: dict[str, str] = {}
        self.changes: dict[str, str] = {}
        self.format: list[str] = []

    def request(self, *, dry_run: bool) -> dict[str, Any]:
        """The body of POST /accounts/admin (model.account_admin.request_from_dict)."""
        return {"verb": self.verb, "entity": self.entity, "names": list(self.names),
                "where": dict(self.where), "set": dict(self.changes), "dry_run": dry_run}


def _split(token: str) -> tuple[str, str] | None:
    """"MaxJobs=4" → ("maxjobs", "4"); "qos+=high" → ("qos+", "high"); a bare word → None."""
    key, sep, value = token.partition("=")
    if not sep:
        return None
    return key.strip().lower(), value


def parse_command(argv: Sequence[str]) -> Command:
    """Reads the command line; raises OptionError (getopt's) or CommandError (sacctmgr's)."""
    # Options may follow the command (`sacctmgr show assoc -P`): GNU getopt permutes them.
    pairs, words = parse("sacctmgr", argv, _OPTIONS, stop_at_positional=False)
    cmd = Command()
    for name, _ in pairs:
        if name == "immediate":
            cmd.immediate = True
        elif name == "noheader":
            cmd.header = False
        elif name == "parsable":
            cmd.parsable = "p"
        elif name == "parsable2":
            cmd.parsable = "P"
        elif name == "quiet":
            cmd.quiet = True
        elif name in ("help", "version"):
            cmd.show = cmd.show or name
    if cmd.show:
        return cmd
    if not words:
        raise CommandError("No command given", 1)
    word = words[0].lower()
    if word in ("help", "version"):
        cmd.show = word
        return cmd
    if word not in _VERBS:
        raise CommandError(f"invalid keyword: {words[0]}")
    cmd.verb = _VERBS[word]
    if len(words) < 2 or words[1].lower() not in _ENTITIES:
        raise CommandError(f"No valid entity in {word} command\n"
                           'Input line must include "Account", "User", "QOS" or "Association"')
    cmd.entity = _ENTITIES[words[1].lower()]
    if cmd.entity == "association" and cmd.verb != "show":
        raise CommandError(f"No valid entity in {word} command\n"
                           'Input line must include "Account", "User" or "QOS"')
    _read_specs(cmd, words[2:])
    return cmd


def _read_specs(cmd: Command, tokens: Sequence[str]) -> None:
    # add takes everything as settings; modify starts in "where" until "set"; delete and show
    # take everything as conditions.
    mode = "set" if cmd.verb == "add" else "where"
    for token in tokens:
        lowered = token.lower()
        if lowered in ("where", "set") and cmd.verb == "modify":
            mode = lowered
            continue
        if lowered in ("where", "set"):
            continue
        pair = _split(token)
        if pair is None:
            if mode == "set" and cmd.verb == "modify":
                raise CommandError(f" Bad format on {token}: End your option with an '=' sign")
            cmd.names.extend(n for n in token.split(",") if n)
            continue
        key, value = pair
        if key == "format" and cmd.verb == "show":
            cmd.format.append(value)
        elif mode == "set":
            cmd.changes[key] = value
        else:
            cmd.where[key] = value


# --------------------------------------------------------------------------- show

def _matches(row: Mapping[str, Any], key: str, wanted: Sequence[str]) -> bool:
    return str(row.get(key) or "") in wanted


# Conditions `show` understands, per entity: option name → row key.
_SHOW_FILTERS = {
    "account": {"name": "account", "names": "account", "account": "account",
                "accounts": "account", "parent": "parent", "description": "description",
                "organization": "organization", "cluster": "cluster"},
    "user": {"name": "user", "names": "user", "user": "user", "users": "user",
             "defaultaccount": "default_account", "cluster": "cluster"},
    "association": {"user": "user", "users": "user", "account": "account",
                    "accounts": "account", "cluster": "cluster", "partition": "partition",
                    "parent": "parent"},
    "qos": {"name": "name", "names": "name"},
}
_NAME_KEY = {"account": "account", "user": "user", "association": "account", "qos": "name"}


def listing(cmd: Command, tree: Mapping[str, Any], cluster: str) -> list[str]:
    """The lines `sacctmgr show ENTITY …` prints for the controller's account tree."""
    view = fmt.TreeView(tree)
    rows: list[dict[str, Any]] = {
        "account": lambda: fmt.account_rows(view, cluster),
        "user": lambda: fmt.user_rows(view, cluster),
        "association": lambda: fmt.association_rows(view, cluster),
        "qos": lambda: fmt.qos_rows(view),
    }[cmd.entity]()
    filters = _SHOW_FILTERS[cmd.entity]
    conditions: list[tuple[str, list[str]]] = []
    if cmd.names:
        conditions.append((_NAME_KEY[cmd.entity], cmd.names))
    for key, value in cmd.where.items():
        if key not in filters:
            raise CommandError(f" Unknown condition: {key}={value}\n"
                               " Use keyword 'set' to modify value")
        conditions.append((filters[key], [v for v in value.split(",") if v]))
    if cmd.entity == "user" and "account" in cmd.where:
        # `show user account=X`: users with an association in X.
        wanted = cmd.where["account"].split(",")
        members = {a["user"] for a in view.associations if a["account"] in wanted}
        rows = [r for r in rows if r["user"] in members]
        conditions = [c for c in conditions if c[0] != "account"]
    for key, wanted in conditions:
        rows = [r for r in rows if _matches(r, key, wanted)]
    try:
        fields = fmt.parse_format(",".join(cmd.format) or fmt.DEFAULT_FORMATS[cmd.entity])
    except fmt.FormatError as exc:
        raise CommandError(str(exc)) from None
    return fmt.render(fields, rows, header=cmd.header, parsable=cmd.parsable)


# --------------------------------------------------------------------------- edits

def _confirm(stdin: TextIO, stdout: TextIO, timeout: float = 30.0) -> bool:
    stdout.write(_CONFIRM)
    stdout.flush()
    ready, _, _ = select.select([stdin], [], [], timeout)
    if not ready:
        stdout.write("timeout\n")
        return False
    return stdin.readline().strip().lower() in ("y", "yes")


def edit(cmd: Command, client: Client, *, interactive: bool, stdin: TextIO = sys.stdin,
         stdout: TextIO = sys.stdout, confirm: Callable[[TextIO, TextIO], bool] = _confirm) -> int:
    """Runs one add/modify/delete; with a terminal and no -i, shows it first and asks."""
    if interactive and not cmd.immediate:
        preview = client.account_admin(cmd.request(dry_run=True))
        stdout.write(preview["message"])
        if not preview["changed"]:
            return 0
        if not confirm(stdin, stdout):
            stdout.write(" Changes Discarded\n")
            return 0
        client.account_admin(cmd.request(dry_run=False))
        return 0
    result = client.account_admin(cmd.request(dry_run=False))
    if not cmd.quiet:
        stdout.write(result["message"])
    return 0


def _stdin_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdin.fileno())
    except (OSError, ValueError):  # stdin closed or replaced: a script
        return False


def _report(message: str) -> None:
    # sacctmgr's own lines start with a space; the rest come through its error() prefix.
    text = message.rstrip("\n")
    print(text if text.startswith(" ") else f"sacctmgr: error: {text}", file=sys.stderr)


def _body(client: Client, argv: list[str]) -> int:
    try:
        cmd = parse_command(argv)
    except OptionError as exc:
        print(exc, file=sys.stderr)
        print('Try "sacctmgr --help" for more information', file=sys.stderr)
        return 1
    except CommandError as exc:
        _report(exc.message)
        return exc.code
    if cmd.show == "version":
        print(VERSION)
        return 0
    if cmd.show == "help":
        print(USAGE, end="")
        return 0
    try:
        if cmd.verb == "show":
            cluster = str(client.config().get("ClusterName", "cluster"))
            lines = listing(cmd, client.accounts(), cluster)
            sys.stdout.write("".join(line + "\n" for line in lines))
            return 0
        return edit(cmd, client, interactive=_stdin_is_terminal())
    except CommandError as exc:
        _report(exc.message)
        return exc.code
    except PermissionDenied:
        raise
    except ClientError as exc:
        _report(exc.message)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("sacctmgr", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
