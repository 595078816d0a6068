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

__all__ = ["discord_emulator", "started_client"]

FAST_READY_TIMEOUT = 0.05


@pytest.fixture
async def discord_emulator() -> AsyncIterator[DiscordEmulator]:
    """A running emulator with guild "G", text channel "general", the bot
    (user id == application id) and a human "alice"; discord.py's REST base and
    default gateway URL point at it for the duration of the test."""
    emulator = DiscordEmulator()
    await emulator.start()
    emulator.populate_default()
    try:
        with emulator.patch_discord():
            yield emulator
    finally:
        await emulator.close()


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
