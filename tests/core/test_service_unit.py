"""The service against a scripted engine (no HTTP): what the sink gets for each kind of
engine event, and what the store keeps. The scenario tier is test_service.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bot.config import CoreSettings, load_settings
from bot.models import (
    ApprovalRequest,
    Done,
    EngineEvent,
    Failed,
    FileReady,
    Notice,
    OutFile,
    PostedRefs,
    Progress,
    Started,
    TextDelta,
    ThreadKey,
    Usage,
    UserMessage,
)
from bot.service import Service
from bot.store import Store, ThreadRow
from bot.tools import ToolContext
from tests.helpers import RecordingReplier, RecordingSink, inbound, key


class ScriptedEngine:
    """Answers every turn with the same events; records what it was asked."""

    def __init__(self, events: Sequence[EngineEvent]) -> None:
        self.events = list(events)
        self.asked: list[list[str]] = []
        self.cancelled: list[str | None] = []
        self.hold: asyncio.Event | None = None  # set: the turn waits here after its events
        self.ask: tuple[str, str, str] | None = None  # (call id, name, arguments) to approve
        self.decisions: list[str] = []

    async def turn(
        self,
        *,
        thread: ThreadRow,
        messages: Sequence[UserMessage],
        context: ToolContext,
        resume_response: str | None = None,
        stopped: Any = None,
        approve: Any = None,
    ) -> AsyncIterator[EngineEvent]:
        self.asked.append([m.text for m in messages])
        for event in self.events:
            yield event
        if self.ask is not None and approve is not None:
            self.decisions.append(await approve("function", *self.ask))
        if self.hold is not None:
            await self.hold.wait()

    def start(self) -> None:
        return None

    def pool_after(self) -> float | None:
        return None

    def pool_taken(self) -> None:
        return None

    async def cancel(self, response_id: str | None) -> None:
        self.cancelled.append(response_id)

    def describe(self, name: str | None = None) -> list[str]:
        return ["scripted"]


async def make_service(tmp_path: Path, engine: ScriptedEngine) -> tuple[Service, Any, Store]:
    settings = load_settings(
        CoreSettings,
        _env_file=None,
        OPENAI_API_KEY="sk-unit-test-123",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unit.db'}",
    )
    url, connect_args = settings.store_url
    store = await Store.open(url, connect_args=connect_args)
    replier = RecordingReplier()
    service = Service(store=store, engine=engine, settings=settings, repliers={"test": replier})
    return service, replier, store


async def test_each_engine_event_reaches_the_sink_and_the_turn_is_stored(
    tmp_path: Path,
) -> None:
    image = OutFile(name="a.png", mime_type="image/png", data=b"png")
    engine = ScriptedEngine(
        [
            Progress("s1", "code", "Running code"),
            TextDelta("Hello "),
            Notice("a note"),
            FileReady(image),
            TextDelta("world"),
            Done(usage=Usage(7, 3), model="m1"),
        ]
    )
    service, replier, store = await make_service(tmp_path, engine)
    try:
        await service.submit(inbound("hi"))
        await service.drain()
        [reply] = replier.replies
        assert (reply.text, reply.notices, reply.files, reply.error) == (
            "Hello world",
            ["a note"],
            [image],
            None,
        )
        assert [s.label for s in reply.steps] == ["Running code"]
        assert engine.asked == [["hi"]]
        thread = await store.find_thread(key())
        assert thread is not None
        assert [t.status for t in await store.turns_of(thread.id)] == ["done"]
        rows = await store.usage_rows()
        assert [(r["input_tokens"], r["output_tokens"], r["model"]) for r in rows] == [(7, 3, "m1")]
        assert service.describe_assistant() == ["scripted"]
    finally:
        await service.stop(budget=1)
        await store.close()


async def test_a_failed_engine_turn_is_a_short_error_and_a_failed_turn(tmp_path: Path) -> None:
    engine = ScriptedEngine([TextDelta("par"), Failed(message="It broke.", ref="abc123")])
    service, replier, store = await make_service(tmp_path, engine)
    try:
        await service.submit(inbound("hi"))
        await service.drain()
        [reply] = replier.replies
        assert (reply.text, reply.error) == ("par", "It broke. (ref abc123)")
        thread = await store.find_thread(key())
        assert thread is not None
        [turn] = await store.turns_of(thread.id)
        assert turn.status == "failed" and turn.ref == "abc123"
    finally:
        await service.stop(budget=1)
        await store.close()


async def test_stop_checks_the_channel_and_the_user_then_interrupts_the_wait(
    tmp_path: Path,
) -> None:
    engine = ScriptedEngine([Started("resp_1"), TextDelta("Half an ans")])
    engine.hold = asyncio.Event()  # the model goes quiet after these
    service, replier, store = await make_service(tmp_path, engine)
    try:
        await service.submit(inbound("hi"))
        for _ in range(100):
            if replier.replies and replier.replies[0].text:
                break
            await asyncio.sleep(0.01)
        thread = await store.find_thread(key())
        assert thread is not None
        [turn] = await store.turns_of(thread.id)
        elsewhere = ThreadKey("test", "T1", "other-channel", "x")
        assert await service.stop_turn(turn.id, key=elsewhere, user_id="U1") == "unknown"
        assert await service.stop_turn(turn.id + 99, key=key(), user_id="U1") == "unknown"
        assert await service.stop_turn(turn.id, key=key(), user_id="U-other") == "not_allowed"
        assert await service.stop_turn(turn.id, key=key(), user_id="U1") == "stopped"
        await service.drain()
        [reply] = replier.replies
        assert reply.text == "Half an ans\n\n_(stopped)_" and reply.error is None
        assert engine.cancelled == ["resp_1"]
        assert [t.status for t in await store.turns_of(thread.id)] == ["stopped"]
        # Late: the turn is over.
        assert await service.stop_turn(turn.id, key=key(), user_id="U1") == "finished"
        # Feedback only on this channel's finished turns.
        assert await service.record_feedback(turn.id, key=elsewhere, user_id="U1", value="up") == (
            "unknown"
        )
        assert await service.record_feedback(turn.id, key=key(), user_id="U1", value="up") == (
            "recorded"
        )
    finally:
        await service.stop(budget=1)
        await store.close()


async def approval_asked(replier: RecordingReplier) -> tuple[Any, ApprovalRequest]:
    """The one reply, once it shows its approval request (and that request)."""
    for _ in range(200):
        if replier.replies and replier.replies[0].asked:
            break
        await asyncio.sleep(0.01)
    [reply] = replier.replies
    [request] = reply.asked
    return reply, request


async def test_an_approval_is_decided_once_by_the_asker_in_its_channel(tmp_path: Path) -> None:
    engine = ScriptedEngine([TextDelta("Let me check.")])
    engine.ask = ("call_1", "delete_file", '{"name": "a"}')
    service, replier, store = await make_service(tmp_path, engine)
    try:
        await service.submit(inbound("hi"))
        reply, request = await approval_asked(replier)
        assert (request.kind, request.name, request.arguments) == (
            "function",
            "delete_file",
            '{"name": "a"}',
        )
        elsewhere = ThreadKey("test", "T1", "other-channel", "x")
        decide = service.decide_approval
        approval = request.approval_id
        assert await decide(approval, key=elsewhere, user_id="U1", approve=True) == "unknown"
        assert await decide(approval + 7, key=key(), user_id="U1", approve=True) == "unknown"
        assert await decide(approval, key=key(), user_id="U2", approve=True) == "not_allowed"
        assert await decide(approval, key=key(), user_id="U1", approve=False) == "denied"
        # A second click (or a replayed payload) changes nothing.
        assert await decide(approval, key=key(), user_id="U1", approve=True) == "decided"
        await service.drain()
        assert engine.decisions == ["denied"]
        assert reply.decided == [(approval, "denied", "U1")]
        row = await store.approval(approval)
        assert row is not None and (row.status, row.decided_by) == ("denied", "U1")
    finally:
        await service.stop(budget=1)
        await store.close()


class SlowFinishSink(RecordingSink):
    """Holds the reply's last post until `release` is set."""

    def __init__(self, inner: RecordingSink, posting: asyncio.Event, release: asyncio.Event):
        super().__init__(inner.reply, inner.on_posted)
        self.posting, self.release = posting, release

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        self.posting.set()
        await self.release.wait()
        return await super().finish(error=error)


class SlowFinishReplier(RecordingReplier):
    def __init__(self) -> None:
        super().__init__()
        self.posting, self.release = asyncio.Event(), asyncio.Event()

    async def open_reply(self, **kwargs: Any) -> SlowFinishSink:
        return SlowFinishSink(await super().open_reply(**kwargs), self.posting, self.release)


async def test_a_stop_while_the_whole_answer_is_posted_is_too_late(tmp_path: Path) -> None:
    engine = ScriptedEngine(
        [Started("resp_1"), TextDelta("The whole answer."), Done(usage=Usage(3, 4), model="m1")]
    )
    service, _, store = await make_service(tmp_path, engine)
    replier = SlowFinishReplier()
    service.register("test", replier)
    try:
        await service.submit(inbound("hi"))
        await asyncio.wait_for(replier.posting.wait(), 5)
        thread = await store.find_thread(key())
        assert thread is not None
        [turn] = await store.turns_of(thread.id)
        assert await service.stop_turn(turn.id, key=key(), user_id="U1") == "finished"
        replier.release.set()
        await service.drain()
        [reply] = replier.replies
        assert reply.text == "The whole answer." and reply.error is None
        assert [t.status for t in await store.turns_of(thread.id)] == ["done"]
        assert engine.cancelled == []
    finally:
        await service.stop(budget=1)
        await store.close()


async def test_an_approval_clicked_on_another_process_reaches_the_turn(
    tmp_path: Path,
) -> None:
    # Two processes on one database: the click lands on the one not running the turn.
    engine = ScriptedEngine([TextDelta("Let me check.")])
    engine.ask = ("call_1", "delete_file", '{"name": "a"}')
    running, replier, store = await make_service(tmp_path, engine)
    other, _, other_store = await make_service(tmp_path, ScriptedEngine([]))
    try:
        await running.submit(inbound("hi"))
        reply, request = await approval_asked(replier)
        decided = await other.decide_approval(
            request.approval_id, key=key(), user_id="U1", approve=True
        )
        assert decided == "approved"
        await running.drain()
        assert engine.decisions == ["approved"]
        assert reply.decided == [(request.approval_id, "approved", "U1")]
    finally:
        for service, db in ((running, store), (other, other_store)):
            await service.stop(budget=1)
            await db.close()
