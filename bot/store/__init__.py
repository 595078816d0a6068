"""Persistence: the only package that talks to the database."""

from bot.store.store import InboundRow, Store, ThreadRow, TurnRow, Work

__all__ = ["InboundRow", "Store", "ThreadRow", "TurnRow", "Work"]
