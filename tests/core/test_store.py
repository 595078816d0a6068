"""The store on a real SQLite file: migrations, dedup, queue, history."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.config import normalize_database_url
from bot.store import Start, Store, Work
from tests.dbs import database_url
from tests.helpers import inbound, key

__all__ = ["database_url"]


async def open_store(url: str) -> Store:
    async_url, connect_args = normalize_database_url(url)
    return await Store.open(async_url, connect_args=connect_args)


async def test_sqlite_migrations_create_schema_in_wal_mode(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert await store.revision() == "0010"
        mode = await store.run(lambda conn: conn.execute(sa.text("PRAGMA journal_mode")).scalar())
        tables = await store.run(
            lambda conn: set(
                conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='table'")).scalars()
            )
        )
        assert mode == "wal"
        assert {"threads", "inbound", "turns", "messages", "usage", "thread_files", "kv"} <= tables
    finally:
        await store.close()
    # Opening again is a no-op migration.
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert await store.revision() == "0010"
    await store.close()


async def test_claim_dedups_on_event_id_and_on_channel_message(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        first = await store.claim(inbound("hi", event_id="Ev1", message_id="100.1"), [])
        assert first is not None
        assert await store.claim(inbound("hi", event_id="Ev1", message_id="999.9"), []) is None
        assert await store.claim(inbound("hi", event_id="Ev2", message_id="100.1"), []) is None
        thread = await store.find_thread(key())
        assert thread is not None
        assert [r.text for r in await store.pending(thread.id)] == ["hi"]
    finally:
        await store.close()


async def test_reset_keeps_the_old_mapping(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        thread = await store.ensure_thread(key())
        await store.update_thread(thread.id, conversation_id="conv_old")
        fresh = await store.reset_thread(key())
        assert fresh.conversation_id is None and fresh.epoch == 1
        history = await store.thread_history(key())
        assert [t.conversation_id for t in history] == ["conv_old", None]
        found = await store.find_thread(key())
        assert found is not None and found.id == fresh.id
    finally:
        await store.close()


async def test_history_is_bounded_and_ordered(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        thread = await store.ensure_thread(key())
        await store.append_history(
            thread.id, [{"role": "user", "content": str(i)} for i in range(10)]
        )
        items = await store.history(thread.id, 3)
        assert [i["content"] for i in items] == ["7", "8", "9"]
    finally:
        await store.close()


async def test_migrations_and_revision(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        assert await store.revision() == "0010"
        await store.migrate()  # idempotent
        assert await store.revision() == "0010"
    finally:
        await store.close()


async def test_concurrent_first_messages_of_one_thread_make_one_thread(database_url: str) -> None:
    stores = [await open_store(database_url) for _ in range(3)]
    try:
        ids = await asyncio.gather(
            *(s.claim(inbound(f"m{i}", thread="race"), []) for i, s in enumerate(stores))
        )
        assert None not in ids
        threads = await stores[0].thread_history(key("race"))
        assert len(threads) == 1
        assert len(await stores[0].pending(threads[0].id)) == 3
    finally:
        for s in stores:
            await s.close()


async def test_lease_is_exclusive_and_expires(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        thread = await store.ensure_thread(key())
        assert await store.acquire_lease(thread.id, "a", ttl=60)
        assert not await store.acquire_lease(thread.id, "b", ttl=60)
        assert await store.acquire_lease(thread.id, "a", ttl=0.01)  # renew, short
        await asyncio.sleep(0.05)
        assert await store.acquire_lease(thread.id, "b", ttl=60)  # a died: b takes over
        await store.release_lease(thread.id, "a")  # not a's any more: no effect
        assert not await store.acquire_lease(thread.id, "a", ttl=60)
    finally:
        await store.close()


async def test_concurrent_first_messages_that_start_their_turn_use_one_conversation(
    database_url: str,
) -> None:
    """Three processes claim a new thread's first messages at once, each ready to start
    the turn with a pooled conversation: one thread, one turn, and the conversations of
    the claims that lost the race are back in the pool."""
    stores = [await open_store(database_url) for _ in range(3)]
    try:
        for n in range(3):
            await stores[0].pool_add(f"conv_{n}")
        claims = await asyncio.gather(
            *(
                s.claim(inbound(f"m{i}", thread="race"), [], start=Start(f"p{i}", 60, 0.0))
                for i, s in enumerate(stores)
            )
        )
        started = [c.work for c in claims if c is not None and c.work is not None]
        assert len(started) == 1 and None not in claims
        [thread] = await stores[0].thread_history(key("race"))
        assert thread.conversation_id == started[0].thread.conversation_id
        assert thread.conversation_id in {"conv_0", "conv_1", "conv_2"}
        assert await stores[0].pool_size() == 2
        assert len(await stores[0].turns_of(thread.id)) == 1
        assert len(await stores[0].pending(thread.id)) == 2  # the others wait for it
    finally:
        for s in stores:
            await s.close()


async def test_take_work_starts_one_turn_over_everything_queued(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        for i in range(3):
            await store.claim(inbound(f"m{i}", event_id=f"E{i}", message_id=f"1.{i}"), [])
        thread = await store.find_thread(key())
        assert thread is not None
        # No adapter for the platform yet: nothing starts, the messages stay queued.
        waiting = await store.take_work(thread.id, owner="a", ttl=60, platforms={"discord"})
        assert waiting is not None and waiting.waiting and waiting.turn is None
        assert len(await store.pending(thread.id)) == 3
        # Someone else holds the thread: no work for "b".
        assert await store.take_work(thread.id, owner="b", ttl=60, platforms={"test"}) is None

        work = await store.take_work(thread.id, owner="a", ttl=60, platforms={"test"})
        assert work is not None and work.turn is not None and not work.resumed
        assert [r.text for r in work.rows or []] == ["m0", "m1", "m2"]
        assert await store.pending(thread.id) == []
        [stored] = await store.turns_of(thread.id)
        assert (stored.id, stored.status, stored.attempts) == (work.turn.id, "running", 1)

        # A message arrives while the turn runs: finishing keeps the lease for it.
        await store.claim(inbound("m3", event_id="E3", message_id="1.3"), [])
        more = await store.finish_turn(
            work.turn.id,
            status="done",
            posted=["9.1"],
            error=None,
            ref=None,
            response_id="resp_1",
            usage=None,
            owner="a",
        )
        assert more is True
        assert not await store.acquire_lease(thread.id, "b", ttl=60)
        nxt = await store.take_work(thread.id, owner="a", ttl=60, platforms={"test"})
        assert nxt is not None and nxt.turn is not None
        assert [r.text for r in nxt.rows or []] == ["m3"]
        # Nothing more queued: finishing lets go of the thread.
        more = await store.finish_turn(
            nxt.turn.id,
            status="done",
            posted=[],
            error=None,
            ref=None,
            response_id=None,
            usage=None,
            owner="a",
        )
        assert more is False
        assert await store.acquire_lease(thread.id, "b", ttl=60)
        turns = await store.turns_of(thread.id)
        assert [(t.status, t.posted, t.response_id) for t in turns] == [
            ("done", ["9.1"], "resp_1"),
            ("done", [], None),
        ]
    finally:
        await store.close()


async def test_take_work_resumes_an_open_turn_first_and_counts_the_attempt(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        await store.claim(inbound("first", event_id="E1", message_id="1.1"), [])
        thread = await store.find_thread(key())
        assert thread is not None
        work = await store.take_work(thread.id, owner="dead", ttl=0.01, platforms={"test"})
        assert work is not None and work.turn is not None
        await store.record_posted(work.turn.id, ["5.5"])
        await store.claim(inbound("second", event_id="E2", message_id="1.2"), [])
        await asyncio.sleep(0.05)  # the dead process's lease runs out

        resumed = await store.take_work(thread.id, owner="b", ttl=60, platforms={"test"})
        assert resumed is not None and resumed.resumed and resumed.turn is not None
        assert resumed.turn.id == work.turn.id
        assert resumed.first  # the thread's first turn, resumed
        assert (resumed.turn.attempts, resumed.turn.posted) == (2, ["5.5"])
        assert [r.text for r in resumed.rows or []] == ["first"]  # "second" waits its turn
        assert [r.text for r in await store.pending(thread.id)] == ["second"]
        [stored] = await store.turns_of(thread.id)
        assert stored.attempts == 2
    finally:
        await store.close()


async def test_a_new_threads_claim_starts_its_first_turn_in_the_same_transaction(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        await store.pool_add("conv_pooled")
        start = Start(owner="a", ttl=60, pool_after=0.0)
        claimed = await store.claim(inbound("hi", thread="new"), [], start=start)
        assert claimed is not None and claimed.work is not None
        work = claimed.work
        assert work.turn is not None and work.first and not work.resumed
        assert (work.turn.status, work.turn.attempts, work.turn.anchor) == ("running", 1, "new")
        assert [r.text for r in work.rows or []] == ["hi"]
        assert [r.id for r in work.rows or []] == [claimed.inbound_id]
        # The thread carries the pooled conversation and is held by "a".
        assert work.thread.id == claimed.thread_id
        assert work.thread.conversation_id == "conv_pooled" and work.pooled
        assert await store.pool_size() == 0
        assert not await store.acquire_lease(claimed.thread_id, "b", ttl=60)
        assert await store.pending(claimed.thread_id) == []
        [stored] = await store.turns_of(claimed.thread_id)
        assert stored.id == work.turn.id

        # A known thread with its turn open: queued for its worker, nothing started.
        again = await store.claim(inbound("again", thread="new"), [], start=start)
        assert again is not None and again.work is None
        assert [r.text for r in await store.pending(claimed.thread_id)] == ["again"]

        # Without a pool (or with it empty) the new thread has no conversation yet.
        bare = await store.claim(inbound("x", thread="bare"), [], start=start)
        assert bare is not None and bare.work is not None
        assert bare.work.thread.conversation_id is None

        # Context only (ambient) starts nothing, even in a new thread.
        quiet = dataclasses.replace(inbound("y", thread="quiet"), ambient=True)
        said = await store.claim(quiet, [], start=start)
        assert said is not None and said.work is None
        assert [r.text for r in await store.pending(said.thread_id)] == ["y"]
    finally:
        await store.close()


async def test_an_idle_threads_claim_starts_its_next_turn_over_its_queue(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        start = Start(owner="a", ttl=60, pool_after=0.0)

        async def finish(work: Work | None) -> None:
            assert work is not None and work.turn is not None
            await store.finish_turn(
                work.turn.id,
                status="done",
                posted=[],
                error=None,
                ref=None,
                response_id=None,
                usage=None,
                owner="a",
            )

        first = await store.claim(inbound("one", thread="t"), [], start=start)
        assert first is not None
        await finish(first.work)  # no message waits: the lease is let go
        quiet = dataclasses.replace(inbound("meanwhile", thread="t"), ambient=True)
        said = await store.claim(quiet, [], start=start)
        assert said is not None and said.work is None  # context only starts nothing

        asked = await store.claim(inbound("two", thread="t"), [], start=start)
        assert asked is not None and asked.work is not None
        work = asked.work
        assert work.turn is not None and not work.first and not work.resumed
        assert not work.pooled  # the thread has its conversation already
        assert [r.text for r in work.rows or []] == ["meanwhile", "two"]
        assert await store.pending(first.thread_id) == []
        assert not await store.acquire_lease(first.thread_id, "b", ttl=60)  # held by "a"

        # Its turn is open: the next message waits for the worker, whoever claims it.
        for owner in ("a", "b"):
            later = await store.claim(
                inbound(f"by {owner}", thread="t"), [], start=Start(owner=owner, ttl=60)
            )
            assert later is not None and later.work is None
        await finish(work)  # messages wait: the lease stays with "a"
        taken = await store.take_work(first.thread_id, owner="a", ttl=60, platforms={"test"})
        assert taken is not None and taken.turn is not None
        assert [r.text for r in taken.rows or []] == ["by a", "by b"]
        await finish(taken)

        # Idle again, but this process has a worker for it: the worker takes it.
        busy = Start(owner="a", ttl=60, busy=frozenset({first.thread_id}))
        held = await store.claim(inbound("three", thread="t"), [], start=busy)
        assert held is not None and held.work is None
        assert [r.text for r in await store.pending(first.thread_id)] == ["three"]

        # A thread another live process holds starts nothing here.
        assert await store.acquire_lease(first.thread_id, "b", ttl=60)
        other = await store.claim(inbound("four", thread="t"), [], start=start)
        assert other is not None and other.work is None
        # Once it lets go, the claim starts the turn over the whole queue.
        await store.release_lease(first.thread_id, "b")
        resumed = await store.claim(inbound("five", thread="t"), [], start=start)
        assert resumed is not None and resumed.work is not None
        assert [r.text for r in resumed.work.rows or []] == ["three", "four", "five"]
        assert len(await store.turns_of(first.thread_id)) == 4
    finally:
        await store.close()


async def test_a_stale_pooled_conversation_is_neither_taken_nor_kept(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        assert await store.pool_add("conv_old") == 1  # the size after it
        assert await store.pool_add("conv_fresh") == 2
        pool = sa.table("conversation_pool", sa.column("conversation_id"), sa.column("created_at"))
        await store.run(
            lambda conn: conn.execute(
                pool.update().where(pool.c.conversation_id == "conv_old").values(created_at=1.0)
            )
        )
        start = Start(owner="a", ttl=60, pool_after=100.0)
        claimed = await store.claim(inbound("hi", thread="n1"), [], start=start)
        assert claimed is not None and claimed.work is not None
        assert claimed.work.thread.conversation_id == "conv_fresh"
        other = await store.claim(inbound("hi", thread="n2"), [], start=start)
        assert other is not None and other.work is not None
        assert other.work.thread.conversation_id is None  # the old one is not handed out
        assert await store.pool_size() == 1
        assert await store.pool_prune(created_after=100.0) == 0  # the size left
        assert await store.pool_size() == 0
    finally:
        await store.close()


@pytest.mark.postgres
async def test_heroku_url_forms_connect(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    heroku = database_url.replace("postgresql://", "postgres://", 1) + "?sslmode=require"
    async_url, connect_args = normalize_database_url(heroku)
    assert connect_args == {"ssl": "require"}
    store = await Store.open(async_url, connect_args=connect_args)
    try:
        used_ssl = await store.run(
            lambda conn: conn.execute(
                sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).scalar()
        )
        assert used_ssl is True
        assert await store.revision() == "0010"
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def store_behind_a_writer(tmp_path: Path) -> AsyncIterator[tuple[Store, Any]]:
    """A SQLite store, and another connection (another process, say) holding the
    database's write lock until the test commits it."""
    import sqlite3

    path = tmp_path / "busy.db"
    store = await open_store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield store, other
    finally:
        other.close()
        await store.close()


async def test_sqlite_waits_for_another_writer_off_the_event_loop(tmp_path: Path) -> None:
    # The store's write waits for the other writer without stopping the event loop
    # (the loop's connection never waits for a lock), then goes through.
    async with store_behind_a_writer(tmp_path) as (store, other):
        busy_timeout = await store.run(
            lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        )
        assert busy_timeout == 0
        writing = asyncio.create_task(store.ensure_thread(key("busy")))
        for _ in range(30):  # other work on the loop meanwhile
            await asyncio.sleep(0.01)
        assert not writing.done()  # still waiting for the lock
        other.execute("COMMIT")
        thread = await asyncio.wait_for(writing, 15)
        assert await store.find_thread(key("busy")) == thread


async def test_sqlite_wal_is_checkpointed_by_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commits on the loop do not checkpoint; the store's thread does, every
    # CHECKPOINT_EVERY operations: the WAL file stops growing once it is reused.
    import bot.store.store as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 10)
    path = tmp_path / "wal.db"
    store = await open_store(f"sqlite:///{path}")
    wal = Path(f"{path}-wal")
    autocheckpoint = await store.run(
        lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    )
    assert autocheckpoint == 0  # the loop's commits leave checkpoints to the store

    try:
        before = await asyncio.to_thread(os.path.getsize, path)
        for n in range(300):
            await store.ensure_thread(key(f"t{n}"))
        assert await asyncio.to_thread(os.path.getsize, wal) > 0
        # The threads reach the database file itself only through a checkpoint: without
        # the store's, they would stay in the WAL (and the WAL would grow for ever).
        for _ in range(500):
            if await asyncio.to_thread(os.path.getsize, path) > before:
                break
            await asyncio.sleep(0.01)
        assert await asyncio.to_thread(os.path.getsize, path) > before
    finally:
        await store.close()


async def test_a_cancelled_wait_for_the_lock_keeps_the_connection_to_itself(
    tmp_path: Path,
) -> None:
    # A write waiting for another writer's lock is cancelled (a Stop, a shutdown): the
    # store's thread still has the connection until it gives up or gets through, so the
    # next operation waits for it rather than use the connection at the same time.
    async with store_behind_a_writer(tmp_path) as (store, other):
        writing = asyncio.create_task(store.ensure_thread(key("a")))
        await asyncio.sleep(0.1)
        writing.cancel()
        reading = asyncio.create_task(store.find_thread(key("b")))
        await asyncio.sleep(0.2)
        assert not reading.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(reading, 15) is None
        with pytest.raises(asyncio.CancelledError):
            await writing
