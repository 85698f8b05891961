"""Job ids from the database: meta's `next_job_id`, advanced in the transaction that stores
the jobs that take ids; and job_events.at in double precision on MariaDB/MySQL (FLOAT there
is single precision, too coarse for the times a job's events are replayed at).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.String))
_jobs = sa.table("jobs", sa.column("job_id", sa.BigInteger))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name in ("mysql", "mariadb"):
        op.alter_column("job_events", "at", type_=sa.Double(), existing_nullable=False)
    highest = conn.execute(sa.select(sa.func.max(_jobs.c.job_id))).scalar() or 0
    conn.execute(sa.delete(_meta).where(_meta.c.key == "next_job_id"))
    conn.execute(sa.insert(_meta).values(key="next_job_id", value=str(int(highest) + 1)))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.delete(_meta).where(_meta.c.key == "next_job_id"))
    if conn.dialect.name in ("mysql", "mariadb"):
        op.alter_column("job_events", "at", type_=sa.Float(), existing_nullable=False)
