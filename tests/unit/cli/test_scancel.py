"""scancel: how a command line maps to the controller's cancel request, and how replies print."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.common.runner import CommandError
from corral.cli.slurm import scancel


def select(*argv: str) -> dict[str, Any]:
    return scancel.parse_selection(list(argv), user_exists=lambda name: name != "nosuchuser")


def body(*argv: str) -> dict[str, Any]:
    return scancel.request_body(select(*argv))


def test_job_ids_plain_and_array_forms() -> None:
    assert body("2452") == {"job_ids": [2452], "batch_only": False}
    assert body("1234_7", "1234_[1-3]", "99") == {
        "job_ids": ["1234_7", "1234_[1-3]", 99], "batch_only": False}
    with pytest.raises(CommandError, match="Invalid job id 12x"):
        select("12x")


def test_filters_map_to_the_selection() -> None:
    assert body("-u", "alice", "-n", "wrap", "-t", "PD,running", "-p", "debug") == {
        "user": "alice", "name": "wrap", "states": ["PENDING", "RUNNING"],
        "partition": "debug", "batch_only": False}
    assert body("--jobname=x", "--user", "bob")["name"] == "x"
    assert body("--name", "y", "5") == {"name": "y", "job_ids": [5], "batch_only": False}


def test_signals_by_name_or_number() -> None:
    assert body("-s", "KILL", "1")["signal"] == signal.SIGKILL
    assert body("--signal=SIGUSR1", "1")["signal"] == signal.SIGUSR1
    assert body("-s", "usr2", "1")["signal"] == signal.SIGUSR2
    assert body("-s", "10", "1")["signal"] == 10
    assert "signal" not in body("1")
    for bad in ("BOGUS", "0", "-3", ""):
        with pytest.raises(CommandError, match=f"Invalid job signal: {bad}"):
            select("-s", bad, "1")


def test_batch_full_verbose() -> None:
    assert body("-b", "-s", "TERM", "7") == {
        "job_ids": [7], "signal": signal.SIGTERM, "batch_only": True}
    selection = select("-f", "-v", "7")
    assert selection["full"] and selection["verbose"]
    assert scancel.request_body(selection) == {"job_ids": [7], "batch_only": False}


def test_mistakes() -> None:
    with pytest.raises(CommandError, match="No job identification provided"):
        select()
    with pytest.raises(CommandError, match="No job identification provided"):
        select("-s", "KILL", "-v")
    with pytest.raises(CommandError, match="Invalid user name: nosuchuser"):
        select("-u", "nosuchuser")
    with pytest.raises(CommandError, match="Invalid job state specified: done"):
        select("-t", "done")
    with pytest.raises(CommandError, match="--interactive: option not supported by corral"):
        select("-i", "5")
    with pytest.raises(OptionError, match="scancel: unrecognized option '--bogus'"):
        select("--bogus", "5")
    with pytest.raises(OptionError, match="scancel: option requires an argument -- 's'"):
        select("5", "-s")
    assert select("-V") == {"show": "version"}


def test_reply_reporting() -> None:
    quiet = select("5")
    assert scancel.report({"cancelled": [5], "errors": []}, quiet) == ([], 0)
    denied = {"cancelled": [], "errors": [{"job_id": 5, "error": "Access/permission denied"}]}
    assert scancel.report(denied, quiet) == (
        ["scancel: error: Kill job error on job id 5: Access/permission denied"], 1)
    finished = {"cancelled": [], "errors": [
        {"job_id": 5, "error": "Job/step already completing or completed"},
        {"job_id": 999999, "error": "Invalid job id specified"}]}
    assert scancel.report(finished, quiet) == ([], 0)
    lines, rc = scancel.report(finished, select("-v", "5"))
    assert rc == 0 and len(lines) == 2
    assert scancel.report({"cancelled": [5, 6], "errors": []}, select("-v", "5", "6")) == (
        ["scancel: Terminating job 5", "scancel: Terminating job 6"], 0)
    assert scancel.report({"cancelled": [5]}, select("-v", "-s", "USR1", "5")) == (
        ["scancel: Signal 10 to job 5"], 0)
    assert scancel.report(None, quiet) == ([], 0)


def test_main_sends_the_request_and_prints(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    class FakeClient:
        def cancel(self, **selection: Any) -> dict[str, Any]:
            sent.append(selection)
            return {"cancelled": [], "errors": [{"job_id": 5, "error": "Access/permission denied"}]}

    monkeypatch.setattr(scancel, "run_command", lambda prog, fn, argv: fn(FakeClient(), argv))
    assert scancel.main(["5", "-s", "USR1"]) == 1
    assert sent == [{"job_ids": [5], "signal": signal.SIGUSR1, "batch_only": False}]
    assert capsys.readouterr().err == (
        "scancel: error: Kill job error on job id 5: Access/permission denied\n")
    assert scancel.main(["--x"]) == 1
    assert capsys.readouterr().err == (
        "scancel: unrecognized option '--x'\nTry \"scancel --help\" for more information\n")
    monkeypatch.undo()
    # The real runner: a mistake is reported before any request is made.
    assert scancel.main([]) == 1
    assert capsys.readouterr().err == "scancel: error: No job identification provided\n"
