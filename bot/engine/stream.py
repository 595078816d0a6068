"""The Responses API's stream events, mapped to the platform-neutral reply events.

Pure: no I/O and no client. `map_event` takes one event of the SDK's typed stream
(`openai.types.responses.ResponseStreamEvent`) and returns the reply events it makes
(:mod:`bot.models`), noting in a :class:`Round` what the turn needs once the response
is over (function calls, the output items for the stateless history, files cited,
usage). `map_response` does the same for a finished response read back whole, as a
resumed turn finds it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, get_args

import pydantic
from openai import AsyncStream
from openai.types.responses import (
    Response,
    ResponseCodeInterpreterToolCall,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFileSearchToolCall,
    ResponseFunctionToolCall,
    ResponseFunctionWebSearch,
    ResponseIncompleteEvent,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_item import (
    ImageGenerationCall,
    McpApprovalRequest,
    McpCall,
)
from openai.types.responses.response_output_text import (
    AnnotationContainerFileCitation,
    AnnotationFileCitation,
)
from typing_extensions import TypeAliasType

from bot.engine.errors import TurnFailed
from bot.models import (
    EngineEvent,
    FileReady,
    Notice,
    OutFile,
    Progress,
    Started,
    StepKind,
    TextDelta,
    Usage,
)
from bot.tools import FunctionCall

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    StreamEvent = ResponseStreamEvent
else:
    # The SDK's own event union, also tagged for pydantic by its `type`. The SDK's
    # annotation (`PropertyInfo(discriminator="type")`) is its own: pydantic does not
    # read it, so every event is validated against each of the ~60 event types (about
    # 120 us a delta, a quarter of a burst's CPU). With pydantic's discriminator it is
    # validated against the one type it names (about 5 us), into the same SDK classes;
    # the SDK's annotation stays so that an event that fails validation is still built
    # as the class its `type` names, as the SDK does.
    _UNION, *_SDK_META = get_args(ResponseStreamEvent)
    StreamEvent = TypeAliasType(
        "StreamEvent", Annotated[(_UNION, *_SDK_META, pydantic.Field(discriminator="type"))]
    )


class EventStream(AsyncStream[StreamEvent]):
    """A response's stream of SDK events, parsed by the tagged union `StreamEvent`.

    Asked for with the SDK's public `with_raw_response` + `parse(to=EventStream)`.
    """


FAILED = "The model could not finish this answer. Please try again."
BROKE_OFF = "The model stream broke off. Please try again."


@dataclass
class Round:
    """What one response left behind for the turn.

    `announce`: emit `Started` for the response (not in stateless mode, where nothing
    is stored to look up, nor for a resumed response, whose id is on record already).
    `images` numbers generated images across the rounds of one turn.
    """

    announce: bool = True
    images: int = 0
    response_id: str | None = None
    calls: list[FunctionCall] = field(default_factory=list)
    output_items: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    # file id -> (container id, file name), from container_file_citation annotations
    container_files: dict[str, tuple[str, str]] = field(default_factory=dict)
    cited_names: list[str] = field(default_factory=list)
    ran_code: bool = False
    finished: bool = False
    # MCP calls the API holds for a person's decision (mcp_approval_request items).
    approvals: list[McpApprovalRequest] = field(default_factory=list)
    # The images this response generated, by the id of their image_generation_call.
    generated: list[tuple[str, OutFile]] = field(default_factory=list)


def map_event(event: ResponseStreamEvent, result: Round) -> list[EngineEvent]:
    """The reply events of one stream event; raises TurnFailed for a failed response.

    Events the turn has no use for (in_progress, content parts, text done, deltas of
    tool calls, types newer than the SDK, ...) give nothing.
    """
    match event:
        case ResponseTextDeltaEvent(delta=str(delta)):
            return [TextDelta(delta)]
        case ResponseCreatedEvent(response=response):
            result.response_id = response.id
            return [Started(response.id)] if result.announce else []
        case ResponseOutputItemAddedEvent(item=item):
            step = step_of(item, done=False)
            return [step] if step is not None else []
        case ResponseOutputItemDoneEvent(item=item):
            return item_done(item, result)
        case ResponseCompletedEvent(response=response):
            result.finished = True
            result.usage = usage_of(response.usage) or result.usage
            return []
        case ResponseIncompleteEvent(response=response):
            result.finished = True
            result.usage = usage_of(response.usage) or result.usage
            return [cut_short(response)]
        case ResponseFailedEvent(response=response):
            error = response.error
            logger.warning(
                "response %s failed: %s", response.id, error.message if error else "no details"
            )
            raise TurnFailed(FAILED)
        case ResponseErrorEvent(message=message):
            logger.warning("stream error event: %s", message)
            raise TurnFailed(BROKE_OFF)
    return []


def map_response(response: Response, result: Round) -> list[EngineEvent]:
    """The reply events of a finished (completed or incomplete) response read back."""
    result.response_id = response.id
    events: list[EngineEvent] = []
    for item in response.output:
        match item:
            case ResponseOutputMessage(content=list(content)) if text := message_text(content):
                events.append(TextDelta(text))
        events.extend(item_done(item, result))
    result.usage = usage_of(response.usage) or result.usage
    if response.status == "incomplete":
        events.append(cut_short(response))
    result.finished = True
    return events


def step_of(item: ResponseOutputItem, *, done: bool) -> Progress | None:
    """The progress step a hosted tool's output item shows; None for other items (a
    function call is announced by the turn, which runs it)."""
    kind: StepKind
    detail = ""
    sources: tuple[str, ...] = ()
    match item:
        case ResponseCodeInterpreterToolCall(code=code):
            kind, label = "code", "Running code"
            detail = _first_line(code or "")
        case ResponseFileSearchToolCall(queries=queries):
            kind, label = "file_search", "Searching the knowledge base"
            detail = "; ".join(queries or ())
        case ImageGenerationCall():
            kind, label = "image", "Generating an image"
        case ResponseFunctionWebSearch(action=ActionSearch() as action):
            kind, label = "web_search", "Searching the web"
            detail = action.query or "; ".join(action.queries or ())
            sources = tuple(s.url for s in action.sources or ())
        case ResponseFunctionWebSearch():
            kind, label = "web_search", "Searching the web"
        case McpCall():
            kind, label = "mcp", f"Using {item.server_label}: {item.name}"
            detail = _first_line(item.arguments or "")
        case _:
            return None
    failed = done and getattr(item, "status", None) in ("failed", "incomplete")
    return Progress(
        item.id or item.type,
        kind,
        label,
        done=done,
        detail=detail,
        failed=failed,
        sources=sources,
    )


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def item_done(item: ResponseOutputItem, result: Round) -> list[EngineEvent]:
    """A finished output item: its step done, and what the turn keeps of it."""
    step = step_of(item, done=True)
    events: list[EngineEvent] = [step] if step is not None else []
    match item:
        case ResponseFunctionToolCall(call_id=call_id, name=name, arguments=arguments):
            result.calls.append(FunctionCall(call_id, name, arguments))
            result.output_items.append(
                {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}
            )
        case ResponseOutputMessage(content=list(content)):
            result.output_items.append(
                {"type": "message", "role": "assistant", "content": message_text(content)}
            )
            for part in content:
                match part:
                    case ResponseOutputText(annotations=list(notes)):
                        for note in notes:
                            _annotation(note, result)
        case ResponseCodeInterpreterToolCall():
            result.ran_code = True
        case McpApprovalRequest():
            result.approvals.append(item)
        case ImageGenerationCall(result=str(image)) if image:
            result.images += 1
            out = OutFile(
                name=f"image-{result.images}.png",
                mime_type="image/png",
                data=base64.b64decode(image),
                alt_text=item.revised_prompt or "Generated image",
            )
            result.generated.append((item.id, out))
            events.append(FileReady(out))
    return events


def _annotation(note: object, result: Round) -> None:
    match note:
        case AnnotationContainerFileCitation(file_id=file_id, container_id=cid, filename=name):
            result.container_files[file_id] = (cid, name)
        case AnnotationFileCitation(file_id=file_id, filename=name):
            result.cited_names.append(name or file_id)


def message_text(content: Sequence[object]) -> str:
    """The text of a message's content parts (refusals left out)."""
    texts = []
    for part in content:
        match part:
            case ResponseOutputText(text=str(text)):
                texts.append(text)
    return "".join(texts)


def usage_of(usage: ResponseUsage | None) -> Usage | None:
    return None if usage is None else Usage(usage.input_tokens, usage.output_tokens)


def cut_short(response: Response) -> Notice:
    details = response.incomplete_details
    reason = (details.reason if details is not None else None) or "unknown"
    return Notice(f"The reply was cut short ({reason.replace('_', ' ')}).")
