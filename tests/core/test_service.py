"""Whole turns through service -> engine -> real openai SDK -> emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

import openai

from bot.models import Context, ContextMessage, ThreadKey
from bot.store import Start
from tests.dbs import database_url
from tests.emulators.openai import Reply
from tests.helpers import RecordingReplier, inbound, key, model_input

__all__ = ["database_url"]  # every test here runs on SQLite and on PostgreSQL


def responses(emulator: Any) -> list[Any]:
    return emulator.responses_requests()


async def test_first_turn_creates_conversation_then_one_request_per_turn(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=0)  # (the pool: test_pool.py)
    assert await core.service.submit(inbound("hello there"))
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None and thread.conversation_id is not None
    assert thread.conversation_id.startswith("conv_")
    assert [r.text for r in core.replier.replies] == ["echo: hello there"]
    paths = [(r.method, r.path) for r in openai_emulator.requests]
    assert paths == [("POST", "/v1/conversations"), ("POST", "/v1/responses")]

    await core.service.submit(inbound("second"))
    await core.service.drain()
    assert core.replier.replies[-1].text == "echo: second"
    assert len(openai_emulator.requests) == 3
    last = responses(openai_emulator)[-1].body
    assert last["conversation"] in (thread.conversation_id, {"id": thread.conversation_id})
    assert last["stream"] is True
    assert last["model"] == "test-model"
    assert last["instructions"] == core.settings.instructions
    # The conversation on the server holds both exchanges.
    items = openai_emulator.conversations[thread.conversation_id].items
    assert sum(1 for i in items if i.get("role") == "user") == 2


async def test_usage_recorded_per_turn_user_and_thread(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="fine", usage=(11, 3)))
    await core.service.submit(inbound("how are you", user="U42"))
    await core.service.drain()
    rows = await core.store.usage_rows()
    thread = await core.store.find_thread(key())
    assert thread is not None
    assert [
        (r["user_id"], r["thread_id"], r["model"], r["input_tokens"], r["output_tokens"])
        for r in rows
    ] == [("U42", thread.id, "test-model", 11, 3)]
    turns = await core.store.turns_of(thread.id)
    assert [t.status for t in turns] == ["done"]
    assert turns[0].response_id is not None and turns[0].posted


async def test_same_event_twice_and_same_message_under_two_event_ids_is_one_turn(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    assert await core.service.submit(inbound("once", event_id="Ev1", message_id="10.1"))
    assert not await core.service.submit(inbound("once", event_id="Ev1", message_id="10.1"))
    assert not await core.service.submit(inbound("once", event_id="EvOther", message_id="10.1"))
    await core.service.drain()
    assert [r.text for r in core.replier.replies] == ["echo: once"]
    assert len(responses(openai_emulator)) == 1


async def test_five_messages_at_once_are_answered_in_order_without_overlap(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="first answer", ttft=0.2))
    # Submitted back to back (as a platform delivers them), none waits for a reply.
    results = [await core.service.submit(inbound(f"m{i}")) for i in range(5)]
    assert all(results)
    await core.service.drain()
    # The first is answered alone; the rest, queued meanwhile, go to the model in order.
    assert core.replier.replies[0].text == "first answer"
    assert all(r.error is None and r.text for r in core.replier.replies)
    sent = [
        part["text"]
        for request in responses(openai_emulator)
        for item in model_input(request.body)
        for part in item["content"]
    ]
    assert sent == ["m0", "m1", "m2", "m3", "m4"]
    assert len(core.replier.replies) == len(responses(openai_emulator))
    assert openai_emulator.overlaps == []
    spans = [(r.t_start, r.t_end) for r in responses(openai_emulator)]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


async def test_two_threads_run_concurrently(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="a", ttft=0.5), Reply(text="b", ttft=0.5))
    await core.service.submit(inbound("x", thread="A"))
    await core.service.submit(inbound("y", thread="B"))
    await core.service.drain()
    assert openai_emulator.max_concurrent_responses == 2
    assert sorted(r.text for r in core.replier.replies) == ["a", "b"]


async def test_server_error_then_success_gives_one_reply(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(status=500), Reply(text="recovered"))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    assert [(r.text, r.error) for r in core.replier.replies] == [("recovered", None)]
    assert len(responses(openai_emulator)) == 2


async def test_server_error_forever_shows_short_message_with_ref_and_thread_stays_usable(
    make_core: Any, openai_emulator: Any, caplog: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(status=500), Reply(status=500))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.error is not None and "(ref " in reply.error
    ref = reply.error.split("(ref ")[1].rstrip(")")
    assert len(reply.error) < 120
    assert ref in caplog.text
    await core.service.submit(inbound("again"))
    await core.service.drain()
    assert core.replier.replies[1].text == "echo: again"
    assert core.replier.replies[1].error is None


async def test_response_failed_event_shows_message_and_next_works(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="partial answ", fail="model crashed"))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    first = core.replier.replies[0]
    assert first.error is not None and "ref " in first.error
    assert "model crashed" not in first.error
    thread = await core.store.find_thread(key())
    assert thread is not None
    assert [t.status for t in await core.store.turns_of(thread.id)] == ["failed"]
    await core.service.submit(inbound("next"))
    await core.service.drain()
    assert core.replier.replies[1].text == "echo: next"


async def test_incomplete_response_is_answered_with_a_notice(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="long long", incomplete="max_output_tokens"))
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text.startswith("long")
    assert reply.notices == ["The reply was cut short (max output tokens)."]
    assert reply.error is None


async def test_conversation_locked_is_retried_not_shown(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    await core.service.submit(inbound("start"))
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None
    # Someone else (another process, a retry of ours) holds the conversation.
    client = openai.AsyncOpenAI(base_url=openai_emulator.base_url, api_key="sk-other")
    openai_emulator.script(Reply(text="other", ttft=0.6))
    holder = await client.responses.create(
        model="m", conversation=thread.conversation_id, input="hold", stream=True
    )
    consume = asyncio.create_task(_consume(holder))
    await asyncio.sleep(0.1)
    await core.service.submit(inbound("mine"))
    await core.service.drain()
    await consume
    await client.close()
    assert core.replier.replies[-1].text == "echo: mine"
    assert core.replier.replies[-1].error is None
    assert openai_emulator.overlaps  # the emulator did refuse at least once


async def _consume(stream: Any) -> None:
    async for _ in stream:
        pass


async def test_restart_continues_same_thread_with_same_conversation(
    make_core: Any, openai_emulator: Any
) -> None:
    first = await make_core(THREADBRIDGE_CONVERSATION_POOL=0)
    await first.service.submit(inbound("remember 42"))
    await first.service.drain()
    before = await first.store.find_thread(key())
    second = await make_core(THREADBRIDGE_CONVERSATION_POOL=0)  # same file, new objects
    await second.service.submit(inbound("what number?"))
    await second.service.drain()
    after = await second.store.find_thread(key())
    assert before is not None and after is not None
    assert after.conversation_id == before.conversation_id
    assert [r.path for r in openai_emulator.requests].count("/v1/conversations") == 1


async def test_stateless_mode_replays_history_from_the_store(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.conversations_enabled = False
    core = await make_core(THREADBRIDGE_CONVERSATION_MODE="stateless")
    openai_emulator.script(Reply(text="I am Ada"))
    await core.service.submit(inbound("who are you?"))
    await core.service.drain()
    await core.service.submit(inbound("say it again"))
    await core.service.drain()
    assert [r.error for r in core.replier.replies] == [None, None]
    assert all("conversations" not in r.path for r in openai_emulator.requests)
    second = responses(openai_emulator)[-1].body
    assert "conversation" not in second
    assert second["store"] is False
    assert model_input(second) == [
        {"type": "message", "role": "user", "content": "who are you?"},
        {"type": "message", "role": "assistant", "content": "I am Ada"},
        {"type": "message", "role": "user", "content": "say it again"},
    ]
    assert core.replier.replies[1].text == "echo: say it again"


async def test_a_deleted_conversation_is_replaced_and_the_thread_keeps_working(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    await core.service.submit(inbound("one"))
    await core.service.drain()
    before = await core.store.find_thread(key())
    assert before is not None and before.conversation_id
    del openai_emulator.conversations[before.conversation_id]
    await core.service.submit(inbound("two"))
    await core.service.drain()
    after = await core.store.find_thread(key())
    assert after is not None and after.conversation_id not in (None, before.conversation_id)
    assert [(r.text, r.error) for r in core.replier.replies] == [
        ("echo: one", None),
        ("echo: two", None),
    ]


async def test_daily_budget_stops_model_calls_for_that_user(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_DAILY_USER_TOKENS=10)
    openai_emulator.script(Reply(text="costly", usage=(8, 4)))
    await core.service.submit(inbound("first", user="U1"))
    await core.service.drain()
    await core.service.submit(inbound("second", user="U1"))
    await core.service.drain()
    await core.service.submit(inbound("mine", user="U2", thread="other"))
    await core.service.drain()
    first, second, other = core.replier.replies
    assert first.text == "costly"
    assert second.text == "" and second.notices == [
        "You have used today's assistant budget. It resets at midnight UTC."
    ]
    assert other.text == "echo: mine"
    assert len(openai_emulator.responses_requests()) == 2  # none for the over-budget message


async def test_workspace_budget(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(THREADBRIDGE_DAILY_WORKSPACE_TOKENS=5)
    openai_emulator.script(Reply(text="x", usage=(5, 1)))
    await core.service.submit(inbound("a", user="U1"))
    await core.service.drain()
    await core.service.submit(inbound("b", user="U2", thread="t2"))
    await core.service.drain()
    assert core.replier.replies[1].notices == [
        "This workspace has used today's assistant budget. It resets at midnight UTC."
    ]
    assert len(openai_emulator.responses_requests()) == 1


async def test_two_services_on_one_database_answer_each_message_once(
    make_core: Any, openai_emulator: Any
) -> None:
    """Two processes (own store, engine, service) sharing a database and the same events."""
    a, b = await make_core(), await make_core()
    openai_emulator.script(*(Reply(text=f"r{i}", ttft=0.1) for i in range(6)))
    for i in range(3):
        message = inbound(f"q{i}", thread="shared")
        await asyncio.gather(a.service.submit(message), b.service.submit(message))
        other = inbound(f"solo{i}", thread=f"t{i}")
        await asyncio.gather(a.service.submit(other), b.service.submit(other))
    for _ in range(50):
        await asyncio.gather(a.service.drain(), b.service.drain())
        if len(a.replier.replies) + len(b.replier.replies) >= 4 and not openai_emulator.in_flight:
            await asyncio.sleep(0.2)
            await asyncio.gather(a.service.drain(), b.service.drain())
            break
        await asyncio.sleep(0.1)
    replies = a.replier.replies + b.replier.replies
    assert all(r.error is None for r in replies)
    asked = [
        part["text"]
        for request in openai_emulator.responses_requests()
        for item in model_input(request.body)
        for part in item["content"]
    ]
    assert sorted(asked) == ["q0", "q1", "q2", "solo0", "solo1", "solo2"]  # each once
    assert openai_emulator.overlaps == []  # a thread's turns never overlapped


async def test_work_waits_for_its_adapter_to_register(make_core: Any, openai_emulator: Any) -> None:
    """After a restart, queued work may resume before the platform adapter is connected."""
    from bot.models import Inbound, ThreadKey
    from tests.helpers import RecordingReplier

    core = await make_core()
    late = RecordingReplier()
    message = Inbound(
        key=ThreadKey("late", "T1", "C1", "t1"),
        text="queued before the adapter",
        user_id="U1",
        event_id="EvLate",
        message_id="1.1",
        anchor="t1",
    )
    await core.service.submit(message)
    await asyncio.sleep(0.3)
    core.service.register("late", late)
    await core.service.drain()
    assert [r.text for r in late.replies] == ["echo: queued before the adapter"]


async def test_a_turn_cut_off_by_shutdown_is_answered_by_the_next_process(
    make_core: Any, openai_emulator: Any
) -> None:
    first = await make_core(THREADBRIDGE_LEASE_SECONDS=0.5)
    openai_emulator.script(Reply(text="too slow", ttft=5))
    await first.service.submit(inbound("long question"))
    await asyncio.sleep(0.3)
    assert await first.service.stop(budget=0.2) is False  # cut off, like SIGTERM's budget
    thread = await first.store.find_thread(key())
    assert thread is not None
    assert [t.status for t in await first.store.turns_of(thread.id)] == ["running"]
    assert not any(r.finished for r in first.replier.replies)

    await asyncio.sleep(0.6)  # the dead process's lease runs out
    second = await make_core(THREADBRIDGE_LEASE_SECONDS=0.5)
    await second.service.start()
    await asyncio.sleep(0.2)
    await second.service.drain()
    assert [(r.text, r.error) for r in second.replier.replies] == [("echo: long question", None)]
    turns = await second.store.turns_of(thread.id)
    assert [(t.status, t.attempts) for t in turns] == [("done", 2)]  # the same turn, resumed


async def test_messages_merged_into_one_turn_go_in_the_platforms_order(
    make_core: Any, openai_emulator: Any
) -> None:
    """A retried delivery arrives late: the turn still reads the messages as written."""
    core = await make_core()
    openai_emulator.script(Reply(text="first answer", ttft=0.5))
    await core.service.submit(inbound("opening", message_id="1700000000.000100"))
    await asyncio.sleep(0.1)  # its turn is running; the next two wait and merge
    await core.service.submit(inbound("written third", message_id="1700000003.000100"))
    await core.service.submit(inbound("written second", message_id="1700000002.000100"))
    await core.service.drain()
    merged = model_input(responses(openai_emulator)[-1].body)
    texts = [part["text"] for item in merged for part in item["content"]]
    assert texts == ["written second", "written third"]


class ContextReplier(RecordingReplier):
    """Reads "earlier messages" wherever a message's anchor is "history"."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, str | None]] = []

    async def read_context(self, *, key: ThreadKey, anchor: str, before: str | None) -> Context:
        self.reads.append((anchor, before))
        if anchor != "history":
            return Context()
        earlier = ContextMessage("Ann", "we said Friday", 1_700_000_000.0)
        return Context(messages=(earlier,))


async def test_the_context_is_read_from_the_first_messages_anchor_on_the_first_turn_only(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    replier = ContextReplier()
    core.service.register("test", replier)
    first = dataclasses.replace(inbound("what did we say?"), anchor="history")
    await core.service.submit(first)
    await core.service.drain()
    # A second message the adapter also took for a first one (two deliveries at once).
    again = dataclasses.replace(inbound("and the time?"), anchor="history")
    await core.service.submit(again)
    await core.service.drain()
    assert replier.reads == [("history", first.message_id)]
    inputs = [model_input(r.body) for r in responses(openai_emulator)]
    texts = [[part["text"] for item in i for part in item["content"]] for i in inputs]
    assert texts[0] == ["[Ann, 2023-11-14 22:13 UTC] we said Friday", "what did we say?"]
    assert texts[1] == ["and the time?"]


async def test_a_first_turn_resumed_after_a_crash_still_reads_the_thread(
    make_core: Any, openai_emulator: Any
) -> None:
    """A new thread's claim started its turn, then the process died: the turn that
    resumes it reads what was said before, as the first turn would have."""
    core = await make_core()
    replier = ContextReplier()
    core.service.register("test", replier)
    first = dataclasses.replace(inbound("what did we say?"), anchor="history")
    dead = Start(owner="dead-process", ttl=0.01)
    claimed = await core.store.claim(first, [], start=dead)
    assert claimed is not None and claimed.work is not None  # started, never run
    await asyncio.sleep(0.05)  # the dead process's lease runs out
    await core.service.sweep()
    await core.service.drain()
    assert replier.reads == [("history", first.message_id)]
    [request] = responses(openai_emulator)
    texts = [part["text"] for item in model_input(request.body) for part in item["content"]]
    assert texts == ["[Ann, 2023-11-14 22:13 UTC] we said Friday", "what did we say?"]
    [turn] = await core.store.turns_of(claimed.thread_id)
    assert (turn.status, turn.attempts) == ("done", 2)


async def test_a_follow_up_claimed_as_a_worker_starts_is_answered_once(
    make_core: Any, openai_emulator: Any
) -> None:
    """An idle thread's claim starts the turn itself; a worker that begins while that
    claim is in the store (the periodic sweep, say) finds the turn open and must not
    resume it as a dead process's, nor run it again afterwards."""
    core = await make_core()
    await core.service.submit(inbound("first"))
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None

    submitting = asyncio.create_task(core.service.submit(inbound("second")))
    await asyncio.sleep(0)  # the claim is on its way to the store
    core.service.wake(thread.id)  # a worker starts meanwhile
    assert await submitting
    await core.service.drain()

    assert [r.text for r in core.replier.replies] == ["echo: first", "echo: second"]
    assert len(responses(openai_emulator)) == 2
    turns = await core.store.turns_of(thread.id)
    assert [t.status for t in turns] == ["done", "done"]
