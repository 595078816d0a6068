"""Self-test of the OpenAI emulator, through the real openai.AsyncOpenAI client only."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import openai
import pytest

from tests.emulators.openai import ModelRequest, OpenAIEmulator, Reply

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


async def collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


def deltas(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


async def test_streaming_echo_reassembles_and_reports_usage(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input="hello there, general Kenobi", instructions="be nice", stream=True
    )
    events = await collect(stream)
    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert deltas(events) == "echo: hello there, general Kenobi"
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == "echo: hello there, general Kenobi"
    assert done.item_id == events[2].item.id and done.output_index == 0 and done.content_index == 0
    completed = events[-1].response
    assert completed.status == "completed"
    assert completed.output_text == "echo: hello there, general Kenobi"
    assert completed.usage is not None
    assert completed.usage.input_tokens == 4 + 2  # input words + instruction words
    assert completed.usage.output_tokens == 5
    assert completed.usage.total_tokens == 11
    assert completed.usage.input_tokens_details.cached_tokens == 0
    assert completed.usage.input_tokens_details.cache_write_tokens == 0
    # Every field this SDK requires is there: the event validates without a fallback.
    type(events[-1]).model_validate(events[-1].model_dump())
    assert completed.usage.output_tokens_details.reasoning_tokens == 0
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    rec = openai_emulator.responses_requests()[0]
    assert rec.json["stream"] is True and rec.json["input"] == "hello there, general Kenobi"
    assert rec.headers["authorization"] == "Bearer sk-test"
    assert rec.t_end >= rec.t_start


async def test_chunking_and_pacing(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.script(
        Reply(text="abcdefghij", chunk_chars=3, tokens_per_second=200, ttft=0.05)
    )
    stream = await client.responses.create(model="gpt-4.1", input="x", stream=True)
    events = await collect(stream)
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == [
        "abc",
        "def",
        "ghi",
        "j",
    ]
    rec = openai_emulator.responses_requests()[0]
    assert rec.duration >= 0.05 + 3 / 200 - 0.005


async def test_conversation_items_accumulate(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create(
        items=[{"role": "user", "content": "seed"}], metadata={"thread": "T1"}
    )
    assert conv.id.startswith("conv_") and conv.metadata == {"thread": "T1"}
    first = await client.responses.create(model="gpt-4.1", conversation=conv.id, input="one")
    assert first.output_text == "echo: one"
    assert first.conversation is not None and first.conversation.id == conv.id
    openai_emulator.script(Reply(text="second answer"))
    stream = await client.responses.create(
        model="gpt-4.1",
        conversation={"id": conv.id},
        input=[{"role": "user", "content": [{"type": "input_text", "text": "two"}]}],
        stream=True,
    )
    await collect(stream)
    page = await client.conversations.items.list(conv.id, order="asc")
    items: list[Any] = list(page.data)
    texts = [(i.role, i.content[0].text) for i in items]
    assert texts == [
        ("user", "seed"),
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "second answer"),
    ]
    desc = await client.conversations.items.list(conv.id, limit=2)
    assert [i.id for i in desc.data] == [page.data[4].id, page.data[3].id]
    assert desc.has_more is True
    # pagination through the SDK's auto-paging follows last_id
    all_ids = [i.id async for i in client.conversations.items.list(conv.id, limit=2, order="asc")]
    assert all_ids == [i.id for i in page.data]
    added = await client.conversations.items.create(
        conv.id, items=[{"role": "user", "content": "x"}] * 2
    )
    assert len(added.data) == 2 and len(openai_emulator.conversations[conv.id].items) == 7
    with pytest.raises(openai.BadRequestError):
        await client.conversations.items.create(
            conv.id, items=[{"role": "user", "content": "x"}] * 21
        )
    assert (await client.conversations.retrieve(conv.id)).id == conv.id
    deleted = await client.conversations.delete(conv.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.conversations.retrieve(conv.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="gpt-4.1", conversation=conv.id, input="gone")


async def test_conversation_locked_on_overlap(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    openai_emulator.script(Reply(text="slow one", ttft=0.3))

    async def first() -> str:
        stream = await client.responses.create(
            model="gpt-4.1", conversation=conv.id, input="first", stream=True
        )
        return deltas(await collect(stream))

    task = asyncio.create_task(first())
    await asyncio.sleep(0.1)
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(
            model="gpt-4.1", conversation=conv.id, input="second", stream=True
        )
    assert err.value.code == "conversation_locked"
    assert err.value.status_code == 400
    assert "Another process is currently operating on this conversation" in err.value.message
    assert await task == "slow one"
    assert openai_emulator.overlaps == [conv.id]
    assert openai_emulator.max_concurrent_responses == 1
    # the locked attempt consumed no script entry and added no items
    assert len(openai_emulator.conversations[conv.id].items) == 2
    again = await client.responses.create(model="gpt-4.1", conversation=conv.id, input="third")
    assert again.output_text == "echo: third"
    # a lock held by "another process"
    openai_emulator.lock_conversation(conv.id)
    with pytest.raises(openai.BadRequestError) as held:
        await client.responses.create(model="gpt-4.1", conversation=conv.id, input="x")
    assert held.value.code == "conversation_locked"
    openai_emulator.unlock_conversation(conv.id)
    assert openai_emulator.overlaps == [conv.id, conv.id]


async def test_disconnect_mid_stream_releases_lock(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    openai_emulator.script(Reply(text="x" * 200, chunk_chars=1, tokens_per_second=100))
    stream = await client.responses.create(
        model="gpt-4.1", conversation=conv.id, input="hi", stream=True
    )
    async for event in stream:
        if event.type == "response.output_text.delta":
            break
    await stream.close()
    await openai_emulator.wait_idle(2)
    assert openai_emulator.conversations[conv.id].active_response is None
    resp_id = next(iter(openai_emulator.response_objects))
    assert openai_emulator.response_objects[resp_id]["status"] == "cancelled"
    assert openai_emulator.conversations[conv.id].items == []
    ok = await client.responses.create(model="gpt-4.1", conversation=conv.id, input="again")
    assert ok.output_text == "echo: again"


async def test_500_then_success_with_one_retry(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.script(Reply(status=500), Reply(text="recovered"))
    async with openai.AsyncOpenAI(
        base_url=openai_emulator.base_url, api_key="sk-test", max_retries=1
    ) as c:
        resp = await c.responses.create(model="gpt-4.1", input="hi")
    assert resp.output_text == "recovered"
    recs = openai_emulator.responses_requests()
    assert [r.status for r in recs] == [500, 200]


async def test_429_and_error_bodies(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.script(Reply(status=429), Reply(status=503, error_code="overloaded"))
    with pytest.raises(openai.RateLimitError) as rate:
        await client.responses.create(model="gpt-4.1", input="hi")
    assert rate.value.code == "rate_limit_exceeded"
    assert rate.value.response.headers["retry-after-ms"] == "10"
    with pytest.raises(openai.InternalServerError) as server:
        await client.responses.create(model="gpt-4.1", input="hi", stream=True)
    assert server.value.code == "overloaded"
    assert openai_emulator.in_flight == 0


async def test_function_calls_round_trip(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    tools: list[Any] = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ]
    openai_emulator.script(
        Reply(
            function_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]
        )
    )
    stream = await client.responses.create(
        model="gpt-4.1", conversation=conv.id, input="weather?", tools=tools, stream=True
    )
    events = await collect(stream)
    final = events[-1].response
    assert final.status == "completed"
    calls = [o for o in final.output if o.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert all(c.call_id.startswith("call_") and c.name == "get_weather" for c in calls)
    assert not [o for o in final.output if o.type == "message"]
    arg_done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in arg_done] == [c.arguments for c in calls]
    arg_deltas = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    assert arg_deltas == calls[0].arguments + calls[1].arguments

    # only one output -> the service refuses
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(
            model="gpt-4.1",
            conversation=conv.id,
            tools=tools,
            input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "x"}],
        )
    assert f"No tool output found for function call {calls[1].call_id}." in err.value.message

    follow = await client.responses.create(
        model="gpt-4.1",
        conversation=conv.id,
        tools=tools,
        input=[
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
            {"type": "function_call_output", "call_id": calls[1].call_id, "output": "snow"},
        ],
    )
    assert follow.output_text == "tool results: sunny; snow"
    kinds = [i["type"] for i in openai_emulator.conversations[conv.id].items]
    assert kinds == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]


async def test_code_interpreter_files_with_and_without_citation(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    upload = await client.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="user_data")
    openai_emulator.script(
        Reply(
            text="Here: [chart](sandbox:/mnt/data/chart.png)",
            code="import pandas as pd\nplot()",
            files=[("chart.png", b"PNGDATA")],
        ),
        Reply(text="no link", code="x = 1", files=[("out.txt", b"hello")], cite_files=False),
    )
    tool: Any = {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [upload.id]}}
    stream = await client.responses.create(
        model="gpt-4.1", input="plot it", tools=[tool], stream=True
    )
    events = await collect(stream)
    types = [e.type for e in events]
    for t in (
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
        "response.output_text.annotation.added",
    ):
        assert t in types
    final = events[-1].response
    ci = final.output[0]
    assert ci.type == "code_interpreter_call" and ci.code == "import pandas as pd\nplot()"
    container_id = ci.container_id
    message = final.output[1]
    assert message.type == "message"
    ann = message.content[0].annotations[0]
    assert ann.type == "container_file_citation"
    assert ann.container_id == container_id and ann.filename == "chart.png"
    text = final.output_text
    assert text[ann.start_index : ann.end_index] == "sandbox:/mnt/data/chart.png"
    content = await client.containers.files.content.retrieve(ann.file_id, container_id=container_id)
    assert content.content == b"PNGDATA"
    listed = [f async for f in client.containers.files.list(container_id)]
    by_path = {f.path: f.source for f in listed}
    assert by_path == {"/mnt/data/data.csv": "user", "/mnt/data/chart.png": "assistant"}
    container = await client.containers.retrieve(container_id)
    assert container.status == "running"

    # explicit container, no citation: find the file by listing
    resp = await client.responses.create(
        model="gpt-4.1",
        input="again",
        tools=[{"type": "code_interpreter", "container": container_id}],
    )
    second: Any = resp.output[1]
    assert second.content[0].annotations == []
    files = [f async for f in client.containers.files.list(container_id)]
    out = next(f for f in files if f.path == "/mnt/data/out.txt")
    assert out.source == "assistant" and out.bytes == 5
    data = await client.containers.files.content.retrieve(out.id, container_id=container_id)
    assert data.read() == b"hello"

    openai_emulator.expire_container(container_id)
    assert (await client.containers.retrieve(container_id)).status == "expired"
    with pytest.raises(openai.BadRequestError) as expired:
        await client.responses.create(
            model="gpt-4.1",
            input="again",
            tools=[{"type": "code_interpreter", "container": container_id}],
        )
    assert expired.value.code == "container_expired"
    assert expired.value.message.endswith("Container is expired.")
    with pytest.raises(openai.NotFoundError):
        await client.containers.files.content.retrieve(out.id, container_id=container_id)
    with pytest.raises(openai.BadRequestError) as unknown:
        await client.responses.create(
            model="gpt-4.1",
            input="again",
            tools=[{"type": "code_interpreter", "container": "cntr_nope"}],
        )
    assert unknown.value.code == "container_not_found"


async def test_container_api(client: openai.AsyncOpenAI) -> None:
    f = await client.files.create(file=("a.txt", b"abc"), purpose="user_data")
    container = await client.containers.create(name="c1", file_ids=[f.id])
    assert container.id.startswith("cntr_") and container.status == "running"
    added = await client.containers.files.create(container.id, file=("b.txt", b"bbbb"))
    assert added.path == "/mnt/data/b.txt" and added.bytes == 4 and added.source == "user"
    got = await client.containers.files.retrieve(added.id, container_id=container.id)
    assert got.id == added.id
    files = [x async for x in client.containers.files.list(container.id, order="asc")]
    assert [x.path for x in files] == ["/mnt/data/a.txt", "/mnt/data/b.txt"]


async def test_vector_store_upload_and_poll(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    store = await client.vector_stores.create(name="kb")
    ok = await client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("notes.md", b"# notes\nsome facts")
    )
    assert ok.status == "completed" and ok.last_error is None and ok.usage_bytes == 18
    openai_emulator.fail_indexing("bad.bin", code="unsupported_file")
    bad = await client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("bad.bin", b"\x00\x01")
    )
    assert bad.status == "failed"
    assert bad.last_error is not None and bad.last_error.code == "unsupported_file"
    retrieved = await client.vector_stores.retrieve(store.id)
    assert retrieved.file_counts.completed == 1 and retrieved.file_counts.failed == 1
    polls = [
        r
        for r in openai_emulator.requests
        if r.method == "GET" and r.path.startswith(f"/v1/vector_stores/{store.id}/files/")
    ]
    assert len(polls) == 4  # one in_progress + one final per file
    upload = next(r for r in openai_emulator.requests if r.path == "/v1/files")
    assert upload.json["purpose"] == "assistants"
    assert upload.json["file"] == {
        "name": "file",
        "filename": "notes.md",
        "size": 18,
        "content_type": upload.json["file"]["content_type"],
    }

    # file batches
    f1 = await client.files.create(file=("one.txt", b"1"), purpose="assistants")
    f2 = await client.files.create(file=("two.txt", b"2"), purpose="assistants")
    batch = await client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[f1.id, f2.id]
    )
    assert batch.status == "completed" and batch.file_counts.completed == 2
    listed = [
        f.id
        async for f in client.vector_stores.file_batches.list_files(
            batch.id, vector_store_id=store.id
        )
    ]
    assert sorted(listed) == sorted([f1.id, f2.id])

    # file_search cites the first file of the store
    openai_emulator.script(Reply(text="From your notes.", file_search="facts"))
    stream = await client.responses.create(
        model="gpt-4.1",
        input="what do my notes say?",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        include=["file_search_call.results"],
        stream=True,
    )
    events = await collect(stream)
    final = events[-1].response
    fs = final.output[0]
    assert fs.type == "file_search_call" and fs.queries == ["facts"] and fs.status == "completed"
    assert fs.results is not None and fs.results[0].filename == "notes.md"
    message: Any = final.output[1]
    ann = message.content[0].annotations[0]
    assert ann.type == "file_citation" and ann.file_id == ok.id and ann.filename == "notes.md"
    assert "response.file_search_call.searching" in [e.type for e in events]


async def test_image_generation_and_web_search(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.script(Reply(text="A cat.", image_b64=PNG_B64, web_search="cats"))
    stream = await client.responses.create(
        model="gpt-4.1",
        input="draw a cat",
        tools=[{"type": "image_generation"}, {"type": "web_search"}],
        stream=True,
    )
    events = await collect(stream)
    types = [e.type for e in events]
    assert "response.image_generation_call.generating" in types
    assert "response.web_search_call.searching" in types
    final = events[-1].response
    kinds = [o.type for o in final.output]
    assert kinds == ["web_search_call", "image_generation_call", "message"]
    image = final.output[1]
    assert image.type == "image_generation_call" and image.result == PNG_B64
    web = final.output[0]
    assert web.type == "web_search_call" and web.action.type == "search"
    assert web.action.query == "cats"


async def test_several_generated_images(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    other = base64.b64encode(b"\x89PNG\r\n\x1a\nother").decode()
    openai_emulator.script(Reply(text="Two.", image_b64=PNG_B64, images_b64=[other, PNG_B64]))
    resp = await client.responses.create(
        model="gpt-4.1", input="draw three", tools=[{"type": "image_generation"}]
    )
    results = [o.result for o in resp.output if o.type == "image_generation_call"]
    assert results == [PNG_B64, other, PNG_B64]
    assert resp.output[-1].type == "message"


async def test_failed_incomplete_and_stream_error(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    openai_emulator.script(
        Reply(text="partial", fail="boom"),
        Reply(text="cut", incomplete="max_output_tokens"),
        Reply(text="oops", stream_error="stream broke"),
    )
    events = await collect(
        await client.responses.create(model="gpt-4.1", conversation=conv.id, input="a", stream=True)
    )
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error is not None
    assert events[-1].response.error.code == "server_error"
    assert events[-1].response.error.message == "boom"
    assert deltas(events) == "partial"
    assert openai_emulator.conversations[conv.id].items == []

    events = await collect(
        await client.responses.create(model="gpt-4.1", conversation=conv.id, input="b", stream=True)
    )
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details is not None
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert len(openai_emulator.conversations[conv.id].items) == 2

    events = await collect(
        await client.responses.create(model="gpt-4.1", conversation=conv.id, input="c", stream=True)
    )
    assert events[-1].type == "error" and events[-1].message == "stream broke"
    assert openai_emulator.conversations[conv.id].active_response is None
    assert openai_emulator.in_flight == 0


async def test_background_response_and_resume(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.script(Reply(text="background text", ttft=0.1))
    queued = await client.responses.create(model="gpt-4.1", input="long job", background=True)
    assert queued.status == "queued" and queued.background is True
    stream = await client.responses.retrieve(queued.id, stream=True, starting_after=2)
    events = await collect(stream)
    assert events[0].sequence_number == 3
    assert events[-1].type == "response.completed"
    assert deltas(events) == "background text"
    done = await client.responses.retrieve(queued.id)
    assert done.status == "completed" and done.output_text == "background text"

    openai_emulator.script(Reply(text="never", ttft=5))
    job = await client.responses.create(model="gpt-4.1", input="cancel me", background=True)
    cancelled = await client.responses.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert openai_emulator.in_flight == 0


async def test_dynamic_model_and_attachments(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    f = await client.files.create(file=("report.pdf", b"%PDF"), purpose="user_data")
    seen: list[ModelRequest] = []

    async def model(req: ModelRequest) -> Reply:
        seen.append(req)
        return Reply(text=f"{req.model}|{req.instructions}|{req.last_user_text()}")

    openai_emulator.model = model
    resp = await client.responses.create(
        model="gpt-5",
        instructions="sys",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
                    {"type": "input_file", "file_id": f.id},
                ],
            }
        ],
    )
    assert resp.output_text == "gpt-5|sys|look [image] [file report.pdf]"
    assert seen[0].conversation_id is None and seen[0].history == []
    openai_emulator.model = None
    chained = await client.responses.create(
        model="gpt-4.1", previous_response_id=resp.id, input="next"
    )
    assert chained.output_text == "echo: next"


async def test_conversations_disabled(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.conversations_enabled = False
    with pytest.raises(openai.NotFoundError):
        await client.conversations.create()
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(model="llama3", conversation="conv_x", input="hi")
    stateless = await client.responses.create(
        model="llama3",
        input=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"},
        ],
    )
    assert stateless.output_text == "echo: again"


async def test_models_files_and_unknown_routes(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    assert (await client.models.retrieve("gpt-4.1")).id == "gpt-4.1"
    openai_emulator.unknown_models.add("gpt-nope")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-nope")
    with pytest.raises(openai.BadRequestError) as bad_model:
        await client.responses.create(model="gpt-nope", input="hi")
    assert bad_model.value.code == "model_not_found"
    models = [m.id async for m in client.models.list()]
    assert "gpt-4.1" in models and "gpt-nope" not in models

    f = await client.files.create(file=("n.txt", b"12345"), purpose="user_data")
    assert f.id.startswith("file-")
    assert (f.bytes, f.filename, f.purpose, f.status) == (5, "n.txt", "user_data", "processed")
    assert (await client.files.retrieve(f.id)).filename == "n.txt"
    with pytest.raises(openai.BadRequestError):
        await client.files.content(f.id)
    openai_emulator.allow_user_file_download = True
    assert (await client.files.content(f.id)).content == b"12345"
    assert (await client.files.delete(f.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(f.id)

    with pytest.raises(openai.NotFoundError) as unknown:
        await client.get("/nothing/here", cast_to=object)
    assert "Invalid URL" in unknown.value.message
