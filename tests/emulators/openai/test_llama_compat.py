"""compat="llama.cpp": the emulator answers like llama.cpp's llama-server (real SDK only).

Each expectation is what vendor/llama.cpp/tools/server/ in the llama-cpp-python 0.3.36
sdist does (see tests/emulators/openai/llama.py for the functions).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import pytest_asyncio

from tests.emulators.openai import OpenAIEmulator, Reply

DATA_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
NOT_FOUND = {"code": 404, "message": "File Not Found", "type": "not_found_error"}


@pytest_asyncio.fixture
async def client(llama_like_emulator: OpenAIEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=llama_like_emulator.base_url, api_key="sk-test", max_retries=0, timeout=10
    ) as c:
        yield c


async def drain(stream: Any) -> list[Any]:
    return [event async for event in stream]


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": list(parts)}


async def test_no_conversations_files_containers_or_vector_stores(
    llama_like_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    calls = [
        client.conversations.create(metadata={"a": "b"}),
        client.conversations.retrieve("conv_1"),
        client.conversations.items.list("conv_1"),
        client.files.create(file=("a.txt", b"abc"), purpose="user_data"),
        client.containers.create(name="c"),
        client.vector_stores.create(name="v"),
        client.responses.retrieve("resp_1"),
        client.responses.cancel("resp_1"),
        client.models.retrieve("tiny-llama.gguf"),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError) as err:
            await call
        assert err.value.status_code == 404
        assert err.value.body == NOT_FOUND
        assert err.value.response.headers["content-type"] == "application/json; charset=utf-8"
    assert llama_like_emulator.conversations == {} and llama_like_emulator.files == {}
    assert llama_like_emulator.spec_violations == []  # not held to OpenAI's definition


async def test_models_list_works(client: openai.AsyncOpenAI) -> None:
    models = [m async for m in client.models.list()]
    assert [(m.id, m.owned_by, m.object) for m in models] == [
        ("tiny-llama.gguf", "llamacpp", "model")
    ]


async def test_assistant_items_need_type_message(
    llama_like_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi there"},
        {"role": "user", "content": "and now?"},
    ]
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="any", stream=True, extra_body={"input": history})
    assert err.value.body == {
        "code": 400,
        "message": "Cannot determine type of 'item'",
        "type": "invalid_request_error",
    }
    history[1]["type"] = "message"
    events = await drain(
        await client.responses.create(model="any", stream=True, extra_body={"input": history})
    )
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "echo: and now?"
    # The official API accepts both (EasyInputMessage's type is optional).
    llama_like_emulator.compat = None
    await client.responses.create(
        model="gpt-4.1", store=False, extra_body={"input": [{"role": "assistant", "content": "x"}]}
    )
    assert llama_like_emulator.spec_violations == []


async def test_input_file_and_previous_response_id_are_refused(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(
            model="any",
            extra_body={
                "input": [
                    user(
                        {"type": "input_text", "text": "read"},
                        {"type": "input_file", "file_id": "file-1"},
                    )
                ]
            },
        )
    assert err.value.body == {
        "code": 400,
        "message": "'input_file' is not supported by llamacpp at this moment",
        "type": "invalid_request_error",
    }
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="any", input="hi", previous_response_id="resp_1")
    assert isinstance(err.value.body, dict)
    assert err.value.body["message"] == "llama.cpp does not support 'previous_response_id'."
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(
            model="any", extra_body={"input": [user({"type": "input_image", "file_id": "f"})]}
        )
    assert isinstance(err.value.body, dict)
    assert err.value.body["message"] == "'image_url' is required"


async def test_images_need_mmproj_and_detail_may_be_left_out(
    llama_like_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    image = user(
        {"type": "input_text", "text": "what?"}, {"type": "input_image", "image_url": DATA_URL}
    )
    with pytest.raises(openai.InternalServerError) as err:
        await client.responses.create(model="any", extra_body={"input": [image]})
    assert err.value.body == {
        "code": 500,
        "message": "image input is not supported - hint: if this is unexpected, you may need "
        "to provide the mmproj",
        "type": "server_error",
    }
    llama_like_emulator.llama_images = True  # started with --mmproj
    resp = await client.responses.create(model="any", extra_body={"input": [image]})
    assert resp.status == "completed"


async def test_only_function_tools_are_kept_and_conversation_is_ignored(
    llama_like_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    llama_like_emulator.script(
        Reply(text="ran it", code="print(1)", function_calls=[("lookup", {"q": "x"})])
    )
    function = {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {}},
        "strict": True,
    }
    resp = await client.responses.create(
        model="any",
        input="go",
        conversation="conv_from_elsewhere",
        extra_body={"tools": [function, {"type": "code_interpreter", "container": "cntr_1"}]},
    )
    assert [item.type for item in resp.output] == ["message", "function_call"]
    assert resp.conversation is None
    assert [t.type for t in resp.tools] == ["function"]
    sent = llama_like_emulator.responses_requests()[0].json
    assert [t["type"] for t in sent["tools"]] == ["function", "code_interpreter"]


async def test_api_key_and_health(llama_like_emulator: OpenAIEmulator) -> None:
    llama_like_emulator.api_key = "secret"
    async with openai.AsyncOpenAI(
        base_url=llama_like_emulator.base_url, api_key="wrong", max_retries=0, timeout=10
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as err:
            await wrong.models.list()
        assert err.value.body == {
            "code": 401,
            "message": "Invalid API Key",
            "type": "authentication_error",
        }
        # Public, and routed after the key check otherwise: an unknown path is 401 too.
        health = await wrong.get("/health", cast_to=object)
        assert health == {"status": "ok"}
        with pytest.raises(openai.AuthenticationError):
            await wrong.conversations.create()
    async with openai.AsyncOpenAI(
        base_url=llama_like_emulator.base_url, api_key="secret", max_retries=0, timeout=10
    ) as right:
        assert [m.id async for m in right.models.list()] == ["tiny-llama.gguf"]


async def test_compat_mode_as_an_attribute_and_the_llama_error_shape_for_scripted_errors(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.compat = "llama.cpp"
    openai_emulator.script(Reply(status=503))
    async with openai.AsyncOpenAI(
        base_url=openai_emulator.base_url, api_key="sk-test", max_retries=0, timeout=10
    ) as c:
        with pytest.raises(openai.NotFoundError):
            await c.conversations.create()
        with pytest.raises(openai.InternalServerError) as err:
            await c.responses.create(model="any", input="hi")
        assert isinstance(err.value.body, dict)
        assert err.value.body["code"] == 503 and err.value.body["type"] == "unavailable_error"
        assert "param" not in err.value.body
