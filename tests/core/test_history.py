"""What a turn sends as history and context, and what it leaves in the store for the
next one: every item typed (llama.cpp's server rejects untyped ones), function calls
always paired with their outputs, the replay window starting at a user message."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from bot.engine import replay_window
from bot.models import Attachment
from bot.tools import ToolContext, ToolRegistry
from tests.emulators.openai import Reply
from tests.helpers import inbound, key, model_input

STATELESS = {"THREADBRIDGE_CONVERSATION_MODE": "stateless"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def whoami(context: ToolContext) -> str:
    """Who asks."""
    return f"you are {context.user_id}"


def request_inputs(emulator: Any) -> list[list[dict[str, Any]]]:
    return [model_input(r.body) for r in emulator.responses_requests()]


async def stored_history(core: Any) -> list[dict[str, Any]]:
    thread = await core.store.find_thread(key())
    assert thread is not None
    return list(await core.store.history(thread.id, 1000))


async def test_stateless_history_items_all_carry_their_type(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core(**STATELESS)
    openai_emulator.script(Reply(text="I am Ada"))
    for text in ("who are you?", "say it again"):
        await core.service.submit(inbound(text))
        await core.service.drain()
    assert [r.error for r in core.replier.replies] == [None, None]
    assert request_inputs(openai_emulator)[-1] == [
        {"type": "message", "role": "user", "content": "who are you?"},
        {"type": "message", "role": "assistant", "content": "I am Ada"},
        {"type": "message", "role": "user", "content": "say it again"},
    ]
    assert all("type" in item for item in await stored_history(core))


async def test_history_stored_without_types_by_an_older_version_is_replayed_typed(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core(**STATELESS)
    await core.service.submit(inbound("first"))
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None
    await core.store.append_history(
        thread.id,
        [{"role": "user", "content": "old question"}, {"role": "assistant", "content": "old"}],
    )
    await core.service.submit(inbound("next"))
    await core.service.drain()
    sent = request_inputs(openai_emulator)[-1]
    assert {"type": "message", "role": "user", "content": "old question"} in sent
    assert {"type": "message", "role": "assistant", "content": "old"} in sent
    assert all(item.get("type") for item in sent)


async def test_a_stateless_image_goes_inline_with_its_detail(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    openai_emulator.llama_images = True  # a server started with --mmproj
    core = await make_core(**STATELESS)

    async def download(_limit: int) -> bytes:
        return PNG

    message = inbound("what is this?")
    picture = Attachment("dot.png", "image/png", len(PNG), download)
    await core.service.submit(dataclasses.replace(message, attachments=(picture,)))
    await core.service.drain()
    assert core.replier.replies[0].error is None
    (item,) = request_inputs(openai_emulator)[0]
    image = next(p for p in item["content"] if p["type"] == "input_image")
    assert image["detail"] == "auto"
    assert image["image_url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


async def test_a_function_call_is_replayed_right_before_its_output(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core(ToolRegistry.from_functions([whoami]), **STATELESS)
    openai_emulator.script(Reply(function_calls=[("whoami", {})]), Reply(text="You are U1."))
    await core.service.submit(inbound("who am I?"))
    await core.service.drain()
    await core.service.submit(inbound("thanks"))
    await core.service.drain()
    assert core.replier.replies[0].text == "You are U1."
    replayed = request_inputs(openai_emulator)[-1]
    kinds = [i["type"] if i["type"] != "message" else i["role"] for i in replayed]
    assert kinds == ["user", "function_call", "function_call_output", "assistant", "user"]
    call, output = replayed[1], replayed[2]
    assert call["call_id"] == output["call_id"] and call["name"] == "whoami"
    assert output["output"] == "you are U1"


async def test_a_turn_stopped_at_the_tool_cap_leaves_no_call_without_output(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core(
        ToolRegistry.from_functions([whoami]), THREADBRIDGE_TOOL_ROUNDS=1, **STATELESS
    )
    openai_emulator.script(
        Reply(function_calls=[("whoami", {})]),
        Reply(function_calls=[("whoami", {}), ("whoami", {})]),
        Reply(text="fine"),
    )
    await core.service.submit(inbound("loop"))
    await core.service.drain()
    assert core.replier.replies[0].notices == ["Stopped after too many tool calls in one turn."]
    history = await stored_history(core)
    calls = [i["call_id"] for i in history if i["type"] == "function_call"]
    outputs = [i["call_id"] for i in history if i["type"] == "function_call_output"]
    assert len(calls) == 3 and sorted(calls) == sorted(outputs)
    # The next turn is accepted (the emulator rejects a call without its output, as OpenAI).
    await core.service.submit(inbound("and now?"))
    await core.service.drain()
    assert (core.replier.replies[1].text, core.replier.replies[1].error) == ("fine", None)


async def test_in_conversations_mode_the_capped_calls_get_outputs_too(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(ToolRegistry.from_functions([whoami]), THREADBRIDGE_TOOL_ROUNDS=1)
    openai_emulator.script(
        Reply(function_calls=[("whoami", {})]),
        Reply(function_calls=[("whoami", {})]),
        Reply(text="fine"),
    )
    await core.service.submit(inbound("loop"))
    await core.service.drain()
    await core.service.submit(inbound("and now?"))
    await core.service.drain()
    assert (core.replier.replies[1].text, core.replier.replies[1].error) == ("fine", None)
    thread = await core.store.find_thread(key())
    assert thread is not None and thread.conversation_id is not None
    items = openai_emulator.conversations[thread.conversation_id].items
    calls = [i["call_id"] for i in items if i.get("type") == "function_call"]
    outputs = [i["call_id"] for i in items if i.get("type") == "function_call_output"]
    assert len(calls) == 2 and sorted(calls) == sorted(outputs)


async def test_a_short_history_window_never_starts_inside_a_tool_call(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"
    core = await make_core(
        ToolRegistry.from_functions([whoami]), THREADBRIDGE_HISTORY_LIMIT=2, **STATELESS
    )
    openai_emulator.script(Reply(function_calls=[("whoami", {})]), Reply(text="done"))
    await core.service.submit(inbound("who am I?"))
    await core.service.drain()
    # Stored: user, function_call, function_call_output, assistant; the last two are
    # the window, which would begin with an output whose call was cut off.
    await core.service.submit(inbound("again"))
    await core.service.drain()
    assert core.replier.replies[1].error is None
    assert request_inputs(openai_emulator)[-1] == [
        {"type": "message", "role": "user", "content": "again"}
    ]


def test_the_replay_window_keeps_whole_turns_and_pairs() -> None:
    user = {"type": "message", "role": "user", "content": "q"}
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "x"}
    answer = {"type": "message", "role": "assistant", "content": "a"}
    orphan = {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"}
    assert replay_window([output, answer, user, call, output, answer]) == [
        user,
        call,
        output,
        answer,
    ]
    assert replay_window([user, orphan, answer]) == [user, answer]
    assert replay_window([answer]) == []
