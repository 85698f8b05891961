"""The one begin-time and dependency translation that the PBS and LSF front-ends share."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from corral.cli.common.translate import dependency_terms, next_local_time, slurm_dependency


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def test_a_future_time_today_stays_today() -> None:
    assert next_local_time(NOW, 23, 0) == 1_699_999_200.0 + 3600


def test_a_past_moment_rolls_by_the_first_part_not_given() -> None:
    assert next_local_time(NOW, 8, 0) == next_local_time(NOW, 8, 0, roll=False) + 86400
    assert next_local_time(NOW, 8, 0, day=1) == time.mktime((2023, 12, 1, 8, 0, 0, 0, 0, -1))
    assert next_local_time(NOW, 8, 0, day=1, month=1) == time.mktime((2024, 1, 1, 8, 0, 0, 0, 0, -1))
    assert next_local_time(NOW, 8, 0, day=1, month=1, year=2020) == \
        time.mktime((2020, 1, 1, 8, 0, 0, 0, 0, -1))


@pytest.mark.parametrize("fields", [(24, 0, 0, {}), (0, 60, 0, {}), (0, 0, 60, {}),
                                    (0, 0, 0, {"day": 32}), (0, 0, 0, {"month": 13})])
def test_a_field_out_of_range_is_a_value_error(fields: tuple[int, int, int, dict[str, Any]]) -> None:
    hour, minute, second, date = fields
    with pytest.raises(ValueError):
        next_local_time(NOW, hour, minute, second, **date)


def test_dependencies_are_written_and_read_back_in_slurms_form() -> None:
    terms = [("afterok", ["12", "13_4"]), ("afterany", ["14"])]
    assert slurm_dependency(terms) == "afterok:12:13_4,afterany:14"
    assert slurm_dependency(terms, any_of=True) == "afterok:12:13_4?afterany:14"
    assert dependency_terms("afterok:12:13_4?afterany:14") == (terms, True)
    assert dependency_terms("afterok:12:13_4,afterany:14") == (terms, False)
