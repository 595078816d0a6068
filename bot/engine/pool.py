"""Conversations created ahead of the threads that will use them (part of the engine).

Every new thread needs a Conversation before its first `responses.create`; creating it
then would put a second model round trip before the first words. The pool keeps a few
created in advance, in the store (so every process shares them), refilled in the
background once takes pause for QUIET_SECONDS (FILL_AT_ONCE at a time), or at once,
one at a time, when a quarter or less is left (a burst of new threads beyond the
pool's size creates the rest as before).
Pooled ones carry no thread metadata: the store maps threads to conversations. Pooled
ones older than a day are dropped: a conversation nobody used is cheap, one that
outlived its project's settings is not.
"""

from __future__ import annotations

import asyncio
import logging
import time

import openai
from openai import AsyncOpenAI

from bot.store import Store

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 24 * 3600
# While more than a quarter is left, the refill waits for this long without a take: a
# burst of new threads does not pay for it (its creates would compete with the turns).
QUIET_SECONDS = 2.0
# Conversations created at once when the pool fills in a quiet moment.
FILL_AT_ONCE = 8
# After a take found the pool empty, new threads create their own for this long (or
# until this process adds one) without asking the store again: a burst beyond the pool
# does not pay two lookups a thread for nothing. Another process's refill shows after it.
EMPTY_SECONDS = 1.0
POOL_METADATA = {"purpose": "threadbridge pool"}


class ConversationPool:
    """`await pool.take(thread_id)` a conversation id (None if none is ready); after the turn,
    `fill()` tops the pool up in the background, so it does not compete with the
    turn's own request."""

    def __init__(self, *, client: AsyncOpenAI, store: Store, size: int) -> None:
        self.client = client
        self.store = store
        self.size = size
        self._filling: asyncio.Task[None] | None = None
        self._last_take = -float("inf")  # time.monotonic() of the last take
        self._empty_until = -float("inf")  # time.monotonic() until which it is empty
        self._adds = 0  # conversations this process pooled

    def cutoff(self) -> float | None:
        """Pooled conversations created after this time are fresh enough to take; None
        without a pool, or while it is known to be empty. (A new thread's claim takes
        one in its own transaction.)"""
        if self.size <= 0 or time.monotonic() < self._empty_until:
            return None
        return time.time() - MAX_AGE_SECONDS

    async def take(self, thread_id: int) -> str | None:
        """A pooled conversation, already recorded as the thread's."""
        cutoff = self.cutoff()
        if cutoff is None:
            return None
        adds = self._adds
        taken = await self.store.pool_take(created_after=cutoff, thread_id=thread_id)
        if taken is None and self._adds == adds:  # (one added meanwhile is there)
            self._empty_until = time.monotonic() + EMPTY_SECONDS
        return taken

    def taken(self) -> None:
        """A new thread took one (or had to create its own): refill, in a quiet moment."""
        self._last_take = time.monotonic()
        self.fill()

    def fill(self) -> None:
        """Top the pool up in the background (one filler at a time per process)."""
        if self.size > 0 and (self._filling is None or self._filling.done()):
            self._filling = asyncio.create_task(self._fill(), name="conversation-pool")

    async def close(self) -> None:
        if self._filling is not None:
            self._filling.cancel()
            await asyncio.gather(self._filling, return_exceptions=True)

    async def _fill(self) -> None:
        try:
            # One transaction to learn the size, one per conversation added.
            size = await self.store.pool_prune(created_after=time.time() - MAX_AGE_SECONDS)
            while size < self.size:
                wait = self._last_take + QUIET_SECONDS - time.monotonic()
                if wait > 0 and size > self.size // 4:
                    await asyncio.sleep(wait)
                    size = await self.store.pool_size()
                    continue
                # In a quiet moment (a start, say) several at once: the pool is full in a
                # few round trips. While new threads come, one at a time.
                at_once = 1 if wait > 0 else min(FILL_AT_ONCE, self.size - size)
                created = await asyncio.gather(
                    *(
                        self.client.conversations.create(metadata=POOL_METADATA)
                        for _ in range(at_once)
                    ),
                    return_exceptions=True,
                )
                for conversation in created:
                    if not isinstance(conversation, BaseException):
                        size = await self.store.pool_add(conversation.id)
                        self._adds += 1
                        self._empty_until = -float("inf")
                for failure in created:
                    if isinstance(failure, BaseException):
                        raise failure
        except openai.APIError as exc:
            # Not fatal: new threads create their conversation themselves meanwhile.
            logger.info("conversation pool not filled: %s", exc.message)
        except Exception:
            logger.exception("conversation pool not filled")


__all__ = ["ConversationPool"]
