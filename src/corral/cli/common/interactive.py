"""qsub -I and bsub -Is/-Ip: an interactive job is an allocation with a shell (or the given
command) on its first node, as `salloc ... srun --pty SHELL` makes one; the front-end's
request, already checked in its own wording, is handed to salloc as Slurm options.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

# request field → salloc option (values as the controller keeps them: minutes, MiB).
_OPTIONS = (("name", "--job-name"), ("partition", "--partition"), ("account", "--account"),
            ("num_nodes", "--nodes"), ("num_tasks", "--ntasks"),
            ("cpus_per_task", "--cpus-per-task"), ("ntasks_per_node", "--ntasks-per-node"),
            ("time_limit", "--time"), ("mem_per_node", "--mem"), ("mem_per_cpu", "--mem-per-cpu"),
            ("gpus_per_node", "--gpus-per-node"), ("constraint", "--constraint"),
            ("req_nodes", "--nodelist"), ("dependency", "--dependency"))


def salloc_argv(request: Mapping[str, Any], command: Sequence[str], pty: bool,
                prologue: str = "") -> list[str]:
    """salloc's command line for the request; the command runs on the allocation's first
    node, after `prologue` (the front-end's own job variables) in a POSIX shell."""
    argv = ["salloc"]
    for key, option in _OPTIONS:
        value = request.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        argv.append(f"{option}={value}")
    if request.get("exclusive"):
        argv.append("--exclusive")
    if request.get("gpu_type") and request.get("gpus_per_node"):
        # A GPU model goes with its count in --gres, in place of --gpus-per-node.
        argv = [a for a in argv if not a.startswith("--gpus-per-node=")]
        argv.append(f"--gres=gpu:{request['gpu_type']}:{request['gpus_per_node']}")
    step = ["srun", "--pty"] if pty else ["srun"]
    wrapped = ["/bin/sh", "-c", f'{prologue}exec "$@"', "sh", *command]
    return argv + step + wrapped


def run(request: Mapping[str, Any], command: Sequence[str], *, pty: bool,
        prologue: str = "") -> int:
    """Replaces this process with salloc (its exit status is the shell's)."""
    env = dict(os.environ)
    env.update({k: v for k, v in (request.get("environment") or {}).items()
                if k.startswith(("PBS_O_", "LS_", "LSB_"))})
    argv = salloc_argv(request, command, pty, prologue)
    sys.stdout.flush()
    try:
        os.execvpe("salloc", argv, env)
    except OSError as exc:
        print(f"salloc: {exc.strerror}", file=sys.stderr)
        return 1
    return 0  # not reached


def export(values: Mapping[str, str]) -> str:
    """`export A='x' B='y'; ` for the prologue."""
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()) + "; "
