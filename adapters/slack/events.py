"""Slack event payloads -> what the core understands. The one place that reads them.

Conversation mapping (the `ThreadKey` is ``("slack", team, channel, thread)``):

* a mention in a channel: ``thread`` is the message's ``thread_ts`` or, for a top-level
  message, its own ``ts`` -- the reply starts the thread under it;
* a reply in a thread: ``thread_ts``; answered without a mention when the thread is
  already a conversation (decided by the caller from the store);
* a direct message in a thread (and every message of the AI app pane, which always
  uses threads): ``thread_ts``;
* a direct message at the root of the DM: ``thread`` is ``""`` -- the DM root is one
  conversation and the reply goes to the root too (so it is posted and edited, not
  natively streamed: Slack streams only thread replies).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.models import ThreadKey
from bot.text import valid_text

PLATFORM = "slack"

#: Message subtypes that are a user saying something; everything else (edits,
#: deletions, joins, channel topic changes...) is ignored.
USER_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

_TITLE_LIMIT = 60


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a reply goes, stored with the turn so it can be posted after a restart.

    ``thread_ts`` is ``""`` for the root of a DM. ``user``/``team`` are the recipient
    Slack needs for streaming in channels. ``assistant`` marks a DM thread (the AI
    app pane); ``title`` is set as the pane's thread title on the first question.
    ``history`` marks the first mention in a thread that already has messages: its
    turn reads them for context.
    """

    thread_ts: str
    user: str
    team: str
    assistant: bool = False
    title: str = ""
    history: bool = False

    def dumps(self) -> str:
        data: dict[str, Any] = {"t": self.thread_ts, "u": self.user, "tm": self.team}
        if self.assistant:
            data["a"] = 1
        if self.title:
            data["ti"] = self.title
        if self.history:
            data["h"] = 1
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def loads(cls, raw: str) -> Anchor:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return cls(
            thread_ts=str(data.get("t", "")),
            user=str(data.get("u", "")),
            team=str(data.get("tm", "")),
            assistant=bool(data.get("a", False)),
            title=str(data.get("ti", "")),
            history=bool(data.get("h", False)),
        )


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message the bot may answer, before the permission and known-thread checks."""

    key: ThreadKey
    channel: str
    channel_type: str
    user: str
    team: str
    text: str
    ts: str
    thread_ts: str | None
    event_id: str | None
    mentioned: bool
    is_bot: bool = False
    files: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)

    @property
    def is_dm(self) -> bool:
        return self.channel_type == "im"

    @property
    def reply_thread_ts(self) -> str:
        """Where the reply goes: the thread, or "" for the root of a DM."""
        return reply_thread(self.channel_type, self.ts, self.thread_ts)

    @property
    def assistant(self) -> bool:
        """A DM thread: what Slack's AI app pane produces (status, title, prompts)."""
        return self.is_dm and bool(self.thread_ts)

    def anchor(self, *, first: bool) -> Anchor:
        title = ""
        if first and self.assistant:
            title = title_from(self.text)
        return Anchor(
            thread_ts=self.reply_thread_ts,
            user=self.user,
            team=self.team,
            assistant=self.assistant,
            title=title,
            # The bot's first message in a thread people already wrote in.
            history=first and self.thread_ts is not None and not self.is_dm,
        )


def reply_thread(channel_type: str, ts: str, thread_ts: str | None) -> str:
    """The thread a reply goes to (and the conversation's id): "" for a DM's root."""
    if thread_ts:
        return thread_ts
    return "" if channel_type == "im" else ts


def places_of(channel: str, declared: str | None = None) -> tuple[str, ...]:
    """Where a thread in `channel` starts, for picking its assistant: "dm" in a DM,
    else the channel."""
    return ("dm",) if channel_type_of(channel, declared) == "im" else (f"slack:{channel}",)


def channel_type_of(channel: str, declared: str | None = None) -> str:
    """``channel`` / ``group`` / ``im`` / ``mpim``; app_mention events do not say."""
    if declared:
        return declared
    if channel.startswith("D"):
        return "im"
    if channel.startswith("G"):
        return "group"
    return "channel"


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<``, ``>`` in user text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mention(text: str, bot_user_id: str) -> tuple[str, bool]:
    """Remove mentions of the bot; returns the text and whether there was one."""
    if not bot_user_id:
        return text.strip(), False
    # The mention goes with one space beside it; other whitespace (indented code a
    # user pasted) stays as it is.
    pattern = re.compile(rf"[ \t]?<@{re.escape(bot_user_id)}(?:\|[^>]*)?>[ \t]?")
    stripped, count = pattern.subn(" ", text)
    return stripped.strip(), count > 0


def title_from(text: str) -> str:
    """A thread title from the first question: its first line, shortened at a word."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= _TITLE_LIMIT:
        return first
    cut = first.rfind(" ", 0, _TITLE_LIMIT - 1)
    return first[: cut if cut > _TITLE_LIMIT // 2 else _TITLE_LIMIT - 1].rstrip() + "…"


def parse_message(
    body: Mapping[str, Any],
    *,
    bot_user_id: str,
    bot_id: str | None,
    allow_bots: bool = False,
) -> Incoming | None:
    """Turn an ``app_mention`` or ``message`` event_callback into an `Incoming`.

    Returns None for what must never be answered: the app's own messages, other bots
    (unless `allow_bots`), edits, deletions and other non-user subtypes, and events
    without a channel, ts or author.
    """
    event = body.get("event")
    if not isinstance(event, Mapping) or event.get("type") not in ("message", "app_mention"):
        return None
    subtype = event.get("subtype")
    sender_bot = event.get("bot_id")
    user = event.get("user")
    is_self = (bool(bot_id) and sender_bot == bot_id) or (bool(bot_user_id) and user == bot_user_id)
    if is_self:
        return None
    is_bot = sender_bot is not None or subtype == "bot_message"
    if is_bot and not allow_bots:
        return None
    if subtype not in USER_SUBTYPES and not (allow_bots and subtype == "bot_message"):
        return None
    channel, ts = event.get("channel"), event.get("ts")
    author = user or sender_bot
    if not isinstance(channel, str) or not isinstance(ts, str) or not isinstance(author, str):
        return None
    team = str(body.get("team_id") or event.get("team") or "")
    thread_ts = event.get("thread_ts")
    thread_ts = str(thread_ts) if thread_ts else None
    channel_type = channel_type_of(channel, event.get("channel_type"))
    text, mentioned = strip_mention(str(event.get("text") or ""), bot_user_id)
    mentioned = mentioned or event.get("type") == "app_mention"
    files = event.get("files")
    return Incoming(
        key=ThreadKey(PLATFORM, team, channel, reply_thread(channel_type, ts, thread_ts)),
        channel=channel,
        channel_type=channel_type,
        user=author,
        team=team,
        text=valid_text(unescape(text)),
        ts=ts,
        thread_ts=thread_ts,
        event_id=str(body["event_id"]) if body.get("event_id") else None,
        mentioned=mentioned,
        is_bot=is_bot,
        files=tuple(f for f in files if isinstance(f, Mapping))
        if isinstance(files, Sequence)
        else (),
    )


def permitted(
    incoming: Incoming, *, allowed_channels: Sequence[str], allowed_users: Sequence[str]
) -> bool:
    """Whether the allowlists let this message through (empty list: everyone)."""
    if allowed_users and incoming.user not in allowed_users:
        return False
    if not allowed_channels:
        return True
    if incoming.is_dm:
        return any(c.lower() == "dm" for c in allowed_channels) or incoming.channel in (
            allowed_channels
        )
    return incoming.channel in allowed_channels


def assistant_thread(body: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(channel, thread_ts, user) of an assistant_thread_started/_context_changed event."""
    event = body.get("event")
    if not isinstance(event, Mapping):
        return None
    thread = event.get("assistant_thread")
    if not isinstance(thread, Mapping):
        return None
    channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
    if not isinstance(channel, str) or not isinstance(thread_ts, str):
        return None
    return channel, thread_ts, str(thread.get("user_id") or "")


__all__ = [
    "PLATFORM",
    "USER_SUBTYPES",
    "Anchor",
    "Incoming",
    "assistant_thread",
    "channel_type_of",
    "parse_message",
    "permitted",
    "reply_thread",
    "strip_mention",
    "title_from",
    "unescape",
]
