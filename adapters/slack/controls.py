"""Buttons on Slack replies: Stop while a reply is written, thumbs up / down when done.

Slack cannot put buttons on a message while it streams (`chat.startStream` takes no
blocks), so Stop goes to the asker as an ephemeral message in the thread when the
reply starts; only the asker sees it (admins named in THREADBRIDGE_ADMIN_USERS may
stop through their own ephemeral of a reply they asked for, or through Discord's
button). Feedback is Slack's own `feedback_buttons` element in a `context_actions`
block, added to the streamed reply when it stops (`chat.stopStream(blocks=)`), or to
the last message of a reply posted and edited instead (its text then in section blocks).

Button values name the turn and nothing else; who may press, and whether the turn is
this channel's, is decided by the service from the store.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from adapters.slack.events import PLATFORM
from adapters.slack.text import escape
from bot.controls import DECISION_NOTES, STOP_NOTES, VOTE_NOTES, shown_arguments
from bot.models import ApprovalOutcome, ApprovalRequest, ThreadKey
from bot.service import DecisionOutcome, FeedbackOutcome, Service, StopOutcome
from bot.store import FeedbackValue

logger = logging.getLogger(__name__)

STOP_ACTION = "tb_stop"
FEEDBACK_ACTION = "tb_feedback"
APPROVE_ACTION = "tb_approve"
DENY_ACTION = "tb_deny"
ACTIONS = (STOP_ACTION, FEEDBACK_ACTION, APPROVE_ACTION, DENY_ACTION)
TURN = re.compile(r"[0-9]{1,18}")
VOTE = re.compile(r"(up|down):([0-9]{1,18})")

STOP_PROMPT = "Writing an answer for you…"


def approval_text(request: ApprovalRequest) -> str:
    what = "MCP tool" if request.kind == "mcp" else "function"
    minutes = max(1, round(request.timeout / 60))
    return (
        f"The assistant wants to run the {what} *{escape(request.name)}* with:\n"
        f"```{escape(shown_arguments(request.arguments))}```\n"
        f"Only the person who asked can decide. No decision in {minutes} min counts as Deny."
    )


def approval_blocks(request: ApprovalRequest) -> list[dict[str, Any]]:
    """The question with Approve / Deny buttons (values: the approval's id only)."""
    value = str(request.approval_id)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": approval_text(request)}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": DENY_ACTION,
                    "text": {"type": "plain_text", "text": "Deny"},
                    "style": "danger",
                    "value": value,
                },
            ],
        },
    ]


def decided_text(request: ApprovalRequest, outcome: ApprovalOutcome, by: str) -> str:
    name = escape(request.name)
    if outcome == "approved":
        return f":white_check_mark: *{name}* was approved by <@{by}>."
    if outcome == "denied":
        return f":no_entry: *{name}* was denied" + (f" by <@{by}>." if by else ".")
    minutes = max(1, round(request.timeout / 60))
    return f":hourglass: *{name}*: no decision in {minutes} min, so it was denied."


def stop_blocks(turn: int) -> list[dict[str, Any]]:
    """The asker's ephemeral Stop button for a reply being written."""
    return [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": STOP_PROMPT},
            "accessory": {
                "type": "button",
                "action_id": STOP_ACTION,
                "text": {"type": "plain_text", "text": "Stop"},
                "value": str(turn),
            },
        }
    ]


def feedback_blocks(turn: int) -> list[dict[str, Any]]:
    """Slack's native feedback buttons, under a finished reply."""
    return [
        {
            "type": "context_actions",
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": FEEDBACK_ACTION,
                    "positive_button": {
                        "text": {"type": "plain_text", "text": "Good answer"},
                        "accessibility_label": "Mark this answer as good",
                        "value": f"up:{turn}",
                    },
                    "negative_button": {
                        "text": {"type": "plain_text", "text": "Bad answer"},
                        "accessibility_label": "Mark this answer as bad",
                        "value": f"down:{turn}",
                    },
                }
            ],
        }
    ]


def _where(body: dict[str, Any]) -> tuple[ThreadKey, str] | None:
    """The click's channel (as a key; the thread is not needed) and user."""
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if not channel or not user.get("id"):
        return None
    return ThreadKey(PLATFORM, str(team), str(channel), ""), str(user["id"])


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


class Controls:
    """The Bolt action handlers of the reply buttons."""

    def __init__(self, *, service: Service) -> None:
        self.service = service

    def register(self, app: AsyncApp) -> None:
        app.action(STOP_ACTION)(self.on_stop)
        app.action(FEEDBACK_ACTION)(self.on_feedback)
        app.action(APPROVE_ACTION)(self.on_decision)
        app.action(DENY_ACTION)(self.on_decision)

    async def on_decision(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        where, value = _where(body), _value(body)
        actions = body.get("actions") or [{}]
        approve = actions[0].get("action_id") == APPROVE_ACTION
        outcome: DecisionOutcome = "unknown"
        if where is not None and TURN.fullmatch(value):
            key, user = where
            outcome = await self.service.decide_approval(
                int(value), key=key, user_id=user, approve=approve
            )
        # The question message itself is updated by the waiting turn.
        await self._respond(respond, DECISION_NOTES[outcome], replace=False)

    async def on_stop(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        where, value = _where(body), _value(body)
        outcome: StopOutcome = "unknown"
        if where is not None and TURN.fullmatch(value):
            key, user = where
            outcome = await self.service.stop_turn(int(value), key=key, user_id=user)
            logger.info("Stop on turn %s by %s: %s", value, user, outcome)
        # The Stop message is the asker's own ephemeral: it becomes the answer.
        await self._respond(respond, STOP_NOTES[outcome], replace=outcome != "not_allowed")

    async def on_feedback(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        where, match = _where(body), VOTE.fullmatch(_value(body))
        outcome: FeedbackOutcome = "unknown"
        if where is not None and match is not None:
            key, user = where
            value: FeedbackValue = "up" if match[1] == "up" else "down"
            outcome = await self.service.record_feedback(
                int(match[2]), key=key, user_id=user, value=value
            )
        await self._respond(respond, VOTE_NOTES[outcome], replace=False)

    async def _respond(self, respond: AsyncRespond, text: str, *, replace: bool) -> None:
        try:
            await respond(text=text, response_type="ephemeral", replace_original=replace)
        except Exception as exc:  # a response_url past its 30 minutes or 5 uses
            logger.info("could not answer a button click: %s", exc)


__all__ = [
    "ACTIONS",
    "Controls",
    "approval_blocks",
    "decided_text",
    "feedback_blocks",
    "stop_blocks",
]
