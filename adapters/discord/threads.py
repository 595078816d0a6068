"""Which Discord threads are the bot's, and handing their messages to the service.

Shared by the client (messages) and the slash commands, which get it passed in: the one
place that decides whether a thread is owned, when a first question reads the thread
before it, and how a delivery is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from adapters.discord.anchor import History
from bot.models import Inbound, ThreadKey
from bot.service import Service, ServiceStopping

logger = logging.getLogger(__name__)


class Threads:
    """`me` returns the bot's user once logged in (None before)."""

    def __init__(
        self,
        *,
        service: Service,
        me: Callable[[], discord.ClientUser | None],
        read_history: bool,
    ) -> None:
        self.service = service
        self.me = me
        self.read_history = read_history

    async def owns(self, channel: object, key: ThreadKey) -> bool:
        """True for a thread the bot opened or already has a conversation in."""
        me = self.me()
        if me is not None and getattr(channel, "owner_id", None) == me.id:
            return True
        return await self.service.knows_thread(key)

    async def history(
        self, thread: discord.Thread, key: ThreadKey, *, before: int
    ) -> History | None:
        """The first question in someone else's thread (no conversation in the store
        yet): its turn reads the thread up to `before`, the question."""
        me = self.me()
        if not self.read_history or me is None or thread.owner_id == me.id:
            return None
        if await self.service.knows_thread(key):
            return None
        return History("thread", before=before)

    async def adopt(self, thread: discord.Thread) -> None:
        """Join someone else's thread, so its follow-ups reach the bot."""
        if thread.me is not None:
            return
        try:
            await thread.join()
        except discord.HTTPException as exc:
            logger.debug("could not join thread %s: %s", thread.id, exc)

    async def submit(self, inbound: Inbound) -> str:
        """Hand `inbound` to the service; returns "queued", "duplicate" or "stopping"."""
        try:
            queued = await self.service.submit(inbound)
        except ServiceStopping:
            logger.warning("shutting down: message for %s not taken", inbound.key)
            return "stopping"
        return "queued" if queued else "duplicate"


__all__ = ["Threads"]
