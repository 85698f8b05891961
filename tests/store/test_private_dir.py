"""The private part of a data directory: what is checked, the one-line fix, the old layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.store.private import (
    NotPrivate,
    adopt_legacy,
    check_private,
    ensure_private_dir,
    store_paths,
)
from corral.store.store import Store, sqlite_url


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_private_part_is_made_0700_even_under_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        made = ensure_private_dir(tmp_path / "data")
    finally:
        os.umask(old)
    assert _mode(made) == 0o700
    check_private(*store_paths(tmp_path / "data", sqlite_url(made)))


def test_a_wide_directory_and_files_are_refused_with_the_fix(tmp_path: Path) -> None:
    private = ensure_private_dir(tmp_path)
    (private / "corral.db").write_text("")
    (private / "cluster.key").write_text("k")
    (private / "corral.db").chmod(0o644)
    (private / "cluster.key").chmod(0o600)
    private.chmod(0o755)
    with pytest.raises(NotPrivate) as refused:
        check_private(*store_paths(tmp_path, sqlite_url(private)))
    assert str(refused.value) == (
        f"{private}, {private}/corral.db must be private to the controller's user (the store "
        "and keys hold every user's scripts and environment); "
        f"fix: chmod 700 {private} && chmod 600 {private}/corral.db")
    assert (_mode(private), _mode(private / "corral.db")) == (0o755, 0o644)  # changed nothing


def test_a_database_elsewhere_is_checked_with_its_journals_and_directory(tmp_path: Path) -> None:
    ensure_private_dir(tmp_path / "data")
    elsewhere = tmp_path / "db"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "corral.db-wal").write_text("")
    (elsewhere / "corral.db-wal").chmod(0o640)
    with pytest.raises(NotPrivate, match=f"fix: chmod 600 {elsewhere}/corral.db-wal$"):
        check_private(*store_paths(tmp_path / "data", sqlite_url(elsewhere)))


def test_a_shared_directory_is_never_told_to_be_chmodded(tmp_path: Path) -> None:
    ensure_private_dir(tmp_path / "data")
    with pytest.raises(NotPrivate, match="keep the database in a directory of its own, not /tmp"):
        check_private(*store_paths(tmp_path / "data", "sqlite:////tmp/corral.db"))


def test_a_store_of_an_older_layout_is_moved_in_private_with_its_jobs(tmp_path: Path) -> None:
    old = Store.open(sqlite_url(tmp_path))
    old.set_meta("marker", "kept")
    old.close()
    (tmp_path / "corral.db").chmod(0o644)
    (tmp_path / "cluster.key").write_text("old-key")
    adopt_legacy(tmp_path)
    private = tmp_path / "private"
    assert not (tmp_path / "corral.db").exists()
    assert (private / "cluster.key").read_text() == "old-key"
    assert _mode(private / "corral.db") == 0o600
    moved = Store.open(sqlite_url(private))
    assert moved.get_meta("marker") == "kept"
    moved.close()
