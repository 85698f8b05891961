"""scancel --me (Slurm 22.05): the caller's own jobs. simple_slurm's `cancel_all` runs it."""

from __future__ import annotations

import os
import pwd

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.common.runner import CommandError
from corral.cli.slurm.scancel import parse_selection, request_body


def test_me_selects_the_callers_jobs_by_name() -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    assert request_body(parse_selection(["--me"]))["user"] == me
    # With ids or other filters it narrows them, as --user does.
    body = request_body(parse_selection(["--me", "-n", "x", "7"]))
    assert (body["user"], body["name"], body["job_ids"]) == (me, "x", [7])


def test_me_takes_no_value() -> None:
    with pytest.raises(OptionError, match="option '--me' doesn't allow an argument"):
        parse_selection(["--me=root"])


def test_nothing_selected_is_still_refused() -> None:
    with pytest.raises(CommandError, match="No job identification provided"):
        parse_selection(["-Q"])
