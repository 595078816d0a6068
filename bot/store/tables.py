"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/` must match it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; Postgres gets a BIGINT identity.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

threads = sa.Table(
    "threads",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("thread", sa.String(128), nullable=False),
    # /reset starts epoch+1; older rows stay as history.
    sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("conversation_id", sa.String(128)),
    sa.Column("container_id", sa.String(128)),
    sa.Column("container_used_at", sa.Float),
    sa.Column("vector_store_id", sa.String(128)),
    # The assistant the thread talks to (None: the default; see bot/assistants.py).
    sa.Column("assistant", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_active_at", sa.Float, nullable=False),
    # Which process runs this thread's turns, until when (see Store.acquire_lease).
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
    sa.UniqueConstraint("platform", "scope", "channel", "thread", "epoch"),
)

inbound = sa.Table(
    "inbound",
    metadata,
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
    # Said in a thread the bot is part of, not to the bot: context for the next turn,
    # which it does not start.
    sa.Column("ambient", sa.Boolean, nullable=False, server_default=sa.false()),
    # Transcripts of the message's audio ([{name, text, voice, seconds}]), once heard.
    sa.Column("heard", sa.JSON),
    # NULLs never collide, so a message without one of the keys is still unique.
    sa.UniqueConstraint("platform", "event_id"),
    sa.UniqueConstraint("platform", "channel", "message_id"),
    sa.Index("ix_inbound_pending", "thread_id", "turn_id"),
)

turns = sa.Table(
    "turns",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
    # queued -> running -> posting -> done | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("response_id", sa.String(128)),
    sa.Column("anchor", sa.String(256), nullable=False),
    sa.Column("posted", sa.JSON, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("ref", sa.String(32)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # Earlier messages of the platform's thread given to the model as context.
    sa.Column("context_messages", sa.Integer),
    # Who pressed Stop in a process that does not run the turn (the running one polls).
    sa.Column("stop_requested_by", sa.String(64)),
    sa.Index("ix_turns_status", "status"),
    sa.Index("ix_turns_thread_id", "thread_id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
    sa.Column("item", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_messages_thread_id", "thread_id", "id"),
)

usage = sa.Table(
    "usage",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("turn_id", Id, nullable=False),
    sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("assistant", sa.String(64)),
    sa.Column("input_tokens", sa.Integer, nullable=False),
    sa.Column("output_tokens", sa.Integer, nullable=False),
    sa.Column("audio_seconds", sa.Float, nullable=False, server_default="0"),
    sa.Column("speech_characters", sa.Integer, nullable=False, server_default="0"),
    sa.Column("images", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_usage_created_at", "created_at"),
    sa.Index("ix_usage_user_id", "user_id", "created_at"),
)

thread_files = sa.Table(
    "thread_files",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("thread_id", Id, sa.ForeignKey("threads.id"), nullable=False),
    sa.Column("file_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    # "container": goes into the code interpreter; "search": in the thread's vector store
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_thread_files_thread_id", "thread_id"),
)

kv = sa.Table(
    "kv",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Conversations created ahead, so a new thread's first words cost one model request.
conversation_pool = sa.Table(
    "conversation_pool",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Thumbs up / down on a reply: one vote per user per turn ("up" or "down"), changeable.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("turn_id", Id, sa.ForeignKey("turns.id"), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("value", sa.String(8), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("turn_id", "user_id"),
)

# Tool calls waiting for a person's approval ("pending", then "approved", "denied" or
# "expired"); `message_ref` is the platform message with the buttons.
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("turn_id", Id, sa.ForeignKey("turns.id"), nullable=False),
    sa.Column("call_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("arguments", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message_ref", sa.String(128)),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.UniqueConstraint("turn_id", "call_id"),
)
