"""salloc: get an allocation, run a command (by default the user's shell) here while it lasts,
then give it back, as Slurm's salloc does.

The command runs on this host with SLURM_JOB_ID, SLURM_JOB_NODELIST … set, so srun inside it
starts steps on the allocated nodes. salloc exits with the command's status.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from corral.cli.common import clusters
from corral.cli.common.allocation import (
    AllocationRefused,
    allocation_environment,
    release,
    request_allocation,
    still_running,
    wait_for_allocation,
)
from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError
from corral.cli.slurm.sbatch_options import NO_EFFECT as SBATCH_NO_EFFECT
from corral.cli.slurm.sbatch_options import OPTIONS as SBATCH_OPTIONS
from corral.cli.slurm.sbatch_options import REFUSED as SBATCH_REFUSED
from corral.cli.slurm.sbatch_options import (
    SALLOC_ENVIRONMENT,
    SbatchError,
    build_request,
    check_supported,
    environment_options,
    merge,
)
from corral.client import Client, ClientError, ControllerUnreachable

_NOT_FOR_SALLOC = {"wrap", "parsable", "test-only", "array", "output", "error", "input",
                   "wait", "open-mode", "requeue", "no-requeue", "batch", "ignore-pbs",
                   "propagate"}
OPTIONS = [o for o in SBATCH_OPTIONS if o.long not in _NOT_FOR_SALLOC] + [
    Option("no-shell", None, False), Option("kill-command", "K", True, True),
    Option("immediate", "I", True, True), Option("bell", None, False),
    Option("no-bell", None, False), Option("x11", None, True, True),
    Option("cpu-bind"), Option("mpi"),
]
# salloc(1)'s options corral cannot honour, refused by name as sbatch refuses them: sbatch's
# list, and --immediate (corral does not give up on a request that must wait) and --x11.
REFUSED = tuple(n for n in SBATCH_REFUSED if n not in _NOT_FOR_SALLOC) + ("immediate", "x11")
# Accepted with no effect (docs/options.md says why): sbatch's, and the terminal bell.
NO_EFFECT = tuple(n for n in SBATCH_NO_EFFECT if n not in _NOT_FOR_SALLOC) + ("bell",)
# Accepted although salloc(1) has no such option (Slurm's salloc: `unrecognized option`);
# kept for the scripts that pass them, with sbatch's meaning (--cpu-bind/--mpi: no effect).
BEYOND_MAN_PAGE = ("export", "export-file", "kill-on-invalid-dep", "cpu-bind", "mpi")

USAGE = """Usage: salloc [OPTIONS(0)...] [ : [OPTIONS(N)...]] [command(0) [args(0)...]]
  -J, --job-name=jobname, -p, --partition=partition, -N, --nodes=N, -n, --ntasks=ntasks,
  -c, --cpus-per-task=ncpus, --mem=MB, --mem-per-cpu=MB, -t, --time=minutes,
  -G, --gpus=n, --gres=gpu[:type]:N, -w, --nodelist=hosts, -x, --exclude=hosts,
  -A, --account=name, -q, --qos=qos, --no-shell, -K, --kill-command[=signal], -Q, --quiet
"""
JOB_CHECK_INTERVAL = 2.0


def _default_shell() -> str:
    shell = os.environ.get("SHELL")
    if shell:
        return shell
    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        return "/bin/sh"


def _kill_signal(value: str | None) -> int:
    if value is None:
        return signal.SIGTERM
    text = value.upper().removeprefix("SIG")
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals["SIG" + text])
    except KeyError:
        raise CommandError(f"Invalid --kill-command specification: {value}") from None


def _run_command(client: Client, job_id: int, command: list[str], env: dict[str, str],
                 kill_signal: int | None, quiet: bool) -> int:
    """Runs the command; returns its wait status as subprocess gives it (-N: killed by N)."""
    # A handler (not SIG_IGN) keeps salloc alive on Ctrl-C while the command, whose handlers
    # exec resets to the defaults, gets it from the terminal.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGQUIT, lambda *_: None)
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as exc:
        print(f"salloc: error: {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127 if exc.errno == 2 else 126
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    revoked = False
    while True:
        try:
            status = child.wait(timeout=JOB_CHECK_INTERVAL)
            break
        except subprocess.TimeoutExpired:
            pass
        if not revoked and not still_running(client, job_id):
            revoked = True
            if not quiet:
                print(f"salloc: Job allocation {job_id} has been revoked.", file=sys.stderr,
                      flush=True)
            if kill_signal is not None:
                child.send_signal(kill_signal)
    return status


def _salloc(client: Client, argv: list[str]) -> int:
    try:
        found, command = parse("salloc", argv, OPTIONS)
    except OptionError as exc:
        print(str(exc), file=sys.stderr)
        print('Try "salloc --help" for more information', file=sys.stderr)
        return 255
    values = dict(found)
    try:  # the input environment (SALLOC_PARTITION …) under the command line, as for sbatch
        values = merge(environment_options("salloc", os.environ, SALLOC_ENVIRONMENT, OPTIONS),
                       values)
        check_supported(values, REFUSED)  # before anything is asked for
    except SbatchError as exc:
        print(f"salloc: error: {exc.lines[0]}", file=sys.stderr)
        return exc.code
    if "help" in values or "usage" in values:
        print(USAGE, end="")
        return 0
    if "version" in values:
        print("slurm-wlm 22.05.8")
        return 0
    if values.get("clusters"):  # -M: this cluster (or all), before anything is asked for
        clusters.check(client, str(values["clusters"]))
    quiet = "quiet" in values
    kill_signal = _kill_signal(values["kill-command"]) if "kill-command" in values else None
    name = os.path.basename(command[0]) if command else "interactive"
    try:
        request = build_request(values, script="", script_args=[], default_name=name,
                                cwd=os.getcwd(), environ=os.environ,
                                hostname=socket.gethostname().split(".")[0],
                                command=" ".join(command), now=time.time())
    except SbatchError as exc:
        for line in exc.lines:
            print(f"salloc: error: {line}", file=sys.stderr)
        return exc.code
    job_id = request_allocation(client, request, "Job submit/allocate failed: ")
    keep = False
    ended = (0, 0)  # the command's (exit code, signal): the job ends with it, as in Slurm
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        job = wait_for_allocation(client, job_id, "salloc", announce_pending=True, quiet=quiet)
        if not quiet:
            print(f"salloc: Granted job allocation {job_id}", file=sys.stderr, flush=True)
        if "no-shell" in values:
            keep = True
            return 0
        cluster = str(client.config().get("ClusterName") or "corral")
        env = allocation_environment(job, cluster, os.environ)
        status = _run_command(client, job_id, command or [_default_shell()], env, kill_signal,
                              quiet)
        ended = (0, -status) if status < 0 else (status, 0)
        return 128 + ended[1] if ended[1] else ended[0]
    except KeyboardInterrupt:
        print(f"salloc: Job allocation {job_id} has been revoked.", file=sys.stderr)
        quiet = True  # nothing was granted, so there is nothing to relinquish
        return 1
    finally:
        if not keep:
            if not quiet:
                print(f"salloc: Relinquishing job allocation {job_id}", file=sys.stderr,
                      flush=True)
            release(client, job_id, *ended)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    client = Client.from_env()
    try:
        return _salloc(client, args)
    except AllocationRefused as exc:
        for line in exc.lines:
            print(f"salloc: error: {line}", file=sys.stderr)
        return 1
    except CommandError as exc:
        print(f"salloc: error: {exc.message}", file=sys.stderr)
        return exc.code
    except (ControllerUnreachable, ClientError) as exc:
        print(f"salloc: error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
