"""Which assistant a thread talks to, and which answered each turn's usage.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.add_column(sa.Column("assistant", sa.String(64)))
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("assistant", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("assistant")
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("assistant")
