"""Persistence: the only package that talks to the database."""

from bot.store.store import (
    ApprovalRow,
    Claimed,
    FeedbackRow,
    FeedbackValue,
    InboundRow,
    Start,
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
    "Claimed",
    "FeedbackRow",
    "FeedbackValue",
    "InboundRow",
    "Start",
    "Store",
    "ThreadRow",
    "TurnControl",
    "TurnRow",
    "TurnStatus",
    "TurnUsage",
    "UsageLine",
    "Work",
]
