"""The llama-like emulator checked against a real llama-server: same requests, same answers.

Uses tests/llama's fixtures (the binary build.sh builds and caches, the tiny GGUF model);
skipped where they skip (no compiler), as those tests are.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai
import pytest_asyncio

from tests.emulators.openai import OpenAIEmulator
from tests.llama import conftest as llama_fixtures
from tests.llama.conftest import LlamaServer

# tests/llama's fixtures, here too: the binary, the tiny model, the running server.
llama_server_binary = llama_fixtures.llama_server_binary
tiny_model = llama_fixtures.tiny_model
_llama_server_session = llama_fixtures._llama_server_session
llama_server = llama_fixtures.llama_server

DATA_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
Probe = Callable[[openai.AsyncOpenAI, str], Awaitable[Any]]


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": list(parts)}


def respond(**extra: Any) -> Probe:
    def call(c: openai.AsyncOpenAI, model: str) -> Awaitable[Any]:
        return c.responses.create(model=model, max_output_tokens=16, **extra)

    return call


PROBES: dict[str, Probe] = {
    "conversations.create": lambda c, _: c.conversations.create(metadata={"a": "b"}),
    "conversations.items.list": lambda c, _: c.conversations.items.list("conv_1"),
    "files.create": lambda c, _: c.files.create(file=("a.txt", b"abc"), purpose="user_data"),
    "containers.create": lambda c, _: c.containers.create(name="x"),
    "vector_stores.create": lambda c, _: c.vector_stores.create(name="x"),
    "models.retrieve": lambda c, model: c.models.retrieve(model),
    "responses.retrieve": lambda c, _: c.responses.retrieve("resp_1"),
    "responses.cancel": lambda c, _: c.responses.cancel("resp_1"),
    "audio.speech": lambda c, _: c.audio.speech.create(model="tts-1", voice="alloy", input="x"),
    "audio.transcriptions": lambda c, _: c.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", b"RIFF....")
    ),
    "assistant item without type": respond(
        extra_body={
            "input": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "again"},
            ]
        }
    ),
    "assistant item with type": respond(
        extra_body={
            "input": [
                {"type": "message", "role": "user", "content": "hi"},
                {"type": "message", "role": "assistant", "content": "yo"},
                {"type": "message", "role": "user", "content": "again"},
            ]
        }
    ),
    "input_file": respond(
        extra_body={
            "input": [
                user(
                    {"type": "input_text", "text": "x"},
                    {"type": "input_file", "file_id": "file-1"},
                )
            ]
        }
    ),
    "input_image without mmproj": respond(
        extra_body={"input": [user({"type": "input_image", "image_url": DATA_URL})]}
    ),
    "input_image by file_id": respond(
        extra_body={"input": [user({"type": "input_image", "file_id": "file-1"})]}
    ),
    "previous_response_id": respond(input="x", previous_response_id="resp_1"),
    "no input": respond(extra_body={}),
    "input of another type": respond(extra_body={"input": 5}),
    "unknown content part": respond(
        extra_body={"input": [user({"type": "input_txt", "text": "x"})]}
    ),
    "tools not a list": respond(input="x", extra_body={"tools": {"a": 1}}),
    "top_logprobs without logprobs": respond(input="x", top_logprobs=2),
    "refusal in assistant content": respond(
        extra_body={
            "input": [
                {"type": "message", "role": "user", "content": "hi"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "refusal", "refusal": "no"}],
                },
                {"type": "message", "role": "user", "content": "again"},
            ]
        }
    ),
    "tool output part without type": respond(
        extra_body={
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": [{"text": "x"}]},
            ]
        }
    ),
}


async def answers(client: openai.AsyncOpenAI, model: str) -> dict[str, Any]:
    """Per probe: "ok", or (status, error body, content type)."""
    out: dict[str, Any] = {}
    for name, probe in PROBES.items():
        try:
            await probe(client, model)
            out[name] = "ok"
        except openai.APIStatusError as exc:
            out[name] = (exc.status_code, exc.body, exc.response.headers.get("content-type"))
    return out


@pytest_asyncio.fixture
async def emulator(llama_server: LlamaServer) -> AsyncIterator[OpenAIEmulator]:
    emulator = OpenAIEmulator(compat="llama.cpp")
    emulator.llama_model = llama_server.model_id
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def test_the_llama_like_emulator_answers_as_llama_server_does(
    llama_server: LlamaServer, emulator: OpenAIEmulator
) -> None:
    def client(base_url: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=60)

    async with client(llama_server.base_url) as real, client(emulator.base_url) as fake:
        expected = await answers(real, llama_server.model_id)
        got = await answers(fake, llama_server.model_id)
        real_models = [(m.id, m.owned_by) async for m in real.models.list()]
        fake_models = [(m.id, m.owned_by) async for m in fake.models.list()]
    differences = {k: (expected[k], got[k]) for k in PROBES if expected[k] != got[k]}
    assert differences == {}
    assert fake_models == real_models
    # The probes do cover both outcomes.
    assert "ok" in expected.values() and any(v != "ok" for v in expected.values())
