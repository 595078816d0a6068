"""Buttons on replies: Stop while a reply is written, thumbs up / down when it is done.

A button's custom id names the turn (`tb:stop:<turn>`, `tb:fb:<up|down>:<turn>`) and
nothing else: who may press it, and whether the turn is this channel's, is decided by
the service from the store. Clicks are handled in `on_interaction` (not by views kept
in memory), so buttons posted before a restart keep working. The views sent with a
reply are stopped before they are sent: discord.py then sends their components
without keeping a listener per message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import discord

from adapters.discord.events import conversation_key
from bot.controls import DECISION_NOTES, STOP_NOTES, VOTE_NOTES, shown_arguments
from bot.models import ApprovalOutcome, ApprovalRequest
from bot.service import Service
from bot.store import FeedbackValue

logger = logging.getLogger(__name__)

STOP_ID = "tb:stop:{turn}"
VOTE_ID = "tb:fb:{value}:{turn}"
DECIDE_ID = "tb:ap:{choice}:{approval}"
CUSTOM_ID = re.compile(
    r"tb:(?:(?P<stop>stop)|fb:(?P<value>up|down)|ap:(?P<choice>yes|no)):(?P<turn>[0-9]{1,18})"
)


@dataclass(frozen=True, slots=True)
class ControlOptions:
    """Which buttons replies carry (THREADBRIDGE_STOP_BUTTON, _FEEDBACK_BUTTONS)."""

    stop: bool = True
    feedback: bool = True


def _view(*buttons: discord.ui.Button[discord.ui.View]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    view.stop()  # components only: clicks go to on_interaction
    return view


def stop_view(turn: int) -> discord.ui.View:
    return _view(
        discord.ui.Button(
            label="Stop", style=discord.ButtonStyle.secondary, custom_id=STOP_ID.format(turn=turn)
        )
    )


def feedback_view(turn: int) -> discord.ui.View:
    return _view(
        discord.ui.Button(
            emoji="👍",
            style=discord.ButtonStyle.secondary,
            custom_id=VOTE_ID.format(value="up", turn=turn),
        ),
        discord.ui.Button(
            emoji="👎",
            style=discord.ButtonStyle.secondary,
            custom_id=VOTE_ID.format(value="down", turn=turn),
        ),
    )


def approval_content(request: ApprovalRequest) -> str:
    what = "MCP tool" if request.kind == "mcp" else "function"
    minutes = max(1, round(request.timeout / 60))
    name = discord.utils.escape_markdown(request.name)
    return (
        f"The assistant wants to run the {what} **{name}** with:\n"
        f"```json\n{shown_arguments(request.arguments)}\n```\n"
        f"Only the person who asked can decide. No decision in {minutes} min counts as Deny."
    )


def approval_view(request: ApprovalRequest) -> discord.ui.View:
    approval = request.approval_id
    return _view(
        discord.ui.Button(
            label="Approve",
            style=discord.ButtonStyle.success,
            custom_id=DECIDE_ID.format(choice="yes", approval=approval),
        ),
        discord.ui.Button(
            label="Deny",
            style=discord.ButtonStyle.danger,
            custom_id=DECIDE_ID.format(choice="no", approval=approval),
        ),
    )


def decided_content(request: ApprovalRequest, outcome: ApprovalOutcome, by: str) -> str:
    name = discord.utils.escape_markdown(request.name)
    if outcome == "approved":
        return f"✅ **{name}** was approved by <@{by}>."
    if outcome == "denied":
        return f"⛔ **{name}** was denied" + (f" by <@{by}>." if by else ".")
    minutes = max(1, round(request.timeout / 60))
    return f"⌛ **{name}**: no decision in {minutes} min, so it was denied."


class Controls:
    """Answers clicks on the reply buttons."""

    def __init__(self, *, service: Service) -> None:
        self.service = service

    async def handle(self, interaction: discord.Interaction[discord.Client]) -> bool:
        """Handle a click on one of our buttons; False if it is not one."""
        if interaction.type is not discord.InteractionType.component:
            return False
        data: Mapping[str, object] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        match = CUSTOM_ID.fullmatch(custom_id)
        if match is None:
            return custom_id.startswith("tb:") and await self._note(
                interaction, STOP_NOTES["unknown"]
            )
        if interaction.channel_id is None:
            return await self._note(interaction, STOP_NOTES["unknown"])
        key = conversation_key(guild_id=interaction.guild_id, channel_id=interaction.channel_id)
        turn, user = int(match["turn"]), str(interaction.user.id)
        if match["choice"]:
            decision = await self.service.decide_approval(
                turn, key=key, user_id=user, approve=match["choice"] == "yes"
            )
            return await self._note(interaction, DECISION_NOTES[decision])
        if match["stop"]:
            outcome = await self.service.stop_turn(turn, key=key, user_id=user)
            logger.info("Stop on turn %s by %s: %s", turn, user, outcome)
            return await self._note(interaction, STOP_NOTES[outcome])
        value: FeedbackValue = "up" if match["value"] == "up" else "down"
        vote = await self.service.record_feedback(turn, key=key, user_id=user, value=value)
        return await self._note(interaction, VOTE_NOTES[vote])

    async def _note(self, interaction: discord.Interaction[discord.Client], text: str) -> bool:
        try:
            await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException as exc:
            logger.info("could not answer a button click: %s", exc)
        return True


__all__ = [
    "ControlOptions",
    "Controls",
    "approval_content",
    "approval_view",
    "decided_content",
    "feedback_view",
    "stop_view",
]
