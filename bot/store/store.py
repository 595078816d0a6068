"""The store: threads, the inbound queue, turns, history, usage.

SQLAlchemy Core, with every store operation one function of a connection that runs
in one transaction (`Store.run`):

* SQLite (the default, WAL mode): over one connection, kept open, on the event loop
  itself: an operation on a local file costs microseconds, less than a hop to another
  thread and back (bench/RESULTS.md). What could make the loop wait runs on the
  store's own thread instead: an operation that meets another writer's lock, the WAL
  checkpoints, migrations (`_SqliteInline`). One connection also means one writer,
  which is all SQLite allows anyway.
* PostgreSQL: asyncpg through SQLAlchemy's async engine, a connection per operation.

Nothing above this package sees SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.models import Inbound, ThreadKey, Usage
from bot.store import tables as t

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# A turn in one of these was left unfinished if no live process holds its thread.
#: queued -> running -> posting -> done | failed
TurnStatus = Literal["queued", "running", "posting", "done", "failed", "stopped"]
FeedbackValue = Literal["up", "down"]
OPEN_STATUSES: tuple[TurnStatus, ...] = ("queued", "running", "posting")
assert set(OPEN_STATUSES) < set(get_args(TurnStatus))


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """Tokens a turn used, charged to `user_id` in `thread`."""

    thread: ThreadRow
    user_id: str
    model: str
    counts: Usage
    assistant: str | None = None


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One line of `threadbridge usage`: a user's, thread's or assistant's use of a model."""

    platform: str
    key: str
    model: str
    turns: int
    input_tokens: int
    output_tokens: int
    audio_seconds: float = 0.0
    speech_characters: int = 0
    images: int = 0


class _Keep:
    """The default of `Store.update_thread`'s fields: leave the column as it is."""


KEEP = _Keep()

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ThreadRow:
    id: int
    key: ThreadKey
    epoch: int
    conversation_id: str | None
    container_id: str | None
    container_used_at: float | None
    vector_store_id: str | None
    assistant: str | None = None  # None: the default assistant


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
    message_id: str | None = None
    event_id: str | None = None
    ambient: bool = False
    heard: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TurnRow:
    id: int
    thread_id: int
    status: TurnStatus
    attempts: int
    response_id: str | None
    anchor: str
    posted: list[str]
    ref: str | None


@dataclass(frozen=True, slots=True)
class TurnControl:
    """A turn as a button on its reply sees it (`Store.turn_control`)."""

    turn_id: int
    thread: ThreadRow
    status: TurnStatus
    posted: list[str]
    askers: frozenset[str]


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """One user's vote on one reply (`Store.feedback_rows`)."""

    turn_id: int
    user_id: str
    value: FeedbackValue
    at: float
    model: str
    thread: ThreadRow
    posted: list[str]


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """A tool call waiting for (or given) a person's decision."""

    id: int
    turn_id: int
    call_id: str
    kind: str
    name: str
    arguments: str
    status: str  # pending, approved, denied, expired
    message_ref: str | None
    decided_by: str | None
    expires_at: float


def _approval(row: sa.Row[Any]) -> ApprovalRow:
    return ApprovalRow(
        id=row.id,
        turn_id=row.turn_id,
        call_id=row.call_id,
        kind=row.kind,
        name=row.name,
        arguments=row.arguments,
        status=row.status,
        message_ref=row.message_ref,
        decided_by=row.decided_by,
        expires_at=row.expires_at,
    )


@dataclass(frozen=True, slots=True)
class Work:
    """What a worker finds when it takes a thread (`Store.take_work`).

    `turn` is the turn to run now: a new one over the queued messages in `rows`, or
    (`resumed`) one a dead process left open, with the messages it answers. `waiting`
    means there is work but no adapter for the thread's platform yet: nothing was
    started, the messages stay queued.
    """

    thread: ThreadRow
    turn: TurnRow | None = None
    rows: list[InboundRow] | None = None
    resumed: bool = False
    waiting: bool = False
    # The thread's first turn (none before it, finished or not): the one that may read
    # the platform thread's earlier messages.
    first: bool = False
    # The claim that started it gave the new thread a conversation from the pool.
    pooled: bool = False


@dataclass(frozen=True, slots=True)
class Start:
    """What a claim needs to start its message's turn at once (`Store.claim`): the
    lease for `owner` (`ttl` seconds) and, with `pool_after`, a conversation from the
    pool created after that time for a new thread. The message then gets to its model
    request with this one transaction. A known thread's turn starts only if the thread
    is idle: its lease free, no turn open, and not among `busy` (the threads this
    process has a worker for, which take their queue themselves)."""

    owner: str
    ttl: float
    pool_after: float | None = None
    busy: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message recorded and queued (`Store.claim`); `work` is the turn its claim
    started (a new or idle thread, claimed with a `Start`), else None: a worker takes it."""

    inbound_id: int
    thread_id: int
    work: Work | None = None


def _thread(row: sa.Row[Any]) -> ThreadRow:
    return ThreadRow(
        id=row.id,
        key=ThreadKey(row.platform, row.scope, row.channel, row.thread),
        epoch=row.epoch,
        conversation_id=row.conversation_id,
        container_id=row.container_id,
        container_used_at=row.container_used_at,
        vector_store_id=row.vector_store_id,
        assistant=row.assistant,
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
        message_id=row.message_id,
        event_id=row.event_id,
        ambient=bool(row.ambient),
        heard=list(row.heard or []),
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


# SQLite on the event loop (`_SqliteInline`): how long an operation that meets another
# writer waits on the store's thread, and how many commits go between WAL checkpoints.
BUSY_SECONDS = 10.0
CHECKPOINT_EVERY = 200


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    cursor.close()


def _sqlite_inline_pragmas(dbapi_connection: Any, record: Any) -> None:
    """The loop's connection never waits for a lock, nor checkpoints (see `_SqliteInline`)."""
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def _run_migrations(connection: Connection, revision: str = "head") -> None:
    """Upgrade the schema; one log line if that changed anything, none otherwise
    (alembic's own dozen INFO lines per start are kept out of the log)."""
    # Before the imports: alembic logs its plugins as they load.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, revision)
    after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        logger.info("database schema migrated from %s to %s", before or "empty", after)


# --- statements --------------------------------------------------------------------
# The frequent ones are built once and run with parameters: building a statement (and
# its cache key) on every call cost more than SQLite took to run it.

_th, _ib, _tu = t.threads, t.inbound, t.turns
_p = sa.bindparam

_CURRENT = (
    sa.select(_th)
    .where(
        _th.c.platform == _p("platform"),
        _th.c.scope == _p("scope"),
        _th.c.channel == _p("channel"),
        _th.c.thread == _p("thread"),
    )
    .order_by(_th.c.epoch.desc())
    .limit(1)
)
_THREAD = sa.select(_th).where(_th.c.id == _p("tid"))
_NEW_THREAD: dict[str, sa.Insert] = {
    "postgresql": pg_insert(_th).on_conflict_do_nothing().returning(_th),
    "sqlite": sqlite_insert(_th).on_conflict_do_nothing().returning(_th),
}
_TOUCH_THREAD = _th.update().where(_th.c.id == _p("tid")).values(last_active_at=_p("now"))
# Take the lease if it is free, ours, or ran out (a dead owner's).
_LEASE = (
    _th.update()
    .where(
        _th.c.id == _p("tid"),
        sa.or_(
            _th.c.lease_owner.is_(None),
            _th.c.lease_owner == _p("owner"),
            _th.c.lease_until < _p("now"),
        ),
    )
    .values(lease_owner=_p("owner"), lease_until=_p("until"))
)
# Take the lease only if it is free or ran out (a claim starting an idle thread's turn:
# a lease of ours means a worker of this process has the thread).
_LEASE_FREE = (
    _th.update()
    .where(
        _th.c.id == _p("tid"),
        sa.or_(_th.c.lease_owner.is_(None), _th.c.lease_until < _p("now")),
    )
    .values(lease_owner=_p("owner"), lease_until=_p("until"), last_active_at=_p("now"))
    .returning(_th)
)
_RELEASE = (
    _th.update()
    .where(_th.c.id == _p("tid"), _th.c.lease_owner == _p("owner"))
    .values(lease_owner=None, lease_until=None)
)
_INSERT_INBOUND = _ib.insert().returning(_ib)
_PENDING = (
    sa.select(_ib).where(_ib.c.thread_id == _p("tid"), _ib.c.turn_id.is_(None)).order_by(_ib.c.id)
)
# A message that starts a turn (context-only ones wait for one).
_ANY_PENDING = (
    sa.select(_ib.c.id)
    .where(_ib.c.thread_id == _p("tid"), _ib.c.turn_id.is_(None), _ib.c.ambient.is_(False))
    .limit(1)
)
# Let the lease go unless a message that starts a turn waits (one statement for the
# common case: nothing waits).
_RELEASE_IF_IDLE = _RELEASE.where(
    ~sa.exists().where(
        _ib.c.thread_id == _p("tid"), _ib.c.turn_id.is_(None), _ib.c.ambient.is_(False)
    )
)
_TAKE_PENDING = (
    _ib.update()
    .where(_ib.c.thread_id == _p("tid"), _ib.c.turn_id.is_(None), _ib.c.id <= _p("last"))
    .values(turn_id=_p("turn"))
)
_ANY_TURN = sa.select(_tu.c.id).where(_tu.c.thread_id == _p("tid")).limit(1)
_TURN_BEFORE = (
    sa.select(_tu.c.id).where(_tu.c.thread_id == _p("tid"), _tu.c.id < _p("turn")).limit(1)
)
# With the thread: the (thread_id, turn_id) index finds the rows (turn_id alone has none).
_TURN_INBOUND = (
    sa.select(_ib)
    .where(_ib.c.thread_id == _p("tid"), _ib.c.turn_id == _p("turn"))
    .order_by(_ib.c.id)
)
# Spelled out, not `status.in_(...)`: SQLAlchemy expands an IN list on every execution
# (about 40 us a statement).
_IS_OPEN = sa.or_(*(_tu.c.status == status for status in OPEN_STATUSES))
_OPEN_TURN = (
    sa.select(_tu).where(_tu.c.thread_id == _p("tid"), _IS_OPEN).order_by(_tu.c.id).limit(1)
)
# `_LEASE_FREE` for a thread without an open turn.
_LEASE_FREE_IDLE = _LEASE_FREE.where(~sa.exists().where(_tu.c.thread_id == _p("tid"), _IS_OPEN))
_STOP_REQUESTS = sa.select(_tu.c.id, _tu.c.stop_requested_by).where(
    _IS_OPEN, _tu.c.stop_requested_by.is_not(None)
)
_INSERT_TURN = _tu.insert()
# The SET clause comes from the parameters' keys.
_UPDATE_TURN = _tu.update().where(_tu.c.id == _p("turn"))
_TURN_THREAD = sa.select(_tu.c.thread_id).where(_tu.c.id == _p("turn"))
_INSERT_USAGE = t.usage.insert()


_cp = t.conversation_pool
_POOL_SIZE = sa.select(sa.func.count()).select_from(_cp)
# The oldest pooled conversation created after `after`, taken in one statement.
_TAKE_POOLED = (
    _cp.delete()
    .where(
        _cp.c.id
        == sa.select(_cp.c.id)
        .where(_cp.c.created_at > _p("after"))
        .order_by(_cp.c.id)
        .limit(1)
        .scalar_subquery()
    )
    .returning(_cp.c.conversation_id, _cp.c.created_at)
)
_ANY_POOLED = sa.select(_cp.c.id).where(_cp.c.created_at > _p("after")).limit(1)


def _take_pooled(conn: Connection, created_after: float) -> sa.Row[Any, Any] | None:
    """Take the oldest pooled conversation created after `created_after` (its
    `conversation_id` and `created_at`); None if there is none. One that another process
    takes at the same moment is skipped."""
    for _ in range(3):
        row = conn.execute(_TAKE_POOLED, {"after": created_after}).first()
        if row is not None:
            return row
        if conn.execute(_ANY_POOLED, {"after": created_after}).first() is None:
            return None
    return None


def _new_turn(conn: Connection, thread_id: int, anchor: str, now: float) -> TurnRow:
    """Insert a running turn (its first attempt) that answers at `anchor`."""
    turn = TurnRow(0, thread_id, "running", 1, None, anchor, [], None)
    result = conn.execute(
        _INSERT_TURN,
        {
            "thread_id": thread_id,
            "status": turn.status,
            "attempts": turn.attempts,
            "anchor": anchor,
            "posted": [],
            "created_at": now,
            "updated_at": now,
        },
    )
    return replace(turn, id=_new_id(result))


def _start_idle(conn: Connection, thread_id: int, start: Start, now: float) -> Work | None:
    """An idle known thread's next turn, over its queue, started by a claim; None if a
    turn is open (a dead process's is `take_work`'s to resume) or the lease is held."""
    row = conn.execute(
        _LEASE_FREE_IDLE,
        {"tid": thread_id, "owner": start.owner, "now": now, "until": now + start.ttl},
    ).first()
    if row is None:
        return None
    rows = [_inbound(r) for r in conn.execute(_PENDING, {"tid": thread_id})]
    return _turn_over_queue(conn, _thread(row), rows, now)


def _turn_over_queue(
    conn: Connection, thread: ThreadRow, rows: list[InboundRow], now: float
) -> Work:
    """A new turn over the thread's queued `rows` (at least one addressed to the bot),
    answering at the last addressed one's anchor; the rows are the turn's now."""
    addressed = [r for r in rows if not r.ambient]
    first = conn.execute(_ANY_TURN, {"tid": thread.id}).first() is None
    turn = _new_turn(conn, thread.id, addressed[-1].anchor, now)
    conn.execute(_TAKE_PENDING, {"tid": thread.id, "last": rows[-1].id, "turn": turn.id})
    return Work(thread, turn, rows, first=first)


def _key(key: ThreadKey) -> dict[str, str]:
    return {
        "platform": key.platform,
        "scope": key.scope,
        "channel": key.channel,
        "thread": key.thread,
    }


def _lease(thread_id: int, owner: str, ttl: float) -> dict[str, Any]:
    now = time.time()
    return {"tid": thread_id, "owner": owner, "now": now, "until": now + ttl}


# --- where operations run -------------------------------------------------------------


class _SqliteInline:
    """One SQLite connection, kept open, each operation a transaction on it, run on the
    event loop's own thread: a statement on a local file takes microseconds, and a hop
    to another thread (and the two threads' contention for the interpreter lock) cost
    more than the work, about 1.3 ms a turn.

    What could make the loop wait never runs on it:
    - the connection does not wait for a lock (`busy_timeout=0`): an operation that
      meets another writer (another process, a CLI command) is rolled back and run
      again on the store's thread, which waits for the lock as `busy_timeout` would;
    - WAL checkpoints (their fsync) are not done by commits (`wal_autocheckpoint=0`)
      but by the store's thread, on a connection of its own, once enough was written;
    - migrations run on the store's thread.
    An asyncio lock keeps the connection to one operation at a time, wherever it runs.
    """

    def __init__(self, url: str, connect_args: dict[str, Any]) -> None:
        self.engine = sa.create_engine(
            url,
            connect_args={**connect_args, "check_same_thread": False},
            poolclass=sa.pool.StaticPool,
        )
        event.listen(self.engine, "connect", _sqlite_inline_pragmas)
        self._url, self._connect_args = url, connect_args
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadbridge-store")
        self._conn: Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._commits = 0  # since the last checkpoint
        self._checkpointer: sa.Engine | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._closed = False

    async def run(self, fn: Callable[[Connection], T], *, inline: bool = True) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if inline:
                try:
                    result = self._call(fn)
                except sa.exc.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    # Rolled back: run again where waiting for the lock is harmless.
                    result = await self._on_thread(fn)
            else:
                result = await self._on_thread(fn)
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._commits = 0
            self._checkpointing = asyncio.get_running_loop().run_in_executor(
                self._thread, self._checkpoint
            )
        return result

    async def _on_thread(self, fn: Callable[[Connection], T]) -> T:
        """`fn` on the store's thread. The lock is held until the thread is done with
        the connection, even if the caller is cancelled meanwhile (a Stop, a shutdown):
        the next operation must not use it on the loop at the same time."""
        future = asyncio.get_running_loop().run_in_executor(self._thread, self._call_waiting, fn)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():  # however often it is cancelled meanwhile
                with contextlib.suppress(BaseException):
                    await asyncio.shield(future)
            raise

    def _call(self, fn: Callable[[Connection], T]) -> T:
        if self._conn is None or self._conn.invalidated:
            if self._conn is not None:
                self._conn.close()
            self._conn = self.engine.connect()
        with self._conn.begin():
            return fn(self._conn)

    def _call_waiting(self, fn: Callable[[Connection], T]) -> T:
        """`_call` on the store's thread, retried while another writer holds the lock
        (for up to BUSY_SECONDS, as `busy_timeout` would)."""
        deadline = time.monotonic() + BUSY_SECONDS
        delay = 0.001
        while True:
            try:
                return self._call(fn)
            except sa.exc.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _checkpoint(self) -> None:
        """Move the WAL's pages into the database file (PASSIVE: it waits for no one)."""
        try:
            if self._checkpointer is None:
                self._checkpointer = sa.create_engine(
                    self._url, connect_args=self._connect_args, poolclass=sa.pool.StaticPool
                )
                event.listen(self._checkpointer, "connect", _sqlite_pragmas)
            with self._checkpointer.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except sa.exc.DBAPIError as exc:
            logger.info("WAL checkpoint skipped: %s", exc.orig)

    def _dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()
        if self._checkpointer is not None:
            self._checkpoint()  # what is left of the WAL
            self._checkpointer.dispose()

    async def close(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # after the operation under way, before any other
            if self._closed:
                return
            self._closed = True
            if self._checkpointing is not None:
                await asyncio.gather(self._checkpointing, return_exceptions=True)
            await asyncio.get_running_loop().run_in_executor(self._thread, self._dispose)
        self._thread.shutdown(wait=False)


class _AsyncEngine:
    """An async engine's pool: each operation on a connection of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def run(self, fn: Callable[[Connection], T], *, inline: bool = True) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(fn)

    async def close(self) -> None:
        await self.engine.dispose()


def _make_parent(path: str) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for an in-memory database)."""
    path = url.split("///", 1)[1] if "///" in url else ""
    return path if path and path != ":memory:" else None


class Store:
    """Async access to the database. Create with :meth:`open`, close with :meth:`close`."""

    def __init__(self, backend: _SqliteInline | _AsyncEngine, dialect: str) -> None:
        self._backend = backend
        self.dialect = dialect

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        connect_args: dict[str, Any] | None = None,
        migrate: bool = True,
        connections: int = 30,
    ) -> Store:
        """Connect to `url` and apply migrations.

        `sqlite:///path` (`sqlite+aiosqlite://` means the same), or an async
        PostgreSQL URL (`postgresql+asyncpg://...`, see `normalize_database_url`), with
        at most `connections` connections (a third kept open).
        """
        backend: _SqliteInline | _AsyncEngine
        if url.startswith("sqlite"):
            sync_url = "sqlite:" + url.split(":", 1)[1]
            path = _sqlite_path(sync_url)
            if path is not None:
                await asyncio.to_thread(_make_parent, path)
            backend, dialect = _SqliteInline(sync_url, connect_args or {}), "sqlite"
        else:
            kept = max(1, connections // 3)
            engine = create_async_engine(
                url,
                connect_args=connect_args or {},
                pool_size=kept,
                max_overflow=max(0, connections - kept),
                pool_pre_ping=True,
            )
            backend, dialect = _AsyncEngine(engine), engine.dialect.name
        store = cls(backend, dialect)
        if migrate:
            await store.migrate()
        return store

    async def close(self) -> None:
        await self._backend.close()

    async def run(self, fn: Callable[[Connection], T], *, inline: bool = True) -> T:
        """Run `fn(connection)` in one transaction (committed if it returns). SQLite
        runs it on the event loop unless `inline=False` (long work: migrations)."""
        return await self._backend.run(fn, inline=inline)

    async def migrate(self, revision: str = "head") -> None:
        await self.run(lambda conn: _run_migrations(conn, revision), inline=False)

    async def revision(self) -> str | None:
        def read(conn: Connection) -> str | None:
            value = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            return None if value is None else str(value)

        try:
            return await self.run(read)
        except sa.exc.DBAPIError:
            return None

    # --- threads ----------------------------------------------------------------

    async def find_thread(self, key: ThreadKey) -> ThreadRow | None:
        def find(conn: Connection) -> ThreadRow | None:
            row = conn.execute(_CURRENT, _key(key)).first()
            return None if row is None else _thread(row)

        return await self.run(find)

    async def thread(self, thread_id: int) -> ThreadRow:
        def read(conn: Connection) -> ThreadRow:
            return _thread(conn.execute(_THREAD, {"tid": thread_id}).one())

        return await self.run(read)

    def _ensure_thread(
        self, conn: Connection, key: ThreadKey, now: float, assistant: str | None = None
    ) -> int:
        row = conn.execute(_CURRENT, _key(key)).first()
        if row is not None:
            return int(row.id)
        made = self._create_thread(conn, key, now, assistant, None)
        return made.id if isinstance(made, ThreadRow) else made

    def _create_thread(
        self,
        conn: Connection,
        key: ThreadKey,
        now: float,
        assistant: str | None,
        start: Start | None,
    ) -> ThreadRow | int:
        """Insert the thread (held by `start.owner`, with a pooled conversation, given a
        `start`): its row if this transaction created it, else the id of the row another
        process created at the same moment (insert-or-ignore, then read the row that won,
        and with it its assistant)."""
        values: dict[str, Any] = {
            **_key(key),
            "epoch": 0,
            "created_at": now,
            "last_active_at": now,
            "assistant": assistant,
        }
        pooled = None
        if start is not None:
            if start.pool_after is not None:
                pooled = _take_pooled(conn, start.pool_after)
            values.update(
                lease_owner=start.owner,
                lease_until=now + start.ttl,
                conversation_id=None if pooled is None else pooled.conversation_id,
            )
        row = conn.execute(_NEW_THREAD[self.dialect], values).first()
        if row is not None:
            return _thread(row)
        if pooled is not None:  # lost the race: the conversation goes back, as old as it was
            conn.execute(_cp.insert(), dict(pooled._mapping))
        return int(conn.execute(_CURRENT, _key(key)).one().id)

    async def ensure_thread(self, key: ThreadKey) -> ThreadRow:
        def ensure(conn: Connection) -> ThreadRow:
            thread_id = self._ensure_thread(conn, key, time.time())
            return _thread(conn.execute(_THREAD, {"tid": thread_id}).one())

        return await self.run(ensure)

    async def reset_thread(self, key: ThreadKey) -> ThreadRow:
        """Start a new conversation for `key`; the old row stays as history."""

        def reset(conn: Connection) -> ThreadRow:
            now = time.time()
            row = conn.execute(_CURRENT, _key(key)).first()
            conn.execute(
                t.threads.insert().values(
                    platform=key.platform,
                    scope=key.scope,
                    channel=key.channel,
                    thread=key.thread,
                    epoch=0 if row is None else row.epoch + 1,
                    assistant=None if row is None else row.assistant,
                    created_at=now,
                    last_active_at=now,
                )
            )
            return _thread(conn.execute(_CURRENT, _key(key)).one())

        return await self.run(reset)

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
        return await self.run(lambda conn: [_thread(r) for r in conn.execute(query)])

    async def update_thread(
        self,
        thread_id: int,
        *,
        conversation_id: str | _Keep | None = KEEP,
        container_id: str | _Keep | None = KEEP,
        container_used_at: float | _Keep | None = KEEP,
        vector_store_id: str | _Keep | None = KEEP,
        assistant: str | _Keep | None = KEEP,
    ) -> None:
        """Set the given OpenAI resources (or the assistant) of a thread (the others stay
        as they are)."""
        given = {
            "conversation_id": conversation_id,
            "container_id": container_id,
            "container_used_at": container_used_at,
            "vector_store_id": vector_store_id,
            "assistant": assistant,
        }
        values = {k: v for k, v in given.items() if not isinstance(v, _Keep)}
        if not values:
            return
        statement = t.threads.update().where(t.threads.c.id == thread_id).values(**values)
        await self.run(lambda conn: conn.execute(statement))

    # --- leases -----------------------------------------------------------------

    async def acquire_lease(self, thread_id: int, owner: str, ttl: float) -> bool:
        """Take (or renew) the right to run `thread_id`'s turns for `ttl` seconds.

        A process that died gives its threads up when the lease runs out.
        """
        return await self.run(
            lambda conn: bool(conn.execute(_LEASE, _lease(thread_id, owner, ttl)).rowcount)
        )

    async def release_lease(self, thread_id: int, owner: str) -> None:
        await self.run(lambda conn: conn.execute(_RELEASE, {"tid": thread_id, "owner": owner}))

    async def take_work(
        self, thread_id: int, *, owner: str, ttl: float, platforms: Collection[str]
    ) -> Work | None:
        """Take the thread's lease and start its next turn, in one transaction.

        None if another live process holds the thread. A turn left open by a dead
        process comes first (its attempt is counted); else the queued messages become a
        new turn. Turns start only for `platforms` (those with an adapter).
        """

        def take(conn: Connection) -> Work | None:
            if not conn.execute(_LEASE, _lease(thread_id, owner, ttl)).rowcount:
                return None
            now = time.time()
            thread = _thread(conn.execute(_THREAD, {"tid": thread_id}).one())
            ready = thread.key.platform in platforms
            row = conn.execute(_OPEN_TURN, {"tid": thread_id}).first()
            if row is not None:
                turn = _turn(row)
                rows = [
                    _inbound(r)
                    for r in conn.execute(_TURN_INBOUND, {"tid": thread_id, "turn": turn.id})
                ]
                if not ready:
                    return Work(thread, rows=rows, waiting=True)
                attempts = turn.attempts + 1
                conn.execute(
                    _UPDATE_TURN, {"turn": turn.id, "attempts": attempts, "updated_at": now}
                )
                # The thread's first turn still reads what was said before it, should it
                # have to ask the model again.
                earlier = conn.execute(_TURN_BEFORE, {"tid": thread_id, "turn": turn.id}).first()
                turn = replace(turn, attempts=attempts)
                return Work(thread, turn, rows, resumed=True, first=earlier is None)
            rows = [_inbound(r) for r in conn.execute(_PENDING, {"tid": thread_id})]
            if all(r.ambient for r in rows):
                return Work(thread)  # context only: it waits for a message to the bot
            if not ready:
                return Work(thread, rows=rows, waiting=True)
            return _turn_over_queue(conn, thread, rows, now)

        return await self.run(take)

    # --- inbound queue ----------------------------------------------------------

    async def claim(
        self,
        inbound: Inbound,
        attachments: list[dict[str, Any]],
        *,
        assistant: str | None = None,
        start: Start | None = None,
    ) -> Claimed | None:
        """Record `inbound` and queue it, or None if it was seen before.

        The dedup keys and the queue entry are written in one transaction: either the
        message is queued exactly once or not at all. A thread created here talks to
        `assistant`; an existing one keeps its own. With `start`, a thread created here
        (nobody can hold it yet) also gets its lease, its first turn over this message
        and a pooled conversation, in the same transaction (`Claimed.work`); so does an
        idle known thread (see `Start`), with a turn over its whole queue.
        """
        key = inbound.key

        def claim(conn: Connection) -> Claimed:
            now = time.time()
            # A thread created here: nobody else can hold it yet, so given a `start`, its
            # first turn starts now.
            created: ThreadRow | None = None
            row = conn.execute(_CURRENT, _key(key)).first()
            if row is not None:
                thread_id = int(row.id)
            else:
                made = self._create_thread(
                    conn, key, now, assistant, None if inbound.ambient else start
                )
                created = made if isinstance(made, ThreadRow) else None
                thread_id = made.id if isinstance(made, ThreadRow) else made
            turn = None
            if created is not None and start is not None and not inbound.ambient:
                turn = _new_turn(conn, thread_id, inbound.anchor, now)
            queued = conn.execute(
                _INSERT_INBOUND,
                {
                    "platform": key.platform,
                    "event_id": inbound.event_id,
                    "channel": key.channel,
                    "message_id": inbound.message_id,
                    "thread_id": thread_id,
                    "user_id": inbound.user_id,
                    "user_name": inbound.user_name,
                    "text": inbound.text,
                    "attachments": attachments,
                    "notices": list(inbound.notices),
                    "anchor": inbound.anchor,
                    "created_at": now,
                    "ambient": inbound.ambient,
                    "turn_id": None if turn is None else turn.id,
                },
            ).one()
            if created is not None:
                if turn is None:
                    return Claimed(int(queued.id), thread_id)
                pooled = created.conversation_id is not None
                first = Work(created, turn, [_inbound(queued)], first=True, pooled=pooled)
                return Claimed(int(queued.id), thread_id, first)
            work = None
            if start is not None and not inbound.ambient and thread_id not in start.busy:
                work = _start_idle(conn, thread_id, start, now)
            if work is None:
                conn.execute(_TOUCH_THREAD, {"tid": thread_id, "now": now})
            return Claimed(int(queued.id), thread_id, work)

        try:
            return await self.run(claim)
        except IntegrityError:
            # A duplicate only if a dedup key is taken; any other failed write (a
            # constraint, a trigger) must not pass for one and lose the message.
            if await self.run(lambda conn: self._seen(conn, inbound)):
                return None
            raise

    @staticmethod
    def _seen(conn: Connection, inbound: Inbound) -> bool:
        ib, key = t.inbound, inbound.key
        keys = []
        if inbound.event_id is not None:
            keys.append(sa.and_(ib.c.platform == key.platform, ib.c.event_id == inbound.event_id))
        if inbound.message_id is not None:
            keys.append(
                sa.and_(
                    ib.c.platform == key.platform,
                    ib.c.channel == key.channel,
                    ib.c.message_id == inbound.message_id,
                )
            )
        if not keys:
            return False
        found = conn.execute(sa.select(ib.c.id).where(sa.or_(*keys)).limit(1)).first()
        return found is not None

    async def pending(self, thread_id: int) -> list[InboundRow]:
        """Queued messages of a thread not yet taken by a turn, oldest first."""
        return await self.run(
            lambda conn: [_inbound(r) for r in conn.execute(_PENDING, {"tid": thread_id})]
        )

    async def threads_with_work(self) -> list[int]:
        """Threads that have queued messages or unfinished turns (for start-up)."""
        ib, tu = t.inbound, t.turns
        queued = sa.select(ib.c.thread_id).where(ib.c.turn_id.is_(None), ib.c.ambient.is_(False))
        open_turns = sa.select(tu.c.thread_id).where(_IS_OPEN)
        rows = await self.run(lambda conn: conn.execute(sa.union(queued, open_turns)).all())
        return sorted({int(r[0]) for r in rows})

    # --- turns ------------------------------------------------------------------

    async def turns_of(self, thread_id: int) -> list[TurnRow]:
        query = sa.select(t.turns).where(t.turns.c.thread_id == thread_id).order_by(t.turns.c.id)
        return await self.run(lambda conn: [_turn(r) for r in conn.execute(query)])

    async def record_context(self, turn: int, count: int) -> None:
        """How many earlier messages of the platform's thread the turn was given."""
        query = t.turns.update().where(t.turns.c.id == turn).values(context_messages=count)
        await self.run(lambda conn: conn.execute(query))

    async def finish_turn(
        self,
        turn: int,
        *,
        status: TurnStatus,
        posted: list[str] | None,
        error: str | None,
        ref: str | None,
        response_id: str | None,
        usage: TurnUsage | None,
        owner: str | None = None,
        thread_id: int | None = None,
    ) -> bool:
        """Close a turn and record its token usage in one transaction.

        `posted=None` keeps the message ids recorded while posting (a reply that broke
        off); `response_id=None` keeps the one recorded when the model started.

        With `owner` (the lease holder of the turn's thread, `thread_id` if the caller
        knows it), the same transaction looks at the thread's queue: True if messages
        wait (the lease is kept for them), else the lease is released and False returned.
        """

        def finish(conn: Connection) -> bool:
            now = time.time()
            values: dict[str, Any] = {
                "status": status,
                "error": error,
                "ref": ref,
                "updated_at": now,
            }
            if posted is not None:
                values["posted"] = posted
            if response_id is not None:
                values["response_id"] = response_id
            conn.execute(_UPDATE_TURN, {"turn": turn, **values})
            if usage is not None:
                thread = usage.thread
                conn.execute(
                    _INSERT_USAGE,
                    {
                        "turn_id": turn,
                        "thread_id": thread.id,
                        "platform": thread.key.platform,
                        "scope": thread.key.scope,
                        "user_id": usage.user_id,
                        "model": usage.model,
                        "assistant": usage.assistant,
                        "input_tokens": usage.counts.input_tokens,
                        "output_tokens": usage.counts.output_tokens,
                        "audio_seconds": usage.counts.audio_seconds,
                        "speech_characters": usage.counts.speech_characters,
                        "images": usage.counts.images,
                        "created_at": now,
                    },
                )
            if owner is None:
                return False
            tid = thread_id
            if tid is None:
                tid = conn.execute(_TURN_THREAD, {"turn": turn}).scalar_one()
            if conn.execute(_RELEASE_IF_IDLE, {"tid": tid, "owner": owner}).rowcount == 1:
                return False
            # Not released: messages wait, or the lease is no longer ours.
            return conn.execute(_ANY_PENDING, {"tid": tid}).first() is not None

        return await self.run(finish)

    async def request_stop(self, turn: int, user_id: str) -> bool:
        """Ask the process running `turn` to stop it (`stop_requests` is how it sees
        that); False if the turn is over."""
        query = (
            t.turns.update().where(t.turns.c.id == turn, _IS_OPEN).values(stop_requested_by=user_id)
        )
        return await self.run(lambda conn: conn.execute(query).rowcount == 1)

    async def stop_requests(self) -> dict[int, str]:
        """Open turns someone asked to stop in a process not running them: turn -> who.
        (The status index finds the open turns; the statement never changes.)"""
        return await self.run(
            lambda conn: {int(r.id): str(r.stop_requested_by) for r in conn.execute(_STOP_REQUESTS)}
        )

    async def turn_control(self, turn: int) -> TurnControl | None:
        """What a Stop or feedback click needs to know of a turn: its thread, status and
        who asked (the authors of the messages it answers); None for an unknown turn."""
        ts, th, ib = t.turns, t.threads, t.inbound

        def read(conn: Connection) -> TurnControl | None:
            row = conn.execute(
                sa.select(ts.c.status, ts.c.posted, th)
                .join(th, th.c.id == ts.c.thread_id)
                .where(ts.c.id == turn)
            ).first()
            if row is None:
                return None
            thread = _thread(row)
            askers = conn.execute(
                sa.select(ib.c.user_id).where(
                    ib.c.thread_id == thread.id, ib.c.turn_id == turn, ib.c.ambient.is_(False)
                )
            ).scalars()
            return TurnControl(
                turn_id=turn,
                thread=thread,
                status=row.status,
                posted=list(row.posted or []),
                askers=frozenset(askers),
            )

        return await self.run(read)

    async def record_feedback(self, turn: int, user_id: str, value: FeedbackValue) -> None:
        """The user's vote on the turn's reply; a second vote replaces the first."""
        fb = t.feedback

        def vote(conn: Connection) -> None:
            now = time.time()
            updated = conn.execute(
                fb.update()
                .where(fb.c.turn_id == turn, fb.c.user_id == user_id)
                .values(value=value, created_at=now)
            )
            if updated.rowcount == 0:
                conn.execute(
                    fb.insert().values(turn_id=turn, user_id=user_id, value=value, created_at=now)
                )

        await self.run(vote)

    async def feedback_rows(self, *, since: float = 0.0) -> list[FeedbackRow]:
        """Every vote since `since`, with the turn's model, thread and posted messages."""
        fb, ts, th, us = t.feedback, t.turns, t.threads, t.usage
        model = sa.select(us.c.model).where(us.c.turn_id == fb.c.turn_id).limit(1).scalar_subquery()
        query = (
            sa.select(
                fb.c.turn_id,
                fb.c.user_id,
                fb.c.value,
                fb.c.created_at.label("voted_at"),
                model.label("model"),
                ts.c.posted,
                th,
            )
            .join(ts, ts.c.id == fb.c.turn_id)
            .join(th, th.c.id == ts.c.thread_id)
            .where(fb.c.created_at >= since)
            .order_by(fb.c.created_at)
        )

        def read(conn: Connection) -> list[FeedbackRow]:
            return [
                FeedbackRow(
                    turn_id=r.turn_id,
                    user_id=r.user_id,
                    value=r.value,
                    at=r.voted_at,
                    model=r.model or "",
                    thread=_thread(r),
                    posted=list(r.posted or []),
                )
                for r in conn.execute(query)
            ]

        return await self.run(read)

    async def open_approval(
        self,
        turn: int,
        *,
        call_id: str,
        kind: str,
        name: str,
        arguments: str,
        expires_at: float,
    ) -> ApprovalRow:
        """The approval of `call_id` in `turn`: a new pending one, or the one asked
        before (a resumed turn asks again for the same call)."""
        ap = t.approvals
        where = (ap.c.turn_id == turn) & (ap.c.call_id == call_id)

        def open_(conn: Connection) -> ApprovalRow:
            row = conn.execute(sa.select(ap).where(where)).first()
            if row is None:
                conn.execute(
                    ap.insert().values(
                        turn_id=turn,
                        call_id=call_id,
                        kind=kind,
                        name=name,
                        arguments=arguments,
                        status="pending",
                        created_at=time.time(),
                        expires_at=expires_at,
                    )
                )
                row = conn.execute(sa.select(ap).where(where)).one()
            return _approval(row)

        return await self.run(open_)

    async def approval(self, approval_id: int) -> ApprovalRow | None:
        query = sa.select(t.approvals).where(t.approvals.c.id == approval_id)

        def read(conn: Connection) -> ApprovalRow | None:
            row = conn.execute(query).first()
            return None if row is None else _approval(row)

        return await self.run(read)

    async def set_approval_message(self, approval_id: int, ref: str | None) -> None:
        ap = t.approvals
        query = ap.update().where(ap.c.id == approval_id).values(message_ref=ref)
        await self.run(lambda conn: conn.execute(query))

    async def decide_approval(self, approval_id: int, status: str, *, user_id: str | None) -> bool:
        """Decide a pending approval; False if it was decided already (first one wins)."""
        ap = t.approvals
        query = (
            ap.update()
            .where(ap.c.id == approval_id, ap.c.status == "pending")
            .values(status=status, decided_by=user_id, decided_at=time.time())
        )
        return await self.run(lambda conn: conn.execute(query).rowcount == 1)

    async def _update_turn(self, turn: int, **values: Any) -> None:
        params = {"turn": turn, **values, "updated_at": time.time()}
        await self.run(lambda conn: conn.execute(_UPDATE_TURN, params))

    async def turn_started(self, turn: int, response_id: str) -> None:
        """Remember the model's response id, so a restarted process can look it up."""
        await self._update_turn(turn, response_id=response_id)

    async def record_posted(self, turn: int, posted: Sequence[str]) -> None:
        """The reply is being posted: these platform messages exist already."""
        await self._update_turn(turn, status="posting", posted=list(posted))

    # --- stateless history --------------------------------------------------------

    async def history(self, thread_id: int, limit: int) -> list[dict[str, Any]]:
        ms = t.messages
        query = (
            sa.select(ms.c.item)
            .where(ms.c.thread_id == thread_id)
            .order_by(ms.c.id.desc())
            .limit(limit)
        )
        rows = await self.run(lambda conn: conn.execute(query).all())
        return [dict(r.item) for r in reversed(rows)]

    async def append_history(self, thread_id: int, items: Iterable[dict[str, Any]]) -> None:
        now = time.time()
        values = [{"thread_id": thread_id, "item": item, "created_at": now} for item in items]
        if values:
            await self.run(lambda conn: conn.execute(t.messages.insert(), values))

    async def record_heard(self, inbound_id: int, heard: list[dict[str, Any]]) -> None:
        """Keep what was heard in a message's audio (see `InboundRow.heard`)."""
        ib = t.inbound
        statement = ib.update().where(ib.c.id == inbound_id).values(heard=heard)
        await self.run(lambda conn: conn.execute(statement))

    # --- usage ------------------------------------------------------------------

    async def usage_rows(self, *, since: float = 0.0) -> list[dict[str, Any]]:
        us = t.usage
        query = sa.select(us).where(us.c.created_at >= since).order_by(us.c.id)
        return await self.run(lambda conn: [dict(r._mapping) for r in conn.execute(query)])

    async def tokens_used(
        self,
        *,
        since: float,
        platform: str | None = None,
        user_id: str | None = None,
        scope: str | None = None,
        assistant: str | None = None,
    ) -> int:
        """Input + output tokens since `since` for one user, one workspace/guild, or one
        assistant (on every platform)."""
        us = t.usage
        query = sa.select(sa.func.sum(us.c.input_tokens + us.c.output_tokens)).where(
            us.c.created_at >= since
        )
        if platform is not None:
            query = query.where(us.c.platform == platform)
        if assistant is not None:
            query = query.where(us.c.assistant == assistant)
        if user_id is not None:
            query = query.where(us.c.user_id == user_id)
        if scope is not None:
            query = query.where(us.c.scope == scope)
        # A sum over the day's rows: on the store's thread, not the loop.
        return await self.run(lambda conn: int(conn.execute(query).scalar() or 0), inline=False)

    async def usage_summary(self, *, since: float, by: str) -> list[UsageLine]:
        """Usage grouped by user, thread or assistant ("default" for turns of the default
        one before it had a name), and model, the most tokens first."""
        us = t.usage
        column = {
            "user": us.c.user_id,
            "thread": us.c.thread_id,
            "assistant": sa.func.coalesce(us.c.assistant, "default"),
        }[by]
        query = (
            sa.select(
                us.c.platform,
                column,
                us.c.model,
                sa.func.count(),
                sa.func.sum(us.c.input_tokens),
                sa.func.sum(us.c.output_tokens),
                sa.func.sum(us.c.audio_seconds),
                sa.func.sum(us.c.speech_characters),
                sa.func.sum(us.c.images),
            )
            .where(us.c.created_at >= since)
            .group_by(us.c.platform, column, us.c.model)
            .order_by(sa.func.sum(us.c.input_tokens + us.c.output_tokens).desc())
        )
        rows = await self.run(lambda conn: conn.execute(query).all())
        return [
            UsageLine(
                platform=r[0],
                key=str(r[1]),
                model=str(r[2]),
                turns=int(r[3]),
                input_tokens=int(r[4] or 0),
                output_tokens=int(r[5] or 0),
                audio_seconds=float(r[6] or 0),
                speech_characters=int(r[7] or 0),
                images=int(r[8] or 0),
            )
            for r in rows
        ]

    # --- files and key/value ----------------------------------------------------

    async def add_thread_file(
        self, thread_id: int, *, file_id: str, name: str, purpose: str
    ) -> None:
        statement = t.thread_files.insert().values(
            thread_id=thread_id, file_id=file_id, name=name, purpose=purpose, created_at=time.time()
        )
        await self.run(lambda conn: conn.execute(statement))

    async def thread_files(self, thread_id: int, purpose: str) -> list[tuple[str, str]]:
        tf = t.thread_files
        query = (
            sa.select(tf.c.file_id, tf.c.name)
            .where(tf.c.thread_id == thread_id, tf.c.purpose == purpose)
            .order_by(tf.c.id)
        )
        return await self.run(lambda conn: [(r[0], r[1]) for r in conn.execute(query)])

    # --- conversations created ahead ----------------------------------------------

    async def pool_take(self, *, created_after: float, thread_id: int) -> str | None:
        """Take one pooled conversation (the oldest created after `created_after`) for the
        thread, recorded on its row in the same transaction; None if the pool is empty.
        Safe across processes: a row another process takes first is skipped."""
        th = t.threads

        def take(conn: Connection) -> str | None:
            pooled = _take_pooled(conn, created_after)
            conversation = None if pooled is None else str(pooled.conversation_id)
            if conversation is not None:
                conn.execute(
                    th.update().where(th.c.id == thread_id).values(conversation_id=conversation)
                )
            return conversation

        return await self.run(take)

    async def pool_add(self, conversation_id: str) -> int:
        """Pool a conversation; the pool's size after it, from the same transaction."""
        row = {"conversation_id": conversation_id, "created_at": time.time()}

        def add(conn: Connection) -> int:
            conn.execute(t.conversation_pool.insert(), row)
            return int(conn.execute(_POOL_SIZE).scalar() or 0)

        return await self.run(add)

    async def pool_prune(self, *, created_after: float) -> int:
        """Drop pooled conversations created before `created_after`; the size left."""
        statement = _cp.delete().where(_cp.c.created_at <= created_after)

        def prune(conn: Connection) -> int:
            conn.execute(statement)
            return int(conn.execute(_POOL_SIZE).scalar() or 0)

        return await self.run(prune)

    async def pool_size(self) -> int:
        return await self.run(lambda conn: int(conn.execute(_POOL_SIZE).scalar() or 0))

    async def get_value(self, key: str) -> str | None:
        query = sa.select(t.kv.c.value).where(t.kv.c.key == key)
        value = await self.run(lambda conn: conn.execute(query).scalar())
        return None if value is None else str(value)

    async def set_value(self, key: str, value: str | None) -> None:
        def write(conn: Connection) -> None:
            conn.execute(t.kv.delete().where(t.kv.c.key == key))
            if value is not None:
                conn.execute(t.kv.insert().values(key=key, value=value))

        await self.run(write)
