"""Function tools, code interpreter, file search, images and hosted tools, end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pydantic
import pytest

from bot.models import Attachment, AttachmentError, Inbound
from bot.tools import ToolContext, ToolRegistry
from tests.emulators.openai import Reply
from tests.helpers import inbound, key, model_input


def attachment(name: str, data: bytes, mime: str, *, size: int | None = None) -> Attachment:
    async def download(max_bytes: int) -> bytes:
        if len(data) > max_bytes:
            raise AttachmentError("it is over the size limit")
        return data

    return Attachment(
        name=name, mime_type=mime, size=len(data) if size is None else size, download=download
    )


def with_files(text: str, *files: Attachment, thread: str = "t1") -> Inbound:
    base = inbound(text, thread=thread)
    return Inbound(
        key=base.key,
        text=text,
        user_id=base.user_id,
        event_id=base.event_id,
        message_id=base.message_id,
        anchor=base.anchor,
        attachments=files,
    )


def response_bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.responses_requests()]


def tool_types(body: dict[str, Any]) -> list[str]:
    return [t["type"] for t in body.get("tools", [])]


# --- function tools: schema ---------------------------------------------------------


class Order(pydantic.BaseModel):
    item: str
    quantity: int = 1


def test_schema_from_hints_and_docstring() -> None:
    async def book_table(
        restaurant: str,
        people: int,
        order: Order,
        note: str | None = None,
        context: ToolContext | None = None,
    ) -> str:
        """Book a table.

        Args:
            restaurant: Where to eat.
            people: How many guests.
            order: A pre-order.
            note: Anything the staff should know.
        """
        return "ok"

    book_table.__annotations__["context"] = ToolContext  # the injected parameter
    definition = ToolRegistry.from_functions([book_table]).definitions()[0]
    params = definition["parameters"]
    assert definition["strict"] is True
    assert definition["description"] == "Book a table."
    assert params["additionalProperties"] is False
    assert params["required"] == ["restaurant", "people", "order", "note"]
    assert "context" not in params["properties"]
    assert params["properties"]["people"] == {"type": "integer", "description": "How many guests."}
    assert {"type": "null"} in params["properties"]["note"]["anyOf"]
    order_schema = params["$defs"]["Order"]
    assert order_schema["additionalProperties"] is False
    assert order_schema["required"] == ["item", "quantity"]


def test_example_tools_module_loads() -> None:
    registry = ToolRegistry.from_module("bot.example_tools")
    assert registry.names() == ["get_weather", "current_time", "who_am_i"]


# --- function tools: running -----------------------------------------------------------

spans: dict[str, tuple[float, float]] = {}


async def slow_lookup(city: str) -> dict[str, str]:
    """Look up a city slowly."""
    start = time.monotonic()
    await asyncio.sleep(0.3)
    spans[city] = (start, time.monotonic())
    return {"city": city, "population": "big"}


async def test_parallel_calls_run_concurrently_and_answer_in_one_request(
    make_core: Any, openai_emulator: Any
) -> None:
    spans.clear()
    core = await make_core(ToolRegistry.from_functions([slow_lookup]))
    openai_emulator.script(
        Reply(
            function_calls=[("slow_lookup", {"city": "Paris"}), ("slow_lookup", {"city": "Oslo"})]
        )
    )
    await core.service.submit(inbound("compare Paris and Oslo"))
    await core.service.drain()
    (paris, oslo) = spans["Paris"], spans["Oslo"]
    assert paris[0] < oslo[1] and oslo[0] < paris[1]  # they overlapped
    bodies = response_bodies(openai_emulator)
    assert len(bodies) == 2
    outputs = [i for i in model_input(bodies[1]) if i.get("type") == "function_call_output"]
    assert len(outputs) == 2
    assert {json.loads(o["output"])["city"] for o in outputs} == {"Paris", "Oslo"}
    assert bodies[0]["tools"][0]["name"] == "slow_lookup"
    reply = core.replier.replies[0]
    assert reply.text.startswith("tool results: ")
    assert reply.error is None
    labels = [(s.label, s.done) for s in reply.steps]
    assert labels.count(("Calling slow_lookup", False)) == 2
    assert labels.count(("Calling slow_lookup", True)) == 2


def boom(x: int) -> str:
    """Always fails."""
    raise RuntimeError("database is down")


async def hang(x: int) -> str:
    """Never returns in time."""
    await asyncio.sleep(30)
    return "late"


def unserialisable(x: int) -> object:
    """Returns something JSON cannot hold."""
    return object()


def huge(x: int) -> str:
    """Returns far too much."""
    return "y" * 5000


async def test_broken_functions_become_error_outputs_and_the_user_gets_an_answer(
    make_core: Any, openai_emulator: Any
) -> None:
    tools = ToolRegistry.from_functions(
        [boom, hang, unserialisable, huge], timeout=0.3, output_limit=200
    )
    core = await make_core(tools)
    openai_emulator.script(
        Reply(
            function_calls=[
                ("boom", {"x": 1}),
                ("hang", {"x": 1}),
                ("unserialisable", {"x": 1}),
                ("huge", {"x": 1}),
                ("boom", {"x": "not a number"}),
                ("missing", {}),
            ]
        )
    )
    await core.service.submit(inbound("try everything"))
    await core.service.drain()
    outputs = [i["output"] for i in model_input(response_bodies(openai_emulator)[1])]
    assert outputs[0] == "Error: boom failed: RuntimeError: database is down"
    assert outputs[1] == "Error: hang did not finish within 0.3 seconds."
    assert outputs[2].startswith("Error: unserialisable returned a object")
    assert len(outputs[3]) == 200 and outputs[3].endswith("[output truncated by threadbridge]")
    assert outputs[4].startswith("Error: invalid arguments for boom: x:")
    assert outputs[5] == "Error: there is no function named 'missing'."
    reply = core.replier.replies[0]
    assert reply.error is None and reply.text.startswith("tool results: Error: boom failed")
    # The service is still alive for the next message.
    await core.service.submit(inbound("still there?"))
    await core.service.drain()
    assert core.replier.replies[1].text == "echo: still there?"


def whoami(context: ToolContext) -> str:
    """Who asks."""
    return f"{context.user_id} in {context.thread.thread}"


async def test_function_sees_thread_and_user(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(ToolRegistry.from_functions([whoami]))
    openai_emulator.script(Reply(function_calls=[("whoami", {})]))
    await core.service.submit(inbound("who am I?", user="U777", thread="room-9"))
    await core.service.drain()
    assert core.replier.replies[0].text == "tool results: U777 in room-9"


async def test_tool_rounds_are_capped(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(ToolRegistry.from_functions([whoami]), THREADBRIDGE_TOOL_ROUNDS=2)
    openai_emulator.model = lambda req: Reply(function_calls=[("whoami", {})])
    await core.service.submit(inbound("loop"))
    await core.service.drain()
    assert len(openai_emulator.responses_requests()) == 3
    assert core.replier.replies[0].notices == ["Stopped after too many tool calls in one turn."]


# --- code interpreter ------------------------------------------------------------------

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def test_generated_files_come_back_once_with_and_without_citation(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CODE_INTERPRETER="true")
    openai_emulator.script(
        Reply(text="Here is the chart", code="plot()", files=[("chart.png", PNG)], cite_files=True),
        Reply(
            text="And the data",
            code="save()",
            files=[("data.csv", b"a,b\n1,2\n")],
            cite_files=False,
        ),
    )
    await core.service.submit(inbound("plot it"))
    await core.service.drain()
    await core.service.submit(inbound("now the csv"))
    await core.service.drain()
    first, second = core.replier.replies
    assert [(f.name, f.mime_type, f.data) for f in first.files] == [("chart.png", "image/png", PNG)]
    assert [(f.name, f.mime_type, f.data) for f in second.files] == [
        ("data.csv", "text/csv", b"a,b\n1,2\n")
    ]
    assert ("Running code", False) in [(s.label, s.done) for s in first.steps]
    assert ("Running code", True) in [(s.label, s.done) for s in first.steps]
    thread = await core.store.find_thread(key())
    assert thread is not None and thread.container_id
    bodies = response_bodies(openai_emulator)
    assert {"type": "code_interpreter", "container": thread.container_id} in bodies[0]["tools"]
    # One container for the thread, reused on the second turn.
    assert [r.path for r in openai_emulator.requests].count("/v1/containers") == 1


async def test_attached_data_file_goes_to_the_container_and_survives_expiry(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CODE_INTERPRETER="true")
    await core.service.submit(
        with_files("analyse", attachment("sales.csv", b"q,v\n1,9\n", "text/csv"))
    )
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None and thread.container_id
    old_container = thread.container_id
    container_files = openai_emulator.containers[old_container].files
    assert [f.filename for f in container_files.values()] == ["sales.csv"]

    openai_emulator.expire_container(old_container)
    openai_emulator.script(Reply(text="still here", code="read()", files=[("out.txt", b"ok")]))
    await core.service.submit(inbound("again"))
    await core.service.drain()
    reply = core.replier.replies[-1]
    assert reply.error is None and reply.text.startswith("still here")
    assert [f.name for f in reply.files] == ["out.txt"]
    thread = await core.store.find_thread(key())
    assert thread is not None and thread.container_id != old_container
    new_files = openai_emulator.containers[thread.container_id].files.values()
    assert "sales.csv" in [f.filename for f in new_files]


async def test_oversized_generated_file_is_a_notice(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(THREADBRIDGE_CODE_INTERPRETER="true", THREADBRIDGE_MAX_FILE_BYTES=50)
    openai_emulator.script(Reply(text="big", code="x()", files=[("big.bin", b"x" * 500)]))
    await core.service.submit(inbound("make a big file"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.files == []
    assert reply.notices == ["big.bin is too large to post (500 bytes; limit 50 bytes)."]


# --- files in --------------------------------------------------------------------------


async def test_images_and_documents_go_to_the_model(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core()
    await core.service.submit(
        with_files(
            "what is this?",
            attachment("photo.png", PNG, "image/png"),
            attachment("spec.pdf", b"%PDF-1.4 fake", "application/pdf"),
        )
    )
    await core.service.drain()
    content = model_input(response_bodies(openai_emulator)[0])[0]["content"]
    assert [p["type"] for p in content] == ["input_text", "input_image", "input_file"]
    uploads = [r for r in openai_emulator.requests if r.path == "/v1/files"]
    assert [(u.body["purpose"], u.body["file"]["filename"]) for u in uploads] == [
        ("user_data", "photo.png"),
        ("user_data", "spec.pdf"),
    ]
    assert core.replier.replies[0].text == "echo: what is this? [image] [file spec.pdf]"


async def test_unsupported_and_oversized_files_get_notices_and_text_is_answered(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_MAX_FILE_BYTES=1000)
    await core.service.submit(
        with_files(
            "and this?",
            attachment("tool.exe", b"MZ...", "application/x-msdownload"),
            attachment("huge.pdf", b"x", "application/pdf", size=5000),
        )
    )
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "echo: and this?"
    assert any("huge.pdf" in n and "limit" in n for n in reply.notices)
    assert any("tool.exe" in n for n in reply.notices)
    assert not [r for r in openai_emulator.requests if r.path == "/v1/files"]


async def test_document_in_thread_becomes_searchable_in_that_thread(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    await core.service.submit(
        with_files("read this", attachment("notes.md", b"# Notes\nfact", "text/markdown"))
    )
    await core.service.drain()
    thread = await core.store.find_thread(key())
    assert thread is not None and thread.vector_store_id
    openai_emulator.script(Reply(text="According to the notes", file_search="fact"))
    await core.service.submit(inbound("what is the fact?"))
    await core.service.drain()
    body = response_bodies(openai_emulator)[-1]
    assert {"type": "file_search", "vector_store_ids": [thread.vector_store_id]} in body["tools"]
    reply = core.replier.replies[-1]
    assert reply.text == "According to the notes\n\nSources: notes.md"
    assert ("Searching the knowledge base", True) in [(s.label, s.done) for s in reply.steps]


# --- images out and hosted tools ------------------------------------------------------


async def test_image_generation_becomes_a_png_file(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(THREADBRIDGE_IMAGE_GENERATION="true")
    openai_emulator.script(Reply(text="Here you go", image_b64=base64.b64encode(PNG).decode()))
    await core.service.submit(inbound("draw a dot"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert [(f.name, f.mime_type, f.data) for f in reply.files] == [
        ("image-1.png", "image/png", PNG)
    ]
    assert ("Generating an image", False) in [(s.label, s.done) for s in reply.steps]
    assert "image_generation" in tool_types(response_bodies(openai_emulator)[0])


async def test_web_search_and_mcp_are_passed_through(make_core: Any, openai_emulator: Any) -> None:
    servers = json.dumps(
        [{"label": "docs", "url": "https://mcp.example.com/sse", "allowed_tools": ["search_docs"]}]
    )
    core = await make_core(THREADBRIDGE_WEB_SEARCH="true", THREADBRIDGE_MCP_SERVERS=servers)
    openai_emulator.script(Reply(text="found it", web_search="threadbridge"))
    await core.service.submit(inbound("search"))
    await core.service.drain()
    tools = response_bodies(openai_emulator)[0]["tools"]
    assert {"type": "web_search"} in tools
    assert {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com/sse",
        "allowed_tools": ["search_docs"],
        "require_approval": {"never": {"tool_names": ["search_docs"]}},
    } in tools
    assert ("Searching the web", True) in [(s.label, s.done) for s in core.replier.replies[0].steps]


async def test_function_calls_share_a_bounded_number_of_slots(
    make_core: Any, openai_emulator: Any
) -> None:
    """Turns are not limited much (they wait on the network); the functions they run are."""
    running: list[int] = []
    peak: list[int] = []

    async def slow(n: int) -> str:
        """Take a while."""
        running.append(n)
        peak.append(len(running))
        await asyncio.sleep(0.05)
        running.remove(n)
        return f"done {n}"

    core = await make_core(ToolRegistry.from_functions([slow], concurrency=2))
    openai_emulator.script(Reply(function_calls=[("slow", {"n": i}) for i in range(6)]))
    await core.service.submit(inbound("go"))
    await core.service.drain()
    assert max(peak) == 2
    assert core.replier.replies[0].text.count("done") == 6


@pytest.mark.parametrize(
    "value",
    ["sometimes", {"always": ["search_docs"]}, {"maybe": {"tool_names": ["x"]}}, {}],
)
def test_a_bad_require_approval_names_the_server(value: object) -> None:
    from bot.assistant import AssistantConfigError, parse_mcp_servers

    raw = json.dumps(
        [
            {
                "label": "docs",
                "url": "https://x.example",
                "allowed_tools": ["a"],
                "require_approval": value,
            }
        ]
    )
    with pytest.raises(AssistantConfigError, match="server 'docs': require_approval"):
        parse_mcp_servers(raw)


def test_require_approval_values_are_passed_as_openai_takes_them() -> None:
    from bot.assistant import parse_mcp_servers

    for value in ("always", "never", {"always": {"tool_names": ["a"]}}):
        entry = {"label": "d", "url": "https://x.example", "allowed_tools": ["a"]}
        (server,) = parse_mcp_servers(json.dumps([{**entry, "require_approval": value}]))
        assert server.tool()["require_approval"] == value
