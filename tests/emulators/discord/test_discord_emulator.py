from __future__ import annotations

import discord

from .plugin import started_client
from .server import DiscordEmulator


def make_client() -> discord.Client:
    intents = discord.Intents.default()
    intents.message_content = True
    return discord.Client(
        intents=intents, allowed_mentions=discord.AllowedMentions.none(), guild_ready_timeout=0.05
    )


async def test_login_ready(discord_emulator: DiscordEmulator) -> None:
    client = make_client()
    async with started_client(client, discord_emulator.bot_token or "") as c:
        assert c.user is not None
        assert str(c.user.id) == discord_emulator.application_id
        guild = c.get_guild(int(discord_emulator.guild_id))
        assert guild is not None
        assert guild.get_channel(int(discord_emulator.channel_id)) is not None
