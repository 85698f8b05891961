"""Begin times and dependencies in Slurm's terms, for every front-end (pure: no controller needed).

The PBS and LSF front-ends read their own spellings (qsub -a `[[[[CC]YY]MM]DD]hhmm[.SS]`, bsub -b
`[[[year:]month:]day:]hour:minute`; qsub -W depend=`afterok:12.server`, bsub -w `done(12)`)
and hand the parts to the one translation here, which knows what a local date means and how
Slurm writes a dependency; each keeps its own error wording. sbatch reads Slurm's forms
directly (corral.model.timefmt.parse_timestamp; --dependency is passed as written).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence

# The dependency kinds the front-ends translate into (Slurm's after, afterok, afternotok, afterany).
DEPENDENCY_KINDS = ("after", "afterok", "afternotok", "afterany")


def next_local_time(now: float, hour: int, minute: int, second: int = 0, *,
                    day: int | None = None, month: int | None = None, year: int | None = None,
                    roll: bool = True) -> float:
    """The local time hour:minute:second on a date whose missing parts are today's, as epoch seconds.

    With `roll`, a moment already past means the next one: tomorrow when no day is given, next
    month when no month is, next year when no year is (LSF's -b; PBS's -a rolls only a bare
    hhmm). ValueError for a field out of range.
    """
    local = time.localtime(now)
    y = local.tm_year if year is None else year
    m = local.tm_mon if month is None else month
    d = local.tm_mday if day is None else day
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59 and 1 <= d <= 31
            and 1 <= m <= 12):
        raise ValueError("time out of range")
    when = time.mktime((y, m, d, hour, minute, second, 0, 0, -1))
    if when >= now or not roll:
        return when
    if day is None:
        return when + 86400
    if month is None:
        m, y = (m % 12) + 1, y + (m == 12)
        return time.mktime((y, m, d, hour, minute, second, 0, 0, -1))
    if year is None:
        return time.mktime((y + 1, m, d, hour, minute, second, 0, 0, -1))
    return when


def slurm_dependency(terms: Iterable[tuple[str, Sequence[str]]], *, any_of: bool = False) -> str:
    """Slurm's --dependency: `kind:id:id` a term, joined by `,` (all of them) or `?` (any one)."""
    return ("?" if any_of else ",").join(":".join([kind, *ids]) for kind, ids in terms)


def dependency_terms(slurm: str) -> tuple[list[tuple[str, list[str]]], bool]:
    """Slurm's dependency string read back: its terms (kind, job ids) and whether any one suffices."""
    terms = []
    for part in re.split(r"[,?]", slurm):
        kind, _, ids = part.partition(":")
        terms.append((kind, [i for i in ids.split(":") if i]))
    return terms, "?" in slurm


def expand_indices(text: str, limit: int | None = None) -> list[int]:
    """A folded task string (`1-7:2,9%2`, `[1-3]`; a `%N` throttle ignored) → its task ids,
    only the first `limit` when given; ValueError when a piece is not a number."""
    ids: list[int] = []
    for part in text.split("%")[0].strip("[]").split(","):
        if not part:
            continue
        span, _, step = part.partition(":")
        low, _, high = span.partition("-")
        ids.extend(range(int(low), int(high or low) + 1, int(step or 1)))
        if limit is not None and len(ids) > limit:
            break
    return ids if limit is None else ids[:limit]
