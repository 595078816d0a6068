"""Remote MCP tool with approvals, through the real openai.AsyncOpenAI client only."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseStreamEvent

from tests.emulators.openai import OpenAIEmulator, Reply

SERVER = "https://mcp.example.com/mcp/secret-path"


def mcp_tool(**extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "docs", "server_url": SERVER, **extra}


async def collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


def item_types(events: list[Any]) -> list[str]:
    return [e.item.type for e in events if e.type == "response.output_item.done"]


async def test_approval_needed_then_approved_runs_the_call_then_the_text(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    tools: Any = [mcp_tool()]  # no require_approval: OpenAI's default, "always"
    openai_emulator.script(Reply(mcp_calls=[("docs", "search", {"q": "lease"})]))
    events = await collect(
        await client.responses.create(
            model="gpt-4.1", conversation=conv.id, input="find the lease", tools=tools, stream=True
        )
    )
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    for event in events:  # each is the SDK's own event class, and validates as one
        type(event).model_validate(event.model_dump())
    assert events[2].item.type == "mcp_list_tools" and events[2].item.tools == []
    listed = events[5].item
    assert listed.server_label == "docs" and [t.name for t in listed.tools] == ["search"]
    assert listed.id.startswith("mcpl_") and events[3].item_id == listed.id
    final = events[-1].response
    assert final.status == "completed"
    request = final.output[1]
    assert request.type == "mcp_approval_request" and request.id.startswith("mcpr_")
    assert (request.server_label, request.name) == ("docs", "search")
    assert json.loads(request.arguments) == {"q": "lease"}
    assert not [o for o in final.output if o.type in ("mcp_call", "message")]
    assert openai_emulator.mcp_calls_run == []
    assert openai_emulator.mcp_approval_requests[request.id]["name"] == "search"

    openai_emulator.script(Reply(text="The lease ends in May.", mcp_output="lease.pdf: May"))
    answer: Any = [
        {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
    ]
    events = await collect(
        await client.responses.create(
            model="gpt-4.1", conversation=conv.id, input=answer, tools=tools, stream=True
        )
    )
    types = [e.type for e in events]
    assert "response.mcp_list_tools.in_progress" not in types  # listed in the conversation
    assert types[2:6] == [
        "response.output_item.added",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
    ]
    assert types[6] == "response.output_item.added" and events[6].item.type == "message"
    added = events[2].item
    assert added.type == "mcp_call" and added.status == "in_progress" and added.output is None
    assert json.loads(added.arguments) == {"q": "lease"}  # approved: known, not streamed
    final = events[-1].response
    call = final.output[0]
    assert call.type == "mcp_call" and call.id.startswith("mcp_")
    assert call.approval_request_id == request.id and call.status == "completed"
    assert call.output == "lease.pdf: May" and call.error is None
    assert final.output_text == "The lease ends in May."
    assert openai_emulator.mcp_approvals == {request.id: True}
    [run] = openai_emulator.mcp_calls_run
    assert (run.server_label, run.name, run.arguments) == ("docs", "search", {"q": "lease"})
    assert run.approval_request_id == request.id and run.response_id == final.id

    page = await client.conversations.items.list(conv.id, order="asc")
    assert [i.type for i in page.data] == [
        "message",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "message",
    ]
    stored = page.data[3]
    assert stored.type == "mcp_approval_response" and stored.approve is True and stored.id

    # answering the same request again: refused, and nothing runs
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(
            model="gpt-4.1", conversation=conv.id, input=answer, tools=tools
        )
    assert err.value.body == {
        "message": f"MCP approval request '{request.id}' has already been answered.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }
    assert err.value.param == "input"
    assert len(openai_emulator.mcp_calls_run) == 1


async def test_denied_runs_nothing_and_unknown_ids_are_refused(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    tools: Any = [mcp_tool(require_approval="always")]
    openai_emulator.script(Reply(mcp_calls=[("docs", "delete", {"id": 7})]))
    first = await client.responses.create(model="gpt-4.1", input="delete 7", tools=tools)
    request = next(o for o in first.output if o.type == "mcp_approval_request")
    denial: Any = [
        {
            "type": "mcp_approval_response",
            "approval_request_id": request.id,
            "approve": False,
            "reason": "not now",
        }
    ]
    second = await client.responses.create(
        model="gpt-4.1", previous_response_id=first.id, input=denial, tools=tools
    )
    assert [o.type for o in second.output] == ["message"]  # listed in the chain already
    assert second.output_text == "mcp call denied: delete"
    assert openai_emulator.mcp_approvals == {request.id: False}
    assert openai_emulator.mcp_calls_run == []
    # twice along the chain, and an id never issued
    for bad_id, message in [
        (request.id, f"MCP approval request '{request.id}' has already been answered."),
        ("mcpr_nope", "No MCP approval request found with id 'mcpr_nope'."),
    ]:
        with pytest.raises(openai.BadRequestError) as err:
            await client.responses.create(
                model="gpt-4.1",
                previous_response_id=second.id,
                tools=tools,
                input=[
                    {
                        "type": "mcp_approval_response",
                        "approval_request_id": bad_id,
                        "approve": True,
                    }
                ],
            )
        assert message in err.value.message and err.value.param == "input"
    assert openai_emulator.mcp_calls_run == []


async def test_never_runs_the_call_at_once_with_streamed_arguments(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    tools: Any = [mcp_tool(require_approval="never", headers={"Authorization": "Bearer s3"})]
    openai_emulator.script(Reply(mcp_calls=[("docs", "search", {"q": "rent"})], chunk_chars=5))
    events = await collect(
        await client.responses.create(
            model="gpt-4.1", conversation=conv.id, input="rent?", tools=tools, stream=True
        )
    )
    types = [e.type for e in events]
    start = types.index("response.mcp_call.in_progress")
    arguments = json.dumps({"q": "rent"})
    n_deltas = -(-len(arguments) // 5)
    assert types[start - 1 : start + n_deltas + 4] == [
        "response.output_item.added",
        "response.mcp_call.in_progress",
        *["response.mcp_call_arguments.delta"] * n_deltas,
        "response.mcp_call_arguments.done",
        "response.mcp_call.completed",
        "response.output_item.done",
    ]
    assert events[start - 1].item.arguments == ""
    streamed = "".join(e.delta for e in events if e.type == "response.mcp_call_arguments.delta")
    assert streamed == arguments
    done = next(e for e in events if e.type == "response.mcp_call_arguments.done")
    assert done.arguments == arguments
    assert item_types(events) == ["mcp_list_tools", "mcp_call", "message"]
    final = events[-1].response
    call = final.output[1]
    assert call.approval_request_id is None and call.output == "mcp ok"
    assert final.output_text == "mcp results: mcp ok"
    # the response does not echo secrets or the URL's path; the call got them
    echoed = final.tools[0]
    assert echoed.type == "mcp" and echoed.headers is None
    assert echoed.server_url == "https://mcp.example.com"
    assert openai_emulator.mcp_calls_run[0].headers == {"Authorization": "Bearer s3"}
    assert openai_emulator.mcp_approvals == {}

    # next turn: the list is in the conversation, so no new mcp_list_tools
    openai_emulator.script(Reply(mcp_calls=[("docs", "search", {"q": "due"})], text="Due 1st."))
    again = await client.responses.create(
        model="gpt-4.1", conversation=conv.id, input="due?", tools=tools
    )
    assert [o.type for o in again.output] == ["mcp_call", "message"]
    assert again.output_text == "Due 1st."
    assert [r.arguments for r in openai_emulator.mcp_calls_run] == [{"q": "rent"}, {"q": "due"}]


async def test_per_tool_require_approval_filters(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.mcp_server_tools["docs"] = [
        "search",
        "write",
        "archive",
        {"name": "stat", "annotations": {"read_only": True}},
    ]
    tools: Any = [
        mcp_tool(
            require_approval={
                "always": {"tool_names": ["write"]},
                "never": {"tool_names": ["search", "write"]},
            }
        ),
        {
            "type": "mcp",
            "server_label": "files",
            "connector_id": "connector_dropbox",
            "authorization": "oauth-token",
            "require_approval": {"never": {"read_only": True}},
        },
    ]
    openai_emulator.mcp_server_tools["files"] = [
        {"name": "stat", "annotations": {"read_only": True}},
        {"name": "upload", "annotations": {"read_only": False}},
    ]
    openai_emulator.script(
        Reply(
            mcp_calls=[
                ("docs", "search", {"q": "a"}),  # never
                ("docs", "write", {"q": "b"}),  # always wins over never
                ("docs", "archive", {}),  # neither: approval needed
                ("files", "stat", {}),  # read-only: never
                ("files", "upload", {}),  # not read-only: approval needed
            ]
        )
    )
    events = await collect(
        await client.responses.create(model="gpt-4.1", input="go", tools=tools, stream=True)
    )
    final = events[-1].response
    summary = [
        (o.type, getattr(o, "server_label", None), getattr(o, "name", None)) for o in final.output
    ]
    assert summary == [
        ("mcp_list_tools", "docs", None),
        ("mcp_list_tools", "files", None),
        ("mcp_call", "docs", "search"),
        ("mcp_call", "files", "stat"),
        ("mcp_approval_request", "docs", "write"),
        ("mcp_approval_request", "docs", "archive"),
        ("mcp_approval_request", "files", "upload"),
    ]
    listed = final.output[0]
    assert [t.name for t in listed.tools] == ["search", "write", "archive", "stat"]
    assert listed.tools[3].annotations == {"read_only": True}
    assert "authorization" not in final.tools[1].model_dump(exclude_unset=True)
    assert [(r.server_label, r.name) for r in openai_emulator.mcp_calls_run] == [
        ("docs", "search"),
        ("files", "stat"),
    ]


async def test_unanswered_approval_does_not_block_the_next_message(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    conv = await client.conversations.create()
    tools: Any = [mcp_tool()]
    openai_emulator.script(Reply(text="Let me look.", mcp_calls=[("docs", "search", {"q": "x"})]))
    asked = await client.responses.create(
        model="gpt-4.1", conversation=conv.id, input="a", tools=tools
    )
    # scripted text comes first; the turn then waits on the request
    assert [o.type for o in asked.output] == ["mcp_list_tools", "message", "mcp_approval_request"]
    later = await client.responses.create(
        model="gpt-4.1", conversation=conv.id, input="never mind", tools=tools
    )
    assert later.output_text == "echo: never mind"
    assert openai_emulator.mcp_calls_run == [] and openai_emulator.mcp_approvals == {}


async def test_stateless_caller_passes_the_request_back(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    tools: Any = [mcp_tool()]
    openai_emulator.script(Reply(mcp_calls=[("docs", "search", {"q": "x"})]))
    first = await client.responses.create(model="gpt-4.1", input="x?", tools=tools, store=False)
    replay: list[Any] = [o.model_dump(exclude_none=True) for o in first.output]
    request_id = replay[1]["id"]
    openai_emulator.script(Reply(mcp_output="found x"))
    second = await client.responses.create(
        model="gpt-4.1",
        store=False,
        tools=tools,
        input=[
            {"role": "user", "content": "x?"},
            *replay,
            {"type": "mcp_approval_response", "approval_request_id": request_id, "approve": True},
        ],
    )
    assert [o.type for o in second.output] == ["mcp_call", "message"]  # list was replayed
    assert second.output_text == "mcp results: found x"
    assert openai_emulator.spec_violations == []


async def test_calls_the_request_does_not_allow_are_not_made(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    tools: Any = [mcp_tool(require_approval="never", allowed_tools=["search"])]
    openai_emulator.script(
        Reply(
            mcp_calls=[("docs", "search", {}), ("docs", "drop", {}), ("other", "search", {})],
            mcp_error="upstream 502",
        )
    )
    events = await collect(
        await client.responses.create(model="gpt-4.1", input="x", tools=tools, stream=True)
    )
    assert "response.mcp_call.failed" in [e.type for e in events]
    final = events[-1].response
    call = final.output[1]
    assert call.type == "mcp_call" and call.status == "failed" and call.output is None
    assert call.error is not None and call.error.type == "mcp_tool_execution_error"
    assert call.error.content == [{"type": "text", "text": "upstream 502"}]
    assert [t.name for t in final.output[0].tools] == ["search"]
    assert openai_emulator.mcp_calls_ignored == [
        ("docs", "drop", "not in allowed_tools"),
        ("other", "search", "no mcp tool with this server_label in the request"),
    ]
    assert [r.error for r in openai_emulator.mcp_calls_run] == ["upstream 502"]


async def test_the_definition_decides_what_an_mcp_tool_may_hold(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    ok: list[Any] = [
        mcp_tool(require_approval="never"),
        mcp_tool(require_approval=None),
        mcp_tool(
            require_approval={"always": {"tool_names": ["a"]}, "never": {"read_only": True}},
            allowed_tools={"tool_names": ["a"], "read_only": False},
            headers={"X-Key": "k"},
            server_description="Docs.",
        ),
        {"type": "mcp", "server_label": "drive", "connector_id": "connector_googledrive"},
    ]
    for tool in ok:
        await client.responses.create(model="gpt-4.1", input="x", tools=[tool])
    bad: list[tuple[Any, str]] = [
        (mcp_tool(require_approval="sometimes"), "tools[0].require_approval"),
        (
            mcp_tool(require_approval={"always": {"tool_names": "a"}}),
            "tools[0].require_approval.always.tool_names",
        ),
        (mcp_tool(require_approval={"maybe": {}}), "tools[0].require_approval.maybe"),
        (mcp_tool(allowed_tools="a"), "tools[0].allowed_tools"),
        (mcp_tool(headers={"X-Key": 1}), "tools[0].headers.X-Key"),
        ({"type": "mcp", "server_url": SERVER}, "tools[0].server_label"),
        ({"type": "mcp", "server_label": "d", "connector_id": "nope"}, "tools[0].connector_id"),
        # the definition allows it; there is no server to connect to
        ({"type": "mcp", "server_label": "d"}, "tools[0].server_url"),
    ]
    for tool, param in bad:
        with pytest.raises(openai.BadRequestError) as err:
            await client.responses.create(model="gpt-4.1", input="x", tools=[tool])
        assert err.value.param == param
    not_a_bool: Any = [
        {"type": "mcp_approval_response", "approval_request_id": "x", "approve": "y"}
    ]
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="gpt-4.1", input=not_a_bool)
    assert err.value.param == "input[0].approve"
    assert len(openai_emulator.spec_violations) == 8


async def test_llama_cpp_drops_the_mcp_tool_and_refuses_approval_items(
    llama_like_emulator: OpenAIEmulator,
) -> None:
    async with openai.AsyncOpenAI(
        base_url=llama_like_emulator.base_url, api_key="sk-test", max_retries=0, timeout=10
    ) as client:
        llama_like_emulator.script(Reply(mcp_calls=[("docs", "search", {})], text="plain"))
        tools: Any = [mcp_tool(require_approval="never")]
        events: list[ResponseStreamEvent] = await collect(
            await client.responses.create(model="any", input="x", tools=tools, stream=True)
        )
        assert item_types(events) == ["message"]
        assert llama_like_emulator.mcp_calls_run == []
        sent = llama_like_emulator.responses_requests()[0].json
        assert sent["tools"][0]["type"] == "mcp"  # recorded as sent, dropped when handled
        with pytest.raises(openai.BadRequestError) as err:
            await client.responses.create(
                model="any",
                input=[
                    {"type": "mcp_approval_response", "approval_request_id": "m", "approve": True}
                ],
            )
        assert err.value.body == {
            "code": 400,
            "message": "Cannot determine type of 'item'",
            "type": "invalid_request_error",
        }
