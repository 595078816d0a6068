"""A turn a dead process left open is finished by the next one, in place.

A "dead process" here is a core whose service was stopped with a tiny budget while
its turn was at a given point (the way SIGTERM's budget cuts a turn off); the
SIGKILL versions with real processes are in tests/slack/test_crash.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bot.models import OnPosted, ThreadKey
from bot.service import GAVE_UP
from tests.dbs import database_url
from tests.emulators.openai import Reply
from tests.helpers import RecordingReplier, RecordingSink, inbound, key

__all__ = ["database_url"]  # every test here runs on SQLite and on PostgreSQL

LEASE = 0.5


class StallingSink(RecordingSink):
    """Shows the first text (so it counts as posted), then hangs like a dying process."""

    async def text(self, delta: str) -> None:
        await super().text(delta)
        await asyncio.Event().wait()


class StallingReplier:
    def __init__(self, inner: RecordingReplier) -> None:
        self.inner = inner

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> StallingSink:
        sink = await self.inner.open_reply(
            key=key, anchor=anchor, posted=posted, on_posted=on_posted
        )
        return StallingSink(sink.reply, sink.on_posted)


async def cut_off(core: Any) -> None:
    """Let the turn reach its point, then stop the process without letting it finish."""
    await asyncio.sleep(0.4)
    assert await core.service.stop(budget=0.05) is False
    await asyncio.sleep(LEASE + 0.1)  # its lease runs out


async def next_process(make_core: Any, replier: RecordingReplier) -> Any:
    core = await make_core(THREADBRIDGE_LEASE_SECONDS=LEASE)
    core.service.register("test", replier)
    await core.service.start()
    await asyncio.sleep(0.2)
    await core.service.drain()
    return core


async def test_a_finished_answer_is_fetched_not_asked_again(
    make_core: Any, openai_emulator: Any
) -> None:
    replier = RecordingReplier()
    first = await make_core(THREADBRIDGE_LEASE_SECONDS=LEASE)
    first.service.register("test", StallingReplier(replier))
    await first.service.submit(inbound("what is two and two"))
    await cut_off(first)
    thread = await first.store.find_thread(key())
    assert thread is not None
    [turn] = await first.store.turns_of(thread.id)
    assert turn.status == "posting" and turn.response_id is not None
    assert len(replier.replies) == 1 and not replier.replies[0].finished

    second = await next_process(make_core, replier)
    # One reply, completed where the first attempt had started it.
    assert [(r.text, r.finished, r.resumed) for r in replier.replies] == [
        ("echo: what is two and two", True, 1)
    ]
    assert len(openai_emulator.responses_requests()) == 1  # read back, not asked again
    conversation = openai_emulator.conversations[thread.conversation_id]
    asked = [i for i in conversation.items if i.get("role") == "user"]
    assert len(asked) == 1
    [turn] = await second.store.turns_of(thread.id)
    assert (turn.status, turn.attempts, turn.posted) == ("done", 2, [replier.replies[0].posted_id])
    usage = await second.store.usage_rows()
    assert len(usage) == 1  # the answer's tokens are counted once


async def test_an_answer_cut_off_mid_stream_is_asked_again_and_completed_in_place(
    make_core: Any, openai_emulator: Any
) -> None:
    replier = RecordingReplier()
    first = await make_core(THREADBRIDGE_LEASE_SECONDS=LEASE)
    first.service.register("test", StallingReplier(replier))
    openai_emulator.script(
        Reply(text="a long answer that streams slowly", chunk_chars=2, tokens_per_second=10)
    )
    await first.service.submit(inbound("tell me a story"))
    await cut_off(first)
    assert replier.replies[0].text  # the first part was shown

    second = await next_process(make_core, replier)
    assert [(r.text, r.finished) for r in replier.replies] == [("echo: tell me a story", True)]
    assert len(openai_emulator.responses_requests()) == 2  # the cut-off one was cancelled
    thread = await second.store.find_thread(key())
    conversation = openai_emulator.conversations[thread.conversation_id]
    roles = [i.get("role") for i in conversation.items]
    assert roles == ["user", "assistant"]


async def test_a_turn_interrupted_twice_is_given_up_with_a_message(
    make_core: Any, openai_emulator: Any
) -> None:
    replier = RecordingReplier()
    openai_emulator.model = lambda req: Reply(text="never finishes", ttft=30)
    first = await make_core(THREADBRIDGE_LEASE_SECONDS=LEASE)
    first.service.register("test", replier)
    await first.service.submit(inbound("doomed"))
    await cut_off(first)

    second = await make_core(THREADBRIDGE_LEASE_SECONDS=LEASE)
    second.service.register("test", replier)
    await second.service.start()
    await cut_off(second)

    third = await next_process(make_core, replier)
    assert [r.error for r in replier.replies if r.finished] == [GAVE_UP]
    thread = await third.store.find_thread(key())
    assert thread is not None
    [turn] = await third.store.turns_of(thread.id)
    assert (turn.status, turn.attempts) == ("failed", 3)

    # The thread is still usable.
    openai_emulator.model = None
    await third.service.submit(inbound("try again"))
    await third.service.drain()
    assert replier.replies[-1].text == "echo: try again"


class BreakingSink(RecordingSink):
    """Posts the first text, then the platform fails at the end of the reply."""

    async def finish(self, *, error: str | None = None) -> Any:
        raise RuntimeError("platform down")


class BreakingReplier(StallingReplier):
    async def open_reply(self, **kwargs: Any) -> BreakingSink:
        sink = await self.inner.open_reply(**kwargs)
        return BreakingSink(sink.reply, sink.on_posted)


async def test_a_reply_that_breaks_off_keeps_what_was_posted_on_record(
    make_core: Any, openai_emulator: Any
) -> None:
    replier = RecordingReplier()
    core = await make_core()
    core.service.register("test", BreakingReplier(replier))
    await core.service.submit(inbound("hello"))
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None
    [turn] = await core.store.turns_of(thread.id)
    assert turn.status == "failed"
    assert turn.posted == [replier.replies[0].posted_id]  # the message the user has
    assert turn.response_id is not None
    assert replier.replies[0].closed  # the sink was told to end what it had running
