"""What a turn used besides tokens: seconds of audio transcribed, characters spoken,
images generated.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("audio_seconds", sa.Float, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("speech_characters", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("images", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("images")
        batch.drop_column("speech_characters")
        batch.drop_column("audio_seconds")
