"""sacctmgr's values: counts, times, TRES lists and name lists as its command line takes them,
and TRES as it prints them. Bad input raises AdminError with sacctmgr's words."""

from __future__ import annotations

import re
from collections.abc import Mapping

from corral.model.errors import InvalidRequest
from corral.model.timefmt import format_memory_mb, parse_memory_mb, parse_time_limit


class AdminError(InvalidRequest, ValueError):
    """Bad sacctmgr input; the message is sacctmgr's."""


_TRES_ORDER = ("cpu", "mem", "energy", "node", "billing")
_TRES_NAME = re.compile(r"(cpu|mem|energy|node|billing|(gres|license|bb|fs)/[A-Za-z0-9_.:-]+)")


def format_tres(tres: Mapping[str, int | None]) -> str:
    """TRES as sacctmgr prints them: cpu, mem, energy, node, billing first, memory with units."""
    def order(name: str) -> tuple[int, str]:
        return (_TRES_ORDER.index(name) if name in _TRES_ORDER else len(_TRES_ORDER), name)
    parts = []
    for name in sorted(tres, key=order):
        count = tres[name]
        if count is None:
            parts.append(f"{name}=-1")
        elif name == "mem":
            parts.append(f"mem={format_memory_mb(count)}")
        else:
            parts.append(f"{name}={count}")
    return ",".join(parts)


def parse_count(text: str, label: str) -> int | None:
    """A count; negative clears the limit (None), as sacctmgr's -1 does."""
    try:
        value = int(text.strip().strip("'\""))
    except ValueError:
        raise AdminError(f"Invalid value for {label} ({text})") from None
    return None if value < 0 else value


def parse_minutes(text: str, label: str) -> int | None:
    if text.strip() == "-1":
        return None
    try:
        return parse_time_limit(text)
    except ValueError:
        raise AdminError(f" Bad {label} time format: {text}") from None


_GRACE = re.compile(r"(?:(\d+)-)?(\d+):(\d+)(?::(\d+))?")


def parse_seconds(text: str, label: str) -> int:
    stripped = text.strip()
    if stripped == "-1":
        return 0
    if stripped.isdigit():
        return int(stripped)
    match = _GRACE.fullmatch(stripped)
    if match is None:
        raise AdminError(f" Bad {label} time format: {text}")
    days, a, b, c = match.groups()
    if c is None and days is None:  # MM:SS
        return int(a) * 60 + int(b)
    return int(days or 0) * 86400 + int(a) * 3600 + int(b) * 60 + int(c or 0)


def parse_tres_changes(text: str, label: str) -> dict[str, int | None]:
    """"cpu=10,gres/gpu=8,mem=4G" → counts; a count of -1 clears that TRES (None)."""
    out: dict[str, int | None] = {}
    for item in (p.strip() for p in text.split(",")):
        name, sep, count = item.partition("=")
        name = name.strip().lower()
        if not sep or not _TRES_NAME.fullmatch(name):
            raise AdminError(f"Invalid Trackable RESource (TRES) specification for {label}: {text}")
        count = count.strip()
        if count.startswith("-"):
            out[name] = None if count == "-1" else parse_count(count, label)
        elif name == "mem":
            try:
                out[name] = parse_memory_mb(count)
            except ValueError:
                raise AdminError(f"Invalid value for {label} ({text})") from None
        else:
            out[name] = parse_count(count, label)
    return out


def merge_tres(current: Mapping[str, int], delta: Mapping[str, int | None]) -> dict[str, int]:
    merged = dict(current)
    for name, count in delta.items():
        if count is None:
            merged.pop(name, None)
        else:
            merged[name] = count
    return merged


def name_list(text: str) -> list[str]:
    return [n.strip() for n in text.strip("'\"").split(",") if n.strip()]
