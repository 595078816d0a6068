"""Persistence: the only package that talks to the database."""

from bot.store.store import (
    FeedbackRow,
    FeedbackValue,
    InboundRow,
    Store,
    ThreadRow,
    TurnControl,
    TurnRow,
    TurnStatus,
    TurnUsage,
    Work,
)

__all__ = [
    "FeedbackRow",
    "FeedbackValue",
    "InboundRow",
    "Store",
    "ThreadRow",
    "TurnControl",
    "TurnRow",
    "TurnStatus",
    "TurnUsage",
    "Work",
]
