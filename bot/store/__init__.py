"""Persistence: the only package that talks to the database."""

from bot.store.store import (
    InboundRow,
    Store,
    ThreadRow,
    TurnRow,
    TurnStatus,
    TurnUsage,
    Work,
)

__all__ = ["InboundRow", "Store", "ThreadRow", "TurnRow", "TurnStatus", "TurnUsage", "Work"]
