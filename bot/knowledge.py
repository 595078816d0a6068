"""Knowledge bases: one OpenAI vector store per assistant, for its `file_search`.

A helper of the engine (it shares the engine's OpenAI client). Each vector store is
created once; its id is kept in the store's key/value table (under the assistant's
`knowledge_key`), so every process and every turn uses the same one. A file added to
several assistants' knowledge bases is uploaded once (found again by its SHA-256) and
attached to each vector store; it is deleted from OpenAI when no knowledge base has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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


UPLOAD_KEY = "knowledge.file:{sha}"


class KnowledgeBase:
    """One assistant's knowledge base; `others` are the other assistants' keys."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        store: Store,
        key: str = KNOWLEDGE_STORE_KEY,
        name: str = "threadbridge knowledge base",
        others: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.store = store
        self.key = key
        self.name = name
        self.others = others

    async def store_id(self, *, create: bool = False) -> str | None:
        existing = await self.store.get_value(self.key)
        if existing or not create:
            return existing
        created = await self.client.vector_stores.create(name=self.name)
        await self.store.set_value(self.key, created.id)
        logger.info("created knowledge base vector store %s (%s)", created.id, self.name)
        return created.id

    async def _uploaded(self, name: str, data: bytes) -> str:
        """The OpenAI file of these bytes: uploaded before (for another assistant), or now."""
        key = UPLOAD_KEY.format(sha=hashlib.sha256(data).hexdigest())
        known = await self.store.get_value(key)
        if known:
            try:
                await self.client.files.retrieve(known)
                return known
            except openai.NotFoundError:
                pass
        uploaded = await self.client.files.create(file=(name, data), purpose="assistants")
        await self.store.set_value(key, uploaded.id)
        return uploaded.id

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
                file_id = await self._uploaded(path.name, data)
                indexed = await self.client.vector_stores.files.create_and_poll(
                    file_id=file_id, vector_store_id=store_id, poll_interval_ms=500
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
                await self.client.vector_stores.files.delete(file_id, vector_store_id=store_id)
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

    async def _elsewhere(self, file_id: str) -> bool:
        """Whether another assistant's knowledge base still has the file."""
        for key in self.others:
            other = await self.store.get_value(key)
            if not other:
                continue
            try:
                await self.client.vector_stores.files.retrieve(file_id, vector_store_id=other)
                return True
            except openai.NotFoundError:
                continue
        return False

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
                if not await self._elsewhere(entry.file_id):
                    with contextlib.suppress(openai.NotFoundError):
                        await self.client.files.delete(entry.file_id)
                removed += 1
        return removed
