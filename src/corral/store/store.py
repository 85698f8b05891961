"""The durable store: SQLite (WAL) by default, PostgreSQL or MariaDB/MySQL by URL.

Every change the controller acknowledges has been committed here first. Jobs are stored as a
projection (one row per job, its record as JSON) beside an append-only log of their events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from corral.model.job import Job, job_from_dict, job_to_dict
from corral.model.states import TERMINAL_STATES
from corral.store.tables import (
    acct_accounts,
    acct_associations,
    acct_qos,
    acct_usage,
    acct_users,
    job_events,
    jobs,
    meta,
    nodes,
)

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL scopes advisory locks to the database, so one fixed key serves every cluster.
_PG_LOCK_KEY = int.from_bytes(b"corral-c", "big")
_HOLDER_KEY = "controller_holder"
_NEXT_ID_KEY = "next_job_id"


class JobIdTaken(Exception):
    """A job id below the store's counter: another writer has handed it out already."""


class DatabaseInUse(Exception):
    """Another controller holds the database's lock; the message names it."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    job_id: int
    at: float
    kind: str
    payload: dict[str, Any]
    cause: str


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'corral.db'}"


def _normalize(url: str) -> str:
    # Pick the drivers we install, so a plain postgresql:// or mysql:// URL just works.
    for plain, driver in (("postgresql://", "postgresql+psycopg://"),
                          ("postgres://", "postgresql+psycopg://"),
                          ("mysql://", "mysql+pymysql://"), ("mariadb://", "mysql+pymysql://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store:
    def __init__(self, url: str) -> None:
        self.url = _normalize(url)
        kwargs: dict[str, Any] = {"future": True}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock: Connection | None = None

    @classmethod
    def open(cls, url: str, *, holder: str | None = None) -> Store:
        """Opens (and migrates) the store; with `holder`, first takes the database's
        controller lock for this process's life, or raises DatabaseInUse."""
        store = cls(url)
        try:
            if holder is not None:
                store.claim(holder)
            store.migrate()
            if holder is not None and store._lock is not None:
                store.set_meta(_HOLDER_KEY, holder[:255])
        except BaseException:
            store.close()
            raise
        return store

    def claim(self, holder: str) -> None:
        """Takes the one-controller lock of a database server, held on a connection of its
        own until close(). SQLite needs none here: its file is covered by the lock on the
        directory that holds it."""
        backend = make_url(self.url).get_backend_name()
        if backend not in ("postgresql", "mysql"):
            return
        # Its own engine without a pool: the lock lives exactly as long as this connection.
        engine = create_engine(self.url, poolclass=NullPool)
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if backend == "postgresql":
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        else:  # GET_LOCK names are server-wide: the database's name makes them per cluster
            got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": self._lock_name()})
        if got.scalar() not in (True, 1):
            conn.close()
            engine.dispose()
            raise DatabaseInUse(f"{self.describe()} is in use by {self._holder()}")
        self._lock = conn

    def _lock_name(self) -> str:
        name = f"corral-controller-{make_url(self.url).database}"
        # MariaDB/MySQL refuse names over 64 characters.
        return name if len(name) <= 64 else "corral-controller-" + hashlib.sha1(
            name.encode()).hexdigest()

    def _holder(self) -> str:
        try:
            return self.get_meta(_HOLDER_KEY) or "another corral controller"
        except SQLAlchemyError:  # the holder is still creating the tables
            return "another corral controller"

    def describe(self) -> str:
        """The database in words, without its password."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            return f"database {url.database}"
        return f"database {url.database} on {url.host or 'localhost'}"

    def migrate(self) -> None:
        # Imported here: alembic logs as it loads, and a controller refused its database
        # should say one line, not that.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        if self._lock is not None:
            lock_engine = self._lock.engine
            self._lock.close()
            lock_engine.dispose()
            self._lock = None
        self.engine.dispose()

    # -- jobs ------------------------------------------------------------------------------

    def max_job_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(jobs.c.job_id))).scalar() or 0)

    def next_job_id(self) -> int:
        """The next job id to hand out: the database's counter, the truth after a restart."""
        with self.engine.connect() as conn:
            value = self._meta(conn, _NEXT_ID_KEY)
            highest = int(conn.execute(select(func.max(jobs.c.job_id))).scalar() or 0)
        return max(int(value or 0), highest + 1)

    def commit(self, changed: Sequence[tuple[Job, bool]], events: Iterable[EventRecord] = ()) -> None:
        """Writes job rows (job, is_new) and their events in one transaction; new jobs advance
        the job id counter in it, and one whose id the counter has passed is refused
        (JobIdTaken) with nothing written."""
        with self.engine.begin() as conn:
            new = [{"job_id": job.job_id, **self._row(job)} for job, is_new in changed if is_new]
            if new:
                conn.execute(insert(jobs), new)  # one executemany: cancelling a big array
                self._take_ids(conn, [row["job_id"] for row in new])
            for job, is_new in changed:
                if not is_new:
                    conn.execute(update(jobs).where(jobs.c.job_id == job.job_id)
                                 .values(**self._row(job)))
            rows = [{"job_id": e.job_id, "at": e.at, "kind": e.kind,
                     "payload": json.dumps(e.payload), "cause": e.cause} for e in events]
            if rows:
                conn.execute(insert(job_events), rows)

    @staticmethod
    def _take_ids(conn: Connection, ids: Sequence[int]) -> None:
        # The row is locked until the transaction ends (SQLite's writer lock covers it there).
        query = select(meta.c.value).where(meta.c.key == _NEXT_ID_KEY).with_for_update()
        value = conn.execute(query).scalar()
        counter = 1 if value is None else int(value)
        if min(ids) < counter:
            raise JobIdTaken(f"job id {min(ids)} was handed out already (next is {counter})")
        if value is None:
            conn.execute(insert(meta).values(key=_NEXT_ID_KEY, value=str(max(ids) + 1)))
        else:
            conn.execute(update(meta).where(meta.c.key == _NEXT_ID_KEY)
                         .values(value=str(max(ids) + 1)))

    @staticmethod
    def _row(job: Job) -> dict[str, Any]:
        return {"uid": job.spec.uid, "user_name": job.spec.user, "partition": job.partition,
                "state": job.state.value, "submit_time": job.submit_time,
                "start_time": job.start_time, "end_time": job.end_time,
                "record": json.dumps(job_to_dict(job)), "array_job_id": job.array_job_id}

    def load_live(self, ended_after: float) -> list[Job]:
        """Jobs still in the controller's queue: not ended, or ended after `ended_after`."""
        terminal = [s.value for s in TERMINAL_STATES]
        query = select(jobs.c.record).where(
            or_(jobs.c.state.not_in(terminal), jobs.c.end_time >= ended_after)
        ).order_by(jobs.c.job_id)
        with self.engine.connect() as conn:
            return [job_from_dict(json.loads(r)) for (r,) in conn.execute(query)]

    def history(self, *, uid: int | None = None, job_ids: Sequence[int] = (),
                start: float | None = None, end: float | None = None,
                states: Sequence[str] = ()) -> list[Job]:
        """sacct's view: jobs that were eligible or running within [start, end]."""
        query = select(jobs.c.record).order_by(jobs.c.job_id)
        if uid is not None:
            query = query.where(jobs.c.uid == uid)
        if job_ids:
            # An array's id names all of its tasks, as in `sacct -j 2454`.
            query = query.where(or_(jobs.c.job_id.in_(list(job_ids)),
                                    jobs.c.array_job_id.in_(list(job_ids))))
        if start is not None:
            query = query.where(or_(jobs.c.end_time.is_(None), jobs.c.end_time >= start))
        if end is not None:
            query = query.where(jobs.c.submit_time <= end)
        if states:
            query = query.where(jobs.c.state.in_(list(states)))
        with self.engine.connect() as conn:
            return [job_from_dict(json.loads(r)) for (r,) in conn.execute(query)]

    def events_of(self, job_id: int) -> list[EventRecord]:
        query = select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
        with self.engine.connect() as conn:
            return [EventRecord(r.job_id, r.at, r.kind, json.loads(r.payload), r.cause)
                    for r in conn.execute(query)]

    # -- nodes and settings ------------------------------------------------------------------

    def save_node(self, name: str, record: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(nodes).where(nodes.c.name == name)
                                .values(record=json.dumps(record)))
            if done.rowcount == 0:
                conn.execute(insert(nodes).values(name=name, record=json.dumps(record)))

    def load_nodes(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.name: json.loads(r.record) for r in conn.execute(select(nodes))}

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
            return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(meta).where(meta.c.key == key))
            conn.execute(insert(meta).values(key=key, value=value))

    # -- accounting ---------------------------------------------------------------------------

    def load_accounts(self) -> dict[str, Any] | None:
        """The saved account tree as model.account_codec's dict, or None before the first save."""
        with self.engine.connect() as conn:
            accounts = [json.loads(r) for (r,) in conn.execute(select(acct_accounts.c.record))]
            if not accounts:
                return None
            return {
                "accounts": accounts,
                "users": [json.loads(r) for (r,) in conn.execute(select(acct_users.c.record))],
                "associations": [json.loads(r) for (r,)
                                 in conn.execute(select(acct_associations.c.record))],
                "qos": [json.loads(r) for (r,) in conn.execute(select(acct_qos.c.record))],
                "default_qos": self._meta(conn, "default_qos") or "normal",
            }

    def save_accounts(self, tree: dict[str, Any]) -> None:
        """Replaces the saved tree in one transaction (sacctmgr edits are rare and small)."""
        with self.engine.begin() as conn:
            for table in (acct_accounts, acct_users, acct_associations, acct_qos):
                conn.execute(delete(table))
            for table, key in ((acct_accounts, "accounts"), (acct_users, "users"),
                               (acct_qos, "qos")):
                rows = [{"name": r["name"], "record": json.dumps(r)} for r in tree[key]]
                if rows:
                    conn.execute(insert(table), rows)
            rows = [{"account": r["account"], "user_name": r["user"], "record": json.dumps(r)}
                    for r in tree["associations"]]
            if rows:
                conn.execute(insert(acct_associations), rows)
            conn.execute(delete(meta).where(meta.c.key == "default_qos"))
            conn.execute(insert(meta).values(key="default_qos", value=tree["default_qos"]))

    def load_usage(self) -> dict[tuple[str, str], float]:
        with self.engine.connect() as conn:
            return {(r.account, r.user_name): r.raw_usage for r in conn.execute(select(acct_usage))}

    def save_usage(self, usage: Mapping[tuple[str, str], float]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(acct_usage))
            rows = [{"account": a, "user_name": u, "raw_usage": v} for (a, u), v in usage.items()]
            if rows:
                conn.execute(insert(acct_usage), rows)

    @staticmethod
    def _meta(conn: Any, key: str) -> str | None:
        value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)
