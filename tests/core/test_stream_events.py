"""bot.engine.stream: the SDK's stream events mapped to reply events, from SDK objects."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from openai.types.responses import (
    Response,
    ResponseAudioDeltaEvent,
    ResponseCodeInterpreterToolCall,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFileSearchToolCall,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)
from openai.types.responses.response_output_item import ImageGenerationCall, McpCall

from bot.engine import TurnFailed
from bot.engine.stream import Round, map_event, map_response
from bot.models import FileReady, Notice, Progress, Started, TextDelta, Usage
from bot.tools import FunctionCall


def response(**fields: Any) -> Response:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1.0,
        "model": "gpt-test",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "status": "in_progress",
    }
    body.update(fields)
    return Response.model_validate(body)


def usage(inp: int, out: int) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": inp + out,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def message(text: str, annotations: list[dict[str, Any]] | None = None) -> ResponseOutputMessage:
    return ResponseOutputMessage.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": annotations or []}],
        }
    )


def done(item: Any) -> ResponseOutputItemDoneEvent:
    return ResponseOutputItemDoneEvent(
        type="response.output_item.done", item=item, output_index=0, sequence_number=5
    )


def added(item: Any) -> ResponseOutputItemAddedEvent:
    return ResponseOutputItemAddedEvent(
        type="response.output_item.added", item=item, output_index=0, sequence_number=1
    )


CODE = ResponseCodeInterpreterToolCall(
    id="ci_1", type="code_interpreter_call", status="completed", container_id="cntr_1", code="1"
)


def test_text_deltas_become_text() -> None:
    event = ResponseTextDeltaEvent(
        type="response.output_text.delta",
        delta="Hel",
        item_id="msg_1",
        output_index=0,
        content_index=0,
        logprobs=[],
        sequence_number=3,
    )
    assert map_event(event, Round()) == [TextDelta("Hel")]


def test_created_announces_the_response_unless_told_not_to() -> None:
    event = ResponseCreatedEvent(
        type="response.created", response=response(id="resp_9"), sequence_number=0
    )
    first = Round()
    assert map_event(event, first) == [Started("resp_9")]
    resumed = Round(announce=False)
    assert map_event(event, resumed) == []
    assert first.response_id == resumed.response_id == "resp_9"


def test_completed_finishes_the_round_with_its_usage() -> None:
    result = Round()
    event = ResponseCompletedEvent(
        type="response.completed",
        response=response(status="completed", usage=usage(12, 34)),
        sequence_number=9,
    )
    assert map_event(event, result) == []
    assert result.finished and result.usage == Usage(12, 34)
    # A server that counts nothing leaves the usage at zero.
    bare = Round()
    map_event(
        ResponseCompletedEvent(
            type="response.completed", response=response(status="completed"), sequence_number=9
        ),
        bare,
    )
    assert bare.finished and bare.usage == Usage()


def test_incomplete_finishes_with_a_notice_naming_the_reason() -> None:
    result = Round()
    event = ResponseIncompleteEvent(
        type="response.incomplete",
        response=response(
            status="incomplete",
            incomplete_details={"reason": "max_output_tokens"},
            usage=usage(1, 2),
        ),
        sequence_number=9,
    )
    assert map_event(event, result) == [Notice("The reply was cut short (max output tokens).")]
    assert result.finished and result.usage == Usage(1, 2)


def test_a_failed_response_and_an_error_event_fail_the_turn() -> None:
    failed = ResponseFailedEvent(
        type="response.failed",
        response=response(status="failed", error={"code": "server_error", "message": "boom"}),
        sequence_number=4,
    )
    with pytest.raises(TurnFailed, match="could not finish"):
        map_event(failed, Round())
    error = ResponseErrorEvent(
        type="error", message="oops", code=None, param=None, sequence_number=2
    )
    with pytest.raises(TurnFailed, match="broke off"):
        map_event(error, Round())


def test_hosted_tool_items_are_steps() -> None:
    search = ResponseFileSearchToolCall(
        id="fs_1", type="file_search_call", status="in_progress", queries=["q"]
    )
    mcp = McpCall(id="mcp_1", type="mcp_call", server_label="docs", name="lookup", arguments="{}")
    result = Round()
    assert map_event(added(search), result) == [
        Progress("fs_1", "file_search", "Searching the knowledge base", detail="q")
    ]
    assert map_event(added(mcp), result) == [
        Progress("mcp_1", "mcp", "Using docs: lookup", detail="{}")
    ]
    assert map_event(done(CODE), result) == [
        Progress("ci_1", "code", "Running code", done=True, detail="1")
    ]
    failed = CODE.model_copy(update={"status": "failed", "code": "x = 1\ny = 2"})
    assert map_event(done(failed), result) == [
        Progress("ci_1", "code", "Running code", done=True, detail="x = 1", failed=True)
    ]
    assert result.ran_code


def test_a_function_call_is_kept_for_the_turn_not_shown() -> None:
    call = ResponseFunctionToolCall(
        type="function_call", call_id="call_1", name="weather", arguments='{"city": "Oslo"}'
    )
    result = Round()
    assert map_event(added(call), result) == []
    assert map_event(done(call), result) == []
    assert result.calls == [FunctionCall("call_1", "weather", '{"city": "Oslo"}')]
    assert result.output_items == [
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "weather",
            "arguments": '{"city": "Oslo"}',
        }
    ]


def test_a_message_keeps_its_text_and_citations() -> None:
    item = message(
        "See the chart.",
        [
            {
                "type": "container_file_citation",
                "container_id": "cntr_1",
                "file_id": "cfile_1",
                "filename": "chart.png",
                "start_index": 0,
                "end_index": 3,
            },
            {"type": "file_citation", "file_id": "file_1", "filename": "handbook.pdf", "index": 1},
        ],
    )
    result = Round()
    assert map_event(done(item), result) == []
    assert result.output_items == [
        {"type": "message", "role": "assistant", "content": "See the chart."}
    ]
    assert result.container_files == {"cfile_1": ("cntr_1", "chart.png")}
    assert result.cited_names == ["handbook.pdf"]


def test_generated_images_become_files_numbered_across_the_turn() -> None:
    png = b"\x89PNG fake"
    image = ImageGenerationCall(
        id="ig_1",
        type="image_generation_call",
        status="completed",
        result=base64.b64encode(png).decode(),
        revised_prompt="a cat",
    )
    result = Round(images=1)
    events = map_event(done(image), result)
    assert events[0] == Progress("ig_1", "image", "Generating an image", done=True)
    [ready] = events[1:]
    assert isinstance(ready, FileReady)
    assert (ready.file.name, ready.file.data, ready.file.alt_text) == ("image-2.png", png, "a cat")
    assert result.images == 2


def test_events_the_turn_does_not_use_give_nothing() -> None:
    in_progress = ResponseInProgressEvent(
        type="response.in_progress", response=response(), sequence_number=1
    )
    assert map_event(in_progress, Round()) == []


def test_what_the_sdk_builds_for_odd_server_data_gives_nothing() -> None:
    # The SDK's typed stream builds events without validation (`model_construct`): a
    # type newer than the SDK arrives as the union's first class, a known type missing
    # its fields without those attributes.
    odd: list[Any] = [
        ResponseAudioDeltaEvent.model_construct(type="response.hologram.delta", delta="zap"),
        ResponseTextDeltaEvent.model_construct(type="response.output_text.delta"),
        ResponseOutputItemAddedEvent.model_construct(type="response.output_item.added"),
        ResponseOutputItemDoneEvent.model_construct(
            type="response.output_item.done", item=ResponseOutputMessage.model_construct()
        ),
    ]
    for event in odd:
        assert map_event(event, Round()) == []


def test_a_finished_response_read_back_gives_its_text_and_items() -> None:
    call = ResponseFunctionToolCall(
        type="function_call", call_id="call_1", name="weather", arguments="{}"
    )
    finished = response(
        id="resp_7",
        status="incomplete",
        incomplete_details={"reason": "content_filter"},
        output=[CODE.model_dump(), message("Four.").model_dump(), call.model_dump()],
        usage=usage(5, 6),
    )
    result = Round(announce=False)
    assert map_response(finished, result) == [
        Progress("ci_1", "code", "Running code", done=True, detail="1"),
        TextDelta("Four."),
        Notice("The reply was cut short (content filter)."),
    ]
    assert result.finished and result.response_id == "resp_7"
    assert result.usage == Usage(5, 6)
    assert [c.call_id for c in result.calls] == ["call_1"]
    assert result.ran_code
