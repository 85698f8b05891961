"""Job array index sets in --array syntax: `0-15`, `1,3,5`, `1-31:2`, with an optional `%N` throttle.

A pending array is kept as one record whose remaining tasks are a folded index string, so a
10,000-task array costs one row; tasks are split off as they start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ARRAY_ERROR = "Invalid job array specification"


class ArraySpecError(ValueError):
    def __init__(self) -> None:
        super().__init__(ARRAY_ERROR)


def _parse_part(part: str, limit: int | None = None) -> range:
    step = 1
    if ":" in part:
        part, step_text = part.split(":", 1)
        if not step_text.isdigit() or int(step_text) < 1:
            raise ArraySpecError
        step = int(step_text)
    if "-" in part:
        low_text, high_text = part.split("-", 1)
    else:
        low_text = high_text = part
    if not low_text.isdigit() or not high_text.isdigit():
        raise ArraySpecError
    low, high = int(low_text), int(high_text)
    if high < low or (limit is not None and high >= limit):
        raise ArraySpecError
    return range(low, high + 1, step)


def parse_indices(text: str, limit: int | None = None) -> list[int]:
    """Sorted, distinct task ids of an index set (no throttle).

    With `limit` (MaxArraySize), an id at or above it is refused before anything is expanded,
    and ids are marked in a bitmap of that size, so no spec costs more than `limit` bytes:
    `0-999999999` from any user must not take the controller's memory."""
    text = text.strip().strip("[]")
    if not text:
        raise ArraySpecError
    parts = [_parse_part(part.strip(), limit) for part in text.split(",")]
    if limit is None:
        ids: set[int] = set()
        for found in parts:
            ids.update(found)
        return sorted(ids)
    marks = bytearray(max(r.stop for r in parts))
    for found in parts:
        marks[found.start:found.stop:found.step] = b"\x01" * len(found)
    return [i for i, mark in enumerate(marks) if mark]


def parse_array(text: str, max_size: int) -> tuple[list[int], int]:
    """(task ids, throttle) of --array; every id must be below MaxArraySize, as in Slurm."""
    throttle = 0
    if "%" in text:
        text, throttle_text = text.rsplit("%", 1)
        if not throttle_text.isdigit():
            raise ArraySpecError
        throttle = int(throttle_text)
    return parse_indices(text, max_size), throttle


def _runs(ids: Sequence[int]) -> Iterable[tuple[int, int, int]]:
    """(first, last, step) runs of sorted ids; a strided run needs three members to fold."""
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        if j > i:
            yield ids[i], ids[j], 1
            i = j + 1
            continue
        if i + 2 < len(ids):
            step = ids[i + 1] - ids[i]
            j = i + 1
            while j + 1 < len(ids) and ids[j + 1] - ids[j] == step:
                j += 1
            if j - i >= 2:
                yield ids[i], ids[j], step
                i = j + 1
                continue
        yield ids[i], ids[i], 1
        i += 1


def fold(ids: Sequence[int]) -> str:
    """The shortest usual spelling: [1, 2, 3, 5, 7, 9] → '1-3,5-9:2'."""
    parts = []
    for first, last, step in _runs(sorted(ids)):
        if first == last:
            parts.append(str(first))
        elif step == 1:
            parts.append(f"{first}-{last}")
        else:
            parts.append(f"{first}-{last}:{step}")
    return ",".join(parts)


def take_first(text: str, count: int) -> tuple[list[int], str | None]:
    """Splits off the `count` lowest ids: (taken, the rest folded, or None when nothing is left).

    Only the leading parts are expanded, so taking a few tasks from `0-99999` stays cheap.
    """
    taken: list[int] = []
    parts = text.split(",")
    index = 0
    while index < len(parts) and len(taken) < count:
        span = _parse_part(parts[index])
        want = count - len(taken)
        taken.extend(span[:want])
        rest = span[want:]
        if len(rest):
            parts[index] = _spell(rest)
            break
        index += 1
    remaining = ",".join(parts[index:])
    return taken, remaining or None


def _spell(span: range) -> str:
    last = span[-1]
    if span.start == last:
        return str(last)
    return f"{span.start}-{last}" if span.step == 1 else f"{span.start}-{last}:{span.step}"


def without(text: str, ids: Iterable[int]) -> str | None:
    """The index set minus `ids`, folded (None when empty)."""
    gone = set(ids)
    left = [i for i in parse_indices(text) if i not in gone]
    return fold(left) if left else None


def array_env(text: str, max_size: int) -> dict[str, str]:
    """SLURM_ARRAY_TASK_COUNT/MIN/MAX/STEP of the whole array, as every task sees them."""
    ids, _ = parse_array(text, max_size)
    steps = {b - a for a, b in zip(ids, ids[1:], strict=False)}
    return {"SLURM_ARRAY_TASK_COUNT": str(len(ids)), "SLURM_ARRAY_TASK_MIN": str(ids[0]),
            "SLURM_ARRAY_TASK_MAX": str(ids[-1]),
            "SLURM_ARRAY_TASK_STEP": str(steps.pop() if len(steps) == 1 else 1)}
