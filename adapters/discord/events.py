"""Discord messages and interactions -> the core's `Inbound`, in one place.

Everything here is translation: keys, text cleanup, attachments, anchors. What to
answer (routing, access) lives in the client; how to answer lives in the sink.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

import discord

from adapters.discord.anchor import Anchor, History
from adapters.discord.download import CdnFetcher
from bot.attachments import guess_mime
from bot.models import Attachment, Inbound, ThreadKey
from bot.text import valid_text

PLATFORM = "discord"
# A day without messages archives the thread; Discord only takes 60/1440/4320/10080.
AUTO_ARCHIVE_MINUTES: Final = 1440
THREAD_NAME_LIMIT = 100
DEFAULT_THREAD_NAME = "Question"
# Message types a person writes; the rest are system notices (pins, joins, thread
# starters...).
USER_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
THREAD_TYPES = frozenset(
    {
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
        discord.ChannelType.news_thread,
    }
)

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")
# Fenced blocks and inline code spans: their text reaches the model untouched.
_CODE = re.compile(r"(`{3,}).*?(?:\1|\Z)|(`+)[^`]*?\2", re.DOTALL)


def conversation_key(*, guild_id: int | None, channel_id: int) -> ThreadKey:
    """The ThreadKey of a Discord thread or DM channel.

    A thread is a channel of its own (and a thread started from a message has that
    message's id), so one id names both the channel and the conversation.
    """
    scope = str(guild_id) if guild_id is not None else ""
    return ThreadKey(PLATFORM, scope, str(channel_id), str(channel_id))


def is_thread(channel: object) -> bool:
    return isinstance(channel, discord.Thread) or getattr(channel, "type", None) in THREAD_TYPES


def parent_id(channel: object) -> int | None:
    value = getattr(channel, "parent_id", None)
    return value if isinstance(value, int) else None


def role_ids(user: discord.abc.User | discord.Member) -> list[int] | None:
    """The member's role ids, None outside a guild."""
    if isinstance(user, discord.Member):
        return [role.id for role in user.roles]
    return None


def clean_text(
    content: str,
    *,
    bot_id: int,
    bot_role_id: int | None = None,
    users: Iterable[discord.abc.User] = (),
    roles: Iterable[discord.Role] = (),
    channels: Iterable[discord.abc.GuildChannel | discord.Thread] = (),
) -> str:
    """Message text for the model: the bot's own mention removed, other mentions as
    readable names (the model cannot resolve `<@123>`). Code (fenced or inline) keeps
    its text and whitespace; elsewhere only the space a removed mention leaves goes."""
    names = {u.id: u.display_name for u in users}
    role_names = {r.id: r.name for r in roles}
    channel_names = {c.id: c.name for c in channels}

    def user(match: re.Match[str]) -> str:
        uid = int(match.group(1))
        if uid == bot_id:
            return _REMOVED
        return "@" + names.get(uid, "user")

    def role(match: re.Match[str]) -> str:
        rid = int(match.group(1))
        if rid == bot_role_id:
            return _REMOVED
        return "@" + role_names.get(rid, "role")

    def channel(match: re.Match[str]) -> str:
        return "#" + channel_names.get(int(match.group(1)), "channel")

    def prose(text: str) -> str:
        text = _USER_MENTION.sub(user, text)
        text = _ROLE_MENTION.sub(role, text)
        text = _CHANNEL_MENTION.sub(channel, text)
        return re.sub(f"[ \t]?{_REMOVED}[ \t]?", " ", text)

    parts: list[str] = []
    at = 0
    for code in _CODE.finditer(content):
        parts += [prose(content[at : code.start()]), code.group(0)]
        at = code.end()
    parts.append(prose(content[at:]))
    return valid_text("".join(parts)).strip()


_REMOVED = "\ue010"  # marks where the bot's own mention was, until the spaces are tidied


def message_text(message: discord.Message, *, bot_id: int) -> str:
    guild = message.guild
    bot_role = guild.self_role if guild is not None else None
    return clean_text(
        message.content,
        bot_id=bot_id,
        bot_role_id=bot_role.id if bot_role is not None else None,
        users=message.mentions,
        roles=message.role_mentions,
        channels=message.channel_mentions,
    )


def prompt_text(interaction: discord.Interaction, prompt: str, *, bot_id: int) -> str:
    """An /ask prompt cleaned like message text. Discord resolves no mentions in a
    string option: names come from the guild's cache."""
    guild = interaction.guild
    if guild is None:
        return clean_text(prompt, bot_id=bot_id)
    # The asker is known even when the guild's member cache is not kept.
    members = [interaction.user]
    members += [m for m in map(guild.get_member, _ids(_USER_MENTION, prompt)) if m is not None]
    roles = [r for r in map(guild.get_role, _ids(_ROLE_MENTION, prompt)) if r is not None]
    channels = [
        c for c in map(guild.get_channel_or_thread, _ids(_CHANNEL_MENTION, prompt)) if c is not None
    ]
    own_role = guild.self_role
    return clean_text(
        prompt,
        bot_id=bot_id,
        bot_role_id=own_role.id if own_role is not None else None,
        users=members,
        roles=roles,
        channels=channels,
    )


def _ids(pattern: re.Pattern[str], text: str) -> list[int]:
    return [int(match.group(1)) for match in pattern.finditer(text)]


def thread_name(text: str) -> str:
    """A thread name from a question: its first line, at most 100 characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line)
    if not line:
        return DEFAULT_THREAD_NAME
    if len(line) > THREAD_NAME_LIMIT:
        line = line[: THREAD_NAME_LIMIT - 1].rstrip() + "…"
    return line


def attachments(
    files: Sequence[discord.Attachment], *, fetcher: CdnFetcher
) -> tuple[Attachment, ...]:
    """Attachment metadata; bytes are fetched later, by the turn, through `fetcher`."""
    return tuple(
        Attachment(
            name=valid_text(f.filename),
            mime_type=guess_mime(f.filename, f.content_type or ""),
            size=f.size,
            download=fetcher.downloader(f.url),
            url=f.url,
            # A voice message: Opus in Ogg with a length and a waveform (what discord.py's
            # is_voice_message checks; the message also carries the IS_VOICE_MESSAGE flag).
            duration=f.duration,
            voice=f.is_voice_message(),
        )
        for f in files
    )


def places_of(*, guild_id: int | None, channels: Iterable[int | None]) -> tuple[str, ...]:
    """Where a thread starts, most specific first (what picks its assistant): the
    thread, its parent channel, the guild; "dm" in a DM."""
    if guild_id is None:
        return ("dm",)
    found = dict.fromkeys(f"discord:{c}" for c in channels if c)
    return (*found, f"discord-guild:{guild_id}")


def inbound_from_message(
    message: discord.Message,
    *,
    key: ThreadKey,
    text: str,
    fetcher: CdnFetcher,
    history: History | None = None,
) -> Inbound:
    """A user's message in a thread or DM (or the channel message that opened one).
    With `history`, its turn first reads the earlier messages that mark names."""
    return Inbound(
        key=key,
        text=text,
        user_id=str(message.author.id),
        user_name=valid_text(message.author.display_name),
        message_id=str(message.id),
        anchor=Anchor(channel_id=int(key.thread), history=history).dumps(),
        attachments=attachments(message.attachments, fetcher=fetcher),
        places=places_of(
            guild_id=message.guild.id if message.guild is not None else None,
            channels=(int(key.thread), message.channel.id, parent_id(message.channel)),
        ),
    )


def inbound_from_interaction(
    interaction: discord.Interaction,
    *,
    key: ThreadKey,
    prompt: str,
    file: discord.Attachment | None,
    follow_up: bool,
    fetcher: CdnFetcher,
    history: History | None = None,
    assistant: str | None = None,
) -> Inbound:
    """An /ask. With `follow_up`, the reply is posted as the command's follow-up while
    the interaction token is valid (in the channel the command was used in)."""
    anchor = Anchor(
        channel_id=int(key.thread),
        interaction_token=interaction.token if follow_up else None,
        interaction_created=interaction.created_at.timestamp() if follow_up else None,
        upload_limit=interaction.filesize_limit,
        history=history,
    )
    return Inbound(
        key=key,
        text=prompt,
        user_id=str(interaction.user.id),
        user_name=valid_text(interaction.user.display_name),
        event_id=str(interaction.id),
        anchor=anchor.dumps(),
        attachments=attachments([file] if file is not None else [], fetcher=fetcher),
        places=interaction_places(interaction, thread=int(key.thread)),
        assistant=assistant,
    )


def interaction_places(
    interaction: discord.Interaction, *, thread: int | None = None
) -> tuple[str, ...]:
    """Where an interaction's thread starts (see `places_of`)."""
    return places_of(
        guild_id=interaction.guild_id,
        channels=(thread, interaction.channel_id, parent_id(interaction.channel)),
    )


__all__ = [
    "AUTO_ARCHIVE_MINUTES",
    "PLATFORM",
    "THREAD_TYPES",
    "USER_MESSAGE_TYPES",
    "attachments",
    "clean_text",
    "conversation_key",
    "inbound_from_interaction",
    "inbound_from_message",
    "interaction_places",
    "is_thread",
    "message_text",
    "parent_id",
    "places_of",
    "prompt_text",
    "role_ids",
    "thread_name",
]
