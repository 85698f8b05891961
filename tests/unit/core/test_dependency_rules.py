from __future__ import annotations

import pytest

from corral.core.dependencies import (
    DependencyError,
    RefJob,
    Status,
    Term,
    evaluate,
    parse_dependency,
)
from corral.model.states import JobState as S


def test_parse_lists_all_and_any() -> None:
    dep = parse_dependency("afterok:12:13,afterany:14_2")
    assert dep.terms == (Term("afterok", 12), Term("afterok", 13), Term("afterany", 14, 2))
    assert not dep.any_of
    assert parse_dependency("afterok:1?afternotok:2").any_of
    assert parse_dependency("after:5+10").terms == (Term("after", 5, None, 10),)
    assert parse_dependency("singleton").terms == (Term("singleton"),)


@pytest.mark.parametrize("text", ["", "afterok", "afterok:", "later:1", "afterok:x", "afterok:1,after:2?after:3",
                                  "singleton:3", "afterok:1+5", "afterok:0"])
def test_bad_dependencies(text: str) -> None:
    with pytest.raises(DependencyError, match="Job dependency problem"):
        parse_dependency(text)


def _eval(text: str, refs: dict[int, list[RefJob]], now: float = 100.0, **kw: object) -> tuple[Status, str | None]:
    return evaluate(parse_dependency(text), refs, now, **kw)  # type: ignore[arg-type]


def test_afterok_waits_succeeds_and_fails() -> None:
    assert _eval("afterok:1", {1: [RefJob(S.RUNNING, 10)]}) == (Status.WAITING, "afterok:1(unfulfilled)")
    assert _eval("afterok:1", {1: [RefJob(S.COMPLETED, 10)]}) == (Status.SATISFIED, None)
    assert _eval("afterok:1", {1: [RefJob(S.FAILED, 10)]}) == (Status.NEVER, "afterok:1(failed)")
    # One failed task of an array dooms afterok on the array even while others run.
    refs = {1: [RefJob(S.FAILED, 1, 0), RefJob(S.RUNNING, 1, 1)]}
    assert _eval("afterok:1", refs)[0] is Status.NEVER


def test_afternotok_afterany_after_with_delay() -> None:
    assert _eval("afternotok:1", {1: [RefJob(S.COMPLETED)]})[0] is Status.NEVER
    assert _eval("afternotok:1", {1: [RefJob(S.TIMEOUT)]})[0] is Status.SATISFIED
    assert _eval("afterany:1", {1: [RefJob(S.CANCELLED)]})[0] is Status.SATISFIED
    assert _eval("after:1", {1: [RefJob(S.PENDING)]})[0] is Status.WAITING
    assert _eval("after:1+1", {1: [RefJob(S.RUNNING, 50.0)]}, now=100.0)[0] is Status.WAITING
    assert _eval("after:1+1", {1: [RefJob(S.RUNNING, 50.0)]}, now=111.0)[0] is Status.SATISFIED


def test_any_of_and_partial_display() -> None:
    refs = {1: [RefJob(S.FAILED)], 2: [RefJob(S.RUNNING)]}
    assert _eval("afterok:1?afterok:2", refs) == (Status.WAITING,
                                                 "afterok:1(failed)?afterok:2(unfulfilled)")
    refs[2] = [RefJob(S.COMPLETED)]
    assert _eval("afterok:1?afterok:2", refs)[0] is Status.SATISFIED
    assert _eval("afterany:1:2", {1: [RefJob(S.COMPLETED)], 2: [RefJob(S.RUNNING)]}) == (
        Status.WAITING, "afterany:2(unfulfilled)")


def test_array_tasks_and_aftercorr() -> None:
    refs = {7: [RefJob(S.COMPLETED, 1, 0), RefJob(S.PENDING, None, None, "1-3")]}
    assert _eval("afterok:7_0", refs)[0] is Status.SATISFIED
    assert _eval("afterok:7_2", refs)[0] is Status.WAITING
    assert _eval("aftercorr:7", refs, own_task=0)[0] is Status.SATISFIED
    assert _eval("aftercorr:7", refs, own_task=3)[0] is Status.WAITING
    assert _eval("aftercorr:7", refs, own_task=9)[0] is Status.SATISFIED  # no partner task


def test_purged_jobs_count_as_done_and_singleton() -> None:
    assert _eval("afterok:5", {})[0] is Status.SATISFIED
    assert _eval("singleton", {}, singleton_clear=False)[0] is Status.WAITING
    assert _eval("singleton", {}, singleton_clear=True)[0] is Status.SATISFIED
