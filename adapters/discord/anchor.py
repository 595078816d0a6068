"""Where a reply goes, as data: stored with the turn, so a sink can be rebuilt after
a restart.

Compact JSON: ``{"c": channel id, "t": interaction token, "ts": its creation time
(unix seconds), "l": upload limit in bytes, "h": earlier messages to read}``; all but
the channel are optional. An interaction token lets the reply be posted as the
command's follow-up for 15 minutes; after that (or without one) the reply is posted as
channel messages. ``"h"`` is set on the first message to the bot in a conversation
that already has a past (see `History`): that turn reads it for context.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from bot.models import ThreadKey

logger = logging.getLogger(__name__)

INTERACTION_TOKEN_LIFETIME = 15 * 60.0
# Stop using a token a little early: a request that starts just before expiry and
# arrives after it would fail half-way through a reply.
TOKEN_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class History:
    """What a turn reads before it starts: the earlier messages of a thread the bot did
    not open, or the reply chain of the message that asked.

    `before`: a thread is read up to (not including) this message, the question;
    `message_id` / `channel_id`: the message replied to and its channel.
    """

    kind: Literal["thread", "reply"]
    before: int | None = None
    message_id: int | None = None
    channel_id: int | None = None

    def dumps(self) -> dict[str, str]:
        data = {"k": self.kind[0]}
        for name, value in (("b", self.before), ("m", self.message_id), ("ch", self.channel_id)):
            if value is not None:
                data[name] = str(value)
        return data

    @classmethod
    def loads(cls, data: Any) -> History | None:
        """None for anything that is not a complete history mark."""
        if not isinstance(data, dict):
            return None
        try:
            ids = {n: int(data[k]) if data.get(k) else None for n, k in _HISTORY_IDS}
        except (ValueError, TypeError):
            return None
        if data.get("k") == "t":
            return cls("thread", before=ids["before"])
        if data.get("k") == "r" and ids["message_id"] and ids["channel_id"]:
            return cls("reply", message_id=ids["message_id"], channel_id=ids["channel_id"])
        return None


_HISTORY_IDS = (("before", "b"), ("message_id", "m"), ("channel_id", "ch"))


@dataclass(frozen=True, slots=True)
class Anchor:
    """Reply destination: a channel (thread or DM), maybe an interaction to follow up."""

    channel_id: int
    interaction_token: str | None = None
    interaction_created: float | None = None
    upload_limit: int | None = None
    history: History | None = None

    def dumps(self) -> str:
        data: dict[str, object] = {"c": str(self.channel_id)}
        if self.interaction_token is not None:
            data["t"] = self.interaction_token
            data["ts"] = self.interaction_created
        if self.upload_limit is not None:
            data["l"] = self.upload_limit
        if self.history is not None:
            data["h"] = self.history.dumps()
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
                history=History.loads(data.get("h")),
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


__all__ = ["INTERACTION_TOKEN_LIFETIME", "Anchor", "History"]
