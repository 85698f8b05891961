"""A step inside an array task names its files by the array's ids, as Slurm's srun does.

submitit's map_array runs `srun --output DIR/%A_%a/%A_%a_%t_log.out` inside each task of the
array; with %a as 4294967294 the directory does not exist and every task FAILS."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.cli.slurm.srun_io import Output, OutputFileError
from corral.cli.slurm.srun_options import expand_io_pattern

FIELDS = {"step_id": 0, "procid": 0, "nodeid": 0, "node": "node1", "user": "u", "name": "x"}


def test_a_step_of_an_array_task_expands_the_array_ids() -> None:
    # Task 3 of array 7 is job 10: %A is the array's id, %a the task's index, %j the job's own.
    assert expand_io_pattern("logs/%A_%a/%A_%a_%t_log.out", job_id=10, array_job_id=7,
                             array_task_id=3, **FIELDS) == "logs/7_3/7_3_0_log.out"  # type: ignore[arg-type]
    assert expand_io_pattern("%j-%2a", job_id=10, array_job_id=7, array_task_id=3,
                             **FIELDS) == "10-03"  # type: ignore[arg-type]


def test_a_step_outside_an_array_keeps_slurms_placeholders() -> None:
    # Slurm: %A is the job id and %a NO_VAL - 1 when the job is not part of an array.
    assert expand_io_pattern("%A_%a", job_id=10, **FIELDS) == "10_4294967294"  # type: ignore[arg-type]


def test_an_output_file_that_cannot_be_opened_is_one_error_line(tmp_path: Path) -> None:
    # Before: a FileNotFoundError traceback from srun, and the array task FAILED silently.
    with pytest.raises(OutputFileError) as caught:
        Output(ntasks=1, label=False, stdout="missing/%A_%a/out-%t", stderr=None,
               expand=lambda pattern, procid: expand_io_pattern(pattern, job_id=10, **{
                   **FIELDS, "procid": procid}),  # type: ignore[arg-type]
               work_dir=str(tmp_path), truncate=True, procids=[0])
    assert str(caught.value) == (f"Could not open stdout file {tmp_path}/missing/10_4294967294/"
                                 "out-0: No such file or directory")
