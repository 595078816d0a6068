"""Feedback on replies: one vote per user per turn, changeable.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("turn_id", Id, sa.ForeignKey("turns.id"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("value", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("turn_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("feedback")
