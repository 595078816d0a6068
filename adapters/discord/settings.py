"""The Discord adapter's settings (combined with the core's at start: bot/cli.py)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from bot.config import CoreSettings, CsvList, IdList, SettingsBase


class DiscordSettings(SettingsBase):
    """Discord: token, API and gateway, slash command guilds, who is answered, shards."""

    discord_token: SecretStr | None = Field(
        None, alias="DISCORD_TOKEN", description="Discord bot token."
    )
    discord_api_url: str = Field(
        "https://discord.com/api/v10",
        alias="DISCORD_API_URL",
        description="Discord REST base URL.",
    )
    discord_read_history: bool = Field(
        True,
        alias="THREADBRIDGE_DISCORD_READ_HISTORY",
        description="Discord: when first asked in a thread the bot did not open, or in a "
        "reply, give the model the thread's earlier messages or the reply chain as context.",
    )
    discord_gateway_url: str | None = Field(
        None,
        alias="DISCORD_GATEWAY_URL",
        description="Discord gateway WebSocket URL. Unset: Discord's own, or with a "
        "DISCORD_API_URL of your own, the one that API's `GET /gateway/bot` names.",
    )
    discord_guild_ids: IdList = Field(
        default_factory=list,
        alias="DISCORD_GUILD_IDS",
        description="Guilds to sync slash commands to instantly (comma-separated).",
    )
    discord_allowed_guilds: IdList = Field(
        default_factory=list,
        alias="THREADBRIDGE_DISCORD_ALLOWED_GUILDS",
        description="Discord: answer only in these guilds (comma-separated ids; empty: all).",
    )
    discord_allowed_channels: IdList = Field(
        default_factory=list,
        alias="THREADBRIDGE_DISCORD_ALLOWED_CHANNELS",
        description="Discord: answer only in these channels and their threads "
        "(comma-separated ids; empty: all).",
    )
    discord_allowed_roles: IdList = Field(
        default_factory=list,
        alias="THREADBRIDGE_DISCORD_ALLOWED_ROLES",
        description="Discord: answer only members with one of these roles (comma-separated "
        "ids; empty: everyone). When set, DMs are refused (no roles to check there).",
    )
    discord_dms: bool = Field(
        True, alias="THREADBRIDGE_DISCORD_DMS", description="Discord: answer direct messages."
    )
    discord_shard_count: int | None = Field(
        None,
        ge=1,
        alias="DISCORD_SHARD_COUNT",
        description="Discord: total gateway shards of the bot (set it to shard; empty: one "
        "connection, no sharding).",
    )
    discord_shard_ids: CsvList = Field(
        default_factory=list,
        alias="DISCORD_SHARD_IDS",
        description="Discord: the shards this process runs, e.g. `0,1` (comma-separated; "
        "empty: all of DISCORD_SHARD_COUNT).",
    )

    @model_validator(mode="after")
    def _check_shards(self) -> Self:
        ids = self.discord_shard_ids
        if not ids:
            return self
        if self.discord_shard_count is None:
            raise ValueError("DISCORD_SHARD_IDS: set DISCORD_SHARD_COUNT too")
        count = self.discord_shard_count
        if not all(i.isdigit() and int(i) < count for i in ids):
            raise ValueError(f"DISCORD_SHARD_IDS: shard ids are numbers from 0 to {count - 1}")
        return self

    @property
    def discord_shards(self) -> tuple[int, list[int] | None] | None:
        """(shard count, this process's shard ids or None for all), or None: no sharding."""
        if self.discord_shard_count is None:
            return None
        return self.discord_shard_count, [int(i) for i in self.discord_shard_ids] or None


class DiscordAppSettings(CoreSettings, DiscordSettings):
    """What the Discord adapter reads: the core's settings and its own."""


__all__ = ["DiscordAppSettings", "DiscordSettings"]
