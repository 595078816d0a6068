"""What a click on a reply's buttons (Stop, feedback, Approve / Deny) tells the clicker,
and how a tool call's arguments are shown in an approval question: the same words on
every platform."""

from __future__ import annotations

import json

from bot.service import DecisionOutcome, FeedbackOutcome, StopOutcome

ARGUMENTS_SHOWN = 600
UNKNOWN_BUTTON = "This button does not belong to an answer I know."

STOP_NOTES: dict[StopOutcome, str] = {
    "stopped": "Stopped.",
    "finished": "This answer is already finished.",
    "not_allowed": "Only the person who asked (or an admin) can stop this answer.",
    "unknown": UNKNOWN_BUTTON,
}
VOTE_NOTES: dict[FeedbackOutcome, str] = {
    "recorded": "Thanks for the feedback.",
    "unknown": UNKNOWN_BUTTON,
}
DECISION_NOTES: dict[DecisionOutcome, str] = {
    "approved": "Approved.",
    "denied": "Denied.",
    "decided": "This was decided already.",
    "not_allowed": "Only the person who asked (or an admin) can decide this.",
    "unknown": "This button does not belong to a request I know.",
}


def shown_arguments(arguments: str, limit: int = ARGUMENTS_SHOWN) -> str:
    """A call's arguments for a code block: pretty JSON, cut to `limit`, and a code
    fence inside broken up (the platform escapes the rest)."""
    try:
        text = json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        text = arguments
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("```", "`\u200b``")


__all__ = ["DECISION_NOTES", "STOP_NOTES", "VOTE_NOTES", "shown_arguments"]
