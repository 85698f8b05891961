"""Fresh databases on the machine's real PostgreSQL and MariaDB servers, for tests of the store
and of controllers that use one. Outside CI a missing server skips the test with its reason;
in CI (CI=true) it fails it, as a skipped database test must not pass there."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/{db}",
}
ADMIN_DB = "test"


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[tuple[str, str]]:
    """(URL, name) of a database made for the caller and dropped afterwards."""
    admin_url = SERVERS[kind].format(db=ADMIN_DB)
    name = f"corral_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{kind} server not reachable in CI: {exc}")
        pytest.skip(f"no {kind} server reachable at {admin_url}")
    try:
        yield SERVERS[kind].format(db=name), name
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()
