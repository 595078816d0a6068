"""A Stop click taken by another process than the one running the turn: the request
waits on the turn's row until the running process sees it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("stop_requested_by", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("stop_requested_by")
