"""The store's tables: jobs (a projection of their events), job_events (the log), nodes, meta,
and the accounting tables (accounts, users, associations, QOS, fair-share usage)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

# MySQL's plain JSON/TEXT top out at 64 KiB on some servers; scripts and environments can be larger.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

jobs = Table(
    "jobs", metadata,
    Column("job_id", BigInteger, primary_key=True, autoincrement=False),
    Column("uid", Integer, nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("partition", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("submit_time", Float, nullable=False),
    Column("start_time", Float),
    Column("end_time", Float),
    Column("record", LongText, nullable=False),
    Column("array_job_id", BigInteger),
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_array_job_id", "array_job_id"),
    Index("ix_jobs_uid_submit", "uid", "submit_time"),
    Index("ix_jobs_end_time", "end_time"),
)

job_events = Table(
    "job_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False),
    Column("at", Double, nullable=False),  # 0004: exact times, on MariaDB too
    Column("kind", String(32), nullable=False),
    Column("payload", LongText, nullable=False),
    Column("cause", String(64), nullable=False),
    Index("ix_job_events_job", "job_id"),
)

nodes = Table(
    "nodes", metadata,
    Column("name", String(128), primary_key=True),
    Column("record", LongText, nullable=False),
)

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

# Accounting: sacctmgr's accounts, users, associations and QOS, each row's record as JSON
# (model.account_codec), and each user association's decayed fair-share usage.
acct_accounts = Table(
    "acct_accounts", metadata,
    Column("name", String(64), primary_key=True),
    Column("record", LongText, nullable=False),
)

acct_users = Table(
    "acct_users", metadata,
    Column("name", String(64), primary_key=True),
    Column("record", LongText, nullable=False),
)

acct_associations = Table(
    "acct_associations", metadata,
    Column("account", String(64), primary_key=True),
    Column("user_name", String(64), primary_key=True),
    Column("record", LongText, nullable=False),
)

acct_qos = Table(
    "acct_qos", metadata,
    Column("name", String(64), primary_key=True),
    Column("record", LongText, nullable=False),
)

acct_usage = Table(
    "acct_usage", metadata,
    Column("account", String(64), primary_key=True),
    Column("user_name", String(64), primary_key=True),
    Column("raw_usage", Float, nullable=False),
)
