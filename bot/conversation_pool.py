"""Conversations created ahead of the threads that will use them (part of the engine).

Every new thread needs a Conversation before its first `responses.create`; creating it
then would put a second model round trip before the first words. The pool keeps a few
created in advance, in the store (so every process shares them), refilled in the
background after each one is taken. A pooled conversation is labelled with its thread
afterwards, off the critical path. Pooled ones older than a day are dropped: a
conversation nobody used is cheap, one that outlived its project's settings is not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import openai
from openai import AsyncOpenAI

from bot.store import Store, ThreadRow

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 24 * 3600
POOL_METADATA = {"purpose": "threadbridge pool"}


class ConversationPool:
    """`await pool.take()` a conversation id (None if none is ready); after the turn,
    `used()` labels it and tops the pool up, in the background, so neither competes
    with the turn's own request."""

    def __init__(self, *, client: AsyncOpenAI, store: Store, size: int) -> None:
        self.client = client
        self.store = store
        self.size = size
        self._filling: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def take(self) -> str | None:
        if self.size <= 0:
            return None
        return await self.store.pool_take(created_after=time.time() - MAX_AGE_SECONDS)

    def used(self, conversation_id: str | None, thread: ThreadRow) -> None:
        """A turn has started a new thread: label its pooled conversation (if it was
        one) and refill."""
        if conversation_id is not None:
            self._background(self._label(conversation_id, thread))
        self.fill()

    def fill(self) -> None:
        """Top the pool up in the background (one filler at a time per process)."""
        if self.size > 0 and (self._filling is None or self._filling.done()):
            self._filling = asyncio.create_task(self._fill(), name="conversation-pool")

    async def close(self) -> None:
        tasks = [t for t in (self._filling, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fill(self) -> None:
        try:
            while await self.store.pool_size() < self.size:
                conversation = await self.client.conversations.create(metadata=POOL_METADATA)
                await self.store.pool_add(conversation.id)
        except openai.APIError as exc:
            # Not fatal: new threads create their conversation themselves meanwhile.
            logger.info("conversation pool not filled: %s", exc.message)
        except Exception:
            logger.exception("conversation pool not filled")

    async def _label(self, conversation_id: str, thread: ThreadRow) -> None:
        try:
            await self.client.conversations.update(
                conversation_id,
                metadata={"platform": thread.key.platform, "thread": str(thread.id)},
            )
        except openai.APIError as exc:
            logger.info("could not label conversation %s: %s", conversation_id, exc.message)

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine, name="conversation-label")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["ConversationPool"]
