"""The messages a first question on Discord refers to, read for the model's context.

Two kinds, marked at intake in the anchor of the first message to the bot (`History`):

- thread: a mention or /ask in a thread the bot did not open and has no conversation
  in yet. The thread's starter (the parent channel's message with the thread's id,
  where there is one) and the thread's messages up to the question. Read newest first
  (the budget keeps the most recent), up to MAX_PAGES pages or the time budget.
- reply: a mention in a channel that replies to another message. That message and the
  messages it replies to in turn, up to `max_chain` (llmcord's idea), oldest first.

Authors by display name, the bot's own messages as the assistant's, other bots and
system messages left out (Discord has no setting that lets the bot answer bots), files
listed by name and attached like the question's. The root and the most recent
messages are kept within the context budget. Any failure (403 without Read Message
History, another HTTP error, the time budget with nothing read) leaves the turn without
context, with a short note and one log line naming the cause.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import discord

from adapters.discord.anchor import Anchor, History
from adapters.discord.download import CdnFetcher
from adapters.discord.events import USER_MESSAGE_TYPES, attachments, message_text
from bot.context import fit_context
from bot.models import Context, ContextMessage, ThreadKey
from bot.text import valid_text

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # Discord's largest page of channel messages
MAX_PAGES = 25
MAX_CHAIN = 20
THREAD_UNREADABLE = "I couldn't read the earlier messages in this thread."
REPLY_UNREADABLE = "I couldn't read the messages you replied to."
# The bot's own answers include slash-command responses and follow-ups.
OWN_MESSAGE_TYPES = USER_MESSAGE_TYPES | {
    discord.MessageType.chat_input_command,
    discord.MessageType.context_menu_command,
}
SUBTEXT = "-# "  # the sink's status and notice lines: not part of an answer
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextOptions:
    enabled: bool = True
    max_messages: int = 200
    max_chars: int = 60_000
    max_chain: int = MAX_CHAIN
    #: The whole read; past it a thread keeps the pages read so far, if any.
    read_seconds: float = 10.0


class MissingPermission(Exception):
    """The bot's permissions (from the gateway's cache) do not allow the read."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


class DiscordContextReader:
    """Reads the thread or reply chain a turn's anchor names, through the bot's client."""

    def __init__(
        self, *, client: discord.Client, fetcher: CdnFetcher, options: ContextOptions
    ) -> None:
        self.client = client
        self.fetcher = fetcher
        self.options = options

    async def read_context(self, *, key: ThreadKey, anchor: str, before: str | None) -> Context:
        history = Anchor.loads(anchor, key=key).history
        if not self.options.enabled or history is None or self.client.user is None:
            return Context()
        guild_id = int(key.scope) if key.scope else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.read_seconds
        try:
            async with asyncio.timeout_at(deadline):
                if history.kind == "thread":
                    bound = _earliest(before, history.before)
                    raw = await self._thread(int(key.thread), bound, deadline)
                else:
                    raw = await self._chain(history, guild_id)
        except (discord.HTTPException, MissingPermission, TimeoutError) as exc:
            _log_failure(key, history, exc)
            return Context(note=THREAD_UNREADABLE if history.kind == "thread" else REPLY_UNREADABLE)
        messages = [m for m in map(self._message, raw) if m is not None]
        return fit_context(
            messages, max_messages=self.options.max_messages, max_chars=self.options.max_chars
        )

    # --- a thread --------------------------------------------------------------------

    async def _thread(
        self, thread_id: int, before: int | None, deadline: float
    ) -> list[discord.Message]:
        channel = self.client.get_channel(thread_id)
        if channel is None:
            channel = await self.client.fetch_channel(thread_id)
        if not isinstance(channel, discord.Thread):
            return []
        _check_permissions(channel)
        starter = await self._starter(channel)
        found: list[discord.Message] = []
        limit = PAGE_SIZE * MAX_PAGES
        marker = discord.Object(id=before) if before is not None else None
        try:
            # Newest first: if the thread is longer than the pages or the time allow,
            # what is left unread is the oldest part, which the budget would drop first.
            async with asyncio.timeout_at(deadline - 0.05):
                async for message in channel.history(limit=limit, before=marker):
                    found.append(message)
        except TimeoutError:
            if not found:
                raise
            logger.info(
                "read the %d latest messages of thread %s for context before the time ran out",
                len(found),
                thread_id,
            )
        found.reverse()
        if starter is not None and all(m.id != starter.id for m in found):
            found.insert(0, starter)
        return found

    async def _starter(self, thread: discord.Thread) -> discord.Message | None:
        """The parent channel's message the thread was started from, if any. A forum
        post's first message is in the thread itself (and so in its history)."""
        if isinstance(thread.parent, discord.ForumChannel) or thread.parent_id is None:
            return None
        cached = thread.starter_message
        if cached is not None:
            return cached
        parent = self.client.get_partial_messageable(thread.parent_id, guild_id=thread.guild.id)
        try:
            return await parent.fetch_message(thread.id)
        except discord.NotFound:
            return None  # started without a message, or the message was deleted

    # --- a reply chain ---------------------------------------------------------------

    async def _chain(self, history: History, guild_id: int | None) -> list[discord.Message]:
        assert history.message_id is not None and history.channel_id is not None
        cached_channel = self.client.get_channel(history.channel_id)
        if cached_channel is not None:
            _check_permissions(cached_channel)
        chain: list[discord.Message] = []
        current = await self._get(history.channel_id, history.message_id, guild_id)
        seen: set[int] = set()
        while current is not None and current.id not in seen:
            chain.append(current)
            seen.add(current.id)
            ref = current.reference
            if (
                len(chain) >= self.options.max_chain
                or current.type is not discord.MessageType.reply
                or ref is None
                or ref.message_id is None
            ):
                break
            resolved = ref.resolved
            if isinstance(resolved, discord.DeletedReferencedMessage):
                break
            if isinstance(resolved, discord.Message):
                # Discord embeds the replied-to message one level deep: the next step
                # after this one is a fetch (or the cache).
                current = resolved
                continue
            channel_id = ref.channel_id or history.channel_id
            current = await self._get(channel_id, ref.message_id, guild_id)
        chain.reverse()
        return chain

    async def _get(
        self, channel_id: int, message_id: int, guild_id: int | None
    ) -> discord.Message | None:
        """A message from the client's cache (kept current by the gateway), else fetched;
        None if it is gone."""
        cached = discord.utils.get(self.client.cached_messages, id=message_id)
        if cached is not None:
            return cached
        channel = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            return await channel.fetch_message(message_id)
        except discord.NotFound:
            return None

    # --- one message -----------------------------------------------------------------

    def _message(self, message: discord.Message) -> ContextMessage | None:
        me = self.client.user
        assert me is not None
        own = message.author.id == me.id
        if own:
            if message.type not in OWN_MESSAGE_TYPES:
                return None
        elif message.author.bot or message.webhook_id is not None:
            return None  # other bots and webhooks: the bot does not answer them either
        elif message.type not in USER_MESSAGE_TYPES:
            return None  # pins, joins, thread starters and other system messages
        text = message_text(message, bot_id=me.id)
        if own:
            text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(SUBTEXT)).strip()
        names = [valid_text(a.filename) for a in message.attachments]
        if names:
            text = (text + "\n" if text else "") + "Files: " + ", ".join(names)
        if not text.strip():
            return None  # nothing to read (an embed only, or no Message Content intent)
        return ContextMessage(
            author="assistant" if own else valid_text(message.author.display_name),
            text=text,
            sent_at=message.created_at.timestamp(),
            from_assistant=own,
            attachments=() if own else attachments(message.attachments, fetcher=self.fetcher),
        )


def _earliest(*ids: str | int | None) -> int | None:
    """The smallest (oldest) of the message ids given; None if none is."""
    found = [int(i) for i in ids if i is not None and str(i).isdigit()]
    return min(found) if found else None


def _check_permissions(channel: object) -> None:
    """Raise MissingPermission if the cached permissions say the read cannot work:
    without Read Message History Discord answers a history request with no messages
    rather than an error, which would pass for an empty thread."""
    guild = getattr(channel, "guild", None)
    me = guild.me if isinstance(guild, discord.Guild) else None
    permissions_for = getattr(channel, "permissions_for", None)
    if me is None or permissions_for is None:
        return
    try:
        permissions = permissions_for(me)
    except discord.ClientException:  # a thread whose parent is not cached
        return
    if not permissions.view_channel:
        raise MissingPermission("View Channel")
    if not permissions.read_message_history:
        raise MissingPermission("Read Message History")


def _log_failure(key: ThreadKey, history: History, exc: BaseException) -> None:
    what = "the thread" if history.kind == "thread" else "the reply chain"
    if isinstance(exc, MissingPermission):
        cause = f"the bot lacks the {exc.permission} permission in that channel"
    elif isinstance(exc, discord.Forbidden):
        needed = "View Channel and Read Message History"
        if exc.code == MISSING_PERMISSIONS:
            needed = "Read Message History"
        cause = f"403 {exc.code} {exc.text or 'Forbidden'} (the bot needs {needed} there)"
    elif isinstance(exc, discord.HTTPException):
        cause = f"HTTP {exc.status} {exc.code} {exc.text}".rstrip()
    else:
        cause = "timed out"
    logger.warning("could not read %s of %s for context: %s", what, key, cause)


__all__ = ["ContextOptions", "DiscordContextReader", "MissingPermission"]
