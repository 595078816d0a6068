"""Where a reply goes, as data: stored with the turn, so a sink can be rebuilt after
a restart.

Compact JSON: ``{"c": channel id, "t": interaction token, "ts": its creation time
(unix seconds), "l": upload limit in bytes}``; all but the channel are optional.
An interaction token lets the reply be posted as the command's follow-up for 15
minutes; after that (or without one) the reply is posted as channel messages.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from bot.models import ThreadKey

logger = logging.getLogger(__name__)

INTERACTION_TOKEN_LIFETIME = 15 * 60.0
# Stop using a token a little early: a request that starts just before expiry and
# arrives after it would fail half-way through a reply.
TOKEN_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class Anchor:
    """Reply destination: a channel (thread or DM), maybe an interaction to follow up."""

    channel_id: int
    interaction_token: str | None = None
    interaction_created: float | None = None
    upload_limit: int | None = None

    def dumps(self) -> str:
        data: dict[str, object] = {"c": str(self.channel_id)}
        if self.interaction_token is not None:
            data["t"] = self.interaction_token
            data["ts"] = self.interaction_created
        if self.upload_limit is not None:
            data["l"] = self.upload_limit
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str, *, key: ThreadKey) -> Anchor:
        """Parse a stored anchor; an empty or damaged one means "the thread itself"."""
        try:
            data = json.loads(raw) if raw else {}
            channel_id = int(data.get("c") or key.thread)
            token = data.get("t")
            created = data.get("ts")
            limit = data.get("l")
            return cls(
                channel_id=channel_id,
                interaction_token=str(token) if token else None,
                interaction_created=float(created) if created is not None else None,
                upload_limit=int(limit) if limit is not None else None,
            )
        except (ValueError, TypeError, AttributeError):
            logger.warning("unreadable reply anchor for %s; replying in the thread", key)
            return cls(channel_id=int(key.thread))

    def token_usable(self, *, now: float | None = None) -> bool:
        """True while the interaction token can still post follow-ups."""
        if self.interaction_token is None or self.interaction_created is None:
            return False
        age = (time.time() if now is None else now) - self.interaction_created
        return age < INTERACTION_TOKEN_LIFETIME - TOKEN_MARGIN


__all__ = ["INTERACTION_TOKEN_LIFETIME", "Anchor"]
