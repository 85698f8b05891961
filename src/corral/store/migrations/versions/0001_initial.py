"""The initial schema: jobs, job_events, nodes, meta.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("uid", sa.Integer, nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("partition", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("submit_time", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float),
        sa.Column("end_time", sa.Float),
        sa.Column("record", LongText, nullable=False),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_uid_submit", "jobs", ["uid", "submit_time"])
    op.create_index("ix_jobs_end_time", "jobs", ["end_time"])
    op.create_table(
        "job_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        sa.Column("cause", sa.String(64), nullable=False),
    )
    op.create_index("ix_job_events_job", "job_events", ["job_id"])
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("record", LongText, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("nodes")
    op.drop_index("ix_job_events_job", "job_events")
    op.drop_table("job_events")
    op.drop_index("ix_jobs_end_time", "jobs")
    op.drop_index("ix_jobs_uid_submit", "jobs")
    op.drop_index("ix_jobs_state", "jobs")
    op.drop_table("jobs")
