"""Slurm's -S sort specifications ("-p,i"), shared by squeue and sprio."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def apply_sort_spec(items: list[T], spec: str,
                    keys: Mapping[str, Callable[[T], Any] | None]) -> list[T]:
    """Sorts `items` in place by the spec's keys, applied right to left with stable sorts so
    that the leftmost wins; `-` before a key descends, a None key is accepted and ignored.
    Raises ValueError("Invalid sort specification: X") for an unknown key."""
    for i in range(len(spec) - 1, -1, -1):
        letter = spec[i]
        if letter in ",+-":
            continue
        if letter not in keys:
            raise ValueError(f"Invalid sort specification: {letter}")
        key = keys[letter]
        if key is not None:
            items.sort(key=key, reverse=i > 0 and spec[i - 1] == "-")
    return items
