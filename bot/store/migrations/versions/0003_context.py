"""Context: messages kept only as context of the next turn, and how many earlier
messages of the platform's thread a turn was given.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(
            sa.Column("ambient", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("context_messages", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("context_messages")
    with op.batch_alter_table("inbound") as batch:
        batch.drop_column("ambient")
