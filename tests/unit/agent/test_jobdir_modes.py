"""jobdir.py: files and directories made with their final mode, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.agent.jobdir import create_private, make_dir, mark, write_atomic, write_json_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # the widest: nothing is narrowed for us
    yield
    os.umask(old)


def test_files_are_private_from_their_first_moment(tmp_path: Path, open_umask: None) -> None:
    write_json_atomic(tmp_path / "launch.json", {"token": "t"})
    mark(tmp_path / "started")
    os.close(create_private(tmp_path / "supervisor.log"))
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {
        "launch.json": 0o600, "started": 0o600, "supervisor.log": 0o600}


def test_a_wider_file_is_replaced_by_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text("old")
    path.chmod(0o644)
    write_atomic(path, b"new")
    assert (path.read_text(), _mode(path)) == ("new", 0o600)
    assert os.listdir(tmp_path) == ["status.json"]  # no temporary file left behind


def test_a_file_the_job_reads_is_widened_only_as_asked(tmp_path: Path) -> None:
    write_atomic(tmp_path / "pbs_nodefile", b"n1\n", mode=0o644)
    assert _mode(tmp_path / "pbs_nodefile") == 0o644


def test_a_planted_symlink_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    (tmp_path / "supervisor.log").symlink_to(target)
    with pytest.raises(FileExistsError):
        create_private(tmp_path / "supervisor.log")
    (tmp_path / "started").symlink_to(target)
    with pytest.raises(OSError):
        mark(tmp_path / "started")
    assert target.read_text() == "untouched"


def test_directories_get_exactly_their_mode(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        make_dir(tmp_path / "jobs", 0o711)  # the umask would have taken the traverse bits
    finally:
        os.umask(old)
    make_dir(tmp_path / "wide", 0o755)
    make_dir(tmp_path / "wide", 0o711, exist_ok=True)  # an older, wider one is narrowed
    assert (_mode(tmp_path / "jobs"), _mode(tmp_path / "wide")) == (0o711, 0o711)
    with pytest.raises(FileExistsError):
        make_dir(tmp_path / "jobs", 0o700)
