"""The part of a data directory only the controller's user may enter.

The store holds every user's scripts and environment and the keys sign for agents and jobs,
so they live in DATA_DIR/private (0700, files 0600). The data directory itself stays open:
every user's commands reach the controller's socket there, and under `corral up` the jobs of
every user run from agent directories below it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

PRIVATE_NAME = "private"
DB_NAME = "corral.db"
# SQLite's side files hold the same rows as the database until they are checkpointed.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# Files a data directory held before it had a private part; moved in by adopt_legacy.
LEGACY = (DB_NAME, *(DB_NAME + s for s in SQLITE_SIDE_FILES), "cluster.key", "job-token.key")


class NotPrivate(Exception):
    """The message is one line that ends with the command that fixes it."""


def private_dir(data_dir: Path) -> Path:
    return data_dir / PRIVATE_NAME


def ensure_private_dir(data_dir: Path) -> Path:
    """DATA_DIR/private, made 0700 if missing (an existing one is checked, never widened or
    narrowed here: check_private says what is wrong)."""
    path = private_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    return path


def adopt_legacy(data_dir: Path) -> None:
    """Moves a store and keys kept at the top of the data directory by an older corral into
    the private part, so that upgrading keeps the cluster's jobs and its agents' key."""
    target = ensure_private_dir(data_dir)
    if (target / DB_NAME).exists():
        return  # already adopted; a file left on top is not ours to guess about
    for name in LEGACY:
        old = data_dir / name
        if old.is_file() and not old.is_symlink() and not (target / name).exists():
            os.chmod(old, 0o600)
            os.replace(old, target / name)


def sqlite_file(db_url: str) -> Path | None:
    """The database file of a SQLite URL; None for a database server."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).absolute()


def store_paths(data_dir: Path, db_url: str) -> tuple[list[Path], list[Path]]:
    """(directories, files) that must be private to run on this data directory and store."""
    directories = [private_dir(data_dir)]
    private = private_dir(data_dir)
    files = [p for p in private.iterdir() if p.is_file()] if private.is_dir() else []
    db = sqlite_file(db_url)
    if db is not None and db.parent != private_dir(data_dir):
        directories.append(db.parent)
        files += [db, *(Path(str(db) + s) for s in SQLITE_SIDE_FILES)]
    return directories, files


def check_private(directories: Iterable[Path], files: Iterable[Path]) -> None:
    """Raises NotPrivate when another user could enter a directory or read a file."""
    me = os.geteuid()
    problems: list[str] = []
    fixes: list[str] = []
    for paths, mode in ((directories, 0o700), (files, 0o600)):
        wide, foreign = [], []
        for path in paths:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if mode == 0o700 and st.st_mode & (stat.S_ISVTX | stat.S_IWOTH):
                # /tmp and its kind are shared by design: no chmod makes them ours.
                problems.append(str(path))
                fixes.append(f"keep the database in a directory of its own, not {path}")
                continue
            if st.st_uid != me:
                foreign.append(str(path))
            if stat.S_IMODE(st.st_mode) & 0o077:
                wide.append(str(path))
        problems += [p for p in foreign + wide if p not in problems]
        if foreign:
            fixes.append(f"chown {me} {' '.join(foreign)}")
        if wide:
            fixes.append(f"chmod {mode:o} {' '.join(wide)}")
    if fixes:
        raise NotPrivate(f"{', '.join(problems)} must be private to the controller's user "
                         "(the store and keys hold every user's scripts and environment); "
                         "fix: " + " && ".join(fixes))
