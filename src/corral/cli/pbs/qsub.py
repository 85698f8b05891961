"""qsub: submit a PBS batch job (a script file, standard input or `-- command`) to corral.

Prints the job id as PBS does, `SEQ.SERVER` (`SEQ[].SERVER` for an array), the server being
the controller's host name.
"""

from __future__ import annotations

import os
import pwd
import socket
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.pbs.options import (
    EXIT_EXCQRESC,
    EXIT_UNKQUE,
    QSUB_USAGE,
    PbsError,
    build_request,
    command_script,
    directive_prefix,
    merge,
    parse_command_line,
    parse_directives,
    run_pbs_command,
    with_interpreter,
)
from corral.client import Client, ClientError

VERSION = "pbs_version = 2022.1.0"
_ACTIVE = ("PENDING", "RUNNING", "COMPLETING", "SUSPENDED")


def _read_script(operands: Sequence[str], dashdash: bool) -> tuple[str, str]:
    """(script, default job name), with qsub's messages and exit codes for unreadable files."""
    if dashdash:
        return command_script(operands), "STDIN"
    if not operands or operands[0] == "-":
        return sys.stdin.read(), "STDIN"
    path = operands[0]
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise PbsError(f"script file:: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise PbsError("script not a file")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read(), os.path.basename(path)
    except OSError as exc:
        raise PbsError(f"opening script file:: {exc.strerror}", code=8) from None


def _submit_dir(environ: Mapping[str, str]) -> str:
    """$PWD when it is the current directory (the path the user knows, as qsub prefers)."""
    cwd = os.getcwd()
    pwd_env = environ.get("PWD")
    try:
        if pwd_env and os.path.samefile(pwd_env, cwd):
            return pwd_env
    except OSError:
        pass
    return cwd


def _login_shell(environ: Mapping[str, str]) -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        return environ.get("SHELL", "/bin/sh")


def _default_queue(client: Client) -> str | None:
    return next((p["name"] for p in client.partitions() if p.get("default")), None)


def _refusal(message: str) -> PbsError:
    """The controller's Slurm wording → what a PBS server says for the same refusal."""
    if "Requested node configuration is not available" in message:
        return PbsError("Job exceeds queue and/or server resource limits", code=EXIT_EXCQRESC)
    if "Invalid partition name specified" in message:
        return PbsError("Unknown queue", code=EXIT_UNKQUE)
    lines = message.splitlines() or [message]
    return PbsError(lines[-1].removeprefix("Batch job submission failed: "))


def _block(client: Client, job_id: int) -> int:
    """-W block=true: wait for the job (every subjob of an array), exit with its status."""
    delay = 0.1
    while any(r["state"] in _ACTIVE for r in client.jobs(job_ids=[str(job_id)])):
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    records = client.history(job_ids=[str(job_id)])
    return max((int(r.get("exit_code") or 0) for r in records), default=0)


def submit(argv: Sequence[str], client: Client, environ: Mapping[str, str]) -> int:
    if list(argv[:1]) == ["--version"]:
        print(VERSION)
        return 0
    command_line, operands, dashdash = parse_command_line(argv)
    if "I" in command_line.values:
        return _interactive(command_line, operands, dashdash, client, environ)
    script, name = _read_script(operands, dashdash)
    opts = command_line
    if not dashdash:
        opts = merge(parse_directives(script, directive_prefix(command_line, environ)),
                     command_line)
    script = with_interpreter(script, opts.values.get("S"), _login_shell(environ))
    request: dict[str, Any] = build_request(
        opts, script=script, name=name, cwd=_submit_dir(environ), environ=environ,
        host=socket.gethostname(), system=os.uname().sysname, queue=None, now=time.time())
    server = str(client.ping()["controller"])
    if "PBS_O_QUEUE" not in request["environment"]:
        queue = _default_queue(client)
        if queue:
            request["environment"]["PBS_O_QUEUE"] = queue
    try:
        reply = client.submit(request)
    except ClientError as exc:
        raise _refusal(exc.message) from None
    job_id = int(reply["job_id"])
    if "z" not in opts.values:
        print(f"{job_id}[].{server}" if "array" in request else f"{job_id}.{server}", flush=True)
    if opts.attributes.get("block", "").lower() == "true":
        return _block(client, job_id)
    return 0


def _interactive(command_line: Any, operands: Sequence[str], dashdash: bool, client: Client,
                 environ: Mapping[str, str]) -> int:
    """qsub -I [-- command]: a shell (or the command) on the job's first node, its standard
    input and output this terminal's. A script operand gives directives only, as in PBS."""
    from corral.cli.common import interactive

    opts = command_line
    if operands and not dashdash:
        script, _ = _read_script(operands, False)
        opts = merge(parse_directives(script, directive_prefix(command_line, environ)),
                     command_line)
    request = build_request(opts, script="", name="STDIN", cwd=_submit_dir(environ),
                            environ=environ, host=socket.gethostname(),
                            system=os.uname().sysname, queue=None, now=time.time())
    if "array" in request:
        raise PbsError("-J option can not be used with interactive jobs", code=2, usage=True)
    server = str(client.ping()["controller"])
    # PBS's own variables, set on the node before the shell starts (the id is known then).
    prologue = (f'export PBS_JOBID="$SLURM_JOB_ID.{server}" PBS_ENVIRONMENT=PBS_INTERACTIVE '
                'PBS_QUEUE="$SLURM_JOB_PARTITION" NCPUS="$SLURM_CPUS_ON_NODE" '
                'OMP_NUM_THREADS="$SLURM_CPUS_ON_NODE" '
                + interactive.export({"PBS_JOBNAME": str(request["name"]),
                                      "PBS_O_WORKDIR": str(request["work_dir"])}))
    command = list(operands) if dashdash else [_login_shell(environ)]
    return interactive.run(request, command, pty=sys.stdin.isatty(), prologue=prologue)


def _body(client: Client, args: list[str]) -> int:
    try:
        return submit(args, client, os.environ)
    except PbsError as exc:
        for line in exc.lines:
            print(f"qsub: {line}", file=sys.stderr)
        if exc.usage:
            sys.stderr.write(QSUB_USAGE)
        return exc.code


def main(argv: Sequence[str] | None = None) -> int:
    return run_pbs_command("qsub", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
