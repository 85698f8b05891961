"""Serves the API on the local Unix socket (callers named by SO_PEERCRED) and on TCP for agents."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import struct
import sys
from pathlib import Path

import uvicorn
from sqlalchemy import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from uvicorn.protocols.http.h11_impl import H11Protocol

from corral.clock import system_clock
from corral.controller.app import create_app
from corral.settings import ControllerSettings
from corral.store.lock import this_process
from corral.store.private import NotPrivate, check_private, store_paths
from corral.store.store import DatabaseInUse, Store

log = logging.getLogger("corral.controller")


class PeerCredProtocol(H11Protocol):
    """Puts the calling process's uid/gid into every request's `state` on a Unix socket.

    uvicorn copies `app_state` into each request scope, so per-connection credentials set
    here reach the routes as request.state.peer_uid without trusting anything the client sent.
    """

    # H11Protocol narrows BaseProtocol's BaseTransport to Transport (uvicorn ignores the same
    # override error in its own signature); this one matches uvicorn's.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, gid = struct.unpack("3i", creds)
            self.app_state = {**self.app_state, "peer_uid": uid, "peer_gid": gid}


def _unix_socket(path: str) -> socket.socket:
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # a stale socket left by a controller that died
        else:
            raise SystemExit(f"corral: error: a controller is already listening on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o666)  # anyone may connect; the kernel tells us who they are
    sock.listen(1024)
    return sock


def _tcp_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"corral: error: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


def _socket_dir(path: Path) -> None:
    """Makes the socket's directory reachable by every user even under the controller's
    private umask: their commands connect to the socket inside."""
    if path.is_dir():
        return
    private = os.umask(0o022)
    try:
        path.mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(private)


def _open_store(settings: ControllerSettings) -> Store:
    """The store, once it is known to be private and this controller is its only one."""
    check_private(*store_paths(settings.data_dir, settings.db_url))
    return Store.open(settings.db_url, holder=this_process())


def _without_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(settings: ControllerSettings) -> int:
    """Runs the controller until it is stopped; 1 when it refuses to start."""
    try:
        store = _open_store(settings)
    except (NotPrivate, DatabaseInUse) as exc:
        print(f"corral: error: {exc}", file=sys.stderr)
        return 1
    except (OperationalError, InterfaceError) as exc:
        # The driver's first line says what failed (refused, unknown database, bad password).
        first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        print(f"corral: error: cannot reach the database {_without_password(settings.db_url)}: "
              f"{first}", file=sys.stderr)
        return 1
    listening = False
    try:
        app = create_app(settings, store, system_clock)
        _socket_dir(settings.socket_path.parent)
        unix = _unix_socket(str(settings.socket_path))
        listening = True
        sockets = [unix, _tcp_socket(settings.host, settings.port)]
        config = uvicorn.Config(app, http=PeerCredProtocol, lifespan="on", log_level="warning",
                                access_log=False, timeout_keep_alive=60,
                                timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        log.info("controller listening on %s and %s:%s", settings.socket_path, settings.host,
                 settings.port)
        # uvicorn shuts down gracefully on SIGTERM, then raises it again with the handler it
        # found: make that one a clean exit, so the store is closed and the socket removed.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        asyncio.run(server.serve(sockets=sockets))
    finally:
        store.close()
        # Only a socket this controller made: one found live belongs to another controller.
        if listening and settings.socket_path.exists():
            settings.socket_path.unlink()
    return 0
