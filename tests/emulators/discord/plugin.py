"""pytest fixtures and helpers for the Discord emulator.

Use from a conftest.py:

    from tests.emulators.discord.plugin import discord_emulator  # noqa: F401
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest

from .server import DiscordEmulator

__all__ = ["discord_emulator", "discord_patch_gateway", "started_client"]

FAST_READY_TIMEOUT = 0.05


@pytest.fixture
def discord_patch_gateway() -> bool:
    """Whether ``discord_emulator`` points discord.py's DEFAULT_GATEWAY at the
    emulator's gateway (True, the default) or at a trap (False), leaving the client
    to find the gateway through GET /gateway/bot on its configured API. Override
    it in a conftest.py (or a test module) to test a client that does that:

        @pytest.fixture
        def discord_patch_gateway() -> bool:
            return False
    """
    return True


@pytest.fixture
async def discord_emulator(discord_patch_gateway: bool) -> AsyncIterator[DiscordEmulator]:
    """A running emulator with guild "G", text channel "general", the bot
    (user id == application id) and a human "alice"; discord.py's REST base (and,
    unless ``discord_patch_gateway`` is False, its default gateway URL) point at it
    for the duration of the test.

    At teardown the test fails if a request broke Discord's OpenAPI definition
    (``emulator.spec_violations``; a test that provokes them on purpose clears the
    list or sets ``emulator.expect_spec_violations = True``) or if, with the
    gateway unpatched, a client connected to DEFAULT_GATEWAY.
    """
    emulator = DiscordEmulator()
    await emulator.start()
    emulator.populate_default()
    try:
        with emulator.patch_discord(gateway=discord_patch_gateway):
            yield emulator
    finally:
        await emulator.close()
    problems = []
    if emulator.spec_violations and not emulator.expect_spec_violations:
        problems.append(
            "requests that Discord's OpenAPI definition rejects (answered 400 50035):\n"
            + emulator.spec_violation_report()
        )
    if emulator.default_gateway_connects:
        problems.append(
            f"{len(emulator.default_gateway_connects)} connection(s) to discord.py's "
            "DEFAULT_GATEWAY: the client ignored the gateway URL of GET /gateway/bot "
            "on its configured API"
        )
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@contextlib.asynccontextmanager
async def started_client(
    client: discord.Client,
    token: str,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
    fast_ready: bool = True,
) -> AsyncIterator[discord.Client]:
    """Run ``client.start(token)`` as a task until the client is ready; on exit
    close it (no unclosed-session warnings) and await the task.

    If start fails before READY (LoginFailure, PrivilegedIntentsRequired, ...)
    the client is closed and that exception is raised from ``async with``.

    ``fast_ready`` lowers discord.py's ``guild_ready_timeout`` (2 s of waiting
    for more GUILD_CREATEs before on_ready) to 50 ms unless the client was
    built with a smaller one.
    """
    if fast_ready:
        state = client._connection
        state.guild_ready_timeout = min(state.guild_ready_timeout, FAST_READY_TIMEOUT)
    task = asyncio.create_task(client.start(token), name="discord-client")
    try:
        # (client.wait_until_ready() raises RuntimeError until login() has begun)
        async with asyncio.timeout(timeout):
            while not client.is_ready() and not task.done():
                await asyncio.wait({task}, timeout=0.005)
        if task.done():
            # start() ended before ready: re-raise its exception (if any)
            task.result()
            raise RuntimeError("client.start() returned before the client became ready")
        yield client
    finally:
        await client.close()
        if not task.done():
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
