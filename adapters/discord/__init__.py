"""Discord adapter: discord.py client, slash commands, reply sink, CDN downloads.

`runner.run_discord(service=, settings=)` is what `threadbridge run` starts when
DISCORD_TOKEN is set; `settings` holds the adapter's settings. Nothing is imported here,
so reading the settings does not load discord.py.
"""
