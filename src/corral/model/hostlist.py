"""Expand and compress Slurm hostlist expressions such as ``node[01-03,07]``."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

__all__ = ["MAX_HOSTS", "compress", "expand"]

#: Most names one expression may expand to, so a typo like ``n[1-99999999]`` fails fast.
MAX_HOSTS = 1 << 20

_RANGE_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_TRAILING_DIGITS = re.compile(r"^(.*?)([0-9]+)$", re.DOTALL)
_FORBIDDEN_IN_NAME = frozenset("[],") | frozenset(" \t\r\n\v\f")


def _malformed(expr: str) -> ValueError:
    return ValueError(f"Invalid hostlist expression: {expr!r}")


def _split_top_level(expr: str) -> list[str]:
    """Split on commas that are outside brackets; reject unbalanced or nested brackets."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(expr):
        if ch == "[":
            if depth:
                raise _malformed(expr)
            depth = 1
        elif ch == "]":
            if not depth:
                raise _malformed(expr)
            depth = 0
        elif ch == "," and not depth:
            items.append(expr[start:i])
            start = i + 1
    if depth:
        raise _malformed(expr)
    items.append(expr[start:])
    return items


def _expand_brackets(body: str, expr: str) -> list[str]:
    """The numbers a bracket body such as ``01-03,07`` stands for, as strings."""
    out: list[str] = []
    for part in body.split(","):
        match = _RANGE_ITEM.fullmatch(part.strip())
        if match is None:
            raise _malformed(expr)
        lo_text, hi_text = match.groups()
        if hi_text is None:
            out.append(lo_text)
            continue
        lo, hi = int(lo_text), int(hi_text)
        if lo > hi or hi - lo >= MAX_HOSTS:
            raise _malformed(expr)
        width = len(lo_text)
        out.extend(str(n).zfill(width) for n in range(lo, hi + 1))
    return out


def _expand_item(item: str, expr: str) -> list[str]:
    """Expand one comma-free item such as ``r[1-2]n[1-2].ib``."""
    pieces = re.split(r"\[([^\]]*)\]", item)
    # Even indexes are literal text, odd ones bracket bodies.
    if any(ch in _FORBIDDEN_IN_NAME for literal in pieces[0::2] for ch in literal):
        raise _malformed(expr)
    choices: list[list[str]] = []
    for index, piece in enumerate(pieces):
        choices.append(_expand_brackets(piece, expr) if index % 2 else [piece])
    count = 1
    for options in choices:
        count *= len(options)
        if count > MAX_HOSTS:
            raise _malformed(expr)
    return ["".join(combo) for combo in itertools.product(*choices)]


def expand(expr: str) -> list[str]:
    """Expand a hostlist expression into host names, in order and without duplicates.

    ``node[01-03,07]`` gives node01, node02, node03, node07 (a range is zero-padded to the
    width of its start), ``a1,b[1-2]`` gives a1, b1, b2, and several bracket groups give
    their product: ``r[1-2]n[1-2]`` is r1n1, r1n2, r2n1, r2n2. An empty or blank expression
    gives no names. Anything malformed raises ``ValueError`` naming the expression.
    """
    if not expr.strip():
        return []
    seen: dict[str, None] = {}
    total = 0
    for raw in _split_top_level(expr):
        item = raw.strip()
        if not item:
            raise _malformed(expr)
        names = _expand_item(item, expr)
        total += len(names)
        if total > MAX_HOSTS:
            raise _malformed(expr)
        seen.update(dict.fromkeys(names))
    return list(seen)


class _Run:
    """Consecutive numbers written as ``lo-hi``, zero-padded to the width of ``lo``."""

    # A plain class, not a dataclass: importing dataclasses costs the commands ~15 ms.
    __slots__ = ("lo_text", "hi")

    def __init__(self, lo_text: str, hi: int) -> None:
        self.lo_text = lo_text
        self.hi = hi

    @property
    def lo(self) -> int:
        return int(self.lo_text)

    @property
    def width(self) -> int:
        return len(self.lo_text)

    def render(self) -> str:
        if self.hi == self.lo:
            return self.lo_text
        return f"{self.lo_text}-{str(self.hi).zfill(self.width)}"


def _runs(suffixes: Iterable[str]) -> list[_Run]:
    """Pack digit strings into as few ranges as padding allows (``01,02,3`` -> ``01-03``)."""
    runs: list[_Run] = []
    waiting: dict[int, list[_Run]] = {}  # runs by the number that would extend them
    for digits in sorted(set(suffixes), key=lambda d: (int(d), len(d))):
        value = int(digits)
        candidates = waiting.pop(value, [])
        for index, run in enumerate(candidates):
            if str(value).zfill(run.width) == digits:
                del candidates[index]
                run.hi = value
                break
        else:
            run = _Run(digits, value)
            runs.append(run)
        waiting.setdefault(value + 1, []).append(run)
        if candidates:
            waiting[value] = candidates
    return sorted(runs, key=lambda r: (r.lo, r.width))


def compress(names: Iterable[str]) -> str:
    """Write host names as a Slurm hostlist expression, the inverse of :func:`expand`.

    Names are grouped by the text before their trailing number, groups are sorted by that
    prefix, and each group's numbers are sorted and packed into ranges: ``node[1-3,5]``.
    A name alone in its group, or with no trailing number, stays plain. No names give "".
    Names that could not be read back (empty, or holding brackets, commas or blanks) raise
    ``ValueError``.
    """
    plain: set[str] = set()
    groups: dict[str, set[str]] = {}
    for name in names:
        if not name or any(ch in _FORBIDDEN_IN_NAME for ch in name):
            raise ValueError(f"Host name cannot appear in a hostlist: {name!r}")
        match = _TRAILING_DIGITS.match(name)
        if match is None:
            plain.add(name)
        else:
            groups.setdefault(match.group(1), set()).add(match.group(2))

    parts: list[tuple[str, int, str]] = [(name, 0, name) for name in plain]
    for prefix, suffixes in groups.items():
        if len(suffixes) == 1:
            (digits,) = suffixes
            parts.append((prefix, int(digits), prefix + digits))
            continue
        runs = _runs(suffixes)
        body = ",".join(run.render() for run in runs)
        parts.append((prefix, runs[0].lo, f"{prefix}[{body}]"))
    parts.sort(key=lambda p: (p[0], p[1], p[2]))
    return ",".join(text for _, _, text in parts)


def compress_counts(counts: Sequence[int]) -> str:
    """Slurm's compressed per-node list: [2, 2, 1] → '2(x2),1'."""
    parts: list[str] = []
    i = 0
    while i < len(counts):
        j = i
        while j < len(counts) and counts[j] == counts[i]:
            j += 1
        parts.append(f"{counts[i]}(x{j - i})" if j - i > 1 else str(counts[i]))
        i = j
    return ",".join(parts)
