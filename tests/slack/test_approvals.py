"""Tool calls that need approval, on Slack: Approve / Deny buttons for the asker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.tools import ToolRegistry, requires_approval
from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, app_mention_event
from tests.helpers import model_input

ASKER = "U0USER"


def approval_tool(ran: list[str]) -> ToolRegistry:
    @requires_approval
    def delete_file(name: str) -> str:
        """Delete a file.

        Args:
            name: The file to delete.
        """
        ran.append(name)
        return f"deleted {name}"

    return ToolRegistry.from_functions([delete_file])


async def question(bot: Any, event: dict[str, Any]) -> Any:
    """The bot's message with the Approve / Deny buttons (waits for it)."""
    for _ in range(250):
        for m in bot.emulator.bot_messages("C0001", event["ts"]):
            if m.blocks and "tb_approve" in str(m.blocks):
                return m
        await asyncio.sleep(0.02)
    raise AssertionError("no approval question was posted")


@pytest.mark.parametrize(("mode", "choice"), [("http", "tb_approve"), ("socket", "tb_deny")])
async def test_the_asker_decides(
    slack_bot: Any, openai_emulator: Any, mode: str, choice: str
) -> None:
    ran: list[str] = []
    bot = await slack_bot(mode, tools=approval_tool(ran))
    openai_emulator.script(
        Reply(function_calls=[("delete_file", {"name": "<!channel> notes.txt"})]),
        Reply(text="Done."),
    )
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> clean up")
    await bot.send(event)
    asked = await question(bot, event)
    assert "*delete_file*" in asked.text and "&lt;!channel&gt; notes.txt" in asked.text
    kwargs: dict[str, Any] = {"url": bot.url} if mode == "http" else {}
    # Someone else's click changes nothing.
    await bot.emulator.click("C0001", asked.ts, "tb_approve", user="U0OTHER", **kwargs)
    await bot.emulator.click("C0001", asked.ts, choice, user=ASKER, **kwargs)
    await bot.settle()
    emu = bot.emulator
    assert "Only the person who asked (or an admin) can decide this." in emu.ephemeral_texts(
        "U0OTHER", "C0001"
    )
    last = model_input(openai_emulator.responses_requests()[-1].body)
    (output,) = [i["output"] for i in last if i.get("type") == "function_call_output"]
    updated = emu.message("C0001", asked.ts)
    if choice == "tb_approve":
        assert ran == ["<!channel> notes.txt"] and output == "deleted <!channel> notes.txt"
        assert updated.text.startswith(":white_check_mark: *delete_file* was approved by")
        assert "Approved." in emu.ephemeral_texts(ASKER, "C0001")
    else:
        assert ran == [] and output == "Not run: denied by the user."
        assert updated.text.startswith(":no_entry: *delete_file* was denied")
    assert "tb_approve" not in str(updated.blocks)  # the buttons are gone
    # The answer streams in the reply message (started by the step's task card, above
    # the question).
    assert any(m.text.startswith("Done.") for m in emu.bot_messages("C0001", event["ts"]))


async def test_no_decision_in_time_is_a_deny(slack_bot: Any, openai_emulator: Any) -> None:
    ran: list[str] = []
    bot = await slack_bot(tools=approval_tool(ran), THREADBRIDGE_APPROVAL_TIMEOUT="0.4")
    openai_emulator.script(
        Reply(function_calls=[("delete_file", {"name": "x"})]), Reply(text="Fine.")
    )
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> clean up")
    await bot.send(event)
    asked = await question(bot, event)
    await bot.settle()
    assert ran == []
    assert "no decision in 1 min, so it was denied" in bot.emulator.message("C0001", asked.ts).text
    assert "tb_approve" not in str(bot.emulator.message("C0001", asked.ts).blocks)
