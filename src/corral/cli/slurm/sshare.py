"""sshare: every association's shares, usage and fair-share factor, as Slurm 22.05 prints them."""

from __future__ import annotations

import pwd
import sys
from collections.abc import Sequence

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command
from corral.cli.slurm import sshare_format as sf
from corral.client import Client

VERSION = "slurm-wlm 22.05.8"

OPTIONS: tuple[Option, ...] = (
    Option("accounts", "A"), Option("all", "a", False), Option("helpformat", "e", False),
    Option("long", "l", False), Option("partition", "m", False),
    Option("noheader", "n", False), Option("format", "o"), Option("parsable", "p", False),
    Option("parsable2", "P", False), Option("users", "u"), Option("Users", "U", False),
    Option("verbose", "v", False), Option("version", "V", False),
    Option("help", None, False), Option("usage", None, False),
    # sshare still takes -h, its old spelling of --noheader.
    Option("h", "h", False),
)

USAGE = """\
Usage:  sshare [OPTION]
  Valid OPTIONs are:
    -a or --all            list all users
    -A or --accounts=      display specific accounts (comma separated list)
    -e or --helpformat     list the fields --format accepts
    -l or --long           include normalized usage in output
    -m or --partition      print the partition part of the association
    -n or --noheader       omit header from output
    -o or --format=        comma separated list of fields
    -p or --parsable       '|' delimited output with a trailing '|'
    -P or --parsable2      '|' delimited output without a trailing '|'
    -u or --users=         display specific users (comma separated list)
    -U or --Users          display only user information
    -v or --verbose        display more information
    -V or --version        display tool version number
          --help           display this usage description
          --usage          display this usage description
"""


class Request:
    """What the command line asks for."""

    def __init__(self) -> None:
        self.all_users = False
        self.users: list[str] | None = None
        self.accounts: list[str] | None = None
        self.long = False
        self.partitions = False
        self.users_only = False
        self.header = True
        self.parsable = 0
        self.format: str | None = None
        self.show: str | None = None  # "usage", "helpformat" or "version": print it and stop


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _user_name(text: str) -> str:
    """A uid given to -u stands for its user, as sshare converts it."""
    if not text.isdigit():
        return text
    try:
        return pwd.getpwuid(int(text)).pw_name
    except (KeyError, OverflowError):
        raise CommandError(f"Invalid user id: {text}") from None


def parse_request(argv: Sequence[str]) -> Request:
    """Reads sshare's options; raises OptionError (getopt's) or CommandError."""
    found, _ = parse("sshare", argv, OPTIONS, stop_at_positional=False)
    req = Request()
    for name, value in found:
        arg = value or ""
        if name in ("help", "usage"):
            req.show = req.show or "usage"
        elif name in ("helpformat", "version"):
            req.show = req.show or name
        elif name == "all":
            req.all_users = True
        elif name == "users":
            # A later -u narrows an earlier -a again; "-1" means everyone, as in sshare.
            if arg == "-1":
                req.all_users = True
                continue
            req.all_users = False
            req.users = (req.users or []) + [_user_name(u) for u in _split(arg)]
        elif name == "accounts":
            req.accounts = (req.accounts or []) + _split(arg)
        elif name == "long":
            req.long = True
        elif name == "partition":
            req.partitions = True
        elif name == "Users":
            req.users_only = True
        elif name in ("noheader", "h"):
            req.header = False
        elif name == "parsable":
            req.parsable = 1
        elif name == "parsable2":
            req.parsable = 2
        elif name == "format":
            req.format = (req.format or "") + arg + ","
    return req


def help_format() -> str:
    """--helpformat: the field names, four to a line."""
    out = []
    for i, (name, _, _) in enumerate(sf.FIELDS):
        if i & 3:
            out.append(" ")
        elif i:
            out.append("\n")
        out.append(f"{name:<17}")
    return "".join(out) + "\n"


def listing(req: Request, reply: dict[str, object], me: str | None) -> list[str]:
    """The lines for the controller's /shares reply; `me` is the caller, shown by default."""
    algorithm = str(reply.get("algorithm") or sf.FAIR_TREE)
    spec = req.format or sf.default_format(algorithm, req.long, req.partitions)
    try:
        fields = sf.parse_format(spec)
    except sf.FormatError as exc:
        raise CommandError(str(exc)) from None
    users = None if req.all_users else (req.users or ([me] if me else None))
    rows = reply.get("rows") or []
    assert isinstance(rows, list)
    return sf.render(rows, fields, algorithm, users=users, accounts=req.accounts,
                     users_only=req.users_only, show_header=req.header, parsable=req.parsable)


def _body(client: Client, argv: list[str]) -> int:
    try:
        req = parse_request(argv)
    except OptionError as exc:
        print(exc, file=sys.stderr)
        print('Try "sshare --help" for more information', file=sys.stderr)
        return 1
    if req.show:
        sys.stdout.write({"usage": USAGE, "helpformat": help_format(),
                          "version": VERSION + "\n"}[req.show])
        return 0
    me = None
    if not req.all_users and not req.users:
        me = str(client.whoami().get("user") or "") or None
    lines = listing(req, client.shares(), me)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("sshare", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
