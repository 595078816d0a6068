"""Fixtures: the real discord.py client of the adapter against the Discord emulator,
with the core (service, engine, store) wired to the OpenAI emulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.discord.client import ThreadbridgeClient, build_client
from adapters.discord.download import CdnFetcher
from bot.tools import ToolRegistry
from tests.emulators.discord import DiscordEmulator
from tests.emulators.discord.plugin import started_client


@dataclass
class Bot:
    """A running bot: the core, the client, the emulator it talks to."""

    core: Any
    client: ThreadbridgeClient
    emu: DiscordEmulator

    @property
    def id(self) -> str:
        return self.emu.application_id

    async def handled(self, outcome: str = "queued", count: int = 1) -> None:
        """Wait until `count` deliveries ended with `outcome` (see client.stats)."""
        await self.emu.wait_until(lambda: self.client.stats[outcome] >= count)

    async def settle(self, outcome: str = "queued", count: int = 1) -> None:
        """Wait for the deliveries, then for every queued turn to be answered."""
        await self.handled(outcome, count)
        await self.core.service.drain()

    async def ask(self, prompt: str, *, channel_id: str | None = None, **kwargs: Any) -> Any:
        return await self.emu.send_slash_command(
            "ask", {"prompt": prompt}, channel_id=channel_id, **kwargs
        )

    def bot_messages(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.emu.channel_messages(channel_id) if m["author"]["id"] == self.id]

    def only_thread(self) -> dict[str, Any]:
        threads = self.emu.threads(self.emu.channel_id)
        assert len(threads) == 1, threads
        return threads[0]


MakeBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
def discord_patch_gateway() -> bool:
    """The bot finds the emulator's gateway itself, from DISCORD_API_URL (GET
    /gateway/bot), as it finds a proxy's: discord.py's default points at a trap."""
    return False


@pytest.fixture
async def make_bot(make_core: Any, discord_emulator: DiscordEmulator) -> AsyncIterator[MakeBot]:
    """`await make_bot(**settings)` starts a bot; it is closed at the end of the test."""
    emu = discord_emulator
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *,
            message_content: bool = True,
            edit_interval: float = 1.0,
            tools: ToolRegistry | None = None,
            **overrides: Any,
        ) -> Bot:
            core = await make_core(tools, **{"DISCORD_API_URL": emu.api_base, **overrides})
            fetcher = CdnFetcher(resolver=emu.resolver(), ssl_context=emu.ssl_client_context())
            client = build_client(
                service=core.service,
                settings=core.settings,
                fetcher=fetcher,
                message_content=message_content,
                edit_interval=edit_interval,
            )
            core.service.register("discord", client.replier)
            assert emu.bot_token is not None
            await stack.enter_async_context(started_client(client, emu.bot_token))
            return Bot(core=core, client=client, emu=emu)

        yield make


@pytest.fixture
async def bot(make_bot: MakeBot) -> Bot:
    return await make_bot()
