"""Discord adapter: discord.py client, slash commands, reply sink, CDN downloads.

`run_discord(service=, settings=)` is what `threadbridge run` starts when DISCORD_TOKEN is
set.
"""

from __future__ import annotations

from adapters.discord.runner import DiscordRunner, run_discord

__all__ = ["DiscordRunner", "run_discord"]
