"""Scripted replies, the request view handed to models, and the default echo model.

Everything here is plain data; the HTTP side lives in ``server.py``.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

__all__ = [
    "JSON",
    "ModelFn",
    "ModelRequest",
    "Reply",
    "count_words",
    "default_model",
    "new_id",
    "normalize_input",
]


def new_id(prefix: str, sep: str = "_") -> str:
    """An id shaped like the real service's: ``prefix_`` + hex (files: ``file-`` + hex)."""
    return f"{prefix}{sep}{secrets.token_hex(16)}"


@dataclass
class Reply:
    """What the emulated model does for one ``responses.create`` call.

    Every field is optional; ``Reply()`` is the default echo answer.
    """

    # Message text; None -> the default echo text (unless function_calls alone are given).
    text: str | None = None
    # Seconds before the first output item / delta (after response.created/in_progress).
    ttft: float = 0.0
    # None: no delay between deltas; else each delta counts as one token.
    tokens_per_second: float | None = None
    # Characters per response.output_text.delta (and per arguments/code delta).
    chunk_chars: int = 4

    # HTTP error instead of a response (OpenAI-style error JSON).
    status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Sent as `retry-after-ms` with status 429 and 5xx. None -> no header (the SDK then
    # backs off 0.5-8 s on its own).
    retry_after_ms: int | None = 10

    # Stream the text, then response.failed (error.code "server_error", message = this).
    fail: str | None = None
    # Stream the text, then response.incomplete with incomplete_details.reason = this.
    incomplete: str | None = None
    # Stream the text, then an `error` event (message = this) and end the stream.
    stream_error: str | None = None
    # Streaming only: after this many events, drop the TCP connection mid-body (a network
    # failure; the response is cancelled).
    cut_after_events: int | None = None

    # (name, arguments) -> function_call output items (several = parallel calls).
    function_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    # Remote MCP tool calls (mcp.py): (server_label, tool name, arguments). Each needs an
    # mcp tool with that server_label in the request that allows the tool (else it is not
    # made; see OpenAIEmulator.mcp_calls_ignored). By the tool's require_approval it becomes
    # an mcp_approval_request item (after the text; the response completes without
    # running it, and without default text) or an mcp_call item that runs at once (before
    # the text). A request answering an approval request runs the approved call with
    # *its* Reply's mcp_output / mcp_error, before that Reply's own calls and text.
    mcp_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Output of every MCP call run in this response (mcp_call.output).
    mcp_output: str = "mcp ok"
    # If set, every MCP call run in this response fails instead: status "failed", output
    # null, error {"type": "mcp_tool_execution_error", "content": [{"type": "text",
    # "text": mcp_error}]}, event response.mcp_call.failed.
    mcp_error: str | None = None

    # Code interpreter: needs a code_interpreter tool in the request (else ignored).
    code: str | None = None
    code_logs: str = ""
    # Files the code creates in the container: (NAME or "/mnt/data/NAME", bytes).
    files: list[tuple[str, bytes]] = field(default_factory=list)
    # Called when the code runs, after `files` are made, with the container's files as
    # {"/mnt/data/NAME": bytes} (those uploaded into it too); returns more files to create,
    # as `files`. Files made either way are cited (cite_files) like `files`.
    make_files: Callable[[dict[str, bytes]], list[tuple[str, bytes]]] | None = None
    cite_files: bool = True

    # File search query: needs a file_search tool in the request (else ignored).
    file_search: str | None = None
    # Base64 PNG -> image_generation_call item (emitted whether or not the tool is present).
    image_b64: str | None = None
    # More images: one image_generation_call item each, after image_b64's.
    images_b64: list[str] = field(default_factory=list)
    # Query -> web_search_call item (emitted whether or not the tool is present).
    web_search: str | None = None

    # (input_tokens, output_tokens) override.
    usage: tuple[int, int] | None = None

    # Extra stream events sent as given (plus sequence_number) right after
    # response.in_progress, e.g. an event type the SDK does not know yet. Each needs "type".
    extra_events: list[JSON] = field(default_factory=list)


@dataclass
class ModelRequest:
    """The view of one ``responses.create`` call that models get."""

    body: JSON
    # This request's input, normalized to stored item form (ids, content part lists).
    input_items: list[JSON]
    # Items that precede this input: the conversation's items, or the chain of
    # previous_response_id; [] for a stateless call.
    history: list[JSON]
    conversation_id: str | None
    # 0-based count of responses.create calls that reached the model stage.
    call_index: int = 0
    # file id -> filename for files known to the emulator (for "[file NAME]").
    file_names: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.body.get("model") or "")

    @property
    def instructions(self) -> str | None:
        value = self.body.get("instructions")
        return value if isinstance(value, str) else None

    @property
    def tools(self) -> list[JSON]:
        tools = self.body.get("tools") or []
        return [t for t in tools if isinstance(t, dict)]

    def tool(self, tool_type: str) -> JSON | None:
        for t in self.tools:
            if t.get("type") == tool_type:
                return t
        return None

    @property
    def context(self) -> list[JSON]:
        return [*self.history, *self.input_items]

    def function_call_outputs(self) -> list[JSON]:
        """function_call_output items of this request's input, in order."""
        return [i for i in self.input_items if i.get("type") == "function_call_output"]

    def mcp_approval_responses(self) -> list[JSON]:
        """mcp_approval_response items of this request's input, in order."""
        return [i for i in self.input_items if i.get("type") == "mcp_approval_response"]

    def last_user_text(self) -> str:
        """Text of the last user message (input first, then history)."""
        for items in (self.input_items, self.history):
            for item in reversed(items):
                if item.get("type") == "message" and item.get("role") == "user":
                    return message_text(item, self.file_names)
        return ""


ModelFn = Callable[[ModelRequest], Reply | Awaitable[Reply]]


def message_text(item: JSON, file_names: dict[str, str] | None = None) -> str:
    """Text of a message item; input_image/input_file parts become "[image]"/"[file NAME]"."""
    names = file_names or {}
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        ptype = part.get("type")
        if ptype in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            parts.append(str(part.get("text", "")))
        elif ptype == "refusal":
            parts.append(str(part.get("refusal", "")))
        elif ptype == "input_image":
            parts.append("[image]")
        elif ptype == "input_file":
            name = part.get("filename")
            if not name and part.get("file_id"):
                name = names.get(str(part["file_id"]), str(part["file_id"]))
            if not name and part.get("file_url"):
                name = str(part["file_url"]).rstrip("/").rsplit("/", 1)[-1]
            parts.append(f"[file {name or 'unnamed'}]")
    return " ".join(p for p in parts if p)


def function_output_text(item: JSON) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for part in output:
            if isinstance(part, dict):
                if part.get("type") == "input_text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "input_image":
                    texts.append("[image]")
                elif part.get("type") == "input_file":
                    texts.append(f"[file {part.get('filename') or part.get('file_id')}]")
        return " ".join(texts)
    return json.dumps(output)


def default_model(req: ModelRequest) -> Reply:
    """The echo model: "echo: <last user text>", "tool results: <outputs>" after function
    outputs, and after MCP approval answers no text of its own (the emulator then writes
    "mcp results: <outputs>" for approved calls, or "mcp call denied: <names>")."""
    outputs = req.function_call_outputs()
    if outputs:
        return Reply(text="tool results: " + "; ".join(function_output_text(o) for o in outputs))
    if req.mcp_approval_responses() and not any(
        i.get("type") == "message" and i.get("role") == "user" for i in req.input_items
    ):
        return Reply()
    return Reply(text="echo: " + req.last_user_text())


def _normalize_content(role: str, content: Any) -> list[Any]:
    if isinstance(content, str):
        if role == "assistant":
            return [{"type": "output_text", "text": content, "annotations": [], "logprobs": []}]
        return [{"type": "input_text", "text": content}]
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "input_image":
                part = {"detail": "auto", **part}
            if isinstance(part, dict) and part.get("type") == "output_text":
                part = {"annotations": [], **part}
            out.append(part)
        return out
    return []


def normalize_input(raw: Any) -> list[JSON]:
    """The request's ``input`` as stored items (what the conversation keeps)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    items: list[JSON] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict):
            continue
        item = copy.deepcopy(entry)
        itype = item.get("type") or ("message" if "role" in item else None)
        if itype == "message":
            role = str(item.get("role", "user"))
            items.append(
                {
                    "id": item.get("id") or new_id("msg"),
                    "type": "message",
                    "role": role,
                    "status": item.get("status") or "completed",
                    "content": _normalize_content(role, item.get("content")),
                }
            )
        elif itype == "function_call":
            item.setdefault("id", new_id("fc"))
            item.setdefault("status", "completed")
            items.append(item)
        elif itype == "function_call_output":
            item.setdefault("id", new_id("fco"))
            item.setdefault("status", "completed")
            items.append(item)
        elif itype == "mcp_approval_response":
            if not item.get("id"):
                item["id"] = new_id("mcpa")
            item.setdefault("reason", None)
            items.append(item)
        else:
            if itype:
                item["type"] = itype
            item.setdefault("id", new_id("item"))
            items.append(item)
    return items


_TEXT_KEYS = ("text", "arguments", "output", "code", "refusal")


def count_words(value: Any) -> int:
    """Words in the text-bearing fields of items/parts (a crude token count)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        total = 0
        for key, v in value.items():
            if key in _TEXT_KEYS and isinstance(v, str):
                total += len(v.split())
            elif key in ("content", "output") and isinstance(v, list):
                total += count_words(v)
        return total
    return 0


def words_in(values: Iterable[str]) -> int:
    return sum(len(v.split()) for v in values)
