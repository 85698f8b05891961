"""A job's directory on the node: what the agent and the job's supervisor share on disk.

    launch.json     what the controller asked for (written by the agent)
    slurm_script    the batch script, owned by the job's user
    supervisor.pid  written by the supervisor when it starts
    started         the batch script is running (exists = true)
    control.json    a request from the agent (cancel, signal, new time limit); SIGUSR1 says "read it"
    status.json     the outcome, written atomically before anyone is told
    reported        the controller acknowledged the outcome; the directory may go
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def job_dir_name(job_id: int, attempt: int) -> str:
    return f"{job_id}.{attempt}"


def parse_job_dir_name(name: str) -> tuple[int, int] | None:
    job, sep, attempt = name.partition(".")
    if not sep or not job.isdigit() or not attempt.isdigit():
        return None
    return int(job), int(attempt)
