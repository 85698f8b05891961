"""sshare's output: its field table, the -o field list, the account tree's indentation, and
the print_fields layout every sacctmgr-family command shares (pure: rows in, lines out)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
FAIR_TREE = "fair_tree"
CLUSTER = "corral"

# print_fields' kinds: how a value is laid out and what counts as "unset" (printed blank).
STR, UINT, DOUBLE = "str", "uint", "double"


class Field:
    """One column: its name, width (negative: left-justified, as print_fields has it), kind."""

    __slots__ = ("name", "width", "kind")

    def __init__(self, name: str, width: int, kind: str) -> None:
        self.name = name
        self.width = width
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.name, self.width, self.kind) == (
            other.name, other.width, other.kind)

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.width}, {self.kind!r})"


# In sshare's own order: an -o name is matched as a case-insensitive prefix, first hit wins,
# so "P" is Partition and "R" is RawShares.
FIELDS: tuple[tuple[str, int, str], ...] = (
    ("Account", -20, STR), ("Cluster", 10, STR), ("EffectvUsage", 13, DOUBLE),
    ("FairShare", 10, DOUBLE), ("LevelFS", 10, DOUBLE), ("ID", 6, UINT),
    ("NormShares", 11, DOUBLE), ("NormUsage", 11, DOUBLE), ("Partition", 12, STR),
    ("RawShares", 10, UINT), ("RawUsage", 11, UINT), ("User", 10, STR),
    ("GrpTRESMins", 30, STR), ("TRESRunMins", 30, STR),
)

SHORT = "A,User,RawShares,NormShares,RawUsage,Eff,Fairshare"
LONG_FAIR_TREE = ("A,User,RawShares,NormShares,RawUsage,NormUsage,Eff,Fairshare,LevelFS,"
                  "GrpTRESMins,TRESRunMins")
LONG_CLASSIC = ("A,User,RawShares,NormShares,RawUsage,NormUsage,Eff,Fairshare,GrpTRESMins,"
                "TRESRunMins")


class FormatError(ValueError):
    """An -o name sshare does not know; the message is sshare's."""


def default_format(algorithm: str, long: bool, partitions: bool) -> str:
    spec = (LONG_FAIR_TREE if algorithm == FAIR_TREE else LONG_CLASSIC) if long else SHORT
    return spec.replace("A,User,", "A,User,P,") if partitions else spec


def parse_format(spec: str) -> list[Field]:
    """`Name[%width]`, comma-separated; a width given this way right-justifies, as in sshare."""
    fields: list[Field] = []
    for item in (part for part in spec.split(",") if part):
        name, percent, digits = item.partition("%")
        width = int(digits) if percent and digits.isdigit() else 0
        for full, default_width, kind in FIELDS:
            if full.lower().startswith(name.lower()):
                fields.append(Field(full, width or default_width, kind))
                break
        else:
            raise FormatError(f'Invalid field requested: "{name}"')
    return fields


# --------------------------------------------------------------------------- rows


def with_parents(rows: Iterable[Row]) -> list[tuple[Row, str | None]]:
    """Each row with its parent account, read off the depth-first order the controller sends."""
    stack: list[str] = []
    out: list[tuple[Row, str | None]] = []
    for row in rows:
        depth = int(row.get("depth") or 0)
        if row.get("user"):
            out.append((row, str(row["account"])))
            continue
        del stack[depth:]
        out.append((row, stack[depth - 1] if 0 < depth <= len(stack) else None))
        stack.append(str(row["account"]))
    return out


def select(rows: Iterable[tuple[Row, str | None]], users: Sequence[str] | None,
           accounts: Sequence[str] | None,
           users_only: bool) -> list[tuple[Row, str | None]]:
    """As slurmctld answers sshare: a user filter drops other users' rows but keeps every
    account's; an account filter keeps the rows charged to those accounts."""
    wanted_users = {u.lower() for u in users} if users is not None else None
    wanted_accounts = {a.lower() for a in accounts} if accounts else None
    kept = []
    for row, parent in rows:
        user = str(row.get("user") or "")
        if wanted_users is not None and user and user.lower() not in wanted_users:
            continue
        if wanted_accounts is not None and str(row["account"]).lower() not in wanted_accounts:
            continue
        if users_only and not user:
            continue
        kept.append((row, parent))
    return kept


class Tree:
    """Account names indented one space per level below the nearest account already printed.

    An account whose parent was filtered out starts again at the margin, and a user's row
    shows its account one level deeper than that account's own row.
    """

    def __init__(self) -> None:
        self._spaces: dict[str, int] = {}

    def name(self, row: Row, parent: str | None) -> str:
        account = str(row["account"])
        below = self._spaces[parent] + 1 if parent is not None and parent in self._spaces else 0
        if row.get("user"):
            return " " * below + account
        spaces = self._spaces.setdefault(account, below)
        return " " * spaces + account


# --------------------------------------------------------------------------- values


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return math.inf if value == "inf" else float(value)


def values(row: Row, tree: Tree, parent: str | None, algorithm: str) -> dict[str, Any]:
    """The row's value for each field name; None prints blank."""
    is_user = bool(row.get("user"))
    is_root = not is_user and not int(row.get("depth") or 0)
    raw_shares = row.get("raw_shares")
    fairshare = _number(row.get("fairshare"))
    if algorithm == FAIR_TREE and not is_user:
        fairshare = None  # Fair Tree ranks users only
    raw_usage = _number(row.get("raw_usage"))
    return {
        "Account": tree.name(row, parent),
        "Cluster": row.get("cluster") or CLUSTER,
        "EffectvUsage": _number(row.get("effectv_usage")),
        "FairShare": fairshare,
        "LevelFS": None if raw_shares == "parent" else _number(row.get("level_fs")),
        "ID": row.get("id"),
        "NormShares": _number(row.get("norm_shares")),
        "NormUsage": _number(row.get("norm_usage")),
        "Partition": row.get("partition") or None,
        "RawShares": None if is_root else raw_shares,
        # Slurm stores raw usage as a whole number (uint64) before printing it.
        "RawUsage": None if raw_usage is None else int(raw_usage),
        "User": row.get("user") or None,
        "GrpTRESMins": row.get("grp_tres_mins") or "",
        "TRESRunMins": row.get("tres_run_mins") or "",
    }


# --------------------------------------------------------------------------- print_fields


def _double(value: float, width: int) -> str:
    """`%*f`, or `%*.*e` narrowed until it fits when the plain form is too wide."""
    size = abs(width)
    align = ">" if width > 0 else "<"
    if len(f"{value:{size}f}") <= size:
        return f"{value:{align}{size}f}"
    wide = len(f"{value:{size}.{size}e}")
    if wide > size:
        size -= wide - size
    return f"{value:{align}{size}.{size}e}"


def cell(value: Any, field: Field) -> str:
    """One value laid out at the field's width, plus the separating space."""
    size = abs(field.width)
    if field.kind == STR:
        if value is None:
            text = " "
        else:
            text = str(value)
            if len(text) > size:
                text = text[:size - 1] + "+"
        text = text[:size]
        return (text.rjust(size) if field.width > 0 else text.ljust(size)) + " "
    if value is None:
        return " " * size + " "
    if field.kind == DOUBLE:
        return _double(float(value), field.width) + " "
    text = str(value)
    return (text.rjust(size) if field.width > 0 else text.ljust(size)) + " "


def parsable_cell(value: Any, field: Field) -> str:
    if value is None:
        return ""
    if field.kind == DOUBLE:
        return f"{float(value):f}"
    return str(value)


def header(fields: Sequence[Field], parsable: int) -> list[str]:
    """The header line (and the dashes line, unless parsable)."""
    if parsable:
        return [_join([f.name for f in fields], parsable)]
    names = "".join((f.name[:abs(f.width)].rjust(f.width) if f.width > 0
                     else f.name[:abs(f.width)].ljust(-f.width)) + " " for f in fields)
    return [names, "".join("-" * abs(f.width) + " " for f in fields)]


def _join(texts: Sequence[str], parsable: int) -> str:
    """-p ends every value with '|'; -P (parsable == 2) leaves the last one bare."""
    line = "".join(t + "|" for t in texts)
    return line[:-1] if parsable == 2 and line else line


def render(rows: Iterable[Row], fields: Sequence[Field], algorithm: str, *,
           users: Sequence[str] | None = None, accounts: Sequence[str] | None = None,
           users_only: bool = False, show_header: bool = True,
           parsable: int = 0) -> list[str]:
    """sshare's lines for the controller's rows (every association, in tree order)."""
    lines = header(fields, parsable) if show_header else []
    tree = Tree()
    for row, parent in select(with_parents(rows), users, accounts, users_only):
        by_name = values(row, tree, parent, algorithm)
        if parsable:
            lines.append(_join([parsable_cell(by_name[f.name], f) for f in fields], parsable))
        else:
            lines.append("".join(cell(by_name[f.name], f) for f in fields))
    return lines

