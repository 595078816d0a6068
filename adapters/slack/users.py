"""Display names of Slack users (users.info), cached for the process."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.text import valid_text

from .errors import FAILURES, error_code

logger = logging.getLogger(__name__)

LOOKUP_SECONDS = 1.0
CACHE_SIZE = 10_000


class UserNames:
    """`await names.get(user_id)`: the profile's display name, else the real name."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: dict[str, str | None] = {}

    async def get(self, user_id: str) -> str | None:
        if user_id in self._names:
            return self._names[user_id]
        name: str | None = None
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                response = await self.client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            found = profile.get("display_name") or profile.get("real_name") or user.get("name")
            name = valid_text(str(found)) if found else None
        except FAILURES as exc:
            logger.debug("no name for a user: %s", error_code(exc))
        if len(self._names) >= CACHE_SIZE:
            self._names.clear()
        self._names[user_id] = name
        return name


__all__ = ["UserNames"]
