"""A job's directory on the node: what the agent and the job's supervisor share on disk.

    launch.json     what the controller asked for (written by the agent)
    slurm_script    the batch script, owned by the job's user (0700)
    supervisor.log  the supervisor's own output, and the notices its job's user could not get
    supervisor.pid  written by the supervisor when it starts
    started         the batch script is running (exists = true)
    control.json    a request from the agent (cancel, signal, new time limit); SIGUSR1 says "read it"
    status.json     the outcome, written atomically before anyone is told
    reported        the controller acknowledged the outcome; the directory may go

launch.json holds the job's environment and its token, so every file here is the agent's
alone (0600). The directory is 0711, and the state directory above it too, only because the
job's own process must pass through to exec its script; nothing in it can be listed by others.
Files are made with their final mode from the start (never chmod'ed narrower afterwards), so
there is no moment in which another user could open one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

PRIVATE = 0o600
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomic(path: Path, data: bytes, *, mode: int = PRIVATE, sync: bool = True) -> None:
    """Replaces `path` with `data`. The temporary file is new (mkstemp: 0600, exclusive, so
    never one someone else prepared), widened only where `mode` asks, and renamed into place:
    a reader sees the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode != PRIVATE:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data).encode())


def create_private(path: Path) -> int:
    """A new file of ours, 0600, open for writing; an existing file or a symlink is refused."""
    return os.open(path, _NEW, PRIVATE)


def mark(path: Path) -> None:
    """An empty flag file (`started`, `reported`), private like the rest."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE))


def make_dir(path: Path, mode: int, *, exist_ok: bool = False) -> None:
    """A directory with exactly `mode`. mkdir already applies it, less the umask; the umask
    can only take bits away, so putting them back never opens a moment of wider access."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if not exist_ok or not path.is_dir():
            raise
    os.chmod(path, mode)


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
