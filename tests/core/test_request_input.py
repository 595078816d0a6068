"""The `input` of a model request: a lone text message goes as the API's plain string."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.emulators.openai import Reply
from tests.helpers import conversation_of, inbound


async def test_a_lone_text_message_goes_as_the_string_the_api_takes(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    await core.service.submit(inbound("what is a thread?"))
    await core.service.drain()
    [request] = openai_emulator.responses_requests()
    assert request.body["input"] == "what is a thread?"
    assert core.replier.replies[0].text == "echo: what is a thread?"
    # The Conversation keeps it as the user's message, like any other.
    conversation = openai_emulator.conversations[conversation_of(request.body)]
    user = [i for i in conversation.items if i.get("role") == "user"]
    assert [[p["text"] for p in i["content"]] for i in user] == [["what is a thread?"]]


async def test_messages_answered_together_go_as_items(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core()
    openai_emulator.script(Reply(text="first answer", ttft=0.5))
    await core.service.submit(inbound("opening"))
    await asyncio.sleep(0.1)  # its turn is running; the next two wait and merge
    await core.service.submit(inbound("second"))
    await core.service.submit(inbound("third"))
    await core.service.drain()
    first, merged = (r.body["input"] for r in openai_emulator.responses_requests())
    assert first == "opening"
    assert [(i["type"], i["role"]) for i in merged] == [("message", "user")] * 2
    assert [[p["text"] for p in i["content"]] for i in merged] == [["second"], ["third"]]
