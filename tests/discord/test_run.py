"""`threadbridge run` starts the Discord adapter when DISCORD_TOKEN is set."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from bot.cli import cmd_run
from tests.emulators.discord import DiscordEmulator


async def test_run_connects_syncs_commands_and_stops_on_sigterm(
    make_settings: Any, discord_emulator: DiscordEmulator
) -> None:
    emu = discord_emulator
    settings = make_settings(
        DISCORD_TOKEN=emu.bot_token,
        DISCORD_API_URL=emu.api_base,
        DISCORD_GUILD_IDS=emu.guild_id,
    )
    task = asyncio.create_task(cmd_run(settings, argparse.Namespace(http=False)))
    await emu.wait_until(lambda: emu.gateway.sessions or task.done(), timeout=10)
    assert not task.done(), task.exception()
    session = emu.gateway.sessions[0]
    # guilds, guild messages, DMs and message content; nothing privileged besides that
    assert session.intents == (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)
    # Commands went to the configured guild (instant), not globally.
    assert [c["name"] for c in emu.guild_commands[emu.guild_id]] == ["ask", "reset", "help"]
    assert emu.global_commands == []
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 10) == 0
