"""Slack failing the way it really fails (an HTML page from its edge or a proxy, a
dropped connection, a Slack error): the user still gets the reply, or a short error."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bot.models import ThreadKey
from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, app_mention_event

FAILURES = {
    "html": {"html": True},
    "html-labelled-json": {"html": True, "content_type": "application/json"},
    "dropped": {"drop": True},
    "slack-error": {"error": "internal_error"},
}


LONG_SLOW = " ".join(f"word{i}" for i in range(100))


def fast(bot: Any) -> None:
    replier = bot.bridge.replier
    replier.options = dataclasses.replace(replier.options, flush_interval=0.05)


def ask() -> dict[str, Any]:
    return app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> say it")


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failed_stream_start_falls_back_to_post_and_edit(
    slack_bot: Any, openai_emulator: Any, failure: str
) -> None:
    bot = await slack_bot()
    fast(bot)
    # Twice: the client retries a 5xx and a dropped connection once by itself.
    bot.emulator.fail_next("chat.startStream", times=2, **FAILURES[failure])
    openai_emulator.script(Reply(text="the whole answer arrives", chunk_chars=5))
    event = ask()
    await bot.send(event)
    await bot.settle()
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["the whole answer arrives"]
    assert [c.fault for c in bot.emulator.calls_to("chat.startStream")][:2] != [None, None]
    thread = await bot.store.find_thread(_key(event["ts"]))
    assert [t.status for t in await bot.store.turns_of(thread.id)] == ["done"]


@pytest.mark.parametrize("failure", ["html", "dropped"])
async def test_one_failed_call_is_retried(
    slack_bot: Any, openai_emulator: Any, failure: str
) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_STREAMING="false")
    bot.emulator.fail_next("chat.postMessage", **FAILURES[failure])
    event = ask()
    await bot.send(event)
    await bot.settle()
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["echo: say it"]


async def test_a_failed_edit_continues_in_a_new_message(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_STREAMING="false")
    fast(bot)
    bot.emulator.fail_next("chat.update", times=2, html=True)
    openai_emulator.script(
        Reply(text="one two three four five six", chunk_chars=4, tokens_per_second=40)
    )
    event = ask()
    await bot.send(event)
    await bot.settle()
    texts = bot.emulator.bot_texts("C0001", event["ts"])
    assert texts and texts[-1].endswith("six")


async def test_a_failed_upload_becomes_a_note(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_CODE_INTERPRETER="true")
    bot.emulator.fail_next("files.getUploadURLExternal", times=2, html=True)
    openai_emulator.script(Reply(text="chart attached", code="plot()", files=[("c.png", b"x")]))
    event = ask()
    await bot.send(event)
    await bot.settle()
    texts = bot.emulator.bot_texts("C0001", event["ts"])
    assert texts[0] == "chart attached"
    assert any("c.png could not be uploaded (http_503)" in t for t in texts)


def _key(ts: str) -> ThreadKey:
    return ThreadKey("slack", "T0001", "C0001", ts)


async def test_a_reply_slack_refuses_leaves_nothing_running(
    slack_bot: Any, openai_emulator: Any
) -> None:
    # Slack refuses every message of the reply (the channel went away): the turn fails,
    # and what the reply had under way ends with it: no Stop button shows up later and
    # the "thinking" status is taken down.
    bot = await slack_bot(THREADBRIDGE_SLACK_STOP_AFTER="1")
    fast(bot)
    emu = bot.emulator
    for method in ("chat.startStream", "chat.postMessage"):
        emu.fail_next(method, error="channel_not_found", times=50)
    openai_emulator.script(Reply(text=LONG_SLOW, chunk_chars=5, tokens_per_second=50))
    event = ask()
    await bot.send(event)
    await bot.settle()
    thread = await bot.store.find_thread(_key(event["ts"]))
    (turn,) = await bot.store.turns_of(thread.id)
    assert turn.status == "failed"
    await asyncio.sleep(1.5)  # past THREADBRIDGE_SLACK_STOP_AFTER
    assert emu.calls_to("chat.postEphemeral") == []
    statuses = [c.params.get("status") for c in emu.calls_to("assistant.threads.setStatus")]
    assert statuses and statuses[0] and statuses[-1] == ""


@pytest.mark.parametrize(
    ("error", "asked_again"), [("missing_scope", False), ("internal_error", True)]
)
async def test_status_refused_for_good_is_not_asked_again(
    slack_bot: Any, error: str, asked_again: bool
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    emu.fail_next("assistant.threads.setStatus", error=error)
    first = ask()
    await bot.send(first)
    await bot.settle()
    assert emu.bot_texts("C0001", first["ts"])[0].endswith("say it")
    assert len(emu.calls_to("assistant.threads.setStatus")) == 1
    second = ask()
    await bot.send(second)
    await bot.settle()
    assert emu.bot_texts("C0001", second["ts"])[0].endswith("say it")
    calls = emu.calls_to("assistant.threads.setStatus")
    assert (len(calls) > 1) == asked_again


async def test_status_needs_no_assistant_scope(slack_bot: Any) -> None:
    # Since 2026-03 chat:write is enough for a channel app's "thinking" status.
    bot = await slack_bot()
    bot.emulator.scopes.remove("assistant:write")
    event = ask()
    await bot.send(event)
    await bot.settle()
    (call, *_) = bot.emulator.calls_to("assistant.threads.setStatus")
    assert call.fault is None and call.params["status"]
