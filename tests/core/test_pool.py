"""Conversations created ahead: a new thread's first words cost one model request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.engine import pool as pool_module
from tests.helpers import conversation_of, inbound, key


async def wait_pool(core: Any, size: int) -> None:
    for _ in range(500):
        if await core.store.pool_size() >= size:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the pool did not reach {size}")


async def test_a_new_thread_takes_a_conversation_created_ahead(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=2)
    await core.service.start()  # fills the pool in the background
    await wait_pool(core, 2)
    created = [c for c in openai_emulator.conversations]
    assert len(created) == 2
    openai_emulator.requests.clear()

    await core.service.submit(inbound("hello", thread="new-1"))
    await core.service.drain()
    # On the way to the first words: one request, the response (no conversation create).
    first_calls = [(r.method, r.path) for r in openai_emulator.requests]
    assert first_calls[0] == ("POST", "/v1/responses")
    [response] = openai_emulator.responses_requests()
    pooled = conversation_of(response.body)
    assert pooled in created
    thread = await core.store.find_thread(key("new-1"))
    assert thread is not None and thread.conversation_id == pooled
    assert core.replier.replies[0].text == "echo: hello"
    # Refilled behind it.
    await wait_pool(core, 2)
    assert len(openai_emulator.conversations) == 3


async def test_two_threads_never_share_a_pooled_conversation(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=1)
    await core.service.start()
    await wait_pool(core, 1)
    await asyncio.gather(*(core.service.submit(inbound(f"q{i}", thread=f"t{i}")) for i in range(5)))
    await core.service.drain()
    used = [conversation_of(r.body) for r in openai_emulator.responses_requests()]
    assert len(used) == 5 and len(set(used)) == 5
    assert [r.error for r in core.replier.replies] == [None] * 5


async def test_an_empty_pool_still_answers_a_new_thread(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=3)  # not started: nothing ahead
    await core.service.submit(inbound("first ever"))
    await core.service.drain()
    assert core.replier.replies[0].text == "echo: first ever"
    await wait_pool(core, 3)  # and the pool fills for the next ones


async def test_stateless_mode_has_no_pool(make_core: Any, openai_emulator: Any) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core(THREADBRIDGE_CONVERSATION_MODE="stateless")
    await core.service.start()
    await core.service.submit(inbound("hi"))
    await core.service.drain()
    assert await core.store.pool_size() == 0
    assert core.replier.replies[0].error is None


async def test_the_refill_waits_for_a_pause_in_new_threads_unless_the_pool_runs_low(
    make_core: Any, openai_emulator: Any
) -> None:
    """A burst does not pay for the refill: its creates would compete with its turns."""
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=8)
    await core.service.start()
    await wait_pool(core, 8)
    await asyncio.gather(*(core.service.submit(inbound(f"q{i}", thread=f"a{i}")) for i in range(4)))
    await core.service.drain()
    # Half the pool is left: nothing created yet, within the quiet time.
    assert len(openai_emulator.conversations) == 8
    assert await core.store.pool_size() == 4
    await wait_pool(core, 8)  # the pause came: refilled
    assert len(openai_emulator.conversations) == 12

    # A quarter or less left (1 of 8): refilled at once above that, burst or not; the
    # rest after the pause.
    await asyncio.gather(*(core.service.submit(inbound(f"q{i}", thread=f"b{i}")) for i in range(7)))
    await core.service.drain()
    for _ in range(100):
        if await core.store.pool_size() == 3:
            break
        await asyncio.sleep(0.01)
    assert await core.store.pool_size() == 3  # well before the 2 s pause ends
    assert len(openai_emulator.conversations) == 14  # the 7 took pooled ones; 2 more made
    await wait_pool(core, 8)


class Clock:
    """The pool's `time`: wall time as it is, the monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


async def test_a_pool_found_empty_is_not_asked_again_for_a_moment(
    make_core: Any, openai_emulator: Any, monkeypatch: Any
) -> None:
    """A burst beyond the pool creates its conversations without two store lookups a
    thread; one pooled meanwhile (by another process, say) is taken after the moment,
    and one this process adds at once."""
    clock = Clock()
    monkeypatch.setattr(pool_module, "time", clock)
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=4)  # not started: empty
    pool = core.engine.pool
    thread = await core.store.ensure_thread(key("t1"))
    assert await pool.take(thread.id) is None
    await core.store.pool_add("conv_from_elsewhere")
    clock.now += pool_module.EMPTY_SECONDS - 0.01
    assert pool.cutoff() is None and await pool.take(thread.id) is None
    clock.now += 0.02
    assert await pool.take(thread.id) == "conv_from_elsewhere"

    assert await pool.take(thread.id) is None  # empty again
    pool.fill()  # this process's own refill: taken as soon as it is there
    for _ in range(500):
        if await core.store.pool_size() > 0:
            break
        await asyncio.sleep(0.01)
    taken = await pool.take(thread.id)
    assert taken is not None and taken in openai_emulator.conversations
    await pool.close()


async def test_a_quiet_pool_fills_several_at_a_time(make_core: Any, openai_emulator: Any) -> None:
    """At a start nothing is being taken: the pool fills a few round trips after it, not
    one round trip a conversation (a deploy's first new threads find it full)."""
    openai_emulator.request_delay = 0.3
    core = await make_core(THREADBRIDGE_CONVERSATION_POOL=8)
    await core.service.start()
    await wait_pool(core, 8)
    creates = [r for r in openai_emulator.requests if r.path == "/v1/conversations"]
    assert len(creates) == 8
    first = min(r.t_start for r in creates)
    # Each create is held 0.3 s: one begun before the first was answered ran with it (one
    # at a time, the second would begin after).
    together = [r for r in creates if r.t_start < first + openai_emulator.request_delay]
    assert len(together) == pool_module.FILL_AT_ONCE
