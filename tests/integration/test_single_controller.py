"""One controller per data directory and per database, and a store no other user can read.

A second `corral controller` or `corral up` on what a running one uses refuses with one line
naming the running one and touches nothing of it; the store and keys are private to the
controller's user while every user still reaches the controller's socket.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from databases import SERVERS, fresh_database

from cluster import BIN, Cluster, as_user, free_port
from corral.client import Client

pytestmark = pytest.mark.integration
HOST = socket.gethostname()
NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def root() -> Iterator[Path]:
    # Outside pytest's 0700 temp root, so that other users can reach the socket.
    path = Path(tempfile.mkdtemp(prefix="corral-test-single-"))
    path.chmod(0o755)
    yield path
    # A `corral up` that failed its test leaves its controller and agents (each in a session
    # of its own) behind: they are found by the directory they were given.
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(path) in arg for arg in proc.info["cmdline"] or ()):
            try:
                proc.kill()
            except psutil.Error:
                pass  # it ended meanwhile
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def controller(root: Path) -> Iterator[Cluster]:
    running = Cluster(root, nodes=0)
    running.start_controller()
    yield running
    running.stop()


@pytest.fixture(params=sorted(SERVERS))
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(URL, name) of a fresh database on a real server (databases.py)."""
    with fresh_database(request.param) as made:
        yield made


def _controller(data_dir: Path, *extra: str, env: dict[str, str] | None = None,
                log: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """A second `corral controller`, run to its end; its output appended to `log` if given."""
    argv = [str(BIN / "corral"), "controller", "--data-dir", str(data_dir),
            "--port", str(free_port()), *extra]
    if log is None:
        return subprocess.run(argv, capture_output=True, env=env, timeout=120)
    with open(log, "ab") as handle:
        return subprocess.run(argv, stdout=handle, stderr=handle, env=env, timeout=120)


def _held_job(cluster: Cluster) -> str:
    return str(cluster.sbatch("-H", "--wrap", "true"))


def test_a_second_controller_on_a_data_directory_refuses_and_touches_nothing(
        controller: Cluster) -> None:
    job = _held_job(controller)
    log = controller.root / "logs" / "controller.log"
    before = log.read_bytes()
    sock = controller.socket.stat().st_ino
    assert controller.controller is not None
    second = _controller(controller.data_dir, log=log)
    assert second.returncode == 1
    after = log.read_bytes()
    assert after.startswith(before)  # appended to, never truncated
    refusals = [line for line in after[len(before):].decode().splitlines()
                if line.startswith("corral:")]
    assert refusals == [f"corral: error: data directory {controller.data_dir} is in use by "
                        f"corral controller pid {controller.controller.pid} on host {HOST}"]
    assert controller.socket.stat().st_ino == sock
    assert controller.run("squeue", "-h", "-o", "%i", check=True).stdout.split() == [job]


def test_a_second_controller_on_a_database_refuses_naming_the_first(
        root: Path, database: tuple[str, str]) -> None:
    url, name = database
    first = Cluster(root / "head1", nodes=0, db_url=url)
    try:
        first.start_controller()
        job = _held_job(first)
        second = _controller(root / "head2", "--db", url)
        assert first.controller is not None
        assert (second.returncode, second.stdout) == (1, b"")
        assert second.stderr.decode() == (
            f"corral: error: database {name} on 127.0.0.1 is in use by "
            f"corral controller pid {first.controller.pid} on host {HOST}\n")
        assert first.run("squeue", "-h", "-o", "%i", check=True).stdout.split() == [job]
    finally:
        first.stop()


def test_two_data_directories_on_one_sqlite_file_take_one_controller(root: Path) -> None:
    shared = root / "db"
    shared.mkdir(mode=0o700)
    db = shared / "corral.db"
    first = Cluster(root / "head1", nodes=0, db_url=f"sqlite:///{db}")
    try:
        first.start_controller()
        job = _held_job(first)
        second = _controller(root / "head2", "--db", f"sqlite:///{db}")
        assert first.controller is not None
        assert (second.returncode, second.stdout) == (1, b"")
        assert second.stderr.decode() == (f"corral: error: database {db} is in use by "
                                          f"corral controller pid {first.controller.pid} "
                                          f"on host {HOST}\n")
        assert first.run("squeue", "-h", "-o", "%i", check=True).stdout.split() == [job]
    finally:
        first.stop()


def test_corral_up_whose_controller_is_refused_does_not_say_it_is_up(
        root: Path, database: tuple[str, str]) -> None:
    url, name = database
    first = Cluster(root / "head1", nodes=0, db_url=url)
    try:
        first.start_controller()
        up = subprocess.run([str(BIN / "corral"), "up", "--data-dir", str(root / "up"),
                             "--port", str(free_port())], capture_output=True, text=True,
                            env={**os.environ, "CORRAL_DB_URL": url}, timeout=120)
        assert first.controller is not None
        assert (up.returncode, up.stdout) == (1, "")
        assert up.stderr == (f"corral: error: database {name} on 127.0.0.1 is in use by "
                             f"corral controller pid {first.controller.pid} on host {HOST}\n")
    finally:
        first.stop()


def _corral_up(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "corral"), "up", "--data-dir", str(data_dir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def test_corral_up_twice_on_a_data_directory(root: Path) -> None:
    data_dir = root / "corral"
    port = free_port()
    first = _corral_up(data_dir, "--port", str(port), "--cpus-per-node", "1",
                       "--memory-per-node", "256M")
    try:
        assert first.stdout is not None
        banner = first.stdout.readline()
        assert banner.startswith("corral is up"), banner + first.stdout.read()
        [ctl] = [p for p in psutil.Process(first.pid).children()
                 if "controller" in p.cmdline()]
        log = data_dir / "logs" / "controller.log"
        before = log.read_bytes()
        second = subprocess.run([str(BIN / "corral"), "up", "--data-dir", str(data_dir),
                                 "--port", str(free_port())],
                                capture_output=True, text=True, timeout=120)
        assert (second.returncode, second.stdout) == (1, "")
        assert second.stderr == (f"corral up: error: data directory {data_dir} is in use by "
                                 f"corral controller pid {ctl.pid} on host {HOST}\n")
        assert log.read_bytes().startswith(before)
        assert b"corral: error" not in log.read_bytes()
        # The logs name users' jobs and paths: the controller's user reads them alone.
        assert (data_dir / "logs").stat().st_mode & 0o777 == 0o700
        assert set(_modes(data_dir / "logs").values()) == {0o600}
        # The first still serves, as root and as a user who is not its owner.
        sock = str(data_dir / "corral.sock")
        env = {**os.environ, "CORRAL_CONTROLLER": sock, "PATH": f"{BIN}:{os.environ['PATH']}"}
        squeue = subprocess.run(["squeue"], capture_output=True, text=True, env=env, timeout=60)
        assert (squeue.returncode, squeue.stdout.split()[:2]) == (0, ["JOBID", "PARTITION"])
        reply = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                        lambda: [n["name"] for n in Client(sock).nodes()])
        assert reply == {"ok": [HOST.split(".")[0]]}
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()}


def test_the_store_is_private_and_the_socket_open_to_every_user(controller: Cluster) -> None:
    _held_job(controller)  # written through, so the SQLite journal files exist
    private = controller.data_dir / "private"
    assert private.stat().st_mode & 0o777 == 0o700
    files = _modes(private)
    assert {"corral.db", "corral.db-wal", "corral.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert controller.socket.stat().st_mode & 0o777 == 0o666
    read = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                   lambda: (private / "corral.db").read_bytes().decode(errors="replace"))
    assert "PermissionError" in read["error"]  # type: ignore[index]
    listed = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                     lambda: len(Client(str(controller.socket)).jobs()))
    assert "ok" in listed, listed  # type: ignore[operator]


def test_a_controller_refuses_a_store_other_users_can_read(controller: Cluster) -> None:
    controller.stop_process(controller.controller)
    private = controller.data_dir / "private"
    db = private / "corral.db"
    db.chmod(0o644)
    refused = _controller(controller.data_dir)
    assert (refused.returncode, refused.stdout) == (1, b"")
    assert refused.stderr.decode() == (
        f"corral: error: {db} must be private to the controller's user (the store and keys "
        "hold every user's scripts and environment); "
        f"fix: chmod 600 {db}\n")
    assert db.stat().st_mode & 0o777 == 0o644  # refused, not repaired behind the owner's back
    db.chmod(0o600)
    private.chmod(0o755)
    refused = _controller(controller.data_dir)
    assert refused.returncode == 1
    assert refused.stderr.decode().endswith(f"fix: chmod 700 {private}\n")
    private.chmod(0o700)
    controller.start_controller()  # fixed as told, it starts


def test_a_controller_whose_database_is_unreachable_says_so_in_one_line(root: Path) -> None:
    closed = free_port()  # nothing listens there
    url = f"postgresql+psycopg://corral:secret@127.0.0.1:{closed}/corral"
    result = _controller(root / "nodb", "--db", url)
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"corral: error: cannot reach the database "
                               f"postgresql+psycopg://corral:***@127.0.0.1:{closed}/corral: ")
    assert "secret" not in lines[0]
