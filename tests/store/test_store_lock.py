"""One controller per data directory and per database: the second is refused, naming the first."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import SERVERS
from test_store import _server_store

from corral.store.lock import LOCK_NAME, InUse, holder, lock_data_dir, recorded_pid
from corral.store.store import DatabaseInUse, Store

HOST = socket.gethostname()


def test_a_second_lock_on_a_data_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = lock_data_dir(tmp_path)
    with pytest.raises(InUse) as refused:
        lock_data_dir(tmp_path)
    assert str(refused.value) == (f"data directory {tmp_path} is in use by "
                                  f"corral controller pid {os.getpid()} on host {HOST}")
    assert recorded_pid(tmp_path / LOCK_NAME) == os.getpid()
    first.release()
    lock_data_dir(tmp_path).release()  # free again once the holder lets go


def test_looking_at_the_lock_neither_takes_it_nor_writes_it(tmp_path: Path) -> None:
    assert holder(tmp_path / LOCK_NAME) is None
    assert not (tmp_path / LOCK_NAME).exists()
    first = lock_data_dir(tmp_path)
    written = (tmp_path / LOCK_NAME).read_bytes()
    assert holder(tmp_path / LOCK_NAME) == (
        os.getpid(), f"corral controller pid {os.getpid()} on host {HOST}")
    assert (tmp_path / LOCK_NAME).read_bytes() == written
    first.release()
    assert holder(tmp_path / LOCK_NAME) is None


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    (tmp_path / LOCK_NAME).symlink_to(target)
    with pytest.raises(OSError):
        lock_data_dir(tmp_path)
    assert target.read_text() == "keep me\n"


@pytest.fixture(params=sorted(SERVERS))
def server_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    yield from _server_store(request.param)


def test_a_second_controller_on_one_database_is_refused_naming_the_first(
        server_store: Store) -> None:
    first = Store.open(server_store.url, holder="corral controller pid 11 on host head1")
    try:
        with pytest.raises(DatabaseInUse) as refused:
            Store.open(server_store.url, holder="corral controller pid 22 on host head2")
        assert str(refused.value) == (f"{server_store.describe()} is in use by "
                                      "corral controller pid 11 on host head1")
    finally:
        first.close()
    # The lock goes with the holder's connection: the next controller may start.
    second = Store.open(server_store.url, holder="corral controller pid 22 on host head2")
    second.close()


def test_a_store_opened_without_a_holder_takes_no_lock(server_store: Store) -> None:
    first = Store.open(server_store.url, holder="corral controller pid 11 on host head1")
    try:
        reader = Store.open(server_store.url)  # tools such as `corral sim` only read
        assert reader.max_job_id() == 0
        reader.close()
    finally:
        first.close()
