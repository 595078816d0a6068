"""What was heard in a message's audio (its transcripts), so a turn resumed after a
crash has them without the files.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("heard", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.drop_column("heard")
