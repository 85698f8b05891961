"""`corral why`: its argument checks and how the controller's answer is laid out."""

from __future__ import annotations

import pytest

from corral.cli.slurm import why
from corral.entry import main as corral_main

ANSWER = ("Job 42 is waiting for resources: it needs 4 nodes and 2 are free. "
          "It should start around 14:05, when job 40 ends.\nIt is first in line.")


def test_answer_is_printed_as_is_for_pipes() -> None:
    assert why.layout(ANSWER, None) == ANSWER + "\n"
    assert why.layout(ANSWER + "\n", None) == ANSWER + "\n"


def test_answer_is_wrapped_per_paragraph_at_a_terminal() -> None:
    assert why.layout(ANSWER, 40) == (
        "Job 42 is waiting for resources: it\n"
        "needs 4 nodes and 2 are free. It should\n"
        "start around 14:05, when job 40 ends.\n"
        "It is first in line.\n")


@pytest.mark.parametrize("job_id", ["abc", "12x", "-1"])
def test_a_malformed_job_id_is_refused_before_asking(job_id: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert why.main([job_id]) == 1
    assert capsys.readouterr().err == "corral why: error: Invalid job id specified\n"


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert why.main([]) == 2
    assert corral_main(["why"]) == 2
    assert capsys.readouterr().err == "corral why: error: usage: corral why JOBID\n" * 2
