"""Tool calls that need approval, on Discord: Approve / Deny buttons for the asker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.tools import ToolRegistry, requires_approval
from tests.discord.conftest import Bot, MakeBot
from tests.emulators.openai import Reply
from tests.helpers import model_input

DENIED = "Not run: denied by the user."


def approval_tool(ran: list[str]) -> ToolRegistry:
    @requires_approval
    async def delete_file(name: str) -> str:
        """Delete a file.

        Args:
            name: The file to delete.
        """
        ran.append(name)
        return f"deleted {name}"

    return ToolRegistry.from_functions([delete_file])


async def ask_and_wait_for_buttons(bot: Bot, openai_emulator: Any) -> tuple[str, str, dict]:
    """A question whose answer calls delete_file; returns (thread, message with the
    buttons, that message's buttons by choice)."""
    openai_emulator.script(
        Reply(function_calls=[("delete_file", {"name": "<@everyone> report.txt"})]),
        Reply(text="Done."),
    )
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> clean up", author=bot.emu.alice)
    await bot.handled()

    def buttons() -> tuple[str, str, dict[str, str]] | None:
        for thread in bot.emu.threads(bot.emu.channel_id):
            for m in bot.bot_messages(thread["id"]):
                ids = [b["custom_id"] for b in bot.emu.buttons(m["id"])]
                if any(i.startswith("tb:ap:") for i in ids):
                    by = {i.split(":")[2]: i for i in ids}
                    return str(thread["id"]), str(m["id"]), by
        return None

    return await bot.emu.wait_until(buttons)


async def note(bot: Bot, click: dict[str, Any]) -> list[str]:
    await bot.emu.wait_until(lambda: bot.emu.outcome(click["id"]).response_type is not None)
    return bot.emu.outcome(click["id"]).ephemeral_replies


def sent_output(openai_emulator: Any) -> str:
    last = model_input(openai_emulator.responses_requests()[-1].body)
    (output,) = [i for i in last if i.get("type") == "function_call_output"]
    return str(output["output"])


async def test_approve_runs_the_function(make_bot: MakeBot, openai_emulator: Any) -> None:
    ran: list[str] = []
    bot = await make_bot(tools=approval_tool(ran))
    thread_id, message_id, buttons = await ask_and_wait_for_buttons(bot, openai_emulator)
    question = bot.emu.message(message_id)["content"]
    assert "**delete\\_file**" in question and "report.txt" in question
    assert ran == []  # nothing runs before the decision
    click = await bot.emu.click(message_id, buttons["yes"], user=bot.emu.alice)
    assert await note(bot, click) == ["Approved."]
    await bot.core.service.drain()
    assert ran == ["<@everyone> report.txt"]
    assert sent_output(openai_emulator) == "deleted <@everyone> report.txt"
    assert bot.emu.message(message_id)["content"].startswith("✅ **delete\\_file** was approved")
    assert bot.emu.buttons(message_id) == []
    assert [m["content"] for m in bot.bot_messages(thread_id)][-1] == "Done."
    # No ping anywhere: the bot's messages never mention everyone.
    posts = bot.emu.requests_to("POST", f"/channels/{thread_id}/messages")
    assert all(r.json.get("allowed_mentions", {}).get("parse") == [] for r in posts)


async def test_deny_and_another_users_click(make_bot: MakeBot, openai_emulator: Any) -> None:
    ran: list[str] = []
    bot = await make_bot(tools=approval_tool(ran))
    bob = bot.emu.add_user("bob")
    bot.emu.add_member(bot.emu.guild_id, bob)
    _thread, message_id, buttons = await ask_and_wait_for_buttons(bot, openai_emulator)
    other = await bot.emu.click(message_id, buttons["yes"], user=bob)
    assert await note(bot, other) == ["Only the person who asked (or an admin) can decide this."]
    click = await bot.emu.click(message_id, buttons["no"], user=bot.emu.alice)
    assert await note(bot, click) == ["Denied."]
    await bot.core.service.drain()
    assert ran == []
    assert sent_output(openai_emulator) == DENIED
    assert bot.emu.message(message_id)["content"].startswith("⛔ **delete\\_file** was denied")


async def test_no_decision_in_time_counts_as_deny(make_bot: MakeBot, openai_emulator: Any) -> None:
    ran: list[str] = []
    bot = await make_bot(tools=approval_tool(ran), THREADBRIDGE_APPROVAL_TIMEOUT="0.5")
    _thread, message_id, _buttons = await ask_and_wait_for_buttons(bot, openai_emulator)
    await bot.core.service.drain()
    assert ran == []
    assert sent_output(openai_emulator) == "Not run: denied by the user (no decision in time)."
    assert "no decision in 1 min, so it was denied" in bot.emu.message(message_id)["content"]
    # A late click finds no button (the message lost them), and the store says decided.
    assert bot.emu.buttons(message_id) == []


async def test_buttons_still_work_after_a_restart(make_bot: MakeBot, openai_emulator: Any) -> None:
    ran: list[str] = []
    first = await make_bot(tools=approval_tool(ran), THREADBRIDGE_LEASE_SECONDS="0.5")
    thread_id, message_id, buttons = await ask_and_wait_for_buttons(first, openai_emulator)
    # The process dies while the question waits.
    await first.core.service.stop(budget=0.05)
    await first.client.close()
    await asyncio.sleep(0.6)  # its lease runs out

    second = await make_bot(tools=approval_tool(ran), THREADBRIDGE_LEASE_SECONDS="0.5")
    await second.core.service.start()
    await asyncio.sleep(0.3)  # the sweep resumes the turn, which waits for the decision
    click = await second.emu.click(message_id, buttons["yes"], user=second.emu.alice)
    assert await note(second, click) == ["Approved."]
    await second.emu.wait_until(lambda: ran)
    await second.core.service.drain()
    assert ran == ["<@everyone> report.txt"]
    assert [m["content"] for m in second.bot_messages(thread_id)][-1] == "Done."
    # It was asked once: the resumed turn found the question it had posted.
    asked = [m for m in second.bot_messages(thread_id) if "wants to run" in m["content"]]
    assert asked == [] and second.emu.message(message_id)["content"].startswith("✅")


MCP = json.dumps(
    [
        {
            "label": "docs",
            "url": "https://mcp.example.com/sse",
            "allowed_tools": ["search"],
            "require_approval": "always",
        }
    ]
)


async def mcp_question(bot: Bot, openai_emulator: Any) -> tuple[str, dict[str, str]]:
    openai_emulator.script(
        Reply(mcp_calls=[("docs", "search", {"q": "pricing"})]),
        Reply(text="Found it.", mcp_output="pricing: 10 EUR"),
    )
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> look it up", author=bot.emu.alice)
    await bot.handled()

    def buttons() -> tuple[str, dict[str, str]] | None:
        for thread in bot.emu.threads(bot.emu.channel_id):
            for m in bot.bot_messages(thread["id"]):
                ids = [b["custom_id"] for b in bot.emu.buttons(m["id"])]
                if any(i.startswith("tb:ap:") for i in ids):
                    return str(m["id"]), {i.split(":")[2]: i for i in ids}
        return None

    return await bot.emu.wait_until(buttons)


async def test_an_mcp_call_held_for_approval_runs_once_approved(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    bot = await make_bot(THREADBRIDGE_MCP_SERVERS=MCP)
    message_id, buttons = await mcp_question(bot, openai_emulator)
    assert "MCP tool **docs: search**" in bot.emu.message(message_id)["content"]
    assert openai_emulator.mcp_calls_run == []
    click = await bot.emu.click(message_id, buttons["yes"], user=bot.emu.alice)
    assert await note(bot, click) == ["Approved."]
    await bot.core.service.drain()
    (run,) = openai_emulator.mcp_calls_run
    assert (run.server_label, run.name, run.arguments) == ("docs", "search", {"q": "pricing"})
    assert list(openai_emulator.mcp_approvals.values()) == [True]
    thread_id = str(bot.only_thread()["id"])
    assert bot.bot_messages(thread_id)[-1]["content"] == "Found it."
    sent = openai_emulator.responses_requests()[0].body["tools"]
    assert sent[0]["require_approval"] == "always"


async def test_a_denied_mcp_call_is_answered_approve_false(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    bot = await make_bot(THREADBRIDGE_MCP_SERVERS=MCP)
    message_id, buttons = await mcp_question(bot, openai_emulator)
    click = await bot.emu.click(message_id, buttons["no"], user=bot.emu.alice)
    assert await note(bot, click) == ["Denied."]
    await bot.core.service.drain()
    assert openai_emulator.mcp_calls_run == []
    assert list(openai_emulator.mcp_approvals.values()) == [False]
    last = model_input(openai_emulator.responses_requests()[-1].body)
    assert [i["approve"] for i in last if i["type"] == "mcp_approval_response"] == [False]
