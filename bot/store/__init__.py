"""Persistence: the only package that talks to the database."""

from bot.store.store import (
    ApprovalRow,
    FeedbackRow,
    FeedbackValue,
    InboundRow,
    Store,
    ThreadRow,
    TurnControl,
    TurnRow,
    TurnStatus,
    TurnUsage,
    UsageLine,
    Work,
)

__all__ = [
    "ApprovalRow",
    "FeedbackRow",
    "FeedbackValue",
    "InboundRow",
    "Store",
    "ThreadRow",
    "TurnControl",
    "TurnRow",
    "TurnStatus",
    "TurnUsage",
    "UsageLine",
    "Work",
]
