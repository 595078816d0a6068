"""The conversation around the bot: a Slack thread's earlier messages as context of the
first mention in it, and what people say between two mentions."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from bot.models import ThreadKey
from tests.emulators.slack import BOT_USER_ID, app_mention_event, message_event
from tests.emulators.slack.models import new_ts
from tests.helpers import model_input, strip_time, texts_of

CHANNEL = "C0001"


def key(thread_ts: str) -> ThreadKey:
    return ThreadKey("slack", "T0001", CHANNEL, thread_ts)


async def a_thread(bot: Any) -> str:
    """A thread where Ann and Bob talked, the bot answered once, and another bot posted."""
    emu = bot.emulator
    emu.add_user("U0ANN", display_name="Ann")
    emu.add_user("U0BOB", display_name="Bob")
    root = emu.user_message(CHANNEL, "Shall we ship on Friday?", user="U0ANN")
    emu.user_message(CHANNEL, "Only if the tests pass.", user="U0BOB", thread_ts=root.ts)
    await bot.bridge.client.chat_postMessage(
        channel=CHANNEL, thread_ts=root.ts, text="(an earlier answer of mine)"
    )
    emu.record_event(
        {
            "type": "message",
            "channel": CHANNEL,
            "ts": new_ts(),
            "thread_ts": root.ts,
            "text": "deploy bot: build 42 green",
            "bot_id": "B0OTHER",
        }
    )
    hosted = emu.host_file("plan.txt", b"the release plan", "text/plain", user="U0ANN")
    emu.user_message(CHANNEL, "Here is the plan", user="U0ANN", thread_ts=root.ts, files=[hosted])
    return root.ts


async def test_a_first_mention_in_a_thread_gives_the_model_the_thread(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    root = await a_thread(bot)
    event = app_mention_event(
        channel=CHANNEL, user="U0BOB", text=f"<@{BOT_USER_ID}> what did we decide?", thread_ts=root
    )
    await bot.send(event)
    await bot.settle()

    items = model_input(openai_emulator.responses_requests()[0].body)
    got = [(role, strip_time(text)) for role, text in texts_of(items)]
    assert got == [
        ("user", "[Ann] Shall we ship on Friday?"),
        ("user", "[Bob] Only if the tests pass."),
        ("assistant", "(an earlier answer of mine)"),
        ("user", "[Ann] Here is the plan\nFiles: plan.txt"),
        ("user", "[Bob] what did we decide?"),
    ]  # the other bot is left out; the mention comes last, once
    assert " UTC] " in texts_of(items)[0][1]
    # The file of the earlier message went to the model like one of the question's.
    assert any(f.data == b"the release plan" for f in openai_emulator.files.values())
    thread = await bot.store.find_thread(key(root))
    [turn] = await bot.store.turns_of(thread.id)
    with_context = await bot.store.run(
        lambda conn: conn.exec_driver_sql(
            "SELECT context_messages FROM turns WHERE id = ?", (turn.id,)
        ).scalar()
    )
    assert with_context == 4

    # The next turn does not send the history again.
    follow = message_event(channel=CHANNEL, user="U0BOB", text="and then?", thread_ts=root)
    await bot.send(follow)
    await bot.settle()
    assert texts_of(model_input(openai_emulator.responses_requests()[1].body)) == [
        ("user", "[Bob] and then?")
    ]
    assert len(bot.emulator.calls_to("conversations.replies")) == 1


async def test_a_long_thread_keeps_its_root_and_latest_and_counts_the_gap(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_CONTEXT_MAX_MESSAGES=10)
    emu = bot.emulator
    root = emu.user_message(CHANNEL, "message 0")
    for i in range(1, 250):
        emu.user_message(CHANNEL, f"message {i}", thread_ts=root.ts)
    event = app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> sum up", thread_ts=root.ts)
    await bot.send(event)
    await bot.settle()
    got = [
        strip_time(t)
        for _, t in texts_of(model_input(openai_emulator.responses_requests()[0].body))
    ]
    assert got[0] == "[u0user] message 0"
    assert got[1] == "(240 earlier messages omitted)"
    assert got[2:-1] == [f"[u0user] message {i}" for i in range(241, 250)]
    assert got[-1] == "[u0user] sum up"
    assert len(emu.calls_to("conversations.replies")) == 2  # 250 messages, 200 a page


@pytest.mark.parametrize(
    ("error", "extra", "logged"),
    [
        ("missing_scope", {"needed": "channels:history"}, "channels:history"),
        ("not_in_channel", {}, "invite the bot"),
    ],
)
async def test_a_thread_that_cannot_be_read_is_answered_with_a_note(
    slack_bot: Any,
    openai_emulator: Any,
    caplog: pytest.LogCaptureFixture,
    error: str,
    extra: dict[str, str],
    logged: str,
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    root = emu.user_message(CHANNEL, "earlier talk")
    emu.fail_next("conversations.replies", error, **extra)
    event = app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> hi", thread_ts=root.ts)
    with caplog.at_level(logging.WARNING, logger="adapters.slack"):
        await bot.send(event)
        await bot.settle()
    texts = emu.bot_texts(CHANNEL, root.ts)
    assert ":information_source: I couldn't read the earlier messages in this thread." in texts
    assert texts[-1] == "echo: [u0user] hi"
    assert logged in caplog.text and error in caplog.text


async def test_rate_limited_past_the_budget_goes_on_without_context(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    reader = bot.bridge.replier.context
    reader.options = dataclasses.replace(reader.options, read_seconds=0.3)
    emu = bot.emulator
    root = emu.user_message(CHANNEL, "earlier talk")
    emu.fail_next("conversations.replies", "ratelimited", retry_after=5)
    event = app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> hi", thread_ts=root.ts)
    await bot.send(event)
    await bot.settle()
    texts = emu.bot_texts(CHANNEL, root.ts)
    assert texts[0].endswith("I couldn't read the earlier messages in this thread.")
    assert texts[-1] == "echo: [u0user] hi"


async def test_history_reading_can_be_turned_off(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_READ_HISTORY="false")
    root = bot.emulator.user_message(CHANNEL, "earlier talk")
    event = app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> hi", thread_ts=root.ts)
    await bot.send(event)
    await bot.settle()
    assert bot.emulator.calls_to("conversations.replies") == []
    assert texts_of(model_input(openai_emulator.responses_requests()[0].body)) == [
        ("user", "[u0user] hi")
    ]


async def test_a_top_level_mention_reads_nothing(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot()
    await bot.send(app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> new topic"))
    await bot.settle()
    assert bot.emulator.calls_to("conversations.replies") == []


async def test_with_require_mention_what_was_said_meanwhile_comes_with_the_next_mention(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_REQUIRE_MENTION="true")
    emu = bot.emulator
    emu.add_user("U0ANN", display_name="Ann")
    first = app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> start")
    await bot.send(first)
    await bot.settle()
    for text in ("we picked Tuesday", "and Ann owns it"):
        said = message_event(channel=CHANNEL, user="U0ANN", text=text, thread_ts=first["ts"])
        await bot.send(said)
    await bot.settle()
    assert len(emu.bot_texts(CHANNEL, first["ts"])) == 1  # not answered
    again = app_mention_event(
        channel=CHANNEL, text=f"<@{BOT_USER_ID}> who owns it?", thread_ts=first["ts"]
    )
    await bot.send(again)
    await bot.settle()
    assert texts_of(model_input(openai_emulator.responses_requests()[-1].body)) == [
        ("user", "[Ann] we picked Tuesday"),
        ("user", "[Ann] and Ann owns it"),
        ("user", "[u0user] who owns it?"),
    ]
    assert emu.bot_texts(CHANNEL, first["ts"])[-1] == "echo: [u0user] who owns it?"


async def test_stateless_mode_keeps_the_context_in_the_replayed_history(
    slack_bot: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    bot = await slack_bot(THREADBRIDGE_CONVERSATION_MODE="stateless")
    emu = bot.emulator
    root = emu.user_message(CHANNEL, "the budget is 10k")
    ask = app_mention_event(channel=CHANNEL, text=f"<@{BOT_USER_ID}> noted?", thread_ts=root.ts)
    await bot.send(ask)
    await bot.settle()
    follow = message_event(channel=CHANNEL, text="and now?", thread_ts=root.ts)
    await bot.send(follow)
    await bot.settle()
    replayed = [
        strip_time(t)
        for _, t in texts_of(model_input(openai_emulator.responses_requests()[1].body))
    ]
    assert replayed[0] == "[u0user] the budget is 10k"
    assert replayed[-1] == "[u0user] and now?"
    assert replayed.count("[u0user] the budget is 10k") == 1
