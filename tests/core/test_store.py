"""The store on a real SQLite file: migrations, dedup, queue, history."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bot.store import Store
from tests.helpers import inbound, key


async def open_store(path: Path) -> Store:
    return await Store.open(f"sqlite+aiosqlite:///{path}")


async def test_migrations_create_schema_in_wal_mode(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "a.db")
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
    store = await open_store(tmp_path / "a.db")
    assert await store.revision() == "0002"
    await store.close()


async def test_claim_dedups_on_event_id_and_on_channel_message(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "a.db")
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


async def test_reset_keeps_the_old_mapping(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "a.db")
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


async def test_history_is_bounded_and_ordered(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "a.db")
    try:
        thread = await store.ensure_thread(key())
        await store.append_history(
            thread.id, [{"role": "user", "content": str(i)} for i in range(10)]
        )
        items = await store.history(thread.id, 3)
        assert [i["content"] for i in items] == ["7", "8", "9"]
    finally:
        await store.close()
