"""Reply buttons on Slack: the asker's Stop while a reply streams, feedback when done."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.tools import ToolRegistry
from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, app_mention_event

LONG = " ".join(f"word{i}" for i in range(300))
ASKER = "U0USER"


async def stop_ephemeral(bot: Any, channel: str, thread_ts: str) -> Any:
    """The asker's ephemeral Stop message in the thread (waits for it)."""

    def find() -> Any:
        for e in bot.emulator.ephemerals_for(ASKER, channel, thread_ts):
            if e.blocks and "tb_stop" in str(e.blocks):
                return e
        return None

    for _ in range(500):
        found = find()
        if found is not None:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("no Stop button was shown to the asker")


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_the_asker_stops_a_streaming_reply(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    openai_emulator.script(Reply(text=LONG, tokens_per_second=40, chunk_chars=6))
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> write a lot")
    await bot.send(event)
    emu = bot.emulator
    eph = await stop_ephemeral(bot, "C0001", event["ts"])
    # Wait for the first streamed words, then press Stop.
    for _ in range(200):
        if emu.bot_messages("C0001", event["ts"]):
            break
        await asyncio.sleep(0.02)
    kwargs: dict[str, Any] = {"url": bot.url} if mode == "http" else {}
    delivery = await emu.click("C0001", eph.message_ts, "tb_stop", user=ASKER, **kwargs)
    assert delivery is not None
    await bot.settle()

    (reply,) = emu.bot_messages("C0001", event["ts"])
    assert reply.text.startswith("word0")
    assert reply.text.rstrip().endswith("_(stopped)_")
    assert "word299" not in reply.text
    assert reply.stream_state == "stopped"
    (response,) = openai_emulator.response_objects.values()
    assert response["status"] == "cancelled"
    thread = (await bot.store.thread_history(_key(event)))[0]
    assert [t.status for t in await bot.store.turns_of(thread.id)] == ["stopped"]
    # The asker's Stop message became the answer to the click.
    assert "Stopped." in emu.ephemeral_texts(ASKER, "C0001")

    # The thread answers its next message normally.
    follow = app_mention_event(
        channel="C0001", text=f"<@{BOT_USER_ID}> briefly", thread_ts=event["ts"]
    )
    await bot.send(follow)
    await bot.settle()
    assert emu.bot_messages("C0001", event["ts"])[-1].text.startswith("echo:")
    assert [t.status for t in await bot.store.turns_of(thread.id)] == ["stopped", "done"]


def _key(event: dict[str, Any]) -> Any:
    from bot.models import ThreadKey

    return ThreadKey("slack", event["team"], event["channel"], event["ts"])


async def test_someone_else_cannot_use_the_askers_stop(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_STOP_AFTER="0")
    openai_emulator.script(Reply(text=LONG, tokens_per_second=80, chunk_chars=6))
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> write a lot")
    await bot.send(event)
    await stop_ephemeral(bot, "C0001", event["ts"])
    # Only the asker sees the Stop message: nobody else has a button to press.
    assert bot.emulator.ephemerals_for("U0OTHER") == []
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.text.rstrip().endswith("word299")


async def test_a_quick_reply_leaves_no_stop_button_behind(slack_bot: Any) -> None:
    # The Stop button goes out once a reply has run THREADBRIDGE_SLACK_STOP_AFTER
    # seconds (2 by default; more here, so that a slow CI machine cannot reach it).
    bot = await slack_bot(THREADBRIDGE_SLACK_STOP_AFTER="30")
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> hello")
    await bot.send(event)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.text.startswith("echo:")
    assert bot.emulator.ephemerals_for(ASKER, "C0001", event["ts"]) == []
    assert bot.emulator.calls_to("chat.postEphemeral") == []


async def test_a_late_stop_changes_nothing(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_STOP_AFTER="0")
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> hello")
    await bot.send(event)
    await bot.settle()
    eph = await stop_ephemeral(bot, "C0001", event["ts"])
    await bot.emulator.click("C0001", eph.message_ts, "tb_stop", user=ASKER)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.text == "echo: [U0USER] hello" or reply.text.startswith("echo:")
    assert "This answer is already finished." in bot.emulator.ephemeral_texts(ASKER, "C0001")
    thread = (await bot.store.thread_history(_key(event)))[0]
    assert [t.status for t in await bot.store.turns_of(thread.id)] == ["done"]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_feedback_buttons_under_the_reply(slack_bot: Any, mode: str) -> None:
    bot = await slack_bot(mode)
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> hello")
    await bot.send(event)
    await bot.settle()
    emu = bot.emulator
    (reply,) = emu.bot_messages("C0001", event["ts"])
    assert reply.blocks is not None and reply.blocks[-1]["type"] == "context_actions"
    kwargs: dict[str, Any] = {"url": bot.url} if mode == "http" else {}
    await emu.click_feedback("C0001", reply.ts, positive=True, user=ASKER, **kwargs)
    await emu.click_feedback("C0001", reply.ts, positive=False, user=ASKER, **kwargs)
    await emu.click_feedback("C0001", reply.ts, positive=True, user="U0OTHER", **kwargs)
    for _ in range(200):
        if len(emu.ephemeral_texts(ASKER, "C0001")) >= 2:  # two thanks (a quick reply: no Stop)
            break
        await asyncio.sleep(0.02)
    rows = await bot.store.feedback_rows()
    assert sorted((r.user_id, r.value) for r in rows) == [("U0OTHER", "up"), (ASKER, "down")]
    assert all(r.posted == [reply.ts] for r in rows)
    assert "Thanks for the feedback." in emu.ephemeral_texts(ASKER, "C0001")


async def test_a_forged_button_value_changes_nothing(slack_bot: Any) -> None:
    bot = await slack_bot()
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> hello")
    await bot.send(event)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    fb = reply.blocks[-1]["elements"][0]
    turn = fb["positive_button"]["value"].split(":")[1]
    # A payload naming another turn, or junk, from a user of another channel.
    for value in (f"up:{int(turn) + 99}", "up:1; DROP TABLE", "sideways:1"):
        fb["positive_button"]["value"] = value
        await bot.emulator.click_feedback("C0001", reply.ts, positive=True, user="U0EVIL")
    await bot.settle()
    assert await bot.store.feedback_rows() == []


@pytest.mark.parametrize("display", ["timeline", "plan"])
async def test_steps_are_task_cards_in_the_stream(
    slack_bot: Any, openai_emulator: Any, display: str
) -> None:
    async def lookup(query: str) -> str:
        """Look something up.

        Args:
            query: What to look up.
        """
        return "42"

    bot = await slack_bot(
        tools=ToolRegistry.from_functions([lookup]),
        THREADBRIDGE_CODE_INTERPRETER="true",
        THREADBRIDGE_SLACK_TASK_DISPLAY=display,
    )
    openai_emulator.script(
        Reply(
            text="Let me compute. ",
            code="print(6 * 7)",
            function_calls=[("lookup", {"query": "answer"})],
        ),
        Reply(text="It is 42."),
    )
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> compute")
    await bot.send(event)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.task_display_mode == display
    tasks = list(reply.tasks.values())
    assert [t.title for t in tasks] == ["Running code", "Calling lookup"]
    assert all(reply.task_statuses(t.id) == ["in_progress", "complete"] for t in tasks)
    assert tasks[0].details == "print(6 * 7)"
    assert tasks[1].details == 'lookup({"query": "answer"})'
    assert "It is 42." in reply.text
    # The status line still shows the step too.
    assert any(
        c.params.get("loading_messages") == ["Running code"]
        for c in bot.emulator.calls_to("assistant.threads.setStatus")
    )


async def test_task_cards_off_leaves_the_status_line(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(
        THREADBRIDGE_CODE_INTERPRETER="true", THREADBRIDGE_SLACK_TASK_DISPLAY="status"
    )
    openai_emulator.script(Reply(text="done computing", code="print(1)"))
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> compute")
    await bot.send(event)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.tasks == {} and reply.chunks_of("task_update") == []


async def test_an_admin_gets_the_stop_button_too_and_can_stop(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(
        THREADBRIDGE_ADMIN_USERS="slack:U0ADMIN, 123456", THREADBRIDGE_SLACK_STOP_AFTER="0"
    )
    bot.emulator.add_user("U0ADMIN", display_name="Admin")
    openai_emulator.script(Reply(text=LONG, tokens_per_second=40, chunk_chars=6))
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> write a lot")
    await bot.send(event)
    await stop_ephemeral(bot, "C0001", event["ts"])
    admin_stop = None
    for _ in range(200):
        admin_stop = next(
            (e for e in bot.emulator.ephemerals_for("U0ADMIN", "C0001") if e.blocks), None
        )
        if admin_stop is not None and bot.emulator.bot_messages("C0001", event["ts"]):
            break
        await asyncio.sleep(0.02)
    assert admin_stop is not None
    await bot.emulator.click("C0001", admin_stop.message_ts, "tb_stop", user="U0ADMIN")
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.text.rstrip().endswith("_(stopped)_")


async def test_a_reply_posted_and_edited_carries_the_feedback_buttons_too(
    slack_bot: Any,
) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_STREAMING="false")
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> hello")
    await bot.send(event)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    assert reply.stream_state is None and reply.text.startswith("echo:")
    assert reply.blocks is not None
    section, actions = reply.blocks
    assert section["type"] == "section" and section["text"]["text"] == reply.text
    assert actions["type"] == "context_actions"
    await bot.emulator.click_feedback("C0001", reply.ts, positive=False, user=ASKER)
    for _ in range(100):
        if await bot.store.feedback_rows():
            break
        await asyncio.sleep(0.02)
    assert [r.value for r in await bot.store.feedback_rows()] == ["down"]


def test_long_text_is_cut_into_sections_at_line_ends() -> None:
    from adapters.slack.sink import text_sections

    text = ("x" * 2000 + "\n") * 3
    parts = [b["text"]["text"] for b in text_sections(text)]
    assert "".join(parts) == text and all(len(p) <= 3000 for p in parts)
    assert all(p.endswith("\n") for p in parts)
