"""Upstream failures as a user meets them: a clear short message in the thread, no
pointless retries, and a thread that keeps working."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

import pytest

from bot.models import Attachment, Failed, TextDelta, UserMessage
from bot.tools import ToolContext
from tests.emulators.openai import Reply
from tests.helpers import RecordingReplier, RecordingSink, inbound, key


async def turn_statuses(core: Any) -> list[str]:
    thread = await core.store.find_thread(key())
    assert thread is not None
    return [t.status for t in await core.store.turns_of(thread.id)]


async def test_conversations_mode_on_a_server_without_conversations_says_misconfigured(
    make_core: Any, openai_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    openai_emulator.conversations_enabled = False
    core = await make_core()
    with caplog.at_level(logging.ERROR, logger="bot.engine"):
        await core.service.submit(inbound("hello"))
        await core.service.drain()
    error = core.replier.replies[0].error
    assert error is not None
    assert error.startswith("The assistant is misconfigured: its server has no Conversations API.")
    assert "(ref " in error
    assert "THREADBRIDGE_CONVERSATION_MODE=stateless" in caplog.text
    assert openai_emulator.responses_requests() == []


async def test_a_refused_request_shows_the_servers_reason_and_is_sent_once(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(OPENAI_MAX_RETRIES=2)
    openai_emulator.script(
        Reply(status=400, error_message="image input is not supported <!channel> & more"),
        Reply(text="fine again"),
    )
    await core.service.submit(inbound("look"))
    await core.service.drain()
    error = core.replier.replies[0].error
    assert error is not None
    # The reason as the server gave it; the sinks escape it for their platform.
    assert error.startswith(
        "The assistant's server refused this request: image input is not supported "
        "<!channel> & more (ref "
    )
    assert len(openai_emulator.responses_requests()) == 1
    await core.service.submit(inbound("again"))
    await core.service.drain()
    assert core.replier.replies[1].text == "fine again"


async def test_a_long_reason_is_shortened_to_one_line(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core()
    openai_emulator.script(Reply(status=422, error_message="bad\n\n" + "word " * 200))
    await core.service.submit(inbound("x"))
    await core.service.drain()
    error = core.replier.replies[0].error
    assert error is not None and "\n" not in error
    reason = error.split(": ", 1)[1].rsplit(" (ref ", 1)[0]
    assert reason.startswith("bad word word") and reason.endswith("…") and len(reason) <= 200


async def test_a_server_error_repeated_word_for_word_is_not_retried_again(
    make_core: Any, openai_emulator: Any
) -> None:
    """llama.cpp's server answers 500 for an image it cannot read, every time."""
    core = await make_core(OPENAI_MAX_RETRIES=3)
    refusal = "image input is not supported - hint: you may need to provide the mmproj"
    openai_emulator.model = lambda req: Reply(status=500, error_message=refusal, retry_after_ms=1)
    await core.service.submit(inbound("look"))
    await core.service.drain()
    error = core.replier.replies[0].error
    assert error is not None
    assert error.startswith(f"The assistant's server failed: {refusal} (ref ")
    assert len(openai_emulator.responses_requests()) == 2  # the first try, and one retry


async def test_a_transient_server_error_is_retried(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(OPENAI_MAX_RETRIES=2)
    openai_emulator.script(Reply(status=503, retry_after_ms=1), Reply(text="made it"))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    assert (core.replier.replies[0].text, core.replier.replies[0].error) == ("made it", None)
    assert len(openai_emulator.responses_requests()) == 2


@pytest.mark.parametrize("background", [False, True])
async def test_a_stalled_stream_ends_the_turn_and_leaves_the_conversation_usable(
    make_core: Any, openai_emulator: Any, background: bool
) -> None:
    core = await make_core(
        THREADBRIDGE_STREAM_IDLE_TIMEOUT=0.3,
        OPENAI_TIMEOUT=30,
        OPENAI_MAX_RETRIES=0,
        THREADBRIDGE_BACKGROUND_RESPONSES=background,
        THREADBRIDGE_LOCKED_RETRY_SECONDS=0,
    )
    # One delta, then nothing for ten seconds: far less than OPENAI_TIMEOUT.
    openai_emulator.script(
        Reply(text="one two", chunk_chars=4, tokens_per_second=0.1), Reply(text="back")
    )
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "one "
    assert reply.error is not None
    assert reply.error.startswith("The model stopped answering (nothing for 0.3 seconds).")
    assert await turn_statuses(core) == ["failed"]
    # Not locked: the next message is answered at once (no locked retries allowed).
    await core.service.submit(inbound("again?"))
    await core.service.drain()
    assert (core.replier.replies[1].text, core.replier.replies[1].error) == ("back", None)
    if background:
        assert any(r.path.endswith("/cancel") for r in openai_emulator.requests)


async def test_check_finds_the_model_in_the_list_where_get_model_is_missing(
    make_core: Any, openai_emulator: Any
) -> None:
    """llama.cpp's server has GET /v1/models but not GET /v1/models/{id}."""
    openai_emulator.compat = "llama.cpp"
    openai_emulator.llama_model = "tiny-model"
    core = await make_core(THREADBRIDGE_CONVERSATION_MODE="stateless", OPENAI_MODEL="tiny-model")
    results = await core.engine.check()
    assert [(r.name, r.ok) for r in results] == [("OpenAI model", True)]
    missing = await make_core(THREADBRIDGE_CONVERSATION_MODE="stateless", OPENAI_MODEL="other")
    [result] = await missing.engine.check()
    assert (result.ok, result.detail) == (False, "OPENAI_MODEL 'other' does not exist here")


async def test_conversations_mode_against_llama_cpp_says_misconfigured(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core()
    await core.service.submit(inbound("hello"))
    await core.service.drain()
    error = core.replier.replies[0].error
    assert error is not None and error.startswith("The assistant is misconfigured")


async def test_an_image_a_compatible_server_cannot_read_shows_its_reason(
    make_core: Any, openai_emulator: Any
) -> None:
    """llama.cpp without --mmproj: 500 with the same reason every time."""
    openai_emulator.compat = "llama.cpp"
    core = await make_core(THREADBRIDGE_CONVERSATION_MODE="stateless", OPENAI_MAX_RETRIES=2)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20

    async def download(_limit: int) -> bytes:
        return png

    picture = Attachment("dot.png", "image/png", len(png), download)
    await core.service.submit(dataclasses.replace(inbound("see"), attachments=(picture,)))
    await core.service.drain()
    error = core.replier.replies[0].error
    assert error is not None
    assert error.startswith("The assistant's server failed: image input is not supported")
    assert len(openai_emulator.responses_requests()) == 2
    # The thread stays usable for text.
    await core.service.submit(inbound("just text then"))
    await core.service.drain()
    assert core.replier.replies[1].error is None


class SlowSink(RecordingSink):
    """A platform that takes its time with every delta (slower than the idle timeout)."""

    async def text(self, delta: str) -> None:
        await asyncio.sleep(0.25)
        await super().text(delta)


class SlowReplier(RecordingReplier):
    async def open_reply(self, **kwargs: Any) -> SlowSink:
        inner = await super().open_reply(**kwargs)
        return SlowSink(inner.reply, inner.on_posted)


async def test_the_idle_timeout_counts_only_the_wait_for_the_model(
    make_core: Any, openai_emulator: Any
) -> None:
    # Deltas come every 0.1 s; each takes the sink 0.25 s: the stream waits in its
    # socket meanwhile. Time in the sink is not the model going quiet.
    core = await make_core(THREADBRIDGE_STREAM_IDLE_TIMEOUT=0.2)
    replier = SlowReplier()
    core.service.register("test", replier)
    openai_emulator.script(Reply(text="one two three four", chunk_chars=4, tokens_per_second=10))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    [reply] = replier.replies
    assert (reply.text, reply.error) == ("one two three four", None)
    assert await turn_statuses(core) == ["done"]


async def test_a_stall_is_seen_when_each_event_is_awaited_in_a_task_of_its_own(
    make_core: Any, openai_emulator: Any
) -> None:
    # On Python 3.11 `asyncio.wait_for` runs what it waits for in a new task: the idle
    # watch must follow the task that waits, not the first one.
    core = await make_core(THREADBRIDGE_STREAM_IDLE_TIMEOUT=0.3, OPENAI_MAX_RETRIES=0)
    openai_emulator.script(Reply(text="one two", chunk_chars=4, tokens_per_second=0.1))
    thread = await core.store.ensure_thread(key())
    events = core.engine.turn(
        thread=thread,
        messages=[UserMessage("hi", "U1")],
        context=ToolContext(thread=key(), user_id="U1", user_name=None),
    )
    seen: list[Any] = []
    async with contextlib.aclosing(events):
        while True:
            try:
                seen.append(await asyncio.wait_for(anext(events), 20))
            except StopAsyncIteration:
                break
    texts = [e.text for e in seen if isinstance(e, TextDelta)]
    failures = [e for e in seen if isinstance(e, Failed)]
    assert texts == ["one "]
    assert [f.message for f in failures] == [
        "The model stopped answering (nothing for 0.3 seconds). Please try again."
    ]
