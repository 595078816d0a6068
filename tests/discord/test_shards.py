"""Sharding: DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS split the gateway across processes."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord.client import ShardedThreadbridgeClient
from bot.config import ConfigError
from tests.discord.conftest import MakeBot


def identified_shards(emu: Any) -> list[list[int]]:
    return sorted(f["d"]["shard"] for f in emu.gateway.received if f.get("op") == 2)


def owner_of(guild_id: str, count: int) -> int:
    return (int(guild_id) >> 22) % count


async def guild_arrived(bot: Any) -> None:
    """discord.py identifies one shard every 5 s (max_concurrency 1): wait for the guild's."""
    guild = int(bot.emu.guild_id)

    def arrived() -> bool:
        found = bot.client.get_guild(guild)
        return found is not None and not found.unavailable

    await bot.emu.wait_until(arrived, timeout=20)


async def test_one_process_runs_all_shards(make_bot: MakeBot, openai_emulator: Any) -> None:
    bot = await make_bot(DISCORD_SHARD_COUNT=2)
    assert isinstance(bot.client, ShardedThreadbridgeClient)
    emu = bot.emu
    await guild_arrived(bot)
    assert identified_shards(emu) == [[0, 2], [1, 2]]
    await emu.send_message(emu.channel_id, f"<@{bot.id}> hello shards", author=emu.alice)
    await bot.settle()
    assert [m["content"] for m in bot.bot_messages(bot.only_thread()["id"])] == [
        "echo: [alice] hello shards"
    ]


async def test_each_process_runs_its_shards_and_answers_its_guilds(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    first = await make_bot(DISCORD_SHARD_COUNT=2, DISCORD_SHARD_IDS="0")
    second = await make_bot(DISCORD_SHARD_COUNT=2, DISCORD_SHARD_IDS="1")
    emu = first.emu
    assert identified_shards(emu) == [[0, 2], [1, 2]]
    owner, other = (first, second) if owner_of(emu.guild_id, 2) == 0 else (second, first)
    await guild_arrived(owner)
    await emu.send_message(emu.channel_id, f"<@{owner.id}> who answers?", author=emu.alice)
    await owner.settle()
    assert owner.client.stats["queued"] == 1
    assert sum(other.client.stats.values()) == 0  # the other shard never saw it
    assert [m["content"] for m in owner.bot_messages(owner.only_thread()["id"])] == [
        "echo: [alice] who answers?"
    ]


def test_shard_settings_are_checked_at_start(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match="DISCORD_SHARD_IDS: set DISCORD_SHARD_COUNT"):
        make_settings(DISCORD_SHARD_IDS="0")
    with pytest.raises(ConfigError, match="DISCORD_SHARD_IDS: shard ids are numbers from 0 to 1"):
        make_settings(DISCORD_SHARD_COUNT=2, DISCORD_SHARD_IDS="0,2")
    assert make_settings().discord_shards is None
    assert make_settings(DISCORD_SHARD_COUNT=4, DISCORD_SHARD_IDS="2,3").discord_shards == (
        4,
        [2, 3],
    )
