"""`corral why JOBID`: why a job waits, what for, and when it should start, in plain words."""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from collections.abc import Sequence

from corral.cli.common.runner import CommandError, run_command
from corral.client import Client

_JOB_ID = re.compile(r"[0-9]+")  # the controller names jobs by number only


def layout(text: str, width: int | None) -> str:
    """The controller's answer, each paragraph wrapped to `width` (None: as it came)."""
    if width is None:
        return text.rstrip("\n") + "\n"
    paragraphs = text.rstrip("\n").split("\n")
    return "".join((textwrap.fill(p, width) if p.strip() else "") + "\n" for p in paragraphs)


def body(client: Client, args: list[str]) -> int:
    if len(args) != 1 or args[0] in ("-h", "--help"):
        raise CommandError("usage: corral why JOBID", code=2)
    job_id = args[0].strip()
    if not _JOB_ID.fullmatch(job_id):
        raise CommandError("Invalid job id specified")
    answer = str(client.why(job_id)["text"])
    # Wrapped for a person at a terminal; left alone for scripts and pipes.
    width = min(100, shutil.get_terminal_size().columns) if sys.stdout.isatty() else None
    sys.stdout.write(layout(answer, width))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("corral why", body, argv)
