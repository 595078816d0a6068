"""Whole messages through Bolt -> service -> engine -> reply sink, against the emulators.

What is asserted is what a Slack user would see (the emulator's messages), what Slack
received (its recorded calls), and what the store holds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.slack import users
from bot.models import ThreadKey
from tests.emulators.openai import Reply
from tests.emulators.slack import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    app_mention_event,
    assistant_thread_context_changed_event,
    assistant_thread_started_event,
    event_callback,
    message_changed_event,
    message_deleted_event,
    message_event,
    new_event_id,
)


def mention(text: str, **kwargs: Any) -> dict[str, Any]:
    return app_mention_event(text=f"<@{BOT_USER_ID}> {text}", **kwargs)


def key(channel: str, thread: str) -> ThreadKey:
    return ThreadKey("slack", TEAM_ID, channel, thread)


def turns(openai_emulator: Any) -> int:
    return len(openai_emulator.responses_requests())


async def wait_for(condition: Any, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


# --- triggers and conversations ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_mention_streams_reply_into_new_thread(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    event = mention("hello there", channel="C0001")
    await bot.send(event)
    await bot.settle()

    # The reply starts a thread under the top-level message.
    assert emu.bot_texts("C0001", event["ts"]) == ["echo: hello there"]
    [reply] = emu.bot_messages("C0001", event["ts"])
    assert reply.thread_ts == event["ts"] and reply.stream_state == "stopped"
    start = emu.calls_to("chat.startStream")[0]
    assert start.params["recipient_team_id"] == TEAM_ID
    assert start.params["recipient_user_id"] == "U0USER"
    # Status while working, cleared by the reply; never the throttled history API.
    assert emu.assistant_statuses("C0001", event["ts"]) == ["is thinking…"]
    assert emu.assistant_status("C0001", event["ts"]) == ""
    assert "conversations.replies" not in emu.call_names()

    thread = await bot.store.find_thread(key("C0001", event["ts"]))
    assert thread is not None and thread.conversation_id
    [turn] = await bot.store.turns_of(thread.id)
    assert turn.status == "done" and turn.posted == [reply.ts]


async def test_follow_up_without_mention_continues_the_conversation(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    first = mention("remember 42", channel="C0001")
    await bot.send(first)
    await bot.settle()
    follow = message_event(channel="C0001", text="what number?", thread_ts=first["ts"])
    await bot.send(follow)
    await bot.settle()

    assert emu.bot_texts("C0001", first["ts"]) == [
        "echo: remember 42",
        "echo: [u0user] what number?",
    ]
    thread = await bot.store.find_thread(key("C0001", first["ts"]))
    bodies = [r.body for r in openai_emulator.responses_requests()]
    assert [b["conversation"] for b in bodies] == [thread.conversation_id] * 2
    assert len(await bot.store.turns_of(thread.id)) == 2


async def test_a_new_users_first_message_does_not_wait_for_their_name(
    slack_bot: Any, openai_emulator: Any
) -> None:
    """users.info is not on the way to the model: a name not known yet is looked up in
    the background, and the author's next message carries it."""
    bot = await slack_bot()
    emu = bot.emulator
    emu.latency["users.info"] = 2.0
    first = mention("quick one", channel="C0001")
    await bot.send(first)
    await bot.settle()
    assert emu.bot_texts("C0001", first["ts"]) == ["echo: quick one"]
    [lookup] = emu.calls_to("users.info")
    assert lookup.params["user"] == "U0USER" and not lookup.answered  # still on its way
    await wait_for(lambda: lookup.answered, seconds=10)
    follow = message_event(channel="C0001", text="and now?", thread_ts=first["ts"])
    await bot.send(follow)
    await bot.settle()
    assert emu.bot_texts("C0001", first["ts"])[-1] == "echo: [u0user] and now?"
    assert len(emu.calls_to("users.info")) == 1


async def test_a_burst_of_new_authors_looks_their_names_up_a_few_at_a_time(
    slack_bot: Any, openai_emulator: Any
) -> None:
    """Nobody waits for these lookups: they queue behind the turns, four at once, and
    every author's next message still carries the name."""
    bot = await slack_bot()
    emu = bot.emulator
    emu.latency["users.info"] = 0.2
    users_ = [f"U{i:04d}" for i in range(10)]
    firsts = [mention(f"hi {i}", channel="C0001", user=u) for i, u in enumerate(users_)]
    await asyncio.gather(*(bot.send(m) for m in firsts))
    await bot.settle()
    assert all(emu.bot_texts("C0001", m["ts"]) == [f"echo: hi {i}"] for i, m in enumerate(firsts))
    await wait_for(lambda: len(emu.calls_to("users.info")) == 10, seconds=10)
    await wait_for(lambda: all(c.answered for c in emu.calls_to("users.info")))
    lookups = sorted(emu.calls_to("users.info"), key=lambda c: c.time)
    assert sorted(c.params["user"] for c in lookups) == users_  # each once
    # Each held 0.2 s: with at most four at once, the fifth began after the first ended.
    assert lookups[4].time - lookups[0].time >= 0.2
    follow = message_event(channel="C0001", text="again", thread_ts=firsts[3]["ts"], user=users_[3])
    await bot.send(follow)
    await bot.settle()
    assert emu.bot_texts("C0001", firsts[3]["ts"])[-1] == "echo: [u0003] again"


async def test_a_failed_name_lookup_is_asked_again_later_not_for_every_message(
    slack_bot: Any, openai_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users, "RETRY_SECONDS", 0.5)
    bot = await slack_bot()
    emu = bot.emulator
    emu.fail_next("users.info", "fatal_error")
    first = mention("one", channel="C0001")
    await bot.send(first)
    await bot.settle()
    await wait_for(lambda: all(c.answered for c in emu.calls_to("users.info")))

    async def say(text: str) -> None:
        await bot.send(message_event(channel="C0001", text=text, thread_ts=first["ts"]))
        await bot.settle()

    await say("two")
    assert len(emu.calls_to("users.info")) == 1  # not asked again at once
    await asyncio.sleep(0.6)
    await say("three")  # asked again (in the background)
    await wait_for(lambda: len(emu.calls_to("users.info")) == 2)
    await wait_for(lambda: all(c.answered for c in emu.calls_to("users.info")))
    await say("four")
    assert emu.bot_texts("C0001", first["ts"]) == [
        "echo: one",
        "echo: two",
        "echo: three",
        "echo: [u0user] four",
    ]


async def test_messages_that_are_not_for_the_bot_are_ignored(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    top = message_event(channel="C0001", text="just chatting")
    stranger_thread = message_event(channel="C0001", text="reply", thread_ts=top["ts"])
    for event in (top, stranger_thread):
        await bot.send(event)
    await bot.settle()
    assert turns(openai_emulator) == 0
    assert emu.bot_messages("C0001") == []


async def test_require_mention_setting(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_REQUIRE_MENTION="true")
    emu = bot.emulator
    first = mention("start", channel="C0001")
    await bot.send(first)
    await bot.settle()
    await bot.send(message_event(channel="C0001", text="no mention", thread_ts=first["ts"]))
    await bot.settle()
    assert turns(openai_emulator) == 1
    await bot.send(mention("again", channel="C0001", thread_ts=first["ts"]))
    await bot.settle()
    assert emu.bot_texts("C0001", first["ts"]) == [
        "echo: start",
        "echo: [u0user] again",
    ]


async def test_direct_message_root_is_one_conversation_answered_at_the_root(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    await bot.send(message_event(channel="D0001", text="hi in a DM"))
    await bot.settle()
    await bot.send(message_event(channel="D0001", text="and again"))
    await bot.settle()
    replies = emu.bot_messages("D0001")
    assert [m.text for m in replies] == ["echo: hi in a DM", "echo: [u0user] and again"]
    # Slack streams only thread replies: the root gets a posted (and edited) message.
    assert all(m.thread_ts is None for m in replies)
    assert "chat.startStream" not in emu.call_names()
    thread = await bot.store.find_thread(key("D0001", ""))
    assert thread is not None and len(await bot.store.turns_of(thread.id)) == 2


async def test_ai_pane_thread_prompts_title_status_and_streamed_reply(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    started = assistant_thread_started_event(channel="D0001")
    thread_ts = started["assistant_thread"]["thread_ts"]
    await bot.send(started)
    await wait_for(lambda: emu.calls_to("assistant.threads.setSuggestedPrompts"))
    prompts = emu.calls_to("assistant.threads.setSuggestedPrompts")[0]
    assert prompts.ok and prompts.params["thread_ts"] == thread_ts
    assert len(prompts.params["prompts"]) >= 2
    await bot.send(assistant_thread_context_changed_event(channel="D0001", thread_ts=thread_ts))

    question = "What is the capital of France? Please answer briefly and with a source."
    await bot.send(message_event(channel="D0001", text=question, thread_ts=thread_ts))
    await bot.settle()
    await bot.send(message_event(channel="D0001", text="thanks", thread_ts=thread_ts))
    await bot.settle()

    assert emu.bot_texts("D0001", thread_ts) == [
        f"echo: {question}",
        "echo: [u0user] thanks",
    ]
    titles = [c.params["title"] for c in emu.calls_to("assistant.threads.setTitle")]
    assert titles == ["What is the capital of France? Please answer briefly and…"]
    assert emu.assistant_statuses("D0001", thread_ts)[0] == "is thinking…"
    assert len(emu.calls_to("chat.startStream")) == 2
    assert "conversations.replies" not in emu.call_names()


async def test_progress_steps_show_as_status(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_CODE_INTERPRETER="true")
    openai_emulator.script(Reply(text="done computing", code="print(1)"))
    event = mention("compute", channel="C0001")
    await bot.send(event)
    await bot.settle()
    calls = [
        c.params
        for c in bot.emulator.calls_to("assistant.threads.setStatus")
        if c.params.get("loading_messages")
    ]
    assert calls and calls[0]["loading_messages"] == ["Running code"]
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["done computing"]


# --- exactly one reply -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_retries_and_double_delivery_give_one_turn_and_one_reply(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    event = mention("only once", channel="C0001")
    payload = event_callback(event, event_id=new_event_id())
    for retry in range(4):  # the first delivery and Slack's three retries
        await bot.send(event, payload=payload, retry=retry)
    # Slack also sends the same user message as a `message` event, with its own id.
    as_message = message_event(channel="C0001", text=event["text"], ts=event["ts"])
    await bot.send(as_message)
    await bot.settle()

    assert turns(openai_emulator) == 1
    assert emu.bot_texts("C0001", event["ts"]) == ["echo: only once"]
    if mode == "socket":
        assert [e["retry_attempt"] for _, e in emu.envelopes] == [0, 1, 2, 3, 0]
        assert len(emu.acks) == 5  # every delivery acked, duplicates too
    else:
        assert [d.headers.get("X-Slack-Retry-Num") for d in emu.http_deliveries] == [
            None,
            "1",
            "2",
            "3",
            None,
        ]


async def test_message_before_app_mention_is_also_one_turn(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    event = mention("race", channel="C0001")
    as_message = message_event(channel="C0001", text=event["text"], ts=event["ts"])
    await asyncio.gather(bot.send(as_message), bot.send(event))
    await bot.settle()
    assert turns(openai_emulator) == 1
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["echo: race"]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_ack_within_three_seconds_while_the_model_takes_ten(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    openai_emulator.script(Reply(text="slow answer", ttft=10))
    event = mention("think hard", channel="C0001")
    seconds = await bot.send(event)
    assert seconds < 3
    # The turn is running (claimed and queued before the ack), not yet answered.
    await wait_for(lambda: turns(openai_emulator) == 1)
    thread = await bot.store.find_thread(key("C0001", event["ts"]))
    assert thread is not None
    assert bot.emulator.bot_messages("C0001", event["ts"]) == []
    await bot.service.stop(budget=0)


# --- HTTP mode ---------------------------------------------------------------------------


async def test_http_rejects_bad_signature_and_stale_timestamp(
    slack_bot: Any, openai_emulator: Any
) -> None:
    import time

    import aiohttp

    bot = await slack_bot("http")
    emu = bot.emulator
    status, _ = await emu.http_send_event(bot.url, mention("forged"), signing_secret="wrong")
    assert status == 401
    stale = int(time.time()) - 600
    status, _ = await emu.http_send_event(bot.url, mention("replayed"), timestamp=stale)
    assert status == 401
    await bot.settle()
    assert turns(openai_emulator) == 0
    assert emu.messages("C0001") and emu.bot_messages("C0001") == []

    health = bot.url.replace("/slack/events", "/healthz")
    async with aiohttp.ClientSession() as session, session.get(health) as response:
        assert response.status == 200 and (await response.json()) == {"ok": True}


async def test_http_url_verification(slack_bot: Any) -> None:
    from tests.emulators.slack import url_verification

    bot = await slack_bot("http")
    status, body = await bot.emulator.http_send_event(bot.url, url_verification("xyz"))
    assert status == 200 and "xyz" in body


# --- who is answered --------------------------------------------------------------------------


async def test_own_messages_other_bots_and_edits_are_ignored(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    first = mention("start", channel="C0001")
    await bot.send(first)
    await bot.settle()
    ts = first["ts"]
    ignored = [
        message_event(
            channel="C0001",
            text="my own",
            thread_ts=ts,
            user=BOT_USER_ID,
            bot_id=BOT_ID,
            subtype="bot_message",
        ),
        message_event(
            channel="C0001",
            text=f"<@{BOT_USER_ID}> other bot",
            thread_ts=ts,
            user=None,
            bot_id="B0OTHER",
            subtype="bot_message",
        ),
        message_event(
            channel="C0001",
            text="other bot, no subtype",
            thread_ts=ts,
            user="U0BOTUSER",
            bot_id="B0OTHER",
        ),
        message_changed_event(channel="C0001", ts=ts, new_text="edited", thread_ts=ts),
        message_deleted_event(channel="C0001", deleted_ts=ts, thread_ts=ts),
        message_event(channel="C0001", text="joined", thread_ts=ts, subtype="channel_join"),
    ]
    for event in ignored:
        await bot.send(event)  # acked all the same
    await bot.settle()
    assert turns(openai_emulator) == 1
    assert emu.bot_texts("C0001", ts) == ["echo: start"]


async def test_other_bots_answered_when_allowed(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_ALLOW_BOTS="true")
    event = message_event(
        channel="C0001",
        text=f"<@{BOT_USER_ID}> from a bot",
        user=None,
        bot_id="B0OTHER",
        subtype="bot_message",
    )
    await bot.send(event)
    own = message_event(
        channel="C0001",
        text=f"<@{BOT_USER_ID}> self",
        user=BOT_USER_ID,
        bot_id=BOT_ID,
        subtype="bot_message",
    )
    await bot.send(own)
    await bot.settle()
    assert turns(openai_emulator) == 1
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["echo: from a bot"]


async def test_allowlists_refuse_politely_once(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(
        THREADBRIDGE_SLACK_ALLOWED_USERS="U0BOSS,U0USER",
        THREADBRIDGE_SLACK_ALLOWED_CHANNELS="C0002",
    )
    emu = bot.emulator
    event = mention("may I?", channel="C0001")
    await bot.send(event)
    await bot.send(message_event(channel="C0001", text=event["text"], ts=event["ts"]))
    await bot.send(message_event(channel="D0001", text="and in a DM?"))
    allowed = mention("here?", channel="C0002")
    await bot.send(allowed)
    await bot.settle()
    await bot.bridge.close()
    assert emu.bot_texts("C0001", event["ts"]) == ["Sorry, I'm not set up to answer here."]
    assert emu.bot_texts("D0001") == ["Sorry, I'm not set up to answer here."]
    assert emu.bot_texts("C0002", allowed["ts"]) == ["echo: here?"]
    assert turns(openai_emulator) == 1

    other = mention("me too", channel="C0002", user="U0STRANGER")
    await bot.send(other)
    await bot.settle()
    await bot.bridge.close()
    assert emu.bot_texts("C0002", other["ts"]) == ["Sorry, I'm not set up to answer here."]


async def test_refusal_can_be_silent_and_dms_can_be_allowed(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(
        THREADBRIDGE_SLACK_ALLOWED_CHANNELS="C0002,dm", THREADBRIDGE_SLACK_REFUSAL="ignore"
    )
    emu = bot.emulator
    await bot.send(mention("hello?", channel="C0001"))
    await bot.send(message_event(channel="D0001", text="dm is fine"))
    await bot.settle()
    await bot.bridge.close()
    assert emu.bot_messages("C0001") == []
    assert emu.bot_texts("D0001") == ["echo: dm is fine"]


# --- errors and rate limits -----------------------------------------------------------------


async def test_failure_shows_short_message_with_reference(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    openai_emulator.script(Reply(status=500), Reply(status=500))
    event = mention("break", channel="C0001")
    await bot.send(event)
    await bot.settle()
    [text] = bot.emulator.bot_texts("C0001", event["ts"])
    assert text.startswith(":warning: ") and "(ref " in text and len(text) < 160


async def test_rate_limited_calls_are_retried_after_retry_after(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    emu.fail_next("chat.startStream", retry_after=0)
    emu.fail_next("chat.postMessage", retry_after=0)
    event = mention("busy", channel="C0001")
    await bot.send(event)
    await bot.send(message_event(channel="D0001", text="busy dm"))
    await bot.settle()
    assert [c.status for c in emu.calls_to("chat.startStream")] == [429, 200]
    assert [c.status for c in emu.calls_to("chat.postMessage")] == [429, 200]
    assert emu.bot_texts("C0001", event["ts"]) == ["echo: busy"]
    assert emu.bot_texts("D0001") == ["echo: [u0user] busy dm"]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_no_ack_while_shutting_down(slack_bot: Any, openai_emulator: Any, mode: str) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    await bot.service.stop(budget=0)
    event = mention("too late", channel="C0001")
    if mode == "http":
        status, _ = await emu.http_send_event(bot.url, event)
        assert status == 503  # Slack redelivers later
    else:
        envelope = await emu.socket_send_event(event)
        with pytest.raises(TimeoutError):
            await emu.wait_ack(envelope, 0.5)
    assert turns(openai_emulator) == 0
