"""Where srun puts its tasks' output, and how it sums up their ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corral.api import stepio
from corral.cli.slurm.srun_io import Output, failure_lines, task_ranges, worst_exit


def test_labels_prefix_whole_lines_of_each_task(tmp_path: Path) -> None:
    out = Output(ntasks=12, label=True, stdout=str(tmp_path / "o"), stderr=None,
                 expand=lambda pattern, procid: pattern, work_dir="/", truncate=True,
                 procids=list(range(12)))
    out.write(0, stepio.STDOUT, b"a\nb")
    out.write(11, stepio.STDERR, b"c\n")
    out.write(0, stepio.STDOUT, b"c\n")
    out.write(3, stepio.STDOUT, b"tail")
    out.close()
    assert (tmp_path / "o").read_bytes() == b" 0: a\n11: c\n 0: bc\n 3: tail"


def test_a_per_task_pattern_gives_each_task_its_file(tmp_path: Path) -> None:
    out = Output(ntasks=2, label=False, stdout="o-%t", stderr=None,
                 expand=lambda pattern, procid: pattern.replace("%t", str(procid)),
                 work_dir=str(tmp_path), truncate=True, procids=[0, 1])
    out.write(1, stepio.STDOUT, b"one\n")
    out.write(1, stepio.STDERR, b"err\n")
    out.close()
    assert (tmp_path / "o-0").read_bytes() == b""
    assert (tmp_path / "o-1").read_bytes() == b"one\nerr\n"


def test_failures_are_grouped_by_node_and_status() -> None:
    exits = {0: (0, 0), 1: (3, 0), 2: (3, 0), 3: (0, 9)}
    assert failure_lines({"n1": [0, 1], "n2": [2, 3]}, exits) == [
        "srun: error: n1: task 1: Exited with exit code 3",
        "srun: error: n2: task 2: Exited with exit code 3",
        "srun: error: n2: task 3: Killed",
    ]
    assert worst_exit(exits) == 137
    assert worst_exit({}) == 0


def test_task_ranges_fold_runs() -> None:
    assert task_ranges([5, 0, 1, 2]) == "0-2,5"


@pytest.mark.parametrize("command", ["srun", "salloc"])
def test_srun_and_salloc_import_no_server_stack_and_websockets_only_when_serving(command: str) -> None:
    heavy = ["fastapi", "sqlalchemy", "pydantic", "httpx", "corral.controller", "corral.agent",
             "websockets"]
    code = (f"import sys, corral.cli.slurm.{command}; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""
