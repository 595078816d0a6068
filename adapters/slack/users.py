"""Display names of Slack users (users.info), cached for the process."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.text import valid_text

from .errors import FAILURES, error_code

logger = logging.getLogger(__name__)

LOOKUP_SECONDS = 1.0  # when a turn waits for the name
BACKGROUND_SECONDS = 10.0  # when nobody does
# Answers that will not change by asking again: the name stays unknown for the process.
FINAL_ERRORS = frozenset({"user_not_found", "missing_scope", "not_allowed_token_type"})
# After any other failure (a timeout, a rate limit, a 5xx) the name counts as unknown for
# this long, then it is asked again.
RETRY_SECONDS = 60.0
CACHE_SIZE = 10_000
# Lookups nobody waits for, at once: a burst of new authors looks their names up one
# after another behind the turns, not between each turn and its first words.
BACKGROUND_AT_ONCE = 4


class UserNames:
    """`await names.get(user_id)`: the profile's display name, else the real name."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: dict[str, str | None] = {}
        self._retry_at: dict[str, float] = {}  # names that failed, by when to ask again
        self._looking: set[str] = set()
        self._later = asyncio.Semaphore(BACKGROUND_AT_ONCE)

    def _known(self, user_id: str) -> bool:
        retry = self._retry_at.get(user_id)
        if retry is not None and time.monotonic() >= retry:
            del self._retry_at[user_id]
            self._names.pop(user_id, None)
        return user_id in self._names

    def cached(self, user_id: str) -> tuple[bool, str | None]:
        """(known, name) without a Slack call: known is False until a lookup finished."""
        if self._known(user_id):
            return True, self._names[user_id]
        return False, None

    def looking_up(self, user_id: str) -> bool:
        """Claim the lookup of `user_id` (False if one is under way or done)."""
        if self._known(user_id) or user_id in self._looking:
            return False
        self._looking.add(user_id)
        return True

    async def get_later(self, user_id: str) -> str | None:
        """`get` for nobody waiting (claimed with `looking_up`): a few at a time."""
        try:
            async with self._later:
                return await self.get(user_id, seconds=BACKGROUND_SECONDS)
        finally:
            self._looking.discard(user_id)

    async def get(self, user_id: str, *, seconds: float = LOOKUP_SECONDS) -> str | None:
        if self._known(user_id):
            return self._names[user_id]
        name: str | None = None
        transient = False
        try:
            async with asyncio.timeout(seconds):
                response = await self.client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            found = profile.get("display_name") or profile.get("real_name") or user.get("name")
            name = valid_text(str(found)) if found else None
        except FAILURES as exc:
            code = error_code(exc)
            logger.debug("no name for a user: %s", code)
            transient = code not in FINAL_ERRORS
        finally:
            self._looking.discard(user_id)
        if len(self._names) >= CACHE_SIZE:
            self._names.clear()
            self._retry_at.clear()
        self._names[user_id] = name
        if transient:
            self._retry_at[user_id] = time.monotonic() + RETRY_SECONDS
        return name


__all__ = ["UserNames"]
