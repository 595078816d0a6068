"""Streaming chunks as Slack checks them (chat.startStream / appendStream / stopStream).

Pure functions, no I/O. Shapes from Slack's method pages
(docs.slack.dev/reference/methods/chat.startStream, chat.appendStream,
chat.stopStream, section "Using the chunks parameter") and slack_sdk's
``slack_sdk.models.messages.chunk`` (MarkdownTextChunk, TaskUpdateChunk,
PlanUpdateChunk, BlocksChunk):

- ``{"type": "markdown_text", "text": "..."}`` (text up to 12,000 characters);
- ``{"type": "task_update", "id": "...", "title": "...", "status": "pending" |
  "in_progress" | "complete" | "error", "details": "...", "output": "...",
  "sources": [{"type": "url", "url": "https://...", "text": "..."}]}``
  (id, title, status required);
- ``{"type": "plan_update", "title": "..."}`` (the plan's new title);
- ``{"type": "blocks", "blocks": [...]}`` (stopStream's page lists "blocks chunks"
  too; the blocks are held to :func:`blocks.block_problems`).

``chat.startStream`` also takes ``task_display_mode``: ``timeline`` (the default:
task cards interleaved with the text) or ``plan`` (all tasks together in one plan
block). ``chat.stopStream`` takes ``session_status``: ``active`` (default),
``processing``, ``suspended``, ``closed``.

Slack's documented error for bad chunks is ``invalid_chunks`` ("Chunks submitted
with this message are not valid."); the per-problem messages in
``response_metadata.messages`` are the emulator's, in Slack's ``[ERROR] ...
[json-pointer:/chunks/0/status]`` style.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .blocks import TASK_STATUSES, block_problems

MAX_MARKDOWN_TEXT = 12_000
CHUNK_TYPES = frozenset({"markdown_text", "task_update", "plan_update", "blocks"})
TASK_DISPLAY_MODES = frozenset({"timeline", "plan"})
SESSION_STATUSES = frozenset({"active", "processing", "suspended", "closed"})


def _err(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _required_text(chunk: Mapping[str, Any], name: str, pointer: str) -> list[str]:
    value = chunk.get(name)
    if value is None:
        return [_err(f"missing required field: {name}", pointer)]
    if not isinstance(value, str):
        return [_err("must be a string", f"{pointer}/{name}")]
    if not value:
        return [_err("must be more than 0 characters", f"{pointer}/{name}")]
    return []


def _optional_text(chunk: Mapping[str, Any], name: str, pointer: str) -> list[str]:
    value = chunk.get(name)
    if value is None or isinstance(value, str):
        return []
    return [_err("must be a string", f"{pointer}/{name}")]


def _sources(value: Any, pointer: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        return [_err("must be an array", pointer)]
    problems: list[str] = []
    for i, source in enumerate(value):
        where = f"{pointer}/{i}"
        if not isinstance(source, Mapping):
            problems.append(_err("must provide an object", where))
            continue
        if source.get("type") != "url":
            problems.append(_err("must be a valid enum value", f"{where}/type"))
        problems += _required_text(source, "url", where)
        problems += _required_text(source, "text", where)
    return problems


def chunk_problems(chunks: Any, pointer: str = "/chunks") -> list[str]:
    """Why Slack would refuse `chunks` (empty: it takes them; ``[]`` is fine, as
    slack_sdk's ``ChatStream.stop()`` sends it with nothing buffered)."""
    if not isinstance(chunks, list):
        return [_err("must be an array", pointer)]
    problems: list[str] = []
    for i, chunk in enumerate(chunks):
        where = f"{pointer}/{i}"
        if not isinstance(chunk, Mapping):
            problems.append(_err("must provide an object", where))
            continue
        kind = chunk.get("type")
        if kind not in CHUNK_TYPES:
            problems.append(_err(f"unsupported type: {kind}", f"{where}/type"))
            continue
        if kind == "markdown_text":
            problems += _required_text(chunk, "text", where)
            text = chunk.get("text")
            if isinstance(text, str) and len(text) > MAX_MARKDOWN_TEXT:
                problems.append(
                    _err(f"must be less than {MAX_MARKDOWN_TEXT + 1} characters", f"{where}/text")
                )
        elif kind == "task_update":
            problems += _required_text(chunk, "id", where)
            problems += _required_text(chunk, "title", where)
            if "status" not in chunk:
                problems.append(_err("missing required field: status", where))
            elif chunk["status"] not in TASK_STATUSES:
                problems.append(_err("must be a valid enum value", f"{where}/status"))
            problems += _optional_text(chunk, "details", where)
            problems += _optional_text(chunk, "output", where)
            problems += _sources(chunk.get("sources"), f"{where}/sources")
        elif kind == "plan_update":
            problems += _required_text(chunk, "title", where)
        else:  # blocks
            problems += block_problems(chunk.get("blocks"), f"{where}/blocks")
    return problems


def chunks_text(chunks: list[Mapping[str, Any]]) -> str:
    """The markdown the ``markdown_text`` chunks add to the message, in order."""
    return "".join(str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text")


__all__ = [
    "CHUNK_TYPES",
    "SESSION_STATUSES",
    "TASK_DISPLAY_MODES",
    "chunk_problems",
    "chunks_text",
]
