"""Running the Discord adapter under `threadbridge run`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import discord
import discord.http

from adapters.discord.client import MessageContentUnavailable, ThreadbridgeClient, build_client
from adapters.discord.download import CdnFetcher
from adapters.discord.settings import DiscordAppSettings
from adapters.discord.sink import EDIT_INTERVAL
from bot.config import ConfigError
from bot.service import Service

logger = logging.getLogger(__name__)

PLATFORM = "discord"
DEFAULT_API_URL = "https://discord.com/api/v10"
MESSAGE_CONTENT_OFF = (
    "Discord: the Message Content intent is not enabled for this bot, so it runs "
    "without it: /ask, mentions and DMs work, but follow-ups in its threads are only "
    "answered when they mention the bot. Turn on MESSAGE CONTENT INTENT under Bot in "
    "the Discord developer portal to answer every follow-up."
)


def configure_api_base(url: str) -> None:
    """Point discord.py's REST calls at `url` (a proxy, an emulator) if it is not
    Discord's own. The gateway follows in the client's setup (see
    `ThreadbridgeClient._configure_gateway`)."""
    url = url.rstrip("/")
    if url != DEFAULT_API_URL:
        discord.http.Route.BASE = url


class DiscordRunner:
    """Builds the client, registers its replier and runs it until it is closed.

    If the application may not receive message content, the client is rebuilt
    without that intent (said once in the log) rather than failing at start. When
    cancelled (shutdown), it gives running turns THREADBRIDGE_SHUTDOWN_SECONDS to post
    their replies before it disconnects.
    """

    def __init__(
        self,
        *,
        service: Service,
        settings: DiscordAppSettings,
        fetcher_factory: Callable[[], CdnFetcher] = CdnFetcher,
        edit_interval: float = EDIT_INTERVAL,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.fetcher_factory = fetcher_factory
        self.edit_interval = edit_interval
        self.client_options = dict(client_options or {})
        self.client: ThreadbridgeClient | None = None

    async def run(self) -> None:
        if self.settings.discord_token is None:
            raise ConfigError("DISCORD_TOKEN is required for Discord")
        token = self.settings.discord_token.get_secret_value().strip()
        configure_api_base(self.settings.discord_api_url)
        message_content = True
        while True:
            client = build_client(
                service=self.service,
                settings=self.settings,
                fetcher=self.fetcher_factory(),
                message_content=message_content,
                edit_interval=self.edit_interval,
                **self.client_options,
            )
            self.client = client
            self.service.register(PLATFORM, client.replier)
            try:
                await client.start(token)
                return
            except (discord.PrivilegedIntentsRequired, MessageContentUnavailable):
                if not message_content:
                    raise
                logger.warning(MESSAGE_CONTENT_OFF)
                message_content = False
            except discord.LoginFailure:
                raise ConfigError("DISCORD_TOKEN: Discord rejected the token") from None
            except asyncio.CancelledError:
                # Shutting down. Running turns still post their replies through this
                # client, so let them finish (new messages are refused meanwhile).
                finished = await self.service.stop(budget=self.settings.shutdown_budget)
                if not finished:
                    logger.warning("Discord: some turns did not finish before shutdown")
                raise
            finally:
                # start() leaves the client open when it fails.
                await client.close()


async def run_discord(*, service: Service, settings: DiscordAppSettings) -> None:
    """Run the Discord adapter until cancelled (the composition root's entry point).

    Like every platform runner: cancelled, it stops taking messages, gives running
    turns THREADBRIDGE_SHUTDOWN_SECONDS to post their replies, then disconnects.
    """
    await DiscordRunner(service=service, settings=settings).run()


__all__ = ["DiscordRunner", "configure_api_base", "run_discord"]
