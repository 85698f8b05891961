from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.model.arrays import (
    ArraySpecError,
    array_env,
    fold,
    parse_array,
    parse_indices,
    take_first,
    without,
)


@pytest.mark.parametrize(("text", "ids", "throttle"), [
    ("0-15", list(range(16)), 0),
    ("1,3,5", [1, 3, 5], 0),
    ("1-31:2", list(range(1, 32, 2)), 0),
    ("1-4%2", [1, 2, 3, 4], 2),
    ("7", [7], 0),
    ("3,1-2", [1, 2, 3], 0),
])
def test_parse_array(text: str, ids: list[int], throttle: int) -> None:
    assert parse_array(text, 1001) == (ids, throttle)


@pytest.mark.parametrize("text", ["", "5-1", "a", "1-", "-1", "1-3:0", "1,,2", "1%x", "0-1001", "1-2:x"])
def test_bad_specs_are_refused_with_slurms_words(text: str) -> None:
    with pytest.raises(ArraySpecError, match="Invalid job array specification"):
        parse_array(text, 1001)


def test_fold_spells_runs_and_strides() -> None:
    assert fold([1, 2, 3, 5, 7, 9]) == "1-3,5-9:2"
    assert fold([2, 3, 4]) == "2-4"
    assert fold([1, 3]) == "1,3"
    assert fold([0]) == "0"


@given(st.sets(st.integers(0, 300), min_size=1))
def test_fold_round_trips(ids: set[int]) -> None:
    assert parse_indices(fold(sorted(ids))) == sorted(ids)


@given(st.sets(st.integers(0, 300), min_size=1), st.integers(1, 50))
def test_take_first_splits_off_the_lowest(ids: set[int], count: int) -> None:
    ordered = sorted(ids)
    taken, rest = take_first(fold(ordered), count)
    assert taken == ordered[:count]
    assert (parse_indices(rest) if rest else []) == ordered[count:]


def test_without_and_environment() -> None:
    assert without("1-10", [2, 3]) == "1,4-10"
    assert without("4", [4]) is None
    assert array_env("1-31:2%4", 1001) == {
        "SLURM_ARRAY_TASK_COUNT": "16", "SLURM_ARRAY_TASK_MIN": "1",
        "SLURM_ARRAY_TASK_MAX": "31", "SLURM_ARRAY_TASK_STEP": "2"}


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(1, 7)),
                min_size=1, max_size=8))
def test_bounded_parsing_marks_the_same_ids_as_unbounded(parts: list[tuple[int, int, int]]) -> None:
    text = ",".join(f"{min(a, b)}-{max(a, b)}:{step}" for a, b, step in parts)
    assert parse_indices(text, 301) == parse_indices(text)


def test_an_id_beyond_the_limit_is_refused_before_anything_is_expanded() -> None:
    # 0-999999999 would be a billion ids; refused by its bound, in no time and no memory.
    for text in ("0-999999999", "5,0-999999999", "[0-99999999]"):
        with pytest.raises(ArraySpecError):
            parse_indices(text, 100001)
    assert len(parse_indices(",".join(["0-100000"] * 1000), 100001)) == 100001
