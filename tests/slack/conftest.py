"""The Slack adapter wired to the core, the OpenAI emulator and the Slack emulator.

`slack_bot(mode=...)` builds the whole thing: core (SQLite file, real openai SDK ->
OpenAI emulator), the Bolt app from `build_bridge` (real slack_bolt/slack_sdk -> Slack
emulator Web API), connected over Socket Mode or served over HTTP on 127.0.0.1.
Shared files are fetched from the emulator's HTTPS file host through its resolver and
CA, injected as the downloader's connector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack.app import SlackBridge
from adapters.slack.runner import EVENTS_PATH, build_bridge, start_http, start_socket_mode
from tests.emulators.slack import SlackEmulator, event_callback

Mode = Literal["socket", "http"]
LOOK_ALIKE_HOSTS = ("files.slack.com.evil.example", "evilfiles.slack.com", "evil.example")


@dataclass
class SlackBot:
    """One running adapter and what a test needs to drive and observe it."""

    core: Any
    bridge: SlackBridge
    emulator: SlackEmulator
    mode: Mode
    url: str = ""
    handler: AsyncSocketModeHandler | None = None
    runner: web.AppRunner | None = None
    deliveries: list[tuple[str, float]] = field(default_factory=list)
    resolver: Any = None  # the downloader's: `resolver.lookups` lists the hosts it asked for

    @property
    def service(self) -> Any:
        return self.core.service

    @property
    def store(self) -> Any:
        return self.core.store

    async def send(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry: int = 0,
        payload: dict[str, Any] | None = None,
    ) -> float:
        """Deliver an event as Slack would in this mode; returns seconds until the ack.

        On return the listener has finished (the ack follows the claim), so the
        message is queued if it is going to be.
        """
        body = payload or event_callback(event, event_id=event_id)
        if self.mode == "socket":
            envelope = await self.emulator.socket_send_event(
                body, retry_attempt=retry, retry_reason="timeout" if retry else ""
            )
            await self.emulator.wait_ack(envelope, 5)
            delay = self.emulator.ack_delay(envelope)
            assert delay is not None
            return delay
        status, _ = await self.emulator.http_send_event(
            self.url,
            body,
            retry_num=retry or None,
            retry_reason="http_timeout" if retry else None,
        )
        assert status == 200, status
        return self.emulator.http_deliveries[-1].seconds

    async def settle(self) -> None:
        """Wait until every queued message has been answered."""
        await asyncio.sleep(0)
        await self.service.drain()

    async def close(self) -> None:
        if self.handler is not None:
            await self.handler.close_async()  # type: ignore[no-untyped-call]
        if self.runner is not None:
            await self.runner.cleanup()
        await self.bridge.close()


SlackBotFactory = Callable[..., Awaitable[SlackBot]]


@pytest.fixture
async def slack_bot(
    make_core: Any, slack_emulator: SlackEmulator
) -> AsyncIterator[SlackBotFactory]:
    bots: list[SlackBot] = []

    async def make(mode: Mode = "socket", tools: Any = None, **overrides: Any) -> SlackBot:
        values: dict[str, Any] = {
            "SLACK_BOT_TOKEN": slack_emulator.bot_token,
            "SLACK_APP_TOKEN": slack_emulator.app_token,
            "SLACK_SIGNING_SECRET": slack_emulator.signing_secret,
            "SLACK_API_URL": slack_emulator.api_url,
        }
        values.update(overrides)
        core = await make_core(tools, **values)

        # Look-alike hosts resolve too, so a download that wandered there would show
        # up in `resolver.lookups` (and reach the emulator) instead of failing quietly.
        resolver = slack_emulator.resolver(*LOOK_ALIKE_HOSTS)

        def connector() -> aiohttp.BaseConnector:
            return aiohttp.TCPConnector(
                resolver=resolver, ssl=slack_emulator.ssl_client_context(), force_close=True
            )

        bridge = build_bridge(
            service=core.service,
            settings=core.settings,
            http=mode == "http",
            connector_factory=connector,
        )
        bot = SlackBot(
            core=core, bridge=bridge, emulator=slack_emulator, mode=mode, resolver=resolver
        )
        bots.append(bot)
        if mode == "socket":
            bot.handler = await start_socket_mode(bridge, app_token=slack_emulator.app_token)
            await slack_emulator.wait_socket_connected()
        else:
            bot.runner = await start_http(bridge, host="127.0.0.1", port=0)
            port = bot.runner.addresses[0][1]
            bot.url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
        return bot

    yield make
    for bot in bots:
        await bot.service.stop(budget=5)
        await bot.close()
