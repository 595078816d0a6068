from tests.emulators.discord.plugin import discord_emulator

__all__ = ["discord_emulator"]
