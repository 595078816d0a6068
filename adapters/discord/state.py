"""What the Discord client and its slash commands share, in one small object."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DiscordState:
    """`stats`: what became of each message and command (queued, duplicate, ignored...),
    for the log at shutdown and for tests that must know a delivery was handled.
    `upload_limits`: the file size limit per guild ("" for DMs) that interactions
    report, for the reply sink's uploads."""

    stats: Counter[str] = field(default_factory=Counter)
    upload_limits: dict[str, int] = field(default_factory=dict)


__all__ = ["DiscordState"]
