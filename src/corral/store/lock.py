"""One controller per data directory: an exclusive flock that names the process holding it.

Two controllers on one store each believe they own the queue: each hands out job ids the
other does not see. The lock is taken before the controller opens anything for writing, and
it is an flock rather than a pid file, so a controller that died leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

LOCK_NAME = "controller.lock"


class InUse(Exception):
    """Another controller holds the lock; the message names it."""


def this_process() -> str:
    return f"corral controller pid {os.getpid()} on host {socket.gethostname()}"


def _describe(text: str) -> str:
    pid, _, host = text.strip().partition(" ")
    if not pid.isdigit():
        return "another corral controller"  # it has the lock but has not written itself yet
    return f"corral controller pid {pid} on host {host or 'unknown'}"


class ControllerLock:
    """Held for the process's life; the kernel lets go of it when the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, path: Path, what: str) -> ControllerLock:
        """Locks `path` (made 0644 if missing) or raises InUse: "`what` is in use by ...".

        O_NOFOLLOW: the lock file is opened for writing by root in a directory a user may
        have chosen; a planted symlink must not redirect that write.
        """
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0).decode(errors="replace"))
            os.close(fd)
            raise InUse(f"{what} is in use by {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def lock_data_dir(data_dir: Path) -> ControllerLock:
    return ControllerLock.acquire(data_dir / LOCK_NAME, f"data directory {data_dir}")


def claim(data_dir: Path, db_file: Path | None) -> list[ControllerLock]:
    """The data directory's lock and, for a SQLite file kept outside it (which two data
    directories could name), the database file's too; released together by the caller."""
    held = [lock_data_dir(data_dir)]
    if db_file is not None and data_dir not in db_file.parents:
        try:
            held.append(ControllerLock.acquire(db_file.with_name(db_file.name + ".lock"),
                                               f"database {db_file}"))
        except BaseException:
            held[0].release()
            raise
    return held


def holder(path: Path) -> tuple[int, str] | None:
    """(pid, description) of the controller holding `path`, or None when it is free.

    A look only: the file is neither created nor written, so `corral up` can ask before it
    opens a log that a running controller is writing.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode(errors="replace")
            pid = text.split(" ", 1)[0]
            return (int(pid) if pid.isdigit() else 0), _describe(text)
        return None
    finally:
        os.close(fd)  # also lets go of the shared lock taken to look


def recorded_pid(path: Path) -> int | None:
    """The pid the last holder wrote, read without locking (a look must not make a starting
    controller fail): it is current only while that process lives and holds the lock."""
    try:
        pid = path.read_text().split(" ", 1)[0]
    except OSError:
        return None
    return int(pid) if pid.isdigit() else None
