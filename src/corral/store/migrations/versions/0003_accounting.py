"""Accounting: accounts, users, associations, QOS and fair-share usage (sacctmgr, sshare).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    for name in ("acct_accounts", "acct_users", "acct_qos"):
        op.create_table(name, sa.Column("name", sa.String(64), primary_key=True),
                        sa.Column("record", LongText, nullable=False))
    op.create_table("acct_associations",
                    sa.Column("account", sa.String(64), primary_key=True),
                    sa.Column("user_name", sa.String(64), primary_key=True),
                    sa.Column("record", LongText, nullable=False))
    op.create_table("acct_usage",
                    sa.Column("account", sa.String(64), primary_key=True),
                    sa.Column("user_name", sa.String(64), primary_key=True),
                    sa.Column("raw_usage", sa.Float, nullable=False))


def downgrade() -> None:
    for name in ("acct_usage", "acct_associations", "acct_qos", "acct_users", "acct_accounts"):
        op.drop_table(name)
