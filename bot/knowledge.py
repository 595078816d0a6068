"""The knowledge base: one OpenAI vector store for the assistant's `file_search`.

A helper of the engine (it shares the engine's OpenAI client). The vector store is
created once; its id is kept in the store's key/value table, so every process and
every turn uses the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import openai
from openai import AsyncOpenAI

from bot.assistant import KNOWLEDGE_STORE_KEY
from bot.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddResult:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class KnowledgeFile:
    name: str
    file_id: str
    status: str
    size: int


class KnowledgeBase:
    def __init__(self, *, client: AsyncOpenAI, store: Store) -> None:
        self.client = client
        self.store = store

    async def store_id(self, *, create: bool = False) -> str | None:
        existing = await self.store.get_value(KNOWLEDGE_STORE_KEY)
        if existing or not create:
            return existing
        created = await self.client.vector_stores.create(name="threadbridge knowledge base")
        await self.store.set_value(KNOWLEDGE_STORE_KEY, created.id)
        logger.info("created knowledge base vector store %s", created.id)
        return created.id

    async def add(self, paths: list[Path]) -> list[AddResult]:
        """Upload each file and wait until it is indexed; one result per file."""
        results: list[AddResult] = []
        readable = []
        for path in paths:
            if not await asyncio.to_thread(path.is_file):
                results.append(AddResult(path.name, False, "no such file"))
            else:
                readable.append(path)
        if not readable:
            return results
        store_id = await self.store_id(create=True)
        assert store_id is not None
        for path in readable:
            try:
                data = await asyncio.to_thread(path.read_bytes)
                uploaded = await self.client.files.create(
                    file=(path.name, data), purpose="assistants"
                )
                indexed = await self.client.vector_stores.files.create_and_poll(
                    file_id=uploaded.id, vector_store_id=store_id, poll_interval_ms=500
                )
            except openai.APIError as exc:
                results.append(AddResult(path.name, False, f"upload failed: {exc.message}"))
                continue
            if indexed.status == "completed":
                results.append(AddResult(path.name, True, "indexed"))
            else:
                error = indexed.last_error.message if indexed.last_error else indexed.status
                results.append(AddResult(path.name, False, f"indexing {indexed.status}: {error}"))
                # A failed file stays out of the store so searches never see half of it.
                await self.client.vector_stores.files.delete(uploaded.id, vector_store_id=store_id)
        return results

    async def files(self) -> list[KnowledgeFile]:
        store_id = await self.store_id()
        if store_id is None:
            return []
        found: list[KnowledgeFile] = []
        async for entry in self.client.vector_stores.files.list(store_id):
            try:
                meta = await self.client.files.retrieve(entry.id)
                name = meta.filename
            except openai.NotFoundError:
                name = entry.id
            found.append(KnowledgeFile(name, entry.id, entry.status, entry.usage_bytes or 0))
        return found

    async def remove(self, name: str) -> int:
        """Remove every file called `name` (or with that file id); returns how many."""
        store_id = await self.store_id()
        if store_id is None:
            return 0
        removed = 0
        for entry in await self.files():
            if name in (entry.name, entry.file_id):
                await self.client.vector_stores.files.delete(
                    entry.file_id, vector_store_id=store_id
                )
                with contextlib.suppress(openai.NotFoundError):
                    await self.client.files.delete(entry.file_id)
                removed += 1
        return removed
