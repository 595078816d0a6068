"""Who and where the bot answers: allowlists of guilds, channels and roles."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from adapters.discord.settings import DiscordAppSettings


@dataclass(frozen=True, slots=True)
class Access:
    """Allowlists; an empty list allows everything of its kind.

    Channels match a thread through its parent channel. Roles exist only in guilds,
    so with a role allowlist direct messages are refused: there is no role to check.
    """

    guilds: frozenset[int] = frozenset()
    channels: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    dms: bool = True

    @classmethod
    def from_settings(cls, settings: DiscordAppSettings) -> Access:
        return cls(
            guilds=frozenset(int(g) for g in settings.discord_allowed_guilds),
            channels=frozenset(int(c) for c in settings.discord_allowed_channels),
            roles=frozenset(int(r) for r in settings.discord_allowed_roles),
            dms=settings.discord_dms,
        )

    def refusal(
        self,
        *,
        guild_id: int | None,
        channel_ids: Iterable[int | None],
        role_ids: Iterable[int] | None,
    ) -> str | None:
        """Why the bot must not answer here, or None if it may.

        Args:
            guild_id: The guild, None in a DM.
            channel_ids: The channel and, for a thread, its parent.
            role_ids: The author's roles; None if unknown (not a guild member).
        """
        if guild_id is None:
            if not self.dms:
                return "direct messages are turned off for this bot"
            if self.roles:
                return "this bot only answers members with certain roles, in their server"
            return None
        if self.guilds and guild_id not in self.guilds:
            return "this bot is not enabled in this server"
        if self.channels and not any(c in self.channels for c in channel_ids if c is not None):
            return "this bot is not enabled in this channel"
        if self.roles and not (role_ids is not None and self.roles.intersection(role_ids)):
            return "you need one of the roles this bot answers"
        return None


__all__ = ["Access"]
