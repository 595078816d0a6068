"""The answer stream as the engine reads it (the SDK's typed stream, see bot/engine/turn.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import openai
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
)

from bot.engine.stream import EventStream
from bot.models import OnPosted, ThreadKey
from tests.emulators.openai import Reply
from tests.helpers import RecordingReplier, RecordingSink, inbound, key


class SignallingSink(RecordingSink):
    def __init__(self, inner: RecordingSink, first_text: asyncio.Event) -> None:
        super().__init__(inner.reply, inner.on_posted)
        self.first_text = first_text

    async def text(self, delta: str) -> None:
        await super().text(delta)
        self.first_text.set()


class SignallingReplier(RecordingReplier):
    """Sets `first_text` when a reply shows its first text."""

    def __init__(self) -> None:
        super().__init__()
        self.first_text = asyncio.Event()

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> RecordingSink:
        sink = await super().open_reply(key=key, anchor=anchor, posted=posted, on_posted=on_posted)
        return SignallingSink(sink, self.first_text)


async def turn_statuses(core: Any) -> list[str]:
    thread = await core.store.find_thread(key())
    assert thread is not None
    return [t.status for t in await core.store.turns_of(thread.id)]


async def test_an_event_type_the_sdk_does_not_know_is_skipped(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(
        Reply(
            text="still answered",
            extra_events=[
                # Newer than the SDK: no model for it.
                {"type": "response.hologram.delta", "output_index": 0, "delta": "zap"},
                # Known, but missing its required fields: built without validation.
                {"type": "response.reasoning_summary_text.delta"},
            ],
        )
    )
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "still answered"
    assert reply.error is None and reply.notices == []
    assert await turn_statuses(core) == ["done"]


async def test_an_error_event_fails_the_turn_after_the_text_so_far(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="half an answ", stream_error="backend hiccup"))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "half an answ"
    assert reply.error is not None
    assert reply.error.startswith("The model stream broke off. Please try again. (ref ")
    assert "hiccup" not in reply.error
    assert await turn_statuses(core) == ["failed"]


async def test_an_event_carrying_an_error_object_fails_the_turn_like_the_sdk(
    make_core: Any, openai_emulator: Any
) -> None:
    # The SDK's typed stream raises APIError for such data before building any model.
    core = await make_core()
    openai_emulator.script(
        Reply(
            text="never shown at all",
            ttft=0.5,
            extra_events=[{"type": "error", "error": {"message": "gone"}}],
        )
    )
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == ""
    assert reply.error is not None
    assert reply.error.startswith("Sorry, something went wrong while answering. (ref ")
    assert await turn_statuses(core) == ["failed"]
    # The stream was closed at once, not read to its end: the response was cancelled
    # (the emulator sees the closed connection a moment later).
    [response] = openai_emulator.response_objects.values()
    for _ in range(100):
        if response["status"] != "in_progress":
            break
        await asyncio.sleep(0.02)
    assert response["status"] == "cancelled"


async def test_a_turn_cut_off_mid_stream_closes_the_stream(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    replier = SignallingReplier()
    core.service.register("test", replier)
    openai_emulator.script(Reply(text="one two three four five six", tokens_per_second=4))
    await core.service.start()
    await core.service.submit(inbound("hi"))
    async with asyncio.timeout(5):
        await replier.first_text.wait()
    assert await core.service.stop(budget=0.05) is False
    # The emulator saw the client go away: the (foreground) response was cancelled.
    await openai_emulator.wait_idle(within=2)
    [response] = openai_emulator.response_objects.values()
    assert response["status"] == "cancelled"
    assert not replier.replies[0].text.endswith("six")


async def test_a_connection_lost_mid_answer_fails_the_turn_with_a_short_message(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(openai_max_retries=0)
    # created, in_progress, item added, part added, then two deltas: "one ", "two "
    openai_emulator.script(Reply(text="one two three four", chunk_chars=4, cut_after_events=6))
    openai_emulator.script(Reply(text="back again"))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "one two "
    assert reply.error is not None
    assert reply.error.startswith("The assistant could not be reached. Please try again. (ref ")
    assert await turn_statuses(core) == ["failed"]
    # The thread stays usable.
    await core.service.submit(inbound("again?"))
    await core.service.drain()
    assert core.replier.replies[1].text == "back again"
    assert await turn_statuses(core) == ["failed", "done"]


async def test_a_stream_that_stalls_past_the_read_timeout_fails_the_turn(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(openai_timeout=0.3, openai_max_retries=0)
    openai_emulator.script(Reply(text="one two", chunk_chars=4, tokens_per_second=1))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "one "
    assert reply.error is not None
    assert reply.error.startswith("The assistant took too long to answer. Please try again.")
    assert await turn_statuses(core) == ["failed"]


async def test_the_engines_stream_builds_the_same_events_as_the_sdks_own(
    openai_emulator: Any,
) -> None:
    """`EventStream` (pydantic's tagged union) gives the SDK's event classes with the
    same fields as the SDK's default stream, for known, odd and unknown events."""
    reply = Reply(
        text="same events",
        function_calls=[("lookup", {"q": "x"})],
        image_b64=base64.b64encode(b"\x89PNG fake").decode(),
        extra_events=[
            {"type": "response.hologram.delta", "output_index": 0, "delta": "zap"},
            {"type": "response.reasoning_summary_text.delta"},
            {"type": "response.output_text.delta", "delta": "no item id"},
        ],
    )

    async def events(to: type[Any] | None) -> list[tuple[type[Any], dict[str, Any]]]:
        openai_emulator.script(reply)
        async with openai.AsyncOpenAI(
            base_url=openai_emulator.base_url, api_key="sk-test", max_retries=0
        ) as client:
            raw = await client.responses.with_raw_response.create(
                model="gpt-test", input="hi", stream=True
            )
            stream = raw.parse(to=to) if to is not None else raw.parse()
            got = [(type(e), e.model_dump(exclude={"sequence_number"})) async for e in stream]
        # Ids and times differ between the two responses.
        return [(cls, _without_ids(body)) for cls, body in got]

    # Ours first: the SDK caches what it learns of the union when it builds an event that
    # fails validation, and that would hide a fallback of ours that lacked it.
    ours = await events(EventStream)
    sdk = await events(None)
    assert [cls for cls, _ in ours] == [cls for cls, _ in sdk]
    assert ours == sdk
    classes = {cls for cls, _ in ours}
    assert {ResponseTextDeltaEvent, ResponseCompletedEvent, ResponseOutputItemDoneEvent} <= classes
    assert len(ours) > 10


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_ids(v)
            for k, v in value.items()
            if k not in {"id", "item_id", "call_id", "created_at", "completed_at", "response_id"}
        }
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value
