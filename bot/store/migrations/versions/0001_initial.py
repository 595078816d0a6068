"""Initial schema: threads, inbound, turns, messages, usage, thread_files, kv.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("thread", sa.String(128), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("container_id", sa.String(128)),
        sa.Column("container_used_at", sa.Float),
        sa.Column("vector_store_id", sa.String(128)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_active_at", sa.Float, nullable=False),
        sa.UniqueConstraint(
            "platform",
            "scope",
            "channel",
            "thread",
            "epoch",
            name="uq_threads_platform_scope_channel_thread_epoch",
        ),
    )
    op.create_table(
        "inbound",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(128)),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(128)),
        sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("turn_id", Id),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(128)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("attachments", sa.JSON, nullable=False),
        sa.Column("notices", sa.JSON, nullable=False),
        sa.Column("anchor", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("platform", "event_id", name="uq_inbound_platform_event_id"),
        sa.UniqueConstraint(
            "platform", "channel", "message_id", name="uq_inbound_platform_channel_message_id"
        ),
    )
    op.create_index("ix_inbound_pending", "inbound", ["thread_id", "turn_id"])
    op.create_table(
        "turns",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("response_id", sa.String(128)),
        sa.Column("anchor", sa.String(256), nullable=False),
        sa.Column("posted", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("ref", sa.String(32)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_turns_status", "turns", ["status"])
    op.create_index("ix_turns_thread_id", "turns", ["thread_id"])
    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("item", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_messages_thread_id", "messages", ["thread_id", "id"])
    op.create_table(
        "usage",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("turn_id", Id, nullable=False),
        sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_usage_created_at", "usage", ["created_at"])
    op.create_index("ix_usage_user_id", "usage", ["user_id", "created_at"])
    op.create_table(
        "thread_files",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("file_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_thread_files_thread_id", "thread_files", ["thread_id"])
    op.create_table(
        "kv",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("kv", "thread_files", "usage", "messages", "turns", "inbound", "threads"):
        op.drop_table(table)
