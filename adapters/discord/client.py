"""The Discord client: gateway events in, turns queued on the service.

Built by `build_client()` with its resources passed in (service, settings, the CDN
fetcher), async setup in `setup_hook` (discord.py's advanced_startup pattern): no
module-level clients.

What gets an answer:
- a message in a thread the bot owns (it opened it, or the thread is in the store);
- a message that mentions the bot: in a text channel it opens a thread from that
  message, in someone else's thread the bot joins that thread's conversation;
- every message in a DM channel (one conversation per DM channel).
Bots (itself included), system messages and edits are ignored.

What the first turn reads first (`History` in its anchor, see `context`): the thread's
earlier messages when the bot is first asked in someone else's thread, the reply chain
when a channel mention replies to a message. Replies in a DM (to one of the bot's
answers, say) are in the DM's conversation already: nothing is read there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

from adapters.discord.access import Access
from adapters.discord.anchor import History
from adapters.discord.commands import SlashCommands
from adapters.discord.context import ContextOptions, DiscordContextReader
from adapters.discord.controls import ControlOptions, Controls
from adapters.discord.download import CdnFetcher
from adapters.discord.events import (
    AUTO_ARCHIVE_MINUTES,
    USER_MESSAGE_TYPES,
    conversation_key,
    inbound_from_message,
    is_thread,
    message_text,
    parent_id,
    role_ids,
    thread_name,
)
from adapters.discord.settings import DiscordAppSettings
from adapters.discord.sink import EDIT_INTERVAL, DiscordReplier
from adapters.discord.state import DiscordState
from adapters.discord.threads import Threads
from bot.models import ThreadKey
from bot.service import Service

logger = logging.getLogger(__name__)

THREAD_ALREADY_EXISTS = 160004
DEFAULT_API_URL = "https://discord.com/api/v10"
NO_CONTENT_HINT = (
    "I can't read messages here unless they mention me. Mention me or use `/ask` "
    "to continue this conversation."
)


# Exactly what the bot uses: Send Messages, Send Messages in Threads, Create Public
# Threads, Attach Files, Read Message History, Use Application Commands.
INVITE_PERMISSIONS = discord.Permissions(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    attach_files=True,
    read_message_history=True,
    use_application_commands=True,
)


def invite_url(application_id: int) -> str:
    """The URL that adds the bot to a server with the permissions it needs."""
    return discord.utils.oauth_url(
        application_id,
        permissions=INVITE_PERMISSIONS,
        scopes=("bot", "applications.commands"),
    )


class MessageContentUnavailable(Exception):
    """The application may not receive message content (privileged intent off)."""


def intents(*, message_content: bool) -> discord.Intents:
    """Only what the bot uses: guilds (channels, threads), guild and DM messages."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = message_content
    return wanted


class ThreadbridgeClient(discord.Client):
    """discord.Client wired to the threadbridge service."""

    def __init__(
        self,
        *,
        service: Service,
        settings: DiscordAppSettings,
        fetcher: CdnFetcher,
        message_content: bool = True,
        edit_interval: float = EDIT_INTERVAL,
        **options: Any,
    ) -> None:
        super().__init__(
            intents=intents(message_content=message_content),
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.service = service
        self.settings = settings
        self.fetcher = fetcher
        self.access = Access.from_settings(settings)
        self.ready_event = asyncio.Event()
        self.context_reader = DiscordContextReader(
            client=self,
            fetcher=fetcher,
            options=ContextOptions(
                enabled=settings.discord_read_history,
                max_messages=settings.context_max_messages,
                max_chars=settings.context_max_chars,
            ),
        )
        self.state = DiscordState()
        self.replier = DiscordReplier(
            client=self,
            ready=self.ready_event,
            edit_interval=edit_interval,
            context=self.context_reader,
            upload_limits=self.state.upload_limits,
            controls=ControlOptions(stop=settings.stop_button, feedback=settings.feedback_buttons),
        )
        self.controls = Controls(service=service)
        self.threads = Threads(
            service=service, me=lambda: self.user, read_history=settings.discord_read_history
        )
        self.tree = SlashCommands(
            service=service,
            settings=settings,
            access=self.access,
            fetcher=fetcher,
            state=self.state,
            threads=self.threads,
        ).tree(self)
        self._hinted: set[int] = set()  # threads told how to reach the bot

    @property
    def stats(self) -> Counter[str]:
        """What became of each delivery (see DiscordState)."""
        return self.state.stats

    # --- lifecycle ------------------------------------------------------------------

    async def setup_hook(self) -> None:
        # Login has fetched the application's flags; failing here, before the gateway,
        # lets the runner retry without the intent instead of crashing on close 4014.
        if self.intents.message_content and not self._message_content_granted():
            raise MessageContentUnavailable()
        await self._configure_gateway()
        await self._sync_commands()

    async def _configure_gateway(self) -> None:
        """Connect where the configured API says (a proxy or test server takes the whole
        client, not only REST): DISCORD_GATEWAY_URL, else `GET /gateway/bot` of a
        DISCORD_API_URL that is not Discord's own. discord.py keeps the URL it connects
        to (and falls back to after an invalidated session) on DiscordWebSocket."""
        url = self.settings.discord_gateway_url
        if url is None and self.settings.discord_api_url.rstrip("/") != DEFAULT_API_URL:
            _, url, _ = await self.http.get_bot_gateway()
        if url is not None:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url.rstrip("/") + "/")
            logger.info("Discord gateway: %s", url)

    def _message_content_granted(self) -> bool:
        flags = self.application_flags
        return bool(flags.gateway_message_content or flags.gateway_message_content_limited)

    async def _sync_commands(self) -> None:
        guild_ids = [int(g) for g in self.settings.discord_guild_ids]
        try:
            if not guild_ids:
                synced = await self.tree.sync()
                logger.info(
                    "synced %d slash commands globally (Discord may take a while to show them)",
                    len(synced),
                )
                return
            for guild_id in guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                logger.info("synced %d slash commands to guild %s", len(synced), guild_id)
        except discord.HTTPException as exc:
            # Missing applications.commands scope or not in that guild: the bot still
            # answers mentions and DMs, so keep running.
            logger.error(
                "could not sync slash commands (%s); invite the bot with the "
                "applications.commands scope",
                exc,
            )

    async def on_ready(self) -> None:
        self.ready_event.set()
        logger.info("Discord: connected as %s to %d guild(s)", self.user, len(self.guilds))
        if not self.guilds and self.application_id is not None:
            logger.info("Discord: invite the bot with %s", invite_url(self.application_id))

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.fetcher.close()
            if self.state.stats:
                logger.info("Discord: %s", dict(self.state.stats))

    async def on_interaction(self, interaction: discord.Interaction[discord.Client]) -> None:
        """Clicks on the reply buttons (slash commands go to the command tree)."""
        try:
            if await self.controls.handle(interaction):
                self.state.stats["button"] += 1
        except Exception:
            self.state.stats["failed"] += 1
            logger.exception("Discord button click %s could not be handled", interaction.id)

    # --- messages -------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        try:
            self.state.stats[await self.handle_message(message)] += 1
        except Exception:
            self.state.stats["failed"] += 1
            logger.exception("Discord message %s could not be handled", message.id)

    async def handle_message(self, message: discord.Message) -> str:
        """Queue `message` for a turn if the bot should answer it; returns the outcome."""
        me = self.user
        if me is None or message.author.bot or message.author.id == me.id:
            return "ignored"
        if message.type not in USER_MESSAGE_TYPES:
            return "ignored"
        channel = message.channel
        guild = message.guild
        mentioned = self._mentions_me(message)
        key: ThreadKey | None = None
        if guild is None:
            key = conversation_key(guild_id=None, channel_id=channel.id)
        elif is_thread(channel):
            key = conversation_key(guild_id=guild.id, channel_id=channel.id)
            if not mentioned and not await self.threads.owns(channel, key):
                return "ignored"
        elif not (mentioned and isinstance(channel, discord.TextChannel)):
            return "ignored"
        refusal = self.access.refusal(
            guild_id=guild.id if guild is not None else None,
            channel_ids=(channel.id, parent_id(channel)),
            role_ids=role_ids(message.author),
        )
        if refusal is not None:
            logger.debug("not answering message %s: %s", message.id, refusal)
            return "refused"
        text = message_text(message, bot_id=me.id)
        if not text and not message.attachments:
            if not self.intents.message_content and key is not None and guild is not None:
                # Without the intent a follow-up that does not mention the bot arrives
                # empty: say once per thread how to reach it, instead of silence.
                await self._hint_no_content(message.channel)
            return "empty"
        history: History | None = None
        if key is None:
            assert guild is not None
            thread_id = await self._open_thread(message, text)
            if thread_id is None:
                return "failed"
            key = conversation_key(guild_id=guild.id, channel_id=thread_id)
            history = self._reply_history(message)
        elif isinstance(channel, discord.Thread) and mentioned and channel.owner_id != me.id:
            history = await self.threads.history(channel, key, before=message.id)
            await self.threads.adopt(channel)
        return await self.threads.submit(
            inbound_from_message(message, key=key, text=text, fetcher=self.fetcher, history=history)
        )

    def _reply_history(self, message: discord.Message) -> History | None:
        """A channel mention that replies to a message: its turn reads the reply chain."""
        ref = message.reference
        if (
            not self.settings.discord_read_history
            or message.type is not discord.MessageType.reply
            or ref is None
            or ref.message_id is None
        ):
            return None
        return History(
            "reply", message_id=ref.message_id, channel_id=ref.channel_id or message.channel.id
        )

    async def _hint_no_content(self, channel: discord.abc.Messageable) -> None:
        channel_id = getattr(channel, "id", 0)
        if channel_id in self._hinted:
            return
        self._hinted.add(channel_id)
        if len(self._hinted) == 1:
            logger.warning(
                "Discord: a follow-up arrived without its text (no Message Content intent); "
                "telling the thread to mention the bot or use /ask"
            )
        try:
            await channel.send(NO_CONTENT_HINT, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            logger.debug("could not post the mention hint: %s", exc)

    def _mentions_me(self, message: discord.Message) -> bool:
        me = self.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        # Mentioning the bot's managed role (Discord's autocomplete offers it) counts too.
        own_role = message.guild.self_role if message.guild is not None else None
        return own_role is not None and own_role.id in message.raw_role_mentions

    async def _open_thread(self, message: discord.Message, text: str) -> int | None:
        """Open a public thread from a channel message that mentions the bot.

        A thread started from a message has the message's id. A replayed delivery of
        the same message finds it taken (in the store, or Discord says it exists) and
        goes on to `submit`, which drops the duplicate.
        """
        if message.thread is not None:
            return message.thread.id
        assert message.guild is not None
        key = conversation_key(guild_id=message.guild.id, channel_id=message.id)
        if await self.service.knows_thread(key):
            return message.id
        try:
            thread = await message.create_thread(
                name=thread_name(text), auto_archive_duration=AUTO_ARCHIVE_MINUTES
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_ALREADY_EXISTS:
                return message.id
            logger.warning("cannot open a thread from message %s: %s", message.id, exc)
            if isinstance(exc, discord.Forbidden):
                with contextlib.suppress(discord.HTTPException):
                    await message.reply(
                        "I cannot open a thread here: I need the Create Public Threads "
                        "and Send Messages in Threads permissions.",
                        mention_author=False,
                    )
            return None
        return thread.id


class ShardedThreadbridgeClient(ThreadbridgeClient, discord.AutoShardedClient):
    """The same client over several gateway connections (`DISCORD_SHARD_COUNT`).

    Discord sends a guild's events to shard `(guild_id >> 22) % shard_count` and DMs to
    shard 0; each process runs the shards in `DISCORD_SHARD_IDS`.
    """


def build_client(
    *,
    service: Service,
    settings: DiscordAppSettings,
    fetcher: CdnFetcher | None = None,
    message_content: bool = True,
    edit_interval: float = EDIT_INTERVAL,
    **options: Any,
) -> ThreadbridgeClient:
    """The client with its resources; `options` go to discord.Client."""
    cls = ThreadbridgeClient
    shards = settings.discord_shards
    if shards is not None:
        cls = ShardedThreadbridgeClient
        options = {"shard_count": shards[0], "shard_ids": shards[1], **options}
    return cls(
        service=service,
        settings=settings,
        fetcher=fetcher if fetcher is not None else CdnFetcher(),
        message_content=message_content,
        edit_interval=edit_interval,
        **options,
    )


__all__ = [
    "INVITE_PERMISSIONS",
    "MessageContentUnavailable",
    "ShardedThreadbridgeClient",
    "ThreadbridgeClient",
    "build_client",
    "intents",
    "invite_url",
]
