"""SIGKILL at the four points of a turn, then a restart: exactly one complete reply.

A real `threadbridge run` process (Socket Mode) against the emulators is killed by
its own fail point (`THREADBRIDGE_FAILPOINT`, see bot/faults.py) at each point; a
second process on the same database finishes the work. What counts is what the
Slack emulator holds at the end: one bot message in the thread, with the whole
answer, not streaming any more.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, SlackEmulator, app_mention_event, event_callback
from tests.slack.test_cli import base_env, run

ANSWER = " ".join(f"word{n}" for n in range(60)) + "."


def slow_model(req: Any) -> Reply:
    # Streams for about a second, so the reply is posted in parts.
    return Reply(text=ANSWER, chunk_chars=6, tokens_per_second=60)


async def start(tmp_path: Path, openai_emulator: Any, slack: SlackEmulator, **extra: str) -> Any:
    env = base_env(
        tmp_path,
        openai_emulator,
        slack,
        SLACK_APP_TOKEN=slack.app_token,
        THREADBRIDGE_LEASE_SECONDS="1",
        **extra,
    )
    known = len(slack.socket_connections)
    proc = await run(["run"], env, tmp_path)
    for _ in range(1500):
        if any(c.open for c in slack.socket_connections[known:]):
            return proc
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.02)
    _, err = await proc.communicate()
    raise AssertionError(f"the bot did not connect:\n{err.decode()[-3000:]}")


async def finished_texts(slack: SlackEmulator, channel: str, thread_ts: str) -> list[str]:
    """The bot's messages in the thread once the reply is complete (or after 20 s)."""
    for _ in range(1000):
        messages = slack.bot_messages(channel, thread_ts)
        if (
            messages
            and all(m.stream_state in (None, "stopped") for m in messages)
            and ANSWER in messages[0].text
        ):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # anything posted twice would show up by now
    return slack.bot_texts(channel, thread_ts)


@pytest.mark.parametrize(
    "point", ["after_claim", "after_model_answered", "after_first_post", "before_done"]
)
async def test_sigkill_then_restart_gives_one_complete_reply(
    point: str, tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    openai_emulator.model = slow_model
    doomed = await start(tmp_path, openai_emulator, slack_emulator, THREADBRIDGE_FAILPOINT=point)
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> tell me everything")
    payload = event_callback(event)
    await slack_emulator.socket_send_event(payload)
    _, err = await asyncio.wait_for(doomed.communicate(), 30)
    assert doomed.returncode == -signal.SIGKILL, err.decode()[-3000:]
    before = slack_emulator.bot_messages("C0001", event["ts"])
    if point == "after_claim":
        assert before == []
    else:
        # The reply had started (and, before_done, was complete) when the process died.
        assert len(before) == 1
        assert (before[0].text == ANSWER) == (point == "before_done")

    survivor = await start(tmp_path, openai_emulator, slack_emulator)
    try:
        if point == "after_claim":
            # The dead process never acked, so Slack delivers the event again.
            envelope = await slack_emulator.socket_send_event(
                payload, retry_attempt=1, retry_reason="timeout"
            )
            await slack_emulator.wait_ack(envelope, 10)
        texts = await finished_texts(slack_emulator, "C0001", event["ts"])
    finally:
        survivor.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(survivor.communicate(), 60)
    log = err.decode()
    assert texts == [ANSWER], log[-3000:]
    assert survivor.returncode == 0, log[-3000:]
    if point != "after_claim":
        # Completed in place: the message the dead process posted is the reply.
        [message] = slack_emulator.bot_messages("C0001", event["ts"])
        assert message.ts == before[0].ts
    # The model is asked again only if the dead process's answer was cut off mid-stream.
    asked = len(openai_emulator.responses_requests())
    assert asked == (2 if point == "after_first_post" else 1)


async def test_with_background_responses_the_answer_keeps_going_and_is_streamed_on(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    openai_emulator.model = slow_model
    background = {"THREADBRIDGE_BACKGROUND_RESPONSES": "true"}
    doomed = await start(
        tmp_path,
        openai_emulator,
        slack_emulator,
        THREADBRIDGE_FAILPOINT="after_first_post",
        **background,
    )
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> tell me everything")
    await slack_emulator.socket_send_event(event_callback(event))
    await asyncio.wait_for(doomed.communicate(), 30)
    assert doomed.returncode == -signal.SIGKILL

    survivor = await start(tmp_path, openai_emulator, slack_emulator, **background)
    try:
        texts = await finished_texts(slack_emulator, "C0001", event["ts"])
    finally:
        survivor.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(survivor.communicate(), 60)
    assert texts == [ANSWER], err.decode()[-3000:]
    [request] = openai_emulator.responses_requests()  # asked once: the rest was streamed
    assert request.body["background"] is True
    streamed_again = [
        r for r in openai_emulator.requests if r.method == "GET" and "/v1/responses/" in r.path
    ]
    assert streamed_again
