"""sinfo's output: node/partition rows, Slurm's % codes and grouping (pure: no clock, no I/O)."""

from __future__ import annotations

import datetime as _dt
import pwd
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from corral.cli.slurm.squeue_format import Field, nodelist, pad, parse_format
from corral.model.timefmt import format_squeue_time, format_timestamp

Rec = Mapping[str, Any]
Tz = _dt.tzinfo | None

DEFAULT_FORMAT = "%9P %.5a %.10l %.6D %.6t %N"
LONG_FORMAT = "%9P %.5a %.10l %.10s %.4r %.8h %.10g %.6D %.11T %N"
NODE_FORMAT = "%N %.6D %.9P %6t"
NODE_LONG_FORMAT = "%N %.6D %.9P %.11T %4c %.8z %.6m %.8d %.6w %.8f %20E"
SUMMARIZE_FORMAT = "%9P %.5a %.10l %.16F  %N"
REASONS_FORMAT = "%20E %9u %19H %N"
REASONS_LONG_FORMAT = "%20E %12U %19H %6t %N"
MIN_FIELD_SIZE = 9

_LONG = {"IDLE": "idle", "MIXED": "mixed", "ALLOCATED": "allocated", "DOWN": "down",
         "DRAINED": "drained", "DRAINING": "draining", "COMPLETING": "completing",
         "FUTURE": "future", "FAIL": "fail", "FAILING": "failing", "MAINT": "maint",
         "RESERVED": "reserved", "PLANNED": "planned", "UNKNOWN": "unknown"}
_COMPACT = {"IDLE": "idle", "MIXED": "mix", "ALLOCATED": "alloc", "DOWN": "down",
            "DRAINED": "drain", "DRAINING": "drng", "COMPLETING": "comp", "FUTURE": "futr",
            "FAIL": "fail", "FAILING": "failg", "MAINT": "maint", "RESERVED": "resv",
            "PLANNED": "plnd", "UNKNOWN": "unk"}
# Slurm's node_state numbers (base state | flags), which sinfo's -t sort compares.
_BASE = {"UNKNOWN": 0, "DOWN": 1, "IDLE": 2, "ALLOCATED": 3, "MIXED": 5, "FUTURE": 6,
         "DRAINED": 2 | 0x200, "DRAINING": 3 | 0x200, "COMPLETING": 3 | 0x400,
         "FAIL": 1 | 0x2000, "FAILING": 3 | 0x2000}
_NO_RESPOND = 0x800
_UNAVAILABLE = frozenset({"DOWN", "DRAINED", "DRAINING", "FAIL", "FAILING"})
_BUSY = frozenset({"ALLOCATED", "MIXED", "COMPLETING"})
PARTITION_CODES = frozenset("PRalLsghrpIMSB")


class Row:
    """One output line: a partition (None when no partition field is shown) and its nodes."""

    __slots__ = ("index", "nodes", "partition")

    def __init__(self, partition: Rec | None, nodes: list[Rec] | None = None,
                 index: int = 0) -> None:
        self.partition = partition
        self.nodes: list[Rec] = [] if nodes is None else nodes
        self.index = index  # the partition's place in the controller's order


def base_state(node: Rec) -> str:
    return str(node.get("state") or "UNKNOWN").upper()


def state_text(node: Rec, compact: bool) -> str:
    """idle/mix/alloc/down/drain/drng (compact) or the long name, `*` when not responding."""
    base = base_state(node)
    text = (_COMPACT if compact else _LONG).get(base, base.lower())
    return text + ("*" if node.get("responding") is False else "")


def state_number(node: Rec) -> int:
    return _BASE.get(base_state(node), 0) | (0 if node.get("responding", True) else _NO_RESPOND)


def state_names(node: Rec) -> set[str]:
    """Every name `sinfo -t` may call this node's state by."""
    base = base_state(node)
    names = {base.lower(), _COMPACT.get(base, base.lower())}
    if base in ("DRAINED", "DRAINING"):
        names.add("drain")
    if node.get("responding") is False:
        names.add("no_respond")
    return names


def _range(values: Iterable[Any]) -> str:
    """Slurm's min/max: `N` when all equal, else `MIN+`."""
    nums = [v for v in values if v is not None]
    if not nums:
        return "N/A"
    low, high = min(nums), max(nums)
    return str(low) if low == high else f"{low}+"


def _plain(nodes: Sequence[Rec], key: str, default: Any = 0) -> str:
    return _range(n.get(key, default) for n in nodes) if nodes else "0"


def _features(node: Rec, key: str = "features") -> str:
    value = node.get(key) or []
    text = value if isinstance(value, str) else ",".join(value)
    return text or "(null)"


def _gres(node: Rec) -> str:
    gpus = int(node.get("gpus") or 0)
    if gpus <= 0:
        return "(null)"
    return f"gpu:{node['gpu_type']}:{gpus}" if node.get("gpu_type") else f"gpu:{gpus}"


def _reason(node: Rec) -> str:
    reason = node.get("reason")
    return "none" if not reason or str(reason).startswith("(null)") else str(reason)


def _reason_user(node: Rec, with_uid: bool) -> str:
    """Who set the node's reason (reason_user, else reason_uid looked up as sinfo does)."""
    user, uid = node.get("reason_user"), node.get("reason_uid")
    if user is None:
        if uid is None:
            return "Unknown"
        try:
            user = pwd.getpwuid(int(uid)).pw_name
        except (KeyError, OverflowError, TypeError, ValueError):
            user = f"Unk({uid})"
    return f"{user}({uid})" if with_uid and uid is not None else str(user)


def _names(nodes: Sequence[Rec], key: str) -> str:
    return nodelist([str(n.get(key) or n.get("name")) for n in nodes])


def _counts(nodes: Sequence[Rec]) -> tuple[int, int, int, int]:
    """Nodes allocated/idle/other/total."""
    alloc = sum(base_state(n) in _BUSY and base_state(n) not in _UNAVAILABLE for n in nodes)
    other = sum(base_state(n) in _UNAVAILABLE for n in nodes)
    return alloc, len(nodes) - alloc - other, other, len(nodes)


def _cpus_aiot(nodes: Sequence[Rec]) -> str:
    alloc = idle = other = total = 0
    for node in nodes:
        cpus, used = int(node.get("cpus") or 0), int(node.get("alloc_cpus") or 0)
        total += cpus
        alloc += used
        if base_state(node) in _UNAVAILABLE:
            other += cpus - used
        else:
            idle += cpus - used
    return f"{alloc}/{idle}/{other}/{total}"


def _sct(nodes: Sequence[Rec]) -> str:
    return ":".join(_plain(nodes, k, 1) for k in ("sockets", "cores_per_socket", "threads_per_core"))


def _cpu_load(nodes: Sequence[Rec]) -> str:
    loads = [load for n in nodes if (load := n.get("cpu_load")) is not None]
    if not loads:
        return "N/A"
    low, high = min(loads), max(loads)
    return f"{low:.2f}" if low == high else f"{low:.2f}+"


def _time_limit(part: Rec | None, key: str, none_text: str) -> str:
    if part is None:
        return "n/a"
    minutes = part.get(key)
    return none_text if minutes is None else format_squeue_time(int(minutes) * 60)


def _job_size(part: Rec | None) -> str:
    if part is None:
        return "n/a"
    low = max(1, int(part.get("min_nodes") or 1))
    high = part.get("max_nodes")
    if high is None:
        return f"{low}-infinite"
    return str(low) if int(high) == low else f"{low}-{high}"


def _part(part: Rec | None, key: str, default: str) -> str:
    if part is None:
        return "n/a"
    value = part.get(key)
    return default if value is None or value == "" else str(value)


Value = Callable[[Row, Tz], str]


def _nodes_or(text: Callable[[Sequence[Rec]], str]) -> Value:
    return lambda row, tz: text(row.nodes) if row.nodes else "n/a"


# code -> (header, value)
COLUMNS: dict[str, tuple[str, Value]] = {
    "P": ("PARTITION", lambda r, tz: _part(r.partition, "name", "")),
    "R": ("PARTITION", lambda r, tz: _part(r.partition, "name", "")),
    "a": ("AVAIL", lambda r, tz: _part(r.partition, "state", "UP").lower()),
    "l": ("TIMELIMIT", lambda r, tz: _time_limit(r.partition, "max_time", "infinite")),
    "L": ("DEFAULTTIME", lambda r, tz: _time_limit(r.partition, "default_time", "n/a")),
    "s": ("JOB_SIZE", lambda r, tz: _job_size(r.partition)),
    "r": ("ROOT", lambda r, tz: "n/a" if r.partition is None
          else "yes" if r.partition.get("root_only") else "no"),
    "h": ("OVERSUBSCRIBE", lambda r, tz: _part(r.partition, "oversubscribe", "NO")),
    "g": ("GROUPS", lambda r, tz: _part(r.partition, "allow_groups", "all")),
    "p": ("PRIO_TIER", lambda r, tz: _part(r.partition, "priority_tier", "1")),
    "I": ("PRIO_JOB_FACTOR", lambda r, tz: _part(r.partition, "priority_job_factor", "1")),
    "M": ("PREEMPT_MODE", lambda r, tz: _part(r.partition, "preempt_mode", "OFF")),
    "S": ("ALLOCNODES", lambda r, tz: _part(r.partition, "allow_alloc_nodes", "all")),
    "B": ("MAX_CPUS_PER_NODE", lambda r, tz: _part(r.partition, "max_cpus_per_node", "UNLIMITED")),
    "D": ("NODES", lambda r, tz: str(len(r.nodes))),
    "A": ("NODES(A/I)", lambda r, tz: "{}/{}".format(*_counts(r.nodes))),
    "F": ("NODES(A/I/O/T)", lambda r, tz: "{}/{}/{}/{}".format(*_counts(r.nodes))),
    "C": ("CPUS(A/I/O/T)", lambda r, tz: _cpus_aiot(r.nodes)),
    "c": ("CPUS", lambda r, tz: _plain(r.nodes, "cpus")),
    "m": ("MEMORY", lambda r, tz: _plain(r.nodes, "memory")),
    "d": ("TMP_DISK", lambda r, tz: _plain(r.nodes, "tmp_disk")),
    "w": ("WEIGHT", lambda r, tz: _plain(r.nodes, "weight", 1)),
    "z": ("S:C:T", lambda r, tz: _sct(r.nodes)),
    "X": ("SOCKETS", lambda r, tz: _plain(r.nodes, "sockets", 1)),
    "Y": ("CORES", lambda r, tz: _plain(r.nodes, "cores_per_socket", 1)),
    "Z": ("THREADS", lambda r, tz: _plain(r.nodes, "threads_per_core", 1)),
    "e": ("FREE_MEM", lambda r, tz: _range(n.get("free_memory") for n in r.nodes)),
    "O": ("CPU_LOAD", lambda r, tz: _cpu_load(r.nodes)),
    "f": ("AVAIL_FEATURES", _nodes_or(lambda ns: _features(ns[0]))),
    "b": ("ACTIVE_FEATURES", _nodes_or(lambda ns: _features(
        ns[0], "active_features" if "active_features" in ns[0] else "features"))),
    "G": ("GRES", _nodes_or(lambda ns: _gres(ns[0]))),
    "E": ("REASON", _nodes_or(lambda ns: _reason(ns[0]))),
    "H": ("TIMESTAMP", lambda r, tz: format_timestamp(r.nodes[0].get("reason_time"), tz)
          if r.nodes and r.nodes[0].get("reason_time") else "Unknown"),
    "u": ("USER", _nodes_or(lambda ns: _reason_user(ns[0], False))),
    "U": ("USER", _nodes_or(lambda ns: _reason_user(ns[0], True))),
    "t": ("STATE", _nodes_or(lambda ns: state_text(ns[0], True))),
    "T": ("STATE", _nodes_or(lambda ns: state_text(ns[0], False))),
    "N": ("NODELIST", lambda r, tz: _names(r.nodes, "name")),
    "n": ("HOSTNAMES", lambda r, tz: _names(r.nodes, "hostname")),
    "o": ("NODE_ADDR", lambda r, tz: _names(r.nodes, "addr")),
    "v": ("VERSION", _nodes_or(lambda ns: str(ns[0].get("version") or "N/A"))),
    "V": ("CLUSTER", lambda r, tz: "N/A"),
}

# Node attributes that split a partition's nodes into separate lines when their code is shown;
# the numeric ones only with -e/--exact (otherwise they show as MIN+).
_STRING_KEYS: dict[str, Callable[[Rec], Any]] = {
    "t": lambda n: state_text(n, True), "T": lambda n: state_text(n, True),
    "f": _features, "b": lambda n: _features(n, "active_features"), "G": _gres,
    "E": _reason, "H": lambda n: n.get("reason_time"), "u": lambda n: n.get("reason_user"),
    "U": lambda n: n.get("reason_user"), "n": lambda n: n.get("hostname"),
    "o": lambda n: n.get("addr"), "v": lambda n: n.get("version"),
}
_EXACT_KEYS: dict[str, Callable[[Rec], Any]] = {
    "c": lambda n: n.get("cpus"), "m": lambda n: n.get("memory"),
    "d": lambda n: n.get("tmp_disk"), "w": lambda n: n.get("weight"),
    "z": lambda n: (n.get("sockets"), n.get("cores_per_socket"), n.get("threads_per_core")),
    "X": lambda n: n.get("sockets"), "Y": lambda n: n.get("cores_per_socket"),
    "Z": lambda n: n.get("threads_per_core"), "e": lambda n: n.get("free_memory"),
    "O": lambda n: n.get("cpu_load"),
}


def parse(fmt: str) -> list[Field]:
    return parse_format(fmt, COLUMNS)


# sinfo -O/--Format names (lower case) → the -o code that prints the same column.
LONG_NAMES: dict[str, str] = {
    "allocnodes": "S", "available": "a", "cluster": "V", "cores": "Y", "cpus": "c",
    "cpusload": "O", "cpusstate": "C", "defaulttime": "L", "disk": "d", "features": "f",
    "features_act": "b", "freemem": "e", "gres": "G", "groups": "g", "maxcpuspernode": "B",
    "memory": "m", "nodeaddr": "o", "nodeai": "A", "nodeaiot": "F", "nodehost": "n",
    "nodelist": "N", "nodes": "D", "oversubscribe": "h", "partition": "P",
    "partitionname": "R", "preemptmode": "M", "priorityjobfactor": "I", "prioritytier": "p",
    "reason": "E", "root": "r", "size": "s", "socketcorethread": "z", "sockets": "X",
    "statecompact": "t", "statelong": "T", "threads": "Z", "time": "l", "timestamp": "H",
    "user": "u", "userlong": "U", "version": "v", "weight": "w",
}
LONG_FIELD_WIDTH = 20


def parse_long(fmt: str) -> list[Field]:
    """-O: `Name[:[.]size[suffix]]`, comma-separated, case-insensitive; a name alone is 20
    columns wide, left-justified. An unknown name raises ValueError (sinfo's wording)."""
    fields: list[Field] = []
    for token in (t for t in fmt.split(",") if t):
        name, colon, spec = token.partition(":")
        code = LONG_NAMES.get(name.strip().lower())
        if code is None:
            raise ValueError(f"Invalid node format specification: {name}")
        right = spec.startswith(".")
        body = spec[1:] if right else spec
        digits = re.match(r"[0-9]*", body)
        width = digits.group(0) if digits else ""
        fields.append(Field(code, int(width) if width else LONG_FIELD_WIDTH if not colon else 0,
                            right, body[len(width):]))
    return fields


def _natural(text: str) -> tuple[Any, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"([0-9]+)", text) if p)


def _members(part: Rec, nodes: Sequence[Rec]) -> list[Rec]:
    by_name = {str(n.get("name")): n for n in nodes}
    names = part.get("nodes")
    if names is not None:
        return [by_name[name] for name in names if name in by_name]
    return [n for n in nodes if part.get("name") in (n.get("partitions") or [])]


def build_rows(nodes: Sequence[Rec], partitions: Sequence[Rec], fields: Sequence[Field], *,
               node_oriented: bool = False, exact: bool = False) -> list[Row]:
    """Groups nodes into lines as sinfo does, sorted as sinfo's default (#P,-t or N)."""
    codes = {f.key for f in fields if f.key}
    groups: list[tuple[int, Rec | None, list[Rec]]]
    if codes & PARTITION_CODES:
        groups = [(i, p, _members(p, nodes)) for i, p in enumerate(partitions)]
    else:
        groups = [(0, None, list(nodes))]
    splitters = [fn for code, fn in _STRING_KEYS.items() if code in codes]
    if exact:
        splitters += [fn for code, fn in _EXACT_KEYS.items() if code in codes]
    rows: list[Row] = []
    for index, part, members in groups:
        if node_oriented:
            rows.extend(Row(part, [n], index) for n in members)
            continue
        if not members:
            if part is not None:
                rows.append(Row(part, [], index))
            continue
        by_key: dict[tuple[Any, ...], Row] = {}
        for node in members:
            key = tuple(repr(fn(node)) for fn in splitters)
            by_key.setdefault(key, Row(part, [], index)).nodes.append(node)
        rows.extend(by_key.values())
    if node_oriented:
        rows.sort(key=lambda r: _natural(str(r.nodes[0].get("name"))))
    else:
        rows.sort(key=lambda r: state_number(r.nodes[0]) if r.nodes else -1, reverse=True)
        rows.sort(key=lambda r: r.index)
    return rows


def part_field_size(rows: Sequence[Row]) -> int:
    """The width sinfo gives the partition column: the longest name (with `*`), at least 9."""
    widths = [len(str(r.partition.get("name"))) + (1 if r.partition.get("default") else 0)
              for r in rows if r.partition is not None]
    return max([MIN_FIELD_SIZE, *widths])


def node_field_size(rows: Sequence[Row]) -> int:
    return max([MIN_FIELD_SIZE, *(len(_names(r.nodes, "name")) for r in rows)])


def _partition_text(part: Rec | None, width: int) -> str:
    if part is None:
        return "n/a"
    name = str(part.get("name"))
    if part.get("default"):
        name = name + "*" if width == 0 or len(name) < width else name[:width - 1] + "*"
    return name


class Layout(NamedTuple):
    """A format and whether the partition/node columns size themselves to the data."""

    fields: list[Field]
    part_field: bool = False
    node_field: bool = False


def render(rows: Sequence[Row], layout: Layout, *, header: bool = True,
           tz: Tz = None) -> list[str]:
    """The lines sinfo prints for `rows`."""
    part_width = part_field_size(rows) if layout.part_field else None
    node_width = node_field_size(rows) if layout.node_field else None

    def line(row: Row | None) -> str:
        parts: list[str] = []
        for f in layout.fields:
            if f.key is not None:
                width = f.width
                if f.key in "PR" and part_width is not None:
                    width = part_width
                elif f.key in "Nn" and node_width is not None:
                    width = node_width
                title, value = COLUMNS[f.key]
                if row is None:
                    parts.append(pad(title, width, f.right, f.key not in "Nno"))
                elif f.key == "P":
                    parts.append(pad(_partition_text(row.partition, width), width, f.right))
                else:
                    parts.append(pad(value(row, tz), width, f.right))
            parts.append(f.suffix)
        return "".join(parts)

    return ([line(None)] if header else []) + [line(row) for row in rows]
