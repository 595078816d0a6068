"""The store on a real SQLite file: migrations, dedup, queue, history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.config import normalize_database_url
from bot.store import Store
from tests.dbs import database_url
from tests.helpers import inbound, key

__all__ = ["database_url"]


async def open_store(url: str) -> Store:
    async_url, connect_args = normalize_database_url(url)
    return await Store.open(async_url, connect_args=connect_args)


async def test_sqlite_migrations_create_schema_in_wal_mode(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert await store.revision() == "0002"
        async with store.engine.connect() as conn:
            mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar()
            tables = set(
                (
                    await conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='table'"))
                ).scalars()
            )
        assert mode == "wal"
        assert {"threads", "inbound", "turns", "messages", "usage", "thread_files", "kv"} <= tables
    finally:
        await store.close()
    # Opening again is a no-op migration.
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert await store.revision() == "0002"
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
        assert await store.revision() == "0002"
        await store.migrate()  # idempotent
        assert await store.revision() == "0002"
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


@pytest.mark.postgres
async def test_heroku_url_forms_connect(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    heroku = database_url.replace("postgresql://", "postgres://", 1) + "?sslmode=require"
    async_url, connect_args = normalize_database_url(heroku)
    assert connect_args == {"ssl": "require"}
    store = await Store.open(async_url, connect_args=connect_args)
    try:
        async with store.engine.connect() as conn:
            used_ssl = (
                await conn.execute(
                    sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
            ).scalar()
        assert used_ssl is True
        assert await store.revision() == "0002"
    finally:
        await store.close()
