"""Array tasks: jobs.array_job_id, so `sacct -j ARRAY` finds every task of an array.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("array_job_id", sa.BigInteger, nullable=True))
    op.create_index("ix_jobs_array_job_id", "jobs", ["array_job_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_array_job_id", "jobs")
    op.drop_column("jobs", "array_job_id")
