"""Fitting the earlier messages of a thread into the context budget. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Context, ContextMessage


def fit_context(
    messages: Sequence[ContextMessage], *, max_messages: int, max_chars: int
) -> Context:
    """Keep the root (the question the thread is about) and the most recent messages
    within `max_messages` and `max_chars`; what falls out of the middle is counted."""
    if not messages:
        return Context()
    root, rest = messages[0], list(messages[1:])
    kept: list[ContextMessage] = []
    chars = len(root.text)
    for message in reversed(rest):
        if len(kept) + 1 >= max_messages or chars + len(message.text) > max_chars:
            break
        kept.append(message)
        chars += len(message.text)
    kept.reverse()
    if len(root.text) > max_chars:
        root = ContextMessage(
            root.author,
            root.text[: max_chars - 1] + "…",
            root.sent_at,
            root.from_assistant,
            root.attachments,
        )
    return Context(messages=(root, *kept), omitted=len(rest) - len(kept))


__all__ = ["fit_context"]
