"""bsub: submit a job as IBM Spectrum LSF's bsub does (a command line, or a script on stdin)."""

from __future__ import annotations

import fnmatch
import os
import pwd
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from corral.cli.common.runner import run_command
from corral.cli.lsf.options import (
    BSUB_OPTIONS,
    BSUB_UNSUPPORTED,
    LsfError,
    Options,
    build_request,
    check_supported,
    command_line,
    directives,
    parse_args,
)
from corral.client import Client, ClientError, ControllerUnreachable
from corral.clock import system_clock

VERSION = "IBM Spectrum LSF 10.1.0.0 (corral)"
USAGE = """\
Usage: bsub [-h] [-V] [-H] [-x] [-r | -rn] [-N] [-B] [-K]
            [-q queue_name] [-n min_tasks[,max_tasks]] [-R "res_req" ...]
            [-gpu "num=num_gpus[:mode=...][:gmodel=...]" | -gpu -]
            [-J job_name | -J "job_name[index_list]%job_slot_limit"] [-Jd job_description]
            [-w 'dependency_expression'] [-W [hour:]minute] [-b [[month:]day:]hour:minute]
            [-o out_file | -oo out_file] [-e err_file | -eo err_file] [-i in_file]
            [-cwd "dir"] [-env "all" | "none" | "var=value, ..."] [-M mem_limit]
            [-u mail_user] [-P project_name] [-G user_group]
            [command [argument ...]]
"""
_ALL_OPTIONS = {**BSUB_OPTIONS, **BSUB_UNSUPPORTED}
_ACTIVE = ("PENDING", "RUNNING", "COMPLETING")


def _me() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _name_resolver(client: Client) -> Any:
    """-w done(name): the ids of my unfinished jobs with that name (LSF wildcards allowed)."""

    def resolve(pattern: str) -> list[str]:
        ids: list[str] = []
        for job in client.jobs(user=_me()):
            if job.get("state") in _ACTIVE and fnmatch.fnmatchcase(str(job.get("name")), pattern):
                parent = job.get("array_job_id") or job["job_id"]
                if str(parent) not in ids:
                    ids.append(str(parent))
        return ids

    return resolve


def _read_stdin() -> str:
    if sys.stdin.isatty():
        # LSF prompts for the job's lines; ^D ends them.
        lines = []
        while True:
            print("bsub> ", end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                print()
                break
            lines.append(line)
        return "".join(lines)
    return sys.stdin.read()


def _job_script(operands: Sequence[str]) -> str | None:
    """`bsub [options] job_script`: as at a site with LSB_BSUB_PARSE_SCRIPT=Y (LSF 10.1), a
    lone operand naming a text file is the job script, its #BSUB lines read as from stdin
    (psij submits this way). A binary, or a command with arguments, stays a command."""
    if len(operands) != 1 or not os.path.isfile(operands[0]):
        return None
    try:
        with open(operands[0], "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if b"\0" in data[:4096]:
        return None
    return data.decode("utf-8", errors="surrogateescape")


def _records(client: Client, job_id: int) -> list[dict[str, Any]]:
    jobs = [j for j in client.jobs(job_ids=[str(job_id)])
            if j["job_id"] == job_id or j.get("array_job_id") == job_id]
    return jobs or list(client.history(job_ids=[str(job_id)]))


def _exit_status(job: dict[str, Any]) -> int:
    signal = int(job.get("exit_signal") or 0)
    return int(job.get("exit_code") or 0) or (128 + signal if signal else 0)


def _wait(client: Client, job_id: int) -> int:
    """bsub -K: report dispatch and the end; exit with the job's exit code."""
    print("<<Waiting for dispatch ...>>", file=sys.stderr, flush=True)
    started = False
    delay = 0.1
    while True:
        jobs = _records(client, job_id)
        if not started:
            running = [j for j in jobs if j.get("nodes") and j.get("start_time")]
            if running:
                print(f"<<Starting on {running[0]['nodes'][0]}>>", file=sys.stderr, flush=True)
                started = True
        if jobs and all(j.get("state") not in _ACTIVE for j in jobs):
            if not started and all(j.get("state") == "CANCELLED" for j in jobs):
                print("<<Terminated while pending>>", file=sys.stderr, flush=True)
            else:
                print("<<Job is finished>>", file=sys.stderr, flush=True)
            return max(_exit_status(j) for j in jobs)
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _queue_message(exc: ClientError, request: dict[str, Any]) -> str:
    """The controller's refusal in LSF's words where LSF has them."""
    text = exc.message.splitlines()[0] if exc.message else "Request aborted"
    lowered = text.lower()
    if "invalid partition" in lowered and request.get("partition"):
        return f"{request['partition']}: No such queue"
    if "dependency" in lowered:
        # LSF says this too of a job it does not know (or no longer remembers).
        return "Dependency condition syntax error"
    return text.removeprefix("Batch job submission failed: ")


def _interactive(found: list[tuple[str, str | None]], operands: Sequence[str], names: set[str],
                 client: Client) -> int:
    """bsub -I/-Ip/-Is command: the command runs on the job's first host, its input and output
    this terminal's (-Ip and -Is give it a pseudo-terminal, as LSF does)."""
    from corral.cli.common import interactive

    if not operands:
        raise LsfError("Interactive job not supported for job script from standard input")
    opts = Options(found)
    command = command_line(operands)
    request = build_request(opts, script="", command=command, cwd=os.getcwd(),
                            environ=os.environ, hostname=socket.gethostname().split(".")[0],
                            now=system_clock(), resolve_name=_name_resolver(client))
    if "array" in request:
        raise LsfError("Job array is not supported for interactive jobs")
    prologue = ('export LSB_JOBID="$SLURM_JOB_ID" LSB_QUEUE="$SLURM_JOB_PARTITION" '
                'LSB_JOBINDEX=0 LSB_INTERACTIVE=Y '
                + interactive.export({"LSB_JOBNAME": str(request["name"]),
                                      "LS_SUBCWD": str(request["work_dir"])}))
    pty = bool(names & {"Ip", "Is"}) and sys.stdin.isatty()
    return interactive.run(request, list(operands), pty=pty, prologue=prologue)


def submit(argv: Sequence[str], client: Client) -> int:
    found, operands = parse_args("bsub", argv, _ALL_OPTIONS)
    names = {name for name, _ in found}
    if "h" in names:
        print(USAGE, end="", file=sys.stderr)
        return 0
    if "V" in names:
        print(VERSION, file=sys.stderr)
        return 0
    check_supported(found)
    if names & {"I", "Ip", "Is"}:
        return _interactive(found, operands, names, client)
    script_found: list[tuple[str, str | None]] = []
    job_script = _job_script(operands)
    if operands and job_script is None:
        command = command_line(operands)
        script = f"#!/bin/sh\n{command}\n"
    else:
        script = _read_stdin() if job_script is None else job_script
        if not script.strip():
            raise LsfError("No command is specified in the script file"
                           if not sys.stdin.isatty() else "No command is specified")
        script_found, _ = parse_args("bsub", directives(script), _ALL_OPTIONS,
                                     stop_at_operand=False)
        check_supported(script_found)
        # As bjobs -l shows a spooled script: its lines joined by ';'.
        command = ";".join(line for line in script.splitlines() if line.strip())
    opts = Options(found, script_found)
    request = build_request(opts, script=script, command=command, cwd=os.getcwd(),
                            environ=os.environ, hostname=socket.gethostname().split(".")[0],
                            now=system_clock(), resolve_name=_name_resolver(client))
    try:
        reply = client.submit(request)
    except ClientError as exc:
        raise LsfError(_queue_message(exc, request)) from None
    job_id = int(reply["job_id"])
    try:
        queue = client.job(job_id).get("partition")
    except ClientError:
        queue = request.get("partition")
    where = "queue" if "q" in opts else "default queue"
    print(f"Job <{job_id}> is submitted to {where} <{queue}>.", flush=True)
    if "K" in opts:
        return _wait(client, job_id)
    return 0


def bsub_wording(prog: str, exc: Exception) -> tuple[str, int] | None:
    """LSF's getopt mistakes with the usage; the others as "... Job not submitted."; exit 255."""
    if isinstance(exc, LsfError):
        if exc.message.startswith("bsub: "):
            return exc.message + "\n" + USAGE.removesuffix("\n"), 255
        return f"{exc.message}. Job not submitted.", 255
    if isinstance(exc, ControllerUnreachable):
        return f"{exc}. Job not submitted.", 255
    return None


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("bsub", lambda client, args: submit(args, client), argv, bsub_wording)


if __name__ == "__main__":
    sys.exit(main())
