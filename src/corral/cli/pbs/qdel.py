"""qdel: delete PBS jobs (`12`, `12.server`, a whole array `12[]`, subjobs `12[3]`, `12[1-4]`).

Silent on success, as qdel is; a job that is not there or already finished gets PBS's line
and exit status (`Unknown Job Id` 153, `Job has finished` 35), and the others still go.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from corral.cli.pbs.options import (
    EXIT_HISTJOBID,
    EXIT_PERM,
    EXIT_UNKJOBID,
    OptionProblem,
    getopt,
    parse_job_id,
    run_pbs_command,
    slurm_job_id,
)
from corral.cli.pbs.qstat_format import expand_indices
from corral.client import Client

VERSION = "pbs_version = 2022.1.0"
USAGE = "usage:\n\tqdel [-W force|suppress_email=X] [-x] job_identifier...\n\tqdel --version\n"
_ACTIVE = ("PENDING", "RUNNING", "COMPLETING", "SUSPENDED")
# PBS Pro's qdel has these two options (docs/options.md): -x is implemented; -W's values are
# checked and change nothing, since corral always kills a deleted job after KillWait.
SPEC = "W:x"
NO_EFFECT = frozenset("W")
REFUSED: frozenset[str] = frozenset()


def _valid_w(value: str) -> bool:
    """-W force, suppress_email=N, or the old delay in seconds (all accepted, none changes
    what corral does: a cancelled job is always killed after KillWait)."""
    name, eq, number = value.partition("=")
    return value == "force" or value.isdigit() or (name == "suppress_email" and number.isdigit())


def _selected(records: list[dict[str, Any]], index: str | None) -> list[dict[str, Any]]:
    """The records still active among those the id names (every subjob for `12[]`)."""
    active = [r for r in records if r["state"] in _ACTIVE]
    if not index:
        return active
    wanted = set(expand_indices(index))
    return [r for r in active if r.get("array_task_id") in wanted
            or wanted & set(expand_indices(str(r.get("array_task_string") or "")))]


class _Server:
    """The controller's host name, asked for only when a message must show a full job id."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.name: str | None = None

    def __str__(self) -> str:
        if self.name is None:
            self.name = str(self.client.ping()["controller"])
        return self.name


def _delete(client: Client, operand: str, server: _Server, history: bool) -> int:
    parsed = parse_job_id(operand)
    if parsed is None:
        print(f"qdel: illegally formed job identifier: {operand}", file=sys.stderr)
        return 1
    seq, index = parsed
    shown = f"{seq}{'' if index is None else f'[{index}]'}"
    records = list(client.jobs(job_ids=[str(seq)]))
    if not _selected(records, index):
        if records or client.history(job_ids=[str(seq)]):
            if history:
                return 0  # -x: deleting a finished job's history is not an error
            print(f"qdel: Job has finished {shown}.{server}", file=sys.stderr)
            return EXIT_HISTJOBID
        print(f"qdel: Unknown Job Id {shown}.{server}", file=sys.stderr)
        return EXIT_UNKJOBID
    reply = client.cancel(job_ids=[slurm_job_id(seq, index)])
    failed = 0
    for error in reply.get("errors") or []:
        text = str(error.get("error") or "") if isinstance(error, dict) else str(error)
        if "permission" in text.lower():
            print(f"qdel: Unauthorized Request  {shown}.{server}", file=sys.stderr)
            failed = EXIT_PERM
        else:
            print(f"qdel: {text} {shown}.{server}", file=sys.stderr)
            failed = 1
    return failed


def _body(client: Client, argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(VERSION)
        return 0
    try:
        found, operands, _ = getopt("qdel", argv, SPEC, permute=True)
    except OptionProblem as exc:
        print(exc, file=sys.stderr)
        sys.stderr.write(USAGE)
        return 2
    bad_w = [v for k, v in found if k == "W" and not _valid_w(v)]
    if bad_w:
        print("qdel: illegal -W value", file=sys.stderr)
    if bad_w or not operands:
        sys.stderr.write(USAGE)
        return 2
    server = _Server(client)
    history = any(k == "x" for k, _ in found)
    failed = 0
    for operand in operands:
        failed = _delete(client, operand, server, history) or failed
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    return run_pbs_command("qdel", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
