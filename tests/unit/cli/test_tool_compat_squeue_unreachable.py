"""squeue with no controller answering says so in Slurm's words, which batchspawner reads as
"ask again" (JobStatus.UNKNOWN) rather than "the server's job is gone"."""

from __future__ import annotations

import re

import pytest
from batchspawner import SlurmSpawner

from corral.cli.common.runner import slurm_unreachable
from corral.cli.slurm import squeue
from corral.client import ControllerUnreachable


def test_squeue_without_a_controller_prints_slurms_load_jobs_error(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    address = str(tmp_path / "no-controller.sock")
    monkeypatch.setenv("CORRAL_CONTROLLER", address)
    assert squeue.main(["-h", "-j", "12", "-o", "%T %B"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("slurm_load_jobs error: Unable to contact slurm controller "
                           f"(connect failure): cannot reach the controller at {address}")
    # batchspawner's SlurmSpawner matches the stripped stderr with its state_unknown_re.
    assert re.search(SlurmSpawner.state_unknown_re.default_value, err.strip())


def test_a_timeout_is_slurms_socket_timeout() -> None:
    assert slurm_unreachable(ControllerUnreachable("/x.sock", "timed out")) == \
        "Socket timed out on send/recv operation"
    assert slurm_unreachable(ControllerUnreachable("/x.sock", "Connection refused")) == \
        "Unable to contact slurm controller (connect failure)"
