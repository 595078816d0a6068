"""The earlier messages of a Slack thread, for the model (conversations.replies).

Read once, when the bot is first mentioned in a thread that already has messages (the
anchor of that turn says so): from the root up to the mention, with each author's
display name and time, the bot's own messages as the assistant's, other bots left out
unless allowed, files attached like the current message's. The budget keeps the root
and the most recent messages. Any failure (ratelimited past a short budget, a missing
scope, not in the channel) leaves the turn without context and with a short note.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.context import fit_context
from bot.models import Context, ContextMessage, ThreadKey
from bot.text import valid_text

from .download import FileFetcher
from .errors import FAILURES, error_code
from .events import USER_SUBTYPES, Anchor, strip_mention, unescape
from .users import UserNames

logger = logging.getLogger(__name__)

PAGE_SIZE = 200
MAX_PAGES = 25
UNREADABLE = "I couldn't read the earlier messages in this thread."


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextOptions:
    enabled: bool = True
    allow_bots: bool = False
    max_messages: int = 200
    max_chars: int = 60_000
    #: The whole read, rate-limit waits included; past it the turn goes on without.
    read_seconds: float = 10.0


class SlackContextReader:
    """Reads a thread's earlier messages through the bot token."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        fetcher: FileFetcher,
        names: UserNames,
        options: ContextOptions,
    ) -> None:
        self.client = client
        self.fetcher = fetcher
        self.names = names
        self.options = options
        self._me: tuple[str, str] | None = None  # (bot user id, bot id)

    async def read_context(self, *, key: ThreadKey, anchor: str, before: str | None) -> Context:
        parsed = Anchor.loads(anchor)
        if not (self.options.enabled and parsed.history and parsed.thread_ts):
            return Context()
        try:
            async with asyncio.timeout(self.options.read_seconds):
                raw = await self._replies(key.channel, parsed.thread_ts, before)
                messages = [m for m in [await self._message(r) for r in raw] if m is not None]
        except FAILURES as exc:  # TimeoutError among them
            self._log_failure(key, exc)
            return Context(note=UNREADABLE)
        return fit_context(
            messages, max_messages=self.options.max_messages, max_chars=self.options.max_chars
        )

    async def _replies(
        self, channel: str, thread_ts: str, before: str | None
    ) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"channel": channel, "ts": thread_ts, "limit": PAGE_SIZE}
            if before:
                kwargs.update(latest=before, inclusive=False)
            if cursor:
                kwargs["cursor"] = cursor
            response = await self.client.conversations_replies(**kwargs)
            page = response.get("messages") or []
            found += [m for m in page if isinstance(m, Mapping)]
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
        # Slack includes `latest` itself in some cases; the mention is the turn's own.
        return [m for m in found if not before or str(m.get("ts")) != before]

    async def _message(self, raw: Mapping[str, Any]) -> ContextMessage | None:
        bot_user, bot_id = await self._identity()
        subtype = raw.get("subtype")
        user, sender_bot = raw.get("user"), raw.get("bot_id")
        own = (bot_id and sender_bot == bot_id) or (bot_user and user == bot_user)
        if not own:
            if (sender_bot or subtype == "bot_message") and not self.options.allow_bots:
                return None
            if subtype not in USER_SUBTYPES and subtype != "bot_message":
                return None
        text, _ = strip_mention(str(raw.get("text") or ""), bot_user)
        files = raw.get("files") or []
        attachments, skipped = self.fetcher.attachments(f for f in files if isinstance(f, Mapping))
        names = [a.name for a in attachments] + [s.name for s in skipped]
        if names:
            text = (text + "\n" if text else "") + "Files: " + ", ".join(names)
        if not text.strip():
            return None
        author = "assistant" if own else await self._author(raw)
        return ContextMessage(
            author=author,
            text=valid_text(unescape(text)),
            sent_at=float(str(raw.get("ts") or 0)),
            from_assistant=bool(own),
            attachments=() if own else attachments,
        )

    async def _author(self, raw: Mapping[str, Any]) -> str:
        user = raw.get("user")
        if isinstance(user, str) and user:
            return await self.names.get(user) or user
        profile = raw.get("bot_profile") or {}
        return str(raw.get("username") or profile.get("name") or raw.get("bot_id") or "someone")

    async def _identity(self) -> tuple[str, str]:
        if self._me is None:
            response = await self.client.auth_test()
            self._me = (str(response.get("user_id") or ""), str(response.get("bot_id") or ""))
        return self._me

    @staticmethod
    def _log_failure(key: ThreadKey, exc: BaseException) -> None:
        error = "timed out" if isinstance(exc, TimeoutError) else error_code(exc)
        data = getattr(getattr(exc, "response", None), "data", None)
        needed = data.get("needed") if isinstance(data, dict) else None
        hint = f" (the app needs the {needed} scope: add it and reinstall)" if needed else ""
        if error == "not_in_channel":
            hint = " (invite the bot to the channel)"
        logger.warning("could not read the thread %s for context: %s%s", key, error, hint)


__all__ = ["ContextOptions", "SlackContextReader"]
