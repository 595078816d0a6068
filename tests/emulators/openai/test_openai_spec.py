"""The emulator holds requests to OpenAI's official OpenAPI definition (real SDK only)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import mutagen
import openai
import pytest

from tests.emulators.openai import OpenAIEmulator, Reply
from tests.emulators.openai.audio import ogg_opus_bytes
from tests.emulators.openai.spec import (
    SPEC_EXCEPTIONS,
    SPEC_FILE,
    OpenAPISpec,
    SpecException,
    load_spec,
)

PNG = b"\x89PNG\r\n\x1a\nfake"
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


async def drain(stream: Any) -> list[Any]:
    return [event async for event in stream]


def test_the_vendored_definition_is_openapi_3_1_and_cut() -> None:
    spec = load_spec()
    assert spec.version.startswith("3.1")
    raw = json.loads(SPEC_FILE.read_text())
    assert "/responses" in raw["paths"] and "/chat/completions" not in raw["paths"]
    assert spec.operation("POST", "/v1/responses") is not None
    assert spec.operation("GET", "/v1/conversations/conv_1/items/msg_1") is not None
    assert spec.operation("POST", "/v1/audio/speech") is not None
    # Each exception says why; there are few of them.
    assert len(SPEC_EXCEPTIONS) <= 5 and all(len(e.reason) > 40 for e in SPEC_EXCEPTIONS)


async def test_input_image_without_detail_is_rejected_as_the_api_words_it(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    # What stateless mode sent: the definition marks `detail` required on input_image.
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(
            model="gpt-4.1",
            stream=True,
            store=False,
            extra_body={
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "what is this?"},
                            {"type": "input_image", "image_url": DATA_URL},
                        ],
                    }
                ]
            },
        )
    assert err.value.status_code == 400
    assert err.value.body == {
        "message": "Missing required parameter: 'input[0].content[1].detail'.",
        "type": "invalid_request_error",
        "param": "input[0].content[1].detail",
        "code": "missing_required_parameter",
    }
    assert err.value.param == "input[0].content[1].detail"
    [violation] = openai_emulator.spec_violations
    assert violation.operation_id == "createResponse" and violation.location == "body"
    assert violation.param == "input[0].content[1].detail"
    rec = openai_emulator.responses_requests()[0]
    assert rec.status == 400 and rec.violations == [violation]
    assert openai_emulator.response_objects == {}  # never reached the model


async def test_other_rejections_name_the_parameter(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"input": [{"type": "message", "role": "user", "content": [{"type": "input_txt"}]}]},
            "input[0].content[0].type",
            "Invalid value: 'input_txt'. Supported values are: 'input_text', 'input_image', "
            "and 'input_file'.",
        ),
        (
            {"input": "hi", "tools": [{"type": "function", "name": "f", "parameters": {}}]},
            "tools[0].strict",
            "Missing required parameter: 'tools[0].strict'.",
        ),
        (
            {"input": "hi", "tools": [{"type": "file_search"}]},
            "tools[0].vector_store_ids",
            "Missing required parameter: 'tools[0].vector_store_ids'.",
        ),
        (
            {"input": 5},
            "input",
            "Invalid type for 'input': expected one of a string or an array, but got an "
            "integer instead.",
        ),
        (
            {"input": [{"type": "function_call_output", "call_id": "call_1"}]},
            "input[0].output",
            "Missing required parameter: 'input[0].output'.",
        ),
    ]
    for extra, param, message in cases:
        with pytest.raises(openai.BadRequestError) as err:
            await client.responses.create(model="gpt-4.1", extra_body=extra)
        assert isinstance(err.value.body, dict)
        assert (err.value.body["param"], err.value.body["message"]) == (param, message)
    assert [v.param for v in openai_emulator.spec_violations] == [p for _, p, _ in cases]

    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="gpt-4.1", input="hi", max_output_tokens=3)
    assert err.value.body == {
        "message": "Invalid 'max_output_tokens': integer below minimum value. Expected a "
        "value >= 16, but got 3 instead.",
        "type": "invalid_request_error",
        "param": "max_output_tokens",
        "code": "integer_below_min_value",
    }


async def test_query_and_multipart_fields_are_checked(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.files.create(file=("a.txt", b"abc"), purpose="nope")  # type: ignore[arg-type]
    assert err.value.param == "purpose"
    assert openai_emulator.spec_violations[-1].location == "form"
    assert openai_emulator.files == {}

    resp = await client.responses.create(model="gpt-4.1", input="hi")
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.input_items.list(resp.id, order="sideways")  # type: ignore[arg-type]
    assert err.value.param == "order"
    assert isinstance(err.value.body, dict)
    assert err.value.body["message"] == (
        "Invalid value: 'sideways'. Supported values are: 'asc' and 'desc'."
    )
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.retrieve(resp.id, include=["nonsense"])  # type: ignore[list-item]
    assert err.value.param == "include[0]"
    assert [v.location for v in openai_emulator.spec_violations] == ["form", "query", "query"]


async def test_record_mode_answers_but_keeps_the_violation(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.spec_validation = "record"
    resp = await client.responses.create(
        model="gpt-4.1",
        extra_body={
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": DATA_URL}]}]
        },
    )
    assert resp.status == "completed"
    assert [v.param for v in openai_emulator.spec_violations] == ["input[0].content[0].detail"]
    openai_emulator.spec_validation = "off"
    await client.responses.create(
        model="gpt-4.1",
        extra_body={
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": DATA_URL}]}]
        },
    )
    assert len(openai_emulator.spec_violations) == 1


async def test_every_kind_of_call_the_bot_makes_passes(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    """The shapes bot/engine.py and bot/knowledge.py send, through the same SDK calls."""
    function = {
        "type": "function",
        "name": "lookup",
        "description": "Look a thing up.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
            "additionalProperties": False,
        },
        "strict": True,
    }
    mcp = {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com/sse",
        "allowed_tools": ["search"],
        "require_approval": {"never": {"tool_names": ["search"]}},
    }
    # check: models + conversations
    await client.models.retrieve("gpt-4.1")
    [m async for m in client.models.list()]
    conv = await client.conversations.create(metadata={"purpose": "threadbridge check"})
    await client.conversations.delete(conv.id)

    # inputs: uploads, container, vector store
    image = await client.files.create(file=("a.png", PNG, "image/png"), purpose="user_data")
    data = await client.files.create(file=("d.csv", b"a,b\n1,2\n", "text/csv"), purpose="user_data")
    doc = await client.files.create(file=("n.md", b"# notes", "text/markdown"), purpose="user_data")
    container = await client.containers.create(name="threadbridge-1", file_ids=[data.id])
    await client.containers.retrieve(container.id)
    await client.containers.files.create(container.id, file_id=doc.id)
    store = await client.vector_stores.create(
        name="threadbridge-thread-1", expires_after={"anchor": "last_active_at", "days": 7}
    )
    await client.vector_stores.files.create_and_poll(
        file_id=doc.id, vector_store_id=store.id, poll_interval_ms=5
    )
    conv = await client.conversations.create(metadata={"platform": "slack", "thread": "1"})

    # a turn with every tool, streamed, in a conversation, then the function-call round
    openai_emulator.script(Reply(function_calls=[("lookup", {"q": "x"})]), Reply(text="done"))
    tools = [
        function,
        {"type": "code_interpreter", "container": container.id},
        {"type": "file_search", "vector_store_ids": [store.id]},
        {"type": "image_generation"},
        {"type": "web_search"},
        mcp,
    ]
    user_item = {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "[Ann] look at these"},
            {"type": "input_image", "file_id": image.id, "detail": "auto"},
            {"type": "input_text", "text": "(File d.csv is available to the code interpreter.)"},
            {"type": "input_file", "file_id": doc.id},
        ],
    }
    async with client.responses.with_streaming_response.create(
        model="gpt-4.1",
        instructions="Be brief.",
        stream=True,
        conversation=conv.id,
        background=True,
        include=["code_interpreter_call.outputs"],
        extra_body={"input": [user_item], "tools": tools},
    ) as raw:
        body = await raw.read()
    calls = [
        json.loads(line[6:])["item"]
        for line in body.decode().splitlines()
        if line.startswith("data: ") and '"response.output_item.done"' in line
    ]
    outputs = [
        {"type": "function_call_output", "call_id": c["call_id"], "output": "42"}
        for c in calls
        if c["type"] == "function_call"
    ]
    stream = await client.responses.create(
        model="gpt-4.1",
        instructions="Be brief.",
        stream=True,
        conversation=conv.id,
        extra_body={"input": outputs, "tools": tools},
    )
    events = await drain(stream)
    response_id = events[-1].response.id

    # resume after a crash, generated files
    await client.responses.retrieve(response_id)
    await drain(await client.responses.retrieve(response_id, stream=True))
    [x async for x in client.responses.input_items.list(response_id)]
    [f async for f in client.containers.files.list(container.id)]
    cfile = next(iter(openai_emulator.containers[container.id].files))
    await client.containers.files.content.retrieve(cfile, container_id=container.id)
    [i async for i in client.conversations.items.list(conv.id)]
    await client.conversations.items.create(
        conv.id, items=[{"type": "message", "role": "user", "content": "hi"}]
    )

    # an MCP call that waits for approval, and the answer
    ask = {**mcp, "require_approval": "always"}
    openai_emulator.script(Reply(mcp_calls=[("docs", "search", {"q": "x"})]))
    asked = await client.responses.create(
        model="gpt-4.1", conversation=conv.id, input="find x", extra_body={"tools": [ask]}
    )
    request_id = next(o.id for o in asked.output if o.type == "mcp_approval_request")
    await client.responses.create(
        model="gpt-4.1",
        conversation=conv.id,
        extra_body={
            "input": [
                {
                    "type": "mcp_approval_response",
                    "approval_request_id": request_id,
                    "approve": True,
                }
            ],
            "tools": [ask],
        },
    )

    # stateless mode: history replayed, assistant items without "type", store off
    await drain(
        await client.responses.create(
            model="gpt-4.1",
            instructions="Be brief.",
            stream=True,
            store=False,
            extra_body={
                "input": [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi there"},
                    {
                        "type": "function_call",
                        "call_id": "call_1",
                        "name": "lookup",
                        "arguments": '{"q": "x"}',
                    },
                    {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                    {
                        "type": "message",
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "and this"},
                            {"type": "input_image", "image_url": DATA_URL, "detail": "auto"},
                        ],
                    },
                ],
                "tools": [function],
            },
        )
    )

    # knowledge base commands
    kb = await client.vector_stores.create(name="threadbridge knowledge base")
    up = await client.files.create(file=("kb.md", b"# kb"), purpose="assistants")
    await client.vector_stores.files.create_and_poll(file_id=up.id, vector_store_id=kb.id)
    async for entry in client.vector_stores.files.list(kb.id):
        await client.files.retrieve(entry.id)
    await client.vector_stores.files.delete(up.id, vector_store_id=kb.id)
    await client.files.delete(up.id)
    await client.vector_stores.file_batches.create_and_poll(
        vector_store_id=kb.id, file_ids=[doc.id]
    )

    # background responses: cancel, delete
    openai_emulator.script(Reply(text="slow", ttft=5))
    bg = await client.responses.create(model="gpt-4.1", input="x", background=True)
    await client.responses.cancel(bg.id)
    await client.responses.delete(bg.id)

    # audio
    heard = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("voice.ogg", ogg_opus_bytes(2.0), "audio/ogg")
    )
    assert heard.text == "transcript of voice.ogg"
    speech = await client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="hi")
    assert mutagen.File(io.BytesIO(speech.content)).info.length > 0

    assert openai_emulator.spec_violations == []
    assert openai_emulator.errors == []
    assert {r.status for r in openai_emulator.requests} == {200}


def test_an_exception_must_match_what_the_definition_publishes() -> None:
    stale = SpecException(
        component="MCPApprovalResponse",
        pointer=("required",),
        published=["type", "approve"],
        value=["type"],
        reason="a test of the check that notices a fixed definition",
    )
    with pytest.raises(ValueError, match="check whether the exception is still needed"):
        OpenAPISpec(json.loads(SPEC_FILE.read_text()), exceptions=[stale])


async def test_reading_rules_nullable_and_overlapping_unions(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    store = await client.vector_stores.create(name="kb")
    # UpdateVectorStoreRequest.name is {"type": "string", "nullable": true} (OpenAPI 3.0).
    await client.vector_stores.update(store.id, name=None)
    # Matches both EasyInputMessage and Item/InputMessage: a union, not "exactly one".
    await client.responses.create(
        model="gpt-4.1",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
        ],
    )
    assert openai_emulator.spec_violations == []
    with pytest.raises(openai.BadRequestError) as err:
        await client.vector_stores.update(store.id, name=5)  # type: ignore[arg-type]
    assert err.value.param == "name"
