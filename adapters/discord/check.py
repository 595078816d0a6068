"""`threadbridge check` for Discord: the token works, and which intents the app has."""

from __future__ import annotations

from typing import Any

import aiohttp

from adapters.discord.settings import DiscordAppSettings
from bot.models import CheckResult

# Application flags (discord.com/developers/docs/resources/application#application-object)
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19


async def _get(session: aiohttp.ClientSession, url: str, token: str) -> tuple[int, Any]:
    async with session.get(url, headers={"Authorization": f"Bot {token}"}) as response:
        body = await response.json(content_type=None)
        return response.status, body


async def check_discord(*, settings: DiscordAppSettings) -> list[CheckResult]:
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    base = settings.discord_api_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            status, me = await _get(session, f"{base}/users/@me", token)
            if status == 401:
                return [CheckResult("Discord token", False, "DISCORD_TOKEN was refused (401)")]
            if status != 200:
                return [CheckResult("Discord token", False, f"/users/@me answered {status}")]
            _, app = await _get(session, f"{base}/applications/@me", token)
        except aiohttp.ClientError as exc:
            return [CheckResult("Discord", False, f"cannot reach {base}: {exc}")]
    results = [CheckResult("Discord token", True, f"bot {me.get('username')} ({me.get('id')})")]
    flags = int(app.get("flags") or 0) if isinstance(app, dict) else 0
    if flags & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED):
        results.append(CheckResult("Discord intents", True, "message content intent enabled"))
    else:
        results.append(
            CheckResult(
                "Discord intents",
                True,
                "message content intent off: follow-ups need a mention; enable it in the "
                "developer portal (Bot > Privileged Gateway Intents) to answer every message",
            )
        )
    return results
