"""The store: threads, the inbound queue, turns, history, usage.

SQLAlchemy Core on an async engine: aiosqlite (WAL mode) by default, asyncpg for
Postgres. Nothing above this package sees SQL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.models import Inbound, ThreadKey, Usage
from bot.store import tables as t

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# A turn in one of these was left unfinished if no live process holds its thread.
OPEN_STATUSES = ("queued", "running", "posting")


@dataclass(frozen=True, slots=True)
class ThreadRow:
    id: int
    key: ThreadKey
    epoch: int
    conversation_id: str | None
    container_id: str | None
    container_used_at: float | None
    vector_store_id: str | None


@dataclass(frozen=True, slots=True)
class InboundRow:
    id: int
    thread_id: int
    user_id: str
    user_name: str | None
    text: str
    attachments: list[dict[str, Any]]
    notices: list[str]
    anchor: str


@dataclass(frozen=True, slots=True)
class TurnRow:
    id: int
    thread_id: int
    status: str
    attempts: int
    response_id: str | None
    anchor: str
    posted: list[str]
    ref: str | None


def _thread(row: sa.Row[Any]) -> ThreadRow:
    return ThreadRow(
        id=row.id,
        key=ThreadKey(row.platform, row.scope, row.channel, row.thread),
        epoch=row.epoch,
        conversation_id=row.conversation_id,
        container_id=row.container_id,
        container_used_at=row.container_used_at,
        vector_store_id=row.vector_store_id,
    )


def _inbound(row: sa.Row[Any]) -> InboundRow:
    return InboundRow(
        id=row.id,
        thread_id=row.thread_id,
        user_id=row.user_id,
        user_name=row.user_name,
        text=row.text,
        attachments=list(row.attachments or []),
        notices=list(row.notices or []),
        anchor=row.anchor,
    )


def _turn(row: sa.Row[Any]) -> TurnRow:
    return TurnRow(
        id=row.id,
        thread_id=row.thread_id,
        status=row.status,
        attempts=row.attempts,
        response_id=row.response_id,
        anchor=row.anchor,
        posted=list(row.posted or []),
        ref=row.ref,
    )


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _make_parent(path: Path) -> None:
    path.expanduser().parent.mkdir(parents=True, exist_ok=True)


def _run_migrations(connection: Connection, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Store:
    """Async access to the database. Create with :meth:`open`, close with :meth:`close`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite has one writer at a time; serialising our own writers avoids
        # "database is locked" churn under load. Postgres needs no such thing.
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @classmethod
    async def open(
        cls, url: str, *, connect_args: dict[str, Any] | None = None, migrate: bool = True
    ) -> Store:
        """Connect to `url` (an async SQLAlchemy URL) and apply migrations."""
        kwargs: dict[str, Any] = {"connect_args": connect_args or {}}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1]
            if path and path != ":memory:":
                await asyncio.to_thread(_make_parent, Path(path))
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        if migrate:
            await store.migrate()
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    async def migrate(self, revision: str = "head") -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_migrations, revision)

    async def revision(self) -> str | None:
        async with self.engine.connect() as conn:
            try:
                result = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            except sa.exc.DBAPIError:
                return None
            row = result.first()
            return None if row is None else str(row[0])

    # --- writes go through here -------------------------------------------------

    class _Tx:
        def __init__(self, store: Store) -> None:
            self.store = store
            self.conn: AsyncConnection | None = None

        async def __aenter__(self) -> AsyncConnection:
            if self.store._write_lock is not None:
                await self.store._write_lock.acquire()
            try:
                self._ctx = self.store.engine.begin()
                self.conn = await self._ctx.__aenter__()
            except BaseException:
                if self.store._write_lock is not None:
                    self.store._write_lock.release()
                raise
            return self.conn

        async def __aexit__(self, *exc: Any) -> None:
            try:
                await self._ctx.__aexit__(*exc)
            finally:
                if self.store._write_lock is not None:
                    self.store._write_lock.release()

    def _tx(self) -> Store._Tx:
        return Store._Tx(self)

    # --- threads ----------------------------------------------------------------

    @staticmethod
    def _current(key: ThreadKey) -> sa.Select[Any]:
        th = t.threads
        return (
            sa.select(th)
            .where(
                th.c.platform == key.platform,
                th.c.scope == key.scope,
                th.c.channel == key.channel,
                th.c.thread == key.thread,
            )
            .order_by(th.c.epoch.desc())
            .limit(1)
        )

    async def find_thread(self, key: ThreadKey) -> ThreadRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._current(key))).first()
        return None if row is None else _thread(row)

    async def thread(self, thread_id: int) -> ThreadRow:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(t.threads).where(t.threads.c.id == thread_id))
            ).one()
        return _thread(row)

    def _insert_ignoring_conflicts(self) -> Any:
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        return dialect_insert(t.threads).on_conflict_do_nothing()

    async def _ensure_thread(self, conn: AsyncConnection, key: ThreadKey, now: float) -> int:
        row = (await conn.execute(self._current(key))).first()
        if row is not None:
            return int(row.id)
        # Another process may create the same thread at the same moment: insert-or-ignore,
        # then read whichever row won.
        await conn.execute(
            self._insert_ignoring_conflicts().values(
                platform=key.platform,
                scope=key.scope,
                channel=key.channel,
                thread=key.thread,
                epoch=0,
                created_at=now,
                last_active_at=now,
            )
        )
        return int((await conn.execute(self._current(key))).one().id)

    async def ensure_thread(self, key: ThreadKey) -> ThreadRow:
        async with self._tx() as conn:
            thread_id = await self._ensure_thread(conn, key, time.time())
        return await self.thread(thread_id)

    async def reset_thread(self, key: ThreadKey) -> ThreadRow:
        """Start a new conversation for `key`; the old row stays as history."""
        now = time.time()
        async with self._tx() as conn:
            row = (await conn.execute(self._current(key))).first()
            epoch = 0 if row is None else row.epoch + 1
            await conn.execute(
                t.threads.insert().values(
                    platform=key.platform,
                    scope=key.scope,
                    channel=key.channel,
                    thread=key.thread,
                    epoch=epoch,
                    created_at=now,
                    last_active_at=now,
                )
            )
        found = await self.find_thread(key)
        assert found is not None
        return found

    async def thread_history(self, key: ThreadKey) -> list[ThreadRow]:
        th = t.threads
        query = (
            sa.select(th)
            .where(
                th.c.platform == key.platform,
                th.c.scope == key.scope,
                th.c.channel == key.channel,
                th.c.thread == key.thread,
            )
            .order_by(th.c.epoch)
        )
        async with self.engine.connect() as conn:
            return [_thread(r) for r in (await conn.execute(query)).all()]

    async def update_thread(self, thread_id: int, **values: Any) -> None:
        allowed = {"conversation_id", "container_id", "container_used_at", "vector_store_id"}
        if not values.keys() <= allowed:
            raise ValueError(f"cannot update {sorted(values.keys() - allowed)}")
        async with self._tx() as conn:
            await conn.execute(
                t.threads.update().where(t.threads.c.id == thread_id).values(**values)
            )

    # --- leases -----------------------------------------------------------------

    async def acquire_lease(self, thread_id: int, owner: str, ttl: float) -> bool:
        """Take (or renew) the right to run `thread_id`'s turns for `ttl` seconds.

        A process that died gives its threads up when the lease runs out.
        """
        async with self._tx() as conn:
            result = await conn.execute(self._lease(thread_id, owner, ttl))
        return bool(result.rowcount)

    @staticmethod
    def _lease(thread_id: int, owner: str, ttl: float) -> sa.Update:
        """Take the lease if it is free, ours, or ran out (a dead owner's)."""
        now = time.time()
        th = t.threads
        return (
            th.update()
            .where(
                th.c.id == thread_id,
                sa.or_(
                    th.c.lease_owner.is_(None), th.c.lease_owner == owner, th.c.lease_until < now
                ),
            )
            .values(lease_owner=owner, lease_until=now + ttl)
        )

    async def take_thread(
        self, thread_id: int, owner: str, ttl: float
    ) -> tuple[bool, list[TurnRow], list[InboundRow]]:
        """Take the thread's lease and read its work in one transaction.

        Returns (leased, turns left open by a dead process, queued messages); the
        messages are read only when no turn is open (those come first).
        """
        tu = t.turns
        async with self._tx() as conn:
            result = await conn.execute(self._lease(thread_id, owner, ttl))
            if not result.rowcount:
                return False, [], []
            open_turns = [
                _turn(r)
                for r in await conn.execute(
                    sa.select(tu)
                    .where(tu.c.thread_id == thread_id, tu.c.status.in_(OPEN_STATUSES))
                    .order_by(tu.c.id)
                )
            ]
            if open_turns:
                return True, open_turns, []
            rows = await conn.execute(self._pending(thread_id))
            return True, [], [_inbound(r) for r in rows]

    async def release_lease(self, thread_id: int, owner: str) -> None:
        th = t.threads
        async with self._tx() as conn:
            await conn.execute(
                th.update()
                .where(th.c.id == thread_id, th.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    # --- inbound queue ----------------------------------------------------------

    async def claim(
        self, inbound: Inbound, attachments: list[dict[str, Any]]
    ) -> tuple[int, int] | None:
        """Record `inbound` and queue it; (inbound id, thread id), or None if seen before.

        The dedup keys and the queue entry are written in one transaction: either the
        message is queued exactly once or not at all.
        """
        now = time.time()
        key = inbound.key
        try:
            async with self._tx() as conn:
                thread_id = await self._ensure_thread(conn, key, now)
                result = await conn.execute(
                    t.inbound.insert().values(
                        platform=key.platform,
                        event_id=inbound.event_id,
                        channel=key.channel,
                        message_id=inbound.message_id,
                        thread_id=thread_id,
                        user_id=inbound.user_id,
                        user_name=inbound.user_name,
                        text=inbound.text,
                        attachments=attachments,
                        notices=list(inbound.notices),
                        anchor=inbound.anchor,
                        created_at=now,
                    )
                )
                await conn.execute(
                    t.threads.update().where(t.threads.c.id == thread_id).values(last_active_at=now)
                )
        except IntegrityError:
            return None
        return _new_id(result), thread_id

    async def pending(self, thread_id: int) -> list[InboundRow]:
        """Queued messages of a thread not yet taken by a turn, oldest first."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self._pending(thread_id))).all()
        return [_inbound(r) for r in rows]

    @staticmethod
    def _pending(thread_id: int) -> sa.Select[Any]:
        ib = t.inbound
        return (
            sa.select(ib)
            .where(ib.c.thread_id == thread_id, ib.c.turn_id.is_(None))
            .order_by(ib.c.id)
        )

    async def threads_with_work(self) -> list[int]:
        """Threads that have queued messages or unfinished turns (for start-up)."""
        ib, tu = t.inbound, t.turns
        queued = sa.select(ib.c.thread_id).where(ib.c.turn_id.is_(None))
        open_turns = sa.select(tu.c.thread_id).where(tu.c.status.in_(OPEN_STATUSES))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.union(queued, open_turns))).all()
        return sorted({int(r[0]) for r in rows})

    # --- turns ------------------------------------------------------------------

    async def start_turn(self, thread_id: int, inbound_ids: Sequence[int], anchor: str) -> int:
        now = time.time()
        async with self._tx() as conn:
            result = await conn.execute(
                t.turns.insert().values(
                    thread_id=thread_id,
                    status="running",
                    attempts=1,
                    anchor=anchor,
                    posted=[],
                    created_at=now,
                    updated_at=now,
                )
            )
            turn_id = _new_id(result)
            await conn.execute(
                t.inbound.update().where(t.inbound.c.id.in_(inbound_ids)).values(turn_id=turn_id)
            )
        return turn_id

    async def turns_of(self, thread_id: int) -> list[TurnRow]:
        query = sa.select(t.turns).where(t.turns.c.thread_id == thread_id).order_by(t.turns.c.id)
        async with self.engine.connect() as conn:
            return [_turn(r) for r in (await conn.execute(query)).all()]

    async def finish_turn(
        self,
        turn: int,
        *,
        status: str,
        posted: list[str] | None,
        error: str | None,
        ref: str | None,
        response_id: str | None,
        usage: tuple[ThreadRow, str, str, Usage] | None,
    ) -> None:
        """Close a turn and record its token usage in one transaction.

        `posted=None` keeps the message ids recorded while posting (a reply that broke
        off); `response_id=None` keeps the one recorded when the model started.
        """
        now = time.time()
        async with self._tx() as conn:
            await conn.execute(
                t.turns.update()
                .where(t.turns.c.id == turn)
                .values(
                    status=status,
                    error=error,
                    ref=ref,
                    updated_at=now,
                    **({} if posted is None else {"posted": posted}),
                    **({} if response_id is None else {"response_id": response_id}),
                )
            )
            if usage is not None:
                thread, user_id, model, counts = usage
                await conn.execute(
                    t.usage.insert().values(
                        turn_id=turn,
                        thread_id=thread.id,
                        platform=thread.key.platform,
                        scope=thread.key.scope,
                        user_id=user_id,
                        model=model,
                        input_tokens=counts.input_tokens,
                        output_tokens=counts.output_tokens,
                        created_at=now,
                    )
                )

    async def _update_turn(self, turn: int, **values: Any) -> None:
        async with self._tx() as conn:
            await conn.execute(
                t.turns.update()
                .where(t.turns.c.id == turn)
                .values(**values, updated_at=time.time())
            )

    async def turn_started(self, turn: int, response_id: str) -> None:
        """Remember the model's response id, so a restarted process can look it up."""
        await self._update_turn(turn, response_id=response_id)

    async def record_posted(self, turn: int, posted: Sequence[str]) -> None:
        """The reply is being posted: these platform messages exist already."""
        await self._update_turn(turn, status="posting", posted=list(posted))

    async def retry_turn(self, turn: int) -> int:
        """Count another attempt at an interrupted turn; returns the attempt number."""
        async with self._tx() as conn:
            await conn.execute(
                t.turns.update()
                .where(t.turns.c.id == turn)
                .values(attempts=t.turns.c.attempts + 1, updated_at=time.time())
            )
            attempts = await conn.scalar(sa.select(t.turns.c.attempts).where(t.turns.c.id == turn))
        return int(attempts or 0)

    async def turn_inbound(self, turn: int) -> list[InboundRow]:
        """The messages a turn answers, oldest first."""
        ib = t.inbound
        query = sa.select(ib).where(ib.c.turn_id == turn).order_by(ib.c.id)
        async with self.engine.connect() as conn:
            return [_inbound(r) for r in (await conn.execute(query)).all()]

    # --- stateless history --------------------------------------------------------

    async def history(self, thread_id: int, limit: int) -> list[dict[str, Any]]:
        ms = t.messages
        query = (
            sa.select(ms.c.item)
            .where(ms.c.thread_id == thread_id)
            .order_by(ms.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [dict(r.item) for r in reversed(rows)]

    async def append_history(self, thread_id: int, items: Iterable[dict[str, Any]]) -> None:
        now = time.time()
        values = [{"thread_id": thread_id, "item": item, "created_at": now} for item in items]
        if not values:
            return
        async with self._tx() as conn:
            await conn.execute(t.messages.insert(), values)

    # --- usage ------------------------------------------------------------------

    async def usage_rows(self, *, since: float = 0.0) -> list[dict[str, Any]]:
        us = t.usage
        query = sa.select(us).where(us.c.created_at >= since).order_by(us.c.id)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    async def tokens_used(
        self, *, since: float, platform: str, user_id: str | None = None, scope: str | None = None
    ) -> int:
        """Input + output tokens since `since` for one user, or one workspace/guild."""
        us = t.usage
        query = sa.select(sa.func.sum(us.c.input_tokens + us.c.output_tokens)).where(
            us.c.created_at >= since, us.c.platform == platform
        )
        if user_id is not None:
            query = query.where(us.c.user_id == user_id)
        if scope is not None:
            query = query.where(us.c.scope == scope)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)

    async def usage_summary(self, *, since: float, by: str) -> list[tuple[str, str, int, int, int]]:
        """(platform, key, turns, input tokens, output tokens) grouped by user or thread."""
        us = t.usage
        column = {"user": us.c.user_id, "thread": us.c.thread_id}[by]
        query = (
            sa.select(
                us.c.platform,
                column,
                sa.func.count(),
                sa.func.sum(us.c.input_tokens),
                sa.func.sum(us.c.output_tokens),
            )
            .where(us.c.created_at >= since)
            .group_by(us.c.platform, column)
            .order_by(sa.func.sum(us.c.input_tokens + us.c.output_tokens).desc())
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r[0], str(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0)) for r in rows]

    # --- files and key/value ----------------------------------------------------

    async def add_thread_file(
        self, thread_id: int, *, file_id: str, name: str, purpose: str
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(
                t.thread_files.insert().values(
                    thread_id=thread_id,
                    file_id=file_id,
                    name=name,
                    purpose=purpose,
                    created_at=time.time(),
                )
            )

    async def thread_files(self, thread_id: int, purpose: str) -> list[tuple[str, str]]:
        tf = t.thread_files
        query = (
            sa.select(tf.c.file_id, tf.c.name)
            .where(tf.c.thread_id == thread_id, tf.c.purpose == purpose)
            .order_by(tf.c.id)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(query)).all()]

    async def get_value(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.kv.c.value).where(t.kv.c.key == key))).first()
        return None if row is None else str(row[0])

    async def set_value(self, key: str, value: str | None) -> None:
        async with self._tx() as conn:
            await conn.execute(t.kv.delete().where(t.kv.c.key == key))
            if value is not None:
                await conn.execute(t.kv.insert().values(key=key, value=value))
