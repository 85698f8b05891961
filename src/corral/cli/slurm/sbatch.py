"""sbatch: submit a batch script (file, standard input or --wrap), as Slurm's sbatch does."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Sequence

from corral.cli.common import clusters
from corral.cli.common.runner import CommandError
from corral.cli.slurm.sbatch_options import (
    OPTIONS,
    SBATCH_ENVIRONMENT,
    SbatchError,
    build_request,
    check_supported,
    environment_options,
    merge,
    parse_command_line,
    parse_directives,
    wrap_script,
)
from corral.client import Client, ClientError, ControllerUnreachable
from corral.model.hostlist import compress
from corral.model.timefmt import format_timestamp

USAGE = """Usage: sbatch [OPTIONS(0)...] [ : [OPTIONS(N)...]] script(0) [args(0)...]
  -J, --job-name=jobname, -p, --partition=partition, -N, --nodes=N, -n, --ntasks=ntasks,
  -c, --cpus-per-task=ncpus, --mem=MB, --mem-per-cpu=MB, -t, --time=minutes,
  -o, --output=out, -e, --error=err, -D, --chdir=directory, --export=names,
  --gres=gpu[:type]:N, -G, --gpus=N, -w, --nodelist=hosts, -x, --exclude=hosts, --exclusive,
  -H, --hold, -A, --account=name, -q, --qos=qos, --parsable, -W, --wait, --test-only, --wrap=cmd
"""

NOT_A_SCRIPT = ("This does not look like a batch script.  The first",
                "line must start with #! followed by the path to an interpreter.",
                "For instance: #!/bin/sh")


def _read_script(values: dict[str, str | None], path: str | None) -> tuple[str, str, str]:
    """(script text, default job name, command) from --wrap, a file, or standard input."""
    if values.get("wrap") is not None:
        if path is not None:
            raise SbatchError("Script arguments not permitted with --wrap option")
        return wrap_script(str(values["wrap"])), "wrap", "(null)"
    if path is None or path == "-":
        text = "" if sys.stdin.isatty() else sys.stdin.read()
        name, command = "sbatch", "(null)"
    else:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except OSError:
            raise SbatchError(f"Unable to open file {path}") from None
        name, command = os.path.basename(path), os.path.abspath(path)
    if not text.strip():
        raise SbatchError("Batch script is empty!")
    if not text.startswith("#!"):
        raise SbatchError(*NOT_A_SCRIPT)
    return text, name, command


def _wait(client: Client, job_id: int) -> int:
    delay = 0.1
    while True:
        try:
            job = client.job(job_id)
        except ClientError:
            records = client.history(job_ids=[str(job_id)])
            job = records[0] if records else {"state": "COMPLETED", "exit_code": 0}
        if job["state"] not in ("PENDING", "RUNNING", "COMPLETING"):
            return int(job.get("exit_code") or 0) if job["state"] != "COMPLETED" or job.get("exit_code") else 0
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def submitted(job_id: int, parsable: bool, cluster: str | None) -> str:
    """sbatch's answer; with -M it names the cluster, as Slurm's does (`N;cluster` parsable)."""
    if parsable:
        return f"{job_id};{cluster}" if cluster else str(job_id)
    return f"Submitted batch job {job_id}" + (f" on cluster {cluster}" if cluster else "")


def submit(argv: Sequence[str], client: Client) -> int:
    parsed = parse_command_line(argv)
    values = parsed.values
    if "help" in values or "usage" in values:
        print(USAGE, end="")
        return 0
    if "version" in values:
        print("slurm-wlm 22.05.8")
        return 0
    # One grammar, three layers (Slurm's precedence): command line > environment > directives.
    from_environment = environment_options("sbatch", os.environ, SBATCH_ENVIRONMENT, OPTIONS)
    script, default_name, command = _read_script(merge(from_environment, values),
                                                  parsed.script_path)
    values = merge(parse_directives(script), from_environment, values)
    check_supported(values)  # before anything is sent: nothing is queued
    cluster = None
    if values.get("clusters"):  # -M: this cluster (or all), checked before anything is sent
        try:
            cluster = clusters.check(client, str(values["clusters"]))
        except CommandError as exc:
            raise SbatchError(exc.message) from None
    request = build_request(values, script=script, script_args=parsed.script_args,
                            default_name=default_name, cwd=os.getcwd(), environ=os.environ,
                            hostname=socket.gethostname().split(".")[0], command=command,
                            now=time.time())
    try:
        reply = client.submit(request, test_only="test-only" in values)
    except ClientError as exc:
        lines = exc.message.splitlines() or [exc.message]
        if exc.status == 503:  # the controller is up but cannot commit: one line, as asked
            lines = [f"Batch job submission failed: {exc.message}"]
        elif len(lines) == 1 and not lines[0].startswith("Batch job submission failed:"):
            lines.append(f"Batch job submission failed: {lines[0]}")
        raise SbatchError(*lines) from None
    job_id = int(reply["job_id"])
    if "test-only" in values:
        start = reply.get("start_time")
        when = format_timestamp(start) if start else "Unknown"
        nodes = compress(reply.get("nodes") or []) or "(null)"
        print(f"sbatch: Job {job_id} to start at {when} using {reply['cpus']} processors on "
              f"nodes {nodes} in partition {reply['partition']}", file=sys.stderr)
        return 0
    print(submitted(job_id, "parsable" in values, cluster), flush=True)
    if "wait" in values:
        return _wait(client, job_id)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    client = Client.from_env()
    try:
        return submit(args, client)
    except SbatchError as exc:
        for line in exc.lines:
            if exc.code == 255 and line.startswith("sbatch: "):
                print(line, file=sys.stderr)
            else:
                print(f"sbatch: error: {line}", file=sys.stderr)
        if exc.code == 255 and exc.lines[0].startswith("sbatch: "):
            print('Try "sbatch --help" for more information', file=sys.stderr)
        return exc.code
    except ControllerUnreachable as exc:
        print(f"sbatch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
