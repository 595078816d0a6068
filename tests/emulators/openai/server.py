"""A loopback emulator of the OpenAI HTTP API (Responses + Conversations and friends).

The real ``openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test")`` talks to it
over HTTP on 127.0.0.1. Shapes follow the SDK's own types (openai/types/...).

Every request is checked against OpenAI's official OpenAPI definition (``spec.py``,
``tests/spec/openai/``): one the definition rejects is answered 400 the way the API words
it and kept in ``spec_violations``. ``compat="llama.cpp"`` makes it answer like
llama.cpp's ``llama-server`` instead (``llama.py``).

Remote MCP tools (``mcp.py``): ``mcp_list_tools``, ``mcp_approval_request`` and ``mcp_call``
items with their ``response.mcp_*`` events; answers (``mcp_approval_response``) are checked
against the context and recorded in ``mcp_approvals``, calls made in ``mcp_calls_run``.

Audio: ``/audio/transcriptions`` refuses what the real API refuses (file name extension,
25 MB, undecodable or too short audio, model, response_format for the model, language)
with its error bodies, reads the length with mutagen (``audio.py``) and bills it as the
API does (whisper-1 by the second, the gpt-4o models by the token); ``/audio/speech``
answers real silent audio whose length follows the input. Calls are kept in
``transcriptions`` and ``speeches``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import inspect
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from . import audio as audio_files
from . import llama
from . import mcp as mcp_rules
from .mcp import McpCallRun
from .model import (
    JSON,
    ModelFn,
    ModelRequest,
    Reply,
    count_words,
    default_model,
    new_id,
    normalize_input,
)
from .spec import OpenAPISpec, SpecViolation, load_spec
from .sse import format_sse

__all__ = [
    "AUDIO_TOKENS_PER_SECOND",
    "MAX_AUDIO_BYTES",
    "SPEECH_CHARS_PER_SECOND",
    "SPEECH_MODELS",
    "SPEECH_VOICES",
    "TRANSCRIPTION_FORMATS",
    "TRANSCRIPTION_MODELS",
    "ContainerFile",
    "ContainerState",
    "ContainerUpload",
    "ConvState",
    "FileBatchState",
    "McpCallRun",
    "OpenAIEmulator",
    "Recorded",
    "SpecViolation",
    "SpeechCall",
    "StoredFile",
    "TranscriptionCall",
    "VectorStoreFileState",
    "VectorStoreState",
]

MAX_ITEMS_PER_CALL = 20
SPEC_VALIDATION_MODES = ("reject", "record", "off")
CONVERSATION_LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry after a few seconds."
)
_TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})
_RETRYABLE_STATUSES = frozenset({408, 409, 429})

# /audio/transcriptions: the file name extensions taken (in the API's own error message),
# the file size limit, the models and the response formats each takes.
TRANSCRIPTION_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MAX_AUDIO_BYTES = 26_214_400
TRANSCRIPTION_MODELS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe-diarize",
)
_TRANSCRIPTION_RESPONSE_FORMATS = {
    "whisper-1": ("json", "text", "srt", "verbose_json", "vtt"),
    "gpt-4o-transcribe-diarize": ("json", "text", "diarized_json"),
}
# The gpt-4o transcribe models take at most this much audio (whisper-1: only the size).
_MAX_TRANSCRIBE_SECONDS = 1500
_MIN_AUDIO_SECONDS = 0.1
# Billed audio tokens per second of input, for the token-billed models.
AUDIO_TOKENS_PER_SECOND = 10
# /audio/speech: the models (instructions only for gpt-4o-mini-tts*), the built-in
# voices, and how fast the emulated voice speaks (characters of input a second).
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15")
SPEECH_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
SPEECH_CHARS_PER_SECOND = 15.0
_LANGUAGE_NAMES = {
    "en": "english",
    "de": "german",
    "es": "spanish",
    "fr": "french",
    "it": "italian",
    "ja": "japanese",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "zh": "chinese",
}


# --------------------------------------------------------------------------- records


@dataclass
class Recorded:
    """One HTTP request the emulator received."""

    method: str
    path: str  # e.g. "/v1/responses"
    query: dict[str, str]
    # Parsed JSON body; for multipart: {field: value} with file fields as
    # {"name": field, "filename": ..., "size": n, "content_type": ...}; None if no body.
    json: Any
    headers: dict[str, str]  # lower-cased names
    t_start: float  # time.monotonic()
    t_end: float = 0.0  # time.monotonic() when the answer (or stream) ended; 0.0 while open
    status: int = 0  # HTTP status answered; 0 while open / if the client went away first
    # What OpenAI's definition rejects in this request (validation on); [] if nothing.
    violations: list[SpecViolation] = field(default_factory=list)

    @property
    def body(self) -> Any:
        """Alias of ``json``."""
        return self.json

    @property
    def duration(self) -> float:
        return self.t_end - self.t_start if self.t_end else 0.0


@dataclass
class TranscriptionCall:
    """One POST /audio/transcriptions that got past the definition's checks (spec.py)."""

    model: str
    filename: str
    content_type: str
    size: int  # bytes of the uploaded file
    # Seconds of audio read from the file; None if it was not read (an error before,
    # or an undecodable file).
    duration: float | None
    form: dict[str, str]  # every form field but the file (model, response_format, ...)
    text: str | None = None  # the transcript answered; None on an error
    status: int = 0  # HTTP status answered
    error: str | None = None  # the error message, if one was answered


@dataclass
class SpeechCall:
    """One POST /audio/speech that got past the definition's checks (spec.py)."""

    model: str
    voice: str  # a built-in voice name, or a custom voice's id
    input: str
    response_format: str
    instructions: str | None
    speed: float = 1.0
    stream_format: str = "audio"
    duration: float | None = None  # seconds of the audio answered
    size: int = 0  # bytes of the audio answered
    status: int = 0
    error: str | None = None


@dataclass
class ContainerUpload:
    """One file added through POST /containers/{id}/files."""

    container_id: str
    filename: str
    path: str  # "/mnt/data/<filename>"
    size: int
    by: str  # "upload" (multipart file) | "file_id" (a file of the Files API)
    file_id: str | None = None  # the container file's id ("cfile_...")


@dataclass
class ConvState:
    id: str
    created_at: int
    metadata: dict[str, Any]
    items: list[JSON] = field(default_factory=list)
    active_response: str | None = None  # id of the response in flight, if any

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "object": "conversation",
            "created_at": self.created_at,
            "metadata": self.metadata,
        }


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


@dataclass
class ContainerFile:
    id: str
    container_id: str
    path: str
    data: bytes
    created_at: int
    source: str  # "user" | "assistant"

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "object": "container.file",
            "bytes": len(self.data),
            "container_id": self.container_id,
            "created_at": self.created_at,
            "path": self.path,
            "source": self.source,
        }


@dataclass
class ContainerState:
    id: str
    name: str
    created_at: int
    status: str = "running"  # "running" | "expired"
    files: dict[str, ContainerFile] = field(default_factory=dict)
    last_active_at: int = 0

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "object": "container",
            "created_at": self.created_at,
            "name": self.name,
            "status": self.status,
            "expires_after": {"anchor": "last_active_at", "minutes": 20},
            "last_active_at": self.last_active_at or self.created_at,
            "memory_limit": "1g",
        }


@dataclass
class VectorStoreFileState:
    file_id: str
    vector_store_id: str
    created_at: int
    size: int
    status: str = "in_progress"
    last_error: JSON | None = None
    retrieves_left: int = 1
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> JSON:
        return {
            "id": self.file_id,
            "object": "vector_store.file",
            "created_at": self.created_at,
            "usage_bytes": self.size if self.status == "completed" else 0,
            "vector_store_id": self.vector_store_id,
            "status": self.status,
            "last_error": self.last_error,
            "attributes": self.attributes,
            "chunking_strategy": {
                "type": "static",
                "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
            },
        }


@dataclass
class FileBatchState:
    id: str
    vector_store_id: str
    created_at: int
    file_ids: list[str]
    cancelled: bool = False


@dataclass
class VectorStoreState:
    id: str
    name: str
    created_at: int
    metadata: dict[str, Any] = field(default_factory=dict)
    files: dict[str, VectorStoreFileState] = field(default_factory=dict)
    batches: dict[str, FileBatchState] = field(default_factory=dict)


def _file_counts(files: Iterable[VectorStoreFileState]) -> JSON:
    counts = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}
    for f in files:
        counts[f.status] = counts.get(f.status, 0) + 1
        counts["total"] += 1
    return counts


# --------------------------------------------------------------------------- plumbing


class ApiError(Exception):
    """Answered as ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}

    def to_response(self) -> web.Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return web.json_response(body, status=self.status, headers=self.headers)


@dataclass
class _Upload:
    filename: str
    data: bytes
    content_type: str


@dataclass
class _Body:
    json: Any  # the parsed JSON body; None for multipart or no body
    uploads: dict[str, _Upload]
    form: dict[str, str]
    recorded: Any  # what Recorded.json shows
    # Multipart fields in order, file fields as their file names (for validation).
    pairs: list[tuple[str, str]] | None = None


@dataclass
class _Ctx:
    request: web.Request
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    uploads: dict[str, _Upload]
    form: dict[str, str]
    record: Recorded
    # Multipart fields in order (repeated ones, e.g. "include[]", all kept).
    form_pairs: list[tuple[str, str]] = field(default_factory=list)

    def json_body(self) -> JSON:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return self.body


_Handler = Callable[[_Ctx], Awaitable[web.StreamResponse]]


class _Run:
    """One response being generated (or done): its object and its event log."""

    def __init__(
        self,
        response: JSON,
        reply: Reply,
        req: ModelRequest,
        conv: ConvState | None,
    ) -> None:
        self.response = response
        self.reply = reply
        self.req = req
        self.conv = conv
        self.events: list[JSON] = []
        self.changed = asyncio.Event()
        self.done = asyncio.Event()
        self.finalized = False
        self.task: asyncio.Task[None] | None = None
        self.stream_error: str | None = None

    @property
    def id(self) -> str:
        return str(self.response["id"])

    def notify(self) -> None:
        ev, self.changed = self.changed, asyncio.Event()
        ev.set()


def _snap(obj: Any) -> Any:
    return copy.deepcopy(obj)


def _now() -> int:
    return int(time.time())


def _conversation_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    raise ApiError(400, "Invalid type for 'conversation'.", param="conversation")


def _page(
    items: list[Any],
    query: dict[str, str],
    *,
    default_order: str = "desc",
    conversation_style: bool = False,
) -> JSON:
    """A cursor page over ``items`` (oldest first), honoring after/limit/order."""
    order = query.get("order", default_order)
    ordered = list(reversed(items)) if order == "desc" else list(items)
    after = query.get("after")
    if after:
        ids = [i["id"] for i in ordered]
        if after in ids:
            ordered = ordered[ids.index(after) + 1 :]
    try:
        limit = max(1, min(100, int(query.get("limit", "20"))))
    except ValueError as exc:
        raise ApiError(400, "Invalid 'limit'.", param="limit") from exc
    data = ordered[:limit]
    page: JSON = {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }
    if conversation_style and not data:
        page["first_id"] = page["last_id"] = None
    return page


def _status_error(reply: Reply) -> ApiError:
    status = reply.status or 500
    defaults: dict[int, tuple[str, str, str | None]] = {
        400: ("Bad request.", "invalid_request_error", None),
        401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
        403: ("You are not allowed to perform this request.", "invalid_request_error", None),
        404: ("Not found.", "invalid_request_error", None),
        408: ("Request timed out.", "server_error", None),
        409: ("Conflict.", "invalid_request_error", None),
        429: (
            "Rate limit reached for requests. Please try again in 10ms.",
            "requests",
            "rate_limit_exceeded",
        ),
        500: (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        502: ("Bad gateway.", "server_error", None),
        503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    }
    message, type_, code = defaults.get(
        status, ("Error.", "server_error" if status >= 500 else "invalid_request_error", None)
    )
    headers: dict[str, str] = {}
    if reply.retry_after_ms is not None and (status in _RETRYABLE_STATUSES or status >= 500):
        headers["retry-after-ms"] = str(reply.retry_after_ms)
    return ApiError(
        status,
        reply.error_message or message,
        type_=type_,
        code=reply.error_code if reply.error_code is not None else code,
        headers=headers,
    )


# --------------------------------------------------------------------------- emulator


class OpenAIEmulator:
    """Loopback OpenAI API. ``await start()``, point the SDK at ``base_url``, ``await stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        compat: str | None = None,
        spec_validation: str | None = None,
    ) -> None:
        """``compat``: None (OpenAI) or "llama.cpp" (answer like llama-server).

        ``spec_validation``: "reject" (answer 400 and record), "record" (record only) or
        "off"; None means "reject" for OpenAI and "off" in a compat mode (llama-server
        does not hold requests to OpenAI's definition). Both can be set later as
        attributes.
        """
        self.host = host
        self.port = port
        self.base_url = ""
        self.compat = compat
        self.spec_validation = spec_validation
        self.spec: OpenAPISpec = load_spec()
        # Every request OpenAI's definition rejected (also on its Recorded.violations).
        self.spec_violations: list[SpecViolation] = []
        # compat="llama.cpp": the model GET /v1/models lists, and whether it was started
        # with --mmproj (else image input is refused, as llama-server does).
        self.llama_model = "tiny-llama.gguf"
        self.llama_images = False
        # POST /v1/audio/transcriptions answers, for a file NAME: transcripts[NAME], else
        # transcript, else "transcript of NAME".
        self.transcript: str | None = None
        self.transcripts: dict[str, str] = {}
        # Every /audio/transcriptions and /audio/speech call the handlers saw (after the
        # definition's checks), answered or refused, in order.
        self.transcriptions: list[TranscriptionCall] = []
        self.speeches: list[SpeechCall] = []
        # Every file added through POST /containers/{id}/files.
        self.container_uploads: list[ContainerUpload] = []
        self.requests: list[Recorded] = []
        self.model: ModelFn | None = None
        self.conversations_enabled = True
        self.unknown_models: set[str] = set()
        # Seconds every request waits before it is handled: a network round trip.
        self.request_delay = 0.0
        # If set, requests must carry "Authorization: Bearer <api_key>" (else 401).
        self.api_key: str | None = None
        # Retrieves of a vector-store file that still answer "in_progress".
        self.vector_store_indexing_retrieves = 1
        # Real API refuses GET /files/{id}/content for purpose assistants/user_data.
        self.allow_user_file_download = False
        self.max_concurrent_responses = 0
        self.overlaps: list[str] = []
        self.conversations: dict[str, ConvState] = {}
        self.files: dict[str, StoredFile] = {}
        self.containers: dict[str, ContainerState] = {}
        self.vector_stores: dict[str, VectorStoreState] = {}
        # Exceptions raised inside the emulator while generating (bugs; should stay empty).
        self.errors: list[BaseException] = []
        # Remote MCP (mcp.py). The tools each MCP server lists, by server_label: names or
        # MCPListToolsTool dicts ({"name", "input_schema", "description", "annotations"},
        # annotations {"read_only": bool} for read_only filters). A label not here lists
        # the names its tool's allowed_tools and the Reply's mcp_calls give, and then
        # any name may be called.
        self.mcp_server_tools: dict[str, list[JSON | str]] = {}
        # Every mcp_approval_request item emitted, by id ("mcpr_...").
        self.mcp_approval_requests: dict[str, JSON] = {}
        # Approval requests answered by an mcp_approval_response that a response acted
        # on: id -> approve.
        self.mcp_approvals: dict[str, bool] = {}
        # Every MCP tool call made (each mcp_call item emitted), in order.
        self.mcp_calls_run: list[McpCallRun] = []
        # Scripted mcp_calls not made: (server_label, name, reason).
        self.mcp_calls_ignored: list[tuple[str, str, str]] = []
        self._script: deque[Reply] = deque()
        self._runs: dict[str, _Run] = {}
        self._contexts: dict[str, list[JSON]] = {}
        self._in_flight = 0
        self._model_calls = 0
        self._failing: dict[str, tuple[str, str]] = {}
        self._audio_failures: dict[str, deque[Reply]] = {
            "transcription": deque(),
            "speech": deque(),
        }
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        self._install_routes()

    # ------------------------------------------------------------------ public API

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_response_prepare.append(self._add_common_headers)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.base_url = f"http://{self.host}:{self.port}/v1"

    async def stop(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OpenAIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def script(self, *replies: Reply) -> None:
        """Queue replies, consumed FIFO by responses.create calls that pass validation."""
        self._script.extend(replies)

    @property
    def script_remaining(self) -> int:
        return len(self._script)

    def responses_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/responses"]

    @property
    def response_objects(self) -> dict[str, JSON]:
        """Every response created so far (current state), by id."""
        return {rid: run.response for rid, run in self._runs.items()}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def wait_idle(self, within: float = 5.0) -> None:
        """Wait until no response is in flight (TimeoutError after ``within`` seconds)."""
        async with asyncio.timeout(within):
            while self._in_flight:
                await self._idle.wait()

    def lock_conversation(self, conversation_id: str) -> None:
        """Hold the conversation as if another process had a response in flight on it."""
        self.conversations[conversation_id].active_response = "resp_external_lock"

    def unlock_conversation(self, conversation_id: str) -> None:
        conv = self.conversations.get(conversation_id)
        if conv is not None and conv.active_response == "resp_external_lock":
            conv.active_response = None

    def expire_container(self, container_id: str) -> None:
        self.containers[container_id].status = "expired"

    def fail_indexing(
        self, filename: str, code: str = "server_error", message: str | None = None
    ) -> None:
        """Vector-store indexing of files named ``filename`` ends 'failed' with last_error."""
        default = {
            "unsupported_file": "The file type is not supported.",
            "invalid_file": "The file could not be parsed.",
        }.get(code, "The file could not be indexed due to an internal error.")
        self._failing[filename] = (code, message or default)

    def fail_transcriptions(
        self,
        count: int = 1,
        status: int = 500,
        *,
        message: str | None = None,
        code: str | None = None,
        retry_after_ms: int | None = 10,
    ) -> None:
        """The next ``count`` otherwise valid /audio/transcriptions calls answer ``status``
        (an OpenAI error body; the message and code default by status, as a scripted
        ``Reply(status=...)`` does, with ``retry-after-ms`` on 408/409/429/5xx)."""
        self._queue_audio_failures("transcription", count, status, message, code, retry_after_ms)

    def fail_speeches(
        self,
        count: int = 1,
        status: int = 500,
        *,
        message: str | None = None,
        code: str | None = None,
        retry_after_ms: int | None = 10,
    ) -> None:
        """The next ``count`` otherwise valid /audio/speech calls answer ``status``."""
        self._queue_audio_failures("speech", count, status, message, code, retry_after_ms)

    @property
    def audio_failures_left(self) -> dict[str, int]:
        """Scripted failures not yet answered: {"transcription": n, "speech": n}."""
        return {k: len(v) for k, v in self._audio_failures.items()}

    def _queue_audio_failures(
        self,
        endpoint: str,
        count: int,
        status: int,
        message: str | None,
        code: str | None,
        retry_after_ms: int | None,
    ) -> None:
        reply = Reply(
            status=status, error_message=message, error_code=code, retry_after_ms=retry_after_ms
        )
        self._audio_failures[endpoint].extend(copy.copy(reply) for _ in range(count))

    # ------------------------------------------------------------------ HTTP plumbing

    async def _add_common_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("x-request-id", new_id("req"))
        response.headers.setdefault("openai-processing-ms", "1")

    def _route(self, method: str, pattern: str, handler: _Handler) -> None:
        regex = re.compile("^/v1" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method, regex, handler))

    def _install_routes(self) -> None:
        r = self._route
        r("POST", "/responses", self._h_create_response)
        r("GET", "/responses/{rid}", self._h_get_response)
        r("DELETE", "/responses/{rid}", self._h_delete_response)
        r("POST", "/responses/{rid}/cancel", self._h_cancel_response)
        r("GET", "/responses/{rid}/input_items", self._h_response_input_items)
        r("POST", "/conversations", self._h_create_conversation)
        r("GET", "/conversations/{cid}", self._h_get_conversation)
        r("POST", "/conversations/{cid}", self._h_update_conversation)
        r("DELETE", "/conversations/{cid}", self._h_delete_conversation)
        r("POST", "/conversations/{cid}/items", self._h_create_items)
        r("GET", "/conversations/{cid}/items", self._h_list_items)
        r("GET", "/conversations/{cid}/items/{iid}", self._h_get_item)
        r("DELETE", "/conversations/{cid}/items/{iid}", self._h_delete_item)
        r("POST", "/files", self._h_create_file)
        r("GET", "/files", self._h_list_files)
        r("GET", "/files/{fid}", self._h_get_file)
        r("DELETE", "/files/{fid}", self._h_delete_file)
        r("GET", "/files/{fid}/content", self._h_file_content)
        r("POST", "/containers", self._h_create_container)
        r("GET", "/containers", self._h_list_containers)
        r("GET", "/containers/{cid}", self._h_get_container)
        r("DELETE", "/containers/{cid}", self._h_delete_container)
        r("POST", "/containers/{cid}/files", self._h_create_container_file)
        r("GET", "/containers/{cid}/files", self._h_list_container_files)
        r("GET", "/containers/{cid}/files/{fid}", self._h_get_container_file)
        r("DELETE", "/containers/{cid}/files/{fid}", self._h_delete_container_file)
        r("GET", "/containers/{cid}/files/{fid}/content", self._h_container_file_content)
        r("POST", "/vector_stores", self._h_create_vector_store)
        r("GET", "/vector_stores", self._h_list_vector_stores)
        r("GET", "/vector_stores/{vid}", self._h_get_vector_store)
        r("POST", "/vector_stores/{vid}", self._h_update_vector_store)
        r("DELETE", "/vector_stores/{vid}", self._h_delete_vector_store)
        r("POST", "/vector_stores/{vid}/files", self._h_create_vs_file)
        r("GET", "/vector_stores/{vid}/files", self._h_list_vs_files)
        r("GET", "/vector_stores/{vid}/files/{fid}", self._h_get_vs_file)
        r("DELETE", "/vector_stores/{vid}/files/{fid}", self._h_delete_vs_file)
        r("POST", "/vector_stores/{vid}/file_batches", self._h_create_batch)
        r("GET", "/vector_stores/{vid}/file_batches/{bid}", self._h_get_batch)
        r("POST", "/vector_stores/{vid}/file_batches/{bid}/cancel", self._h_cancel_batch)
        r("GET", "/vector_stores/{vid}/file_batches/{bid}/files", self._h_list_batch_files)
        r("GET", "/models", self._h_list_models)
        r("GET", "/models/{mid}", self._h_get_model)
        r("POST", "/audio/transcriptions", self._h_transcription)
        r("POST", "/audio/speech", self._h_speech)

    async def _parse_body(self, request: web.Request) -> _Body:
        if request.content_type.startswith("multipart/"):
            uploads: dict[str, _Upload] = {}
            form: dict[str, str] = {}
            recorded: dict[str, Any] = {}
            pairs: list[tuple[str, str]] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    data = bytes(await part.read())
                    ctype = part.headers.get("Content-Type", "application/octet-stream")
                    uploads[part.name] = _Upload(part.filename, data, ctype)
                    recorded[part.name] = {
                        "name": part.name,
                        "filename": part.filename,
                        "size": len(data),
                        "content_type": ctype,
                    }
                    pairs.append((part.name, part.filename))
                else:
                    value = await part.text()
                    form[part.name] = value
                    recorded[part.name] = value
                    pairs.append((part.name, value))
            return _Body(None, uploads, form, recorded, pairs)
        raw = await request.read()
        if not raw:
            return _Body(None, {}, {}, None)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            if self._compat_mode() is not None:
                # nlohmann's parse_error is no std::invalid_argument: ex_wrapper makes it a
                # 500 with its what() (here shortened).
                raise llama.LlamaError.runtime(
                    "[json.exception.parse_error.101] parse error: syntax error while parsing value"
                ) from exc
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            ) from exc
        return _Body(body, {}, {}, body)

    def _compat_mode(self) -> str | None:
        if self.compat is not None and self.compat not in llama.COMPAT_MODES:
            raise ValueError(f"unknown compat mode {self.compat!r}; one of {llama.COMPAT_MODES}")
        return self.compat

    @property
    def spec_validation_mode(self) -> str:
        """The validation in force: "reject", "record" or "off"."""
        mode = self.spec_validation
        if mode is None:
            mode = "off" if self._compat_mode() is not None else "reject"
        if mode not in SPEC_VALIDATION_MODES:
            raise ValueError(f"spec_validation must be one of {SPEC_VALIDATION_MODES}")
        return mode

    def _check_spec(self, request: web.Request, rec: Recorded, parsed: _Body) -> None:
        """Hold the request to OpenAI's definition (see spec.py)."""
        mode = self.spec_validation_mode
        if mode == "off":
            return
        found = self.spec.check(
            request.method,
            request.path,
            query=list(request.query.items()),
            content_type=request.content_type,
            body=parsed.json,
            form=parsed.pairs,
        )
        if not found:
            return
        rec.violations.extend(found)
        self.spec_violations.extend(found)
        if mode == "reject":
            first = found[0]
            raise ApiError(400, first.message, code=first.code, param=first.param)

    def _check_auth(self, request: web.Request) -> None:
        if self.api_key is None:
            return
        auth = request.headers.get("Authorization", "")
        if not auth:
            raise ApiError(
                401,
                "You didn't provide an API key.",
                code=None,
            )
        if auth != f"Bearer {self.api_key}":
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        rec = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=None,
            headers={k.lower(): v for k, v in request.headers.items()},
            t_start=time.monotonic(),
        )
        self.requests.append(rec)
        if self.request_delay:
            await asyncio.sleep(self.request_delay)
        try:
            try:
                if self._compat_mode() is not None:
                    resp = await self._dispatch_llama(request, rec)
                else:
                    parsed = await self._parse_body(request)
                    rec.json = parsed.recorded
                    self._check_auth(request)
                    handler, params = self._match(request.method, request.path)
                    self._check_spec(request, rec, parsed)
                    resp = await handler(self._ctx(request, params, parsed, rec))
            except llama.LlamaError as err:
                resp = err.to_response()
            except ApiError as err:
                if self.compat is not None:  # e.g. a scripted Reply(status=...)
                    resp = llama.LlamaError(err.status, err.message).to_response()
                else:
                    resp = err.to_response()
            except Exception as exc:  # an emulator bug: record it and answer 500
                self.errors.append(exc)
                resp = ApiError(
                    500,
                    f"emulator bug: {exc!r}",
                    type_="server_error",
                    headers={"x-should-retry": "false"},
                ).to_response()
            rec.status = resp.status
            return resp
        finally:
            rec.t_end = time.monotonic()

    @staticmethod
    def _ctx(request: web.Request, params: dict[str, str], parsed: _Body, rec: Recorded) -> _Ctx:
        return _Ctx(
            request,
            params,
            dict(request.query),
            parsed.json,
            parsed.uploads,
            parsed.form,
            rec,
            [(k, v) for k, v in parsed.pairs or [] if k not in parsed.uploads],
        )

    # ------------------------------------------------------------------ llama.cpp mode

    async def _dispatch_llama(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        """The order llama-server keeps: API key, route, then the handler's own checks."""
        path = request.path
        if self.api_key is not None and path not in llama.PUBLIC_PATHS:
            auth = request.headers.get("Authorization", "") or request.headers.get("X-Api-Key", "")
            if auth.removeprefix("Bearer ") != self.api_key:
                raise llama.LlamaError(401, "Invalid API Key")
        name = llama.routes().get((request.method, path))
        if name is None:
            raise llama.LlamaError(404, llama.NOT_FOUND)
        parsed = await self._parse_body(request)
        rec.json = parsed.recorded
        self._check_spec(request, rec, parsed)  # only if asked for: llama-server does not
        if name == "health":
            return self._json(llama.health_json(), headers={"Server": "llama.cpp"})
        if name == "models":
            return self._json(llama.models_json(self.llama_model), headers={"Server": "llama.cpp"})
        if name == "transcriptions":
            # Needs a model with audio input (mtmd); the tiny text models have none.
            raise llama.LlamaError(501, llama.AUDIO_NOT_SUPPORTED)
        body = llama.check_responses_body(parsed.json, images=self.llama_images)
        body.setdefault("model", self.llama_model)
        if not isinstance(body.get("model"), str) or not body["model"]:
            body["model"] = self.llama_model
        parsed = _Body(body, parsed.uploads, parsed.form, parsed.recorded)
        return await self._h_create_response(self._ctx(request, {}, parsed, rec))

    def _match(self, method: str, path: str) -> tuple[_Handler, dict[str, str]]:
        path = path.rstrip("/") or "/"
        if path.startswith("/v1/conversations") and not self.conversations_enabled:
            raise ApiError(404, f"Invalid URL ({method} {path})")
        allowed = False
        for m, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                if m == method:
                    return handler, found.groupdict()
                allowed = True
        if allowed:
            raise ApiError(405, f"Method not allowed ({method} {path})")
        raise ApiError(404, f"Invalid URL ({method} {path})")

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(data, status=status, headers=headers)

    # ------------------------------------------------------------------ responses

    def _resolve_reply_sync(self, req: ModelRequest) -> Reply | Awaitable[Reply]:
        if self._script:
            return self._script.popleft()
        if self.model is not None:
            return self.model(req)
        return default_model(req)

    async def _next_reply(self, req: ModelRequest) -> Reply:
        result = self._resolve_reply_sync(req)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, Reply), f"model returned {result!r}, not a Reply"
        return result

    def _check_tool_outputs(self, history: list[JSON], input_items: list[JSON]) -> None:
        context = [*history, *input_items]
        call_ids = [str(i.get("call_id")) for i in context if i.get("type") == "function_call"]
        output_ids = {
            str(i.get("call_id")) for i in context if i.get("type") == "function_call_output"
        }
        for call_id in call_ids:
            if call_id not in output_ids:
                raise ApiError(
                    400, f"No tool output found for function call {call_id}.", param="input"
                )
        known = set(call_ids)
        for item in input_items:
            if item.get("type") == "function_call_output" and str(item.get("call_id")) not in known:
                raise ApiError(
                    400,
                    "No tool call found for function call output with call_id "
                    f"{item.get('call_id')}.",
                    param="input",
                )

    def _check_mcp_approvals(
        self, history: list[JSON], input_items: list[JSON], tools: list[JSON]
    ) -> None:
        """Each mcp_approval_response answers a known, unanswered approval request.

        The request may be in the conversation, the previous_response_id chain, or passed
        back earlier in this input (stateless callers replay the output items).
        """
        requests = mcp_rules.approval_requests(history)
        answered = mcp_rules.answered_ids(history)
        servers = mcp_rules.mcp_tools(tools)
        for item in input_items:
            itype = item.get("type")
            if itype == "mcp_approval_request":
                requests[str(item.get("id"))] = item
            elif itype == "mcp_call" and item.get("approval_request_id"):
                answered.add(str(item["approval_request_id"]))
            elif itype == "mcp_approval_response":
                rid = str(item.get("approval_request_id"))
                request = requests.get(rid)
                if request is None:
                    raise ApiError(
                        400,
                        f"No MCP approval request found with id '{rid}'.",
                        param="input",
                    )
                if rid in answered:
                    raise ApiError(
                        400,
                        f"MCP approval request '{rid}' has already been answered.",
                        param="input",
                    )
                label = str(request.get("server_label"))
                if item.get("approve") and label not in servers:
                    raise ApiError(
                        400,
                        f"MCP approval request '{rid}' is for server '{label}', which is "
                        "not among the request's tools.",
                        param="tools",
                    )
                answered.add(rid)

    def _check_tools(self, tools: list[JSON]) -> None:
        for i, tool in enumerate(tools):
            if tool.get("type") == "code_interpreter":
                container = tool.get("container")
                if isinstance(container, str):
                    state = self.containers.get(container)
                    if state is None:
                        raise ApiError(
                            400,
                            f"Container with id '{container}' not found.",
                            code="container_not_found",
                            param=f"tools[{i}].container",
                        )
                    if state.status == "expired":
                        raise ApiError(
                            400,
                            "Container is expired.",
                            code="container_expired",
                            param=f"tools[{i}].container",
                        )
                elif isinstance(container, dict):
                    for fid in container.get("file_ids") or []:
                        if fid not in self.files:
                            raise ApiError(
                                400,
                                f"File with id '{fid}' not found.",
                                param=f"tools[{i}].container.file_ids",
                            )
            elif tool.get("type") == "mcp":
                # The definition leaves all three optional; a server is needed to connect.
                if not any(tool.get(k) for k in ("server_url", "connector_id", "tunnel_id")):
                    raise ApiError(
                        400,
                        f"Missing required parameter: 'tools[{i}].server_url'.",
                        code="missing_required_parameter",
                        param=f"tools[{i}].server_url",
                    )
            elif tool.get("type") == "file_search":
                for vid in tool.get("vector_store_ids") or []:
                    if vid not in self.vector_stores:
                        raise ApiError(
                            400,
                            f"Vector store with id '{vid}' not found.",
                            param=f"tools[{i}].vector_store_ids",
                        )

    def _new_response(self, body: JSON, conv_id: str | None, background: bool) -> JSON:
        parallel = body.get("parallel_tool_calls")
        return {
            "id": new_id("resp"),
            "object": "response",
            "created_at": _now(),
            "status": "queued" if background else "in_progress",
            "background": background,
            "completed_at": None,
            "conversation": {"id": conv_id} if conv_id else None,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "metadata": body.get("metadata") or {},
            "model": body.get("model"),
            "output": [],
            "parallel_tool_calls": True if parallel is None else bool(parallel),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice") or "auto",
            "tools": [
                mcp_rules.public_tool(t) if isinstance(t, dict) and t.get("type") == "mcp" else t
                for t in copy.deepcopy(body.get("tools") or [])
            ],
            "top_logprobs": body.get("top_logprobs") or 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled",
            "usage": None,
            "user": body.get("user"),
        }

    def _begin_in_flight(self) -> None:
        self._in_flight += 1
        self._idle.clear()
        self.max_concurrent_responses = max(self.max_concurrent_responses, self._in_flight)

    def _end_in_flight(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def _h_create_response(self, ctx: _Ctx) -> web.StreamResponse:
        body = ctx.json_body()
        model = body.get("model")
        if not model:
            raise ApiError(
                400,
                "Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            )
        if model in self.unknown_models and self.compat is None:
            raise ApiError(
                400,
                f"The requested model '{model}' does not exist.",
                param="model",
                code="model_not_found",
            )
        conv_id = _conversation_id(body.get("conversation"))
        prev_id = body.get("previous_response_id")
        if conv_id is not None and not self.conversations_enabled:
            raise ApiError(
                400,
                "Unsupported parameter: 'conversation'.",
                param="conversation",
                code="unsupported_parameter",
            )
        if conv_id is not None and prev_id:
            raise ApiError(
                400,
                "Cannot use both 'conversation' and 'previous_response_id'.",
                param="previous_response_id",
            )
        stream = bool(body.get("stream"))
        background = bool(body.get("background"))
        input_items = normalize_input(body.get("input"))
        conv: ConvState | None = None
        history: list[JSON] = []
        if conv_id is not None:
            conv = self.conversations.get(conv_id)
            if conv is None:
                raise ApiError(
                    404, f"Conversation with id '{conv_id}' not found.", param="conversation"
                )
            history = copy.deepcopy(conv.items)
        elif prev_id:
            if prev_id not in self._contexts:
                raise ApiError(
                    400,
                    f"Previous response with id '{prev_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            history = copy.deepcopy(self._contexts[prev_id])
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        self._check_tools(tools)
        if self.compat is None:  # llama-server does not pair calls with outputs
            self._check_tool_outputs(history, input_items)
            self._check_mcp_approvals(history, input_items, tools)

        if conv is not None and conv.active_response is not None:
            self.overlaps.append(conv.id)
            raise ApiError(400, CONVERSATION_LOCKED_MESSAGE, code="conversation_locked", param=None)

        response = self._new_response(body, conv_id, background)
        if conv is not None:
            conv.active_response = response["id"]
        self._begin_in_flight()
        req = ModelRequest(
            body=body,
            input_items=input_items,
            history=history,
            conversation_id=conv_id,
            call_index=self._model_calls,
            file_names={fid: f.filename for fid, f in self.files.items()},
        )
        self._model_calls += 1
        started = False
        try:
            reply = await self._next_reply(req)
            if reply.status is not None:
                if reply.ttft > 0:
                    await asyncio.sleep(reply.ttft)
                raise _status_error(reply)
            run = _Run(response, reply, req, conv)
            self._runs[run.id] = run
            run.task = asyncio.create_task(self._generate(run))
            self._tasks.add(run.task)
            run.task.add_done_callback(self._tasks.discard)
            started = True
        finally:
            if not started:
                if conv is not None and conv.active_response == response["id"]:
                    conv.active_response = None
                self._end_in_flight()

        if stream:
            return await self._stream_run(ctx, run, -1, cancel_on_disconnect=not background)
        if background:
            return self._json(_snap(run.response))
        try:
            await run.done.wait()
        except asyncio.CancelledError:
            self._cancel_run(run)
            raise
        if run.stream_error is not None:
            raise ApiError(500, run.stream_error, type_="server_error", code="server_error")
        return self._json(_snap(run.response))

    async def _stream_run(
        self, ctx: _Ctx, run: _Run, starting_after: int, *, cancel_on_disconnect: bool
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            },
        )
        try:
            await resp.prepare(ctx.request)
            idx = max(0, starting_after + 1)
            while True:
                changed = run.changed
                while idx < len(run.events):
                    if idx == run.reply.cut_after_events:
                        # A moment after the last event, so the client has read it:
                        # aiohttp drops what it buffered once the connection is lost.
                        await asyncio.sleep(0.05)
                        self._cancel_run(run)
                        if ctx.request.transport is not None:
                            ctx.request.transport.close()  # after what was written
                        return resp
                    await resp.write(format_sse(run.events[idx]))
                    idx += 1
                if run.done.is_set() and idx >= len(run.events):
                    break
                await changed.wait()
            await resp.write_eof()
        except asyncio.CancelledError:
            if cancel_on_disconnect:
                self._cancel_run(run)
            raise
        except ConnectionResetError:
            if cancel_on_disconnect:
                self._cancel_run(run)
        return resp

    def _cancel_run(self, run: _Run) -> None:
        """Stop generating now and release the conversation at once."""
        self._finalize(run, "cancelled")
        if run.task is not None and not run.task.done():
            run.task.cancel()

    def _finalize(self, run: _Run, status: str) -> None:
        if run.finalized:
            return
        run.finalized = True
        resp = run.response
        resp["status"] = status
        if status in ("completed", "incomplete"):
            resp["completed_at"] = _now() if status == "completed" else None
            if run.conv is not None:
                run.conv.items.extend(_snap(run.req.input_items))
                run.conv.items.extend(_snap(resp["output"]))
            self._contexts[run.id] = [
                *run.req.history,
                *_snap(run.req.input_items),
                *_snap(resp["output"]),
            ]
        if run.conv is not None and run.conv.active_response == run.id:
            run.conv.active_response = None
        self._end_in_flight()
        run.done.set()
        run.notify()

    # ---------------------------------------------------------------- generation

    def _emit(self, run: _Run, type_: str, **fields: Any) -> None:
        if run.finalized:
            return
        event: JSON = {"type": type_, **fields, "sequence_number": len(run.events)}
        run.events.append(event)
        run.notify()

    async def _generate(self, run: _Run) -> None:
        try:
            await self._generate_inner(run)
        except asyncio.CancelledError:
            self._finalize(run, "cancelled")
            raise
        except Exception as exc:  # an emulator bug: make it visible, don't hang clients
            self.errors.append(exc)
            run.response["error"] = {"code": "server_error", "message": f"emulator bug: {exc!r}"}
            run.response["status"] = "failed"
            self._emit(run, "response.failed", response=_snap(run.response))
            self._finalize(run, "failed")

    async def _generate_inner(self, run: _Run) -> None:
        reply, req, resp = run.reply, run.req, run.response
        self._emit(run, "response.created", response=_snap(resp))
        if resp["background"]:
            self._emit(run, "response.queued", response=_snap(resp))
            resp["status"] = "in_progress"
        self._emit(run, "response.in_progress", response=_snap(resp))
        for extra in reply.extra_events:
            self._emit(run, extra["type"], **{k: v for k, v in extra.items() if k != "type"})
        await asyncio.sleep(reply.ttft if reply.ttft > 0 else 0)
        delay = 1.0 / reply.tokens_per_second if reply.tokens_per_second else 0.0
        chunk = max(1, reply.chunk_chars)
        include = set(req.body.get("include") or [])
        out_words = 0

        mcp_results, mcp_denied, mcp_pending = await self._mcp_items(run, delay, chunk)
        out_words += sum(len(args.split()) for _, _, args in mcp_pending)

        if reply.web_search is not None:
            await self._web_search_item(run, reply.web_search)

        annotations: list[JSON] = []
        fs_tool = req.tool("file_search")
        if reply.file_search is not None and fs_tool is not None:
            annotations.extend(
                await self._file_search_item(run, fs_tool, reply.file_search, include)
            )

        created: list[ContainerFile] = []
        ci_tool = req.tool("code_interpreter")
        if reply.code is not None and ci_tool is not None:
            created = await self._code_item(run, ci_tool, reply, include, delay, chunk)
            out_words += len(reply.code.split())

        images = [reply.image_b64] if reply.image_b64 is not None else []
        for b64 in [*images, *reply.images_b64]:
            await self._image_item(run, b64)

        text = reply.text
        stop_early = (
            reply.fail is not None or reply.stream_error is not None or reply.incomplete is not None
        )
        if text is not None or stop_early or not (reply.function_calls or mcp_pending):
            if text is None:
                if mcp_results:
                    text = "mcp results: " + "; ".join(mcp_results)
                elif mcp_denied:
                    text = "mcp call denied: " + ", ".join(mcp_denied)
                else:
                    text = default_model(req).text or ""
            if reply.cite_files:
                annotations.extend(_container_citations(text, created))
            out_words += len(text.split())
            finished = await self._message_item(run, text, annotations, delay, chunk)
            if not finished:
                return

        if reply.incomplete is None:
            for label, name, arguments in mcp_pending:
                self._mcp_approval_request_item(run, label, name, arguments)
            for name, args in reply.function_calls:
                arguments = json.dumps(args)
                out_words += len(arguments.split())
                await self._function_call_item(run, name, arguments, delay, chunk)

        if reply.usage is not None:
            in_tokens, out_tokens = reply.usage
        else:
            in_tokens = count_words(req.history) + count_words(req.input_items)
            in_tokens += len((req.instructions or "").split())
            out_tokens = out_words
        resp["usage"] = {
            "input_tokens": in_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": in_tokens + out_tokens,
        }
        if reply.incomplete is not None:
            resp["status"] = "incomplete"
            resp["incomplete_details"] = {"reason": reply.incomplete}
            self._emit(run, "response.incomplete", response=_snap(resp))
            self._finalize(run, "incomplete")
        else:
            resp["status"] = "completed"
            resp["completed_at"] = _now()
            self._emit(run, "response.completed", response=_snap(resp))
            self._finalize(run, "completed")

    def _add_item(self, run: _Run, item: JSON) -> int:
        output: list[JSON] = run.response["output"]
        output.append(item)
        index = len(output) - 1
        self._emit(run, "response.output_item.added", output_index=index, item=_snap(item))
        return index

    def _item_event(self, run: _Run, type_: str, item: JSON, index: int, **fields: Any) -> None:
        self._emit(run, type_, output_index=index, item_id=item["id"], **fields)

    def _mcp_server_tools(self, label: str, tool: JSON, reply: Reply) -> list[JSON]:
        configured = self.mcp_server_tools.get(label)
        if configured is not None:
            return [mcp_rules.server_tool(t) for t in configured]
        names: list[str] = []
        rule = tool.get("allowed_tools")
        if isinstance(rule, list):
            names.extend(str(n) for n in rule)
        elif isinstance(rule, dict) and isinstance(rule.get("tool_names"), list):
            names.extend(str(n) for n in rule["tool_names"])
        names.extend(name for lbl, name, _ in reply.mcp_calls if lbl == label)
        return [mcp_rules.server_tool(n) for n in dict.fromkeys(names)]

    async def _mcp_items(
        self, run: _Run, delay: float, chunk: int
    ) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
        """The MCP part of an output, before the other tools and the text.

        Emits mcp_list_tools for servers not listed in the context, runs the calls this
        input approves, runs the scripted calls needing no approval. Returns the outputs
        of the calls run (for the default text), the names of denied calls, and the
        scripted calls waiting for approval (server_label, name, arguments JSON).
        """
        reply, req = run.reply, run.req
        servers = mcp_rules.mcp_tools(req.tools)
        listed = mcp_rules.listed_labels(req.context)
        tool_lists: dict[str, list[JSON]] = {}
        for label, tool in servers.items():
            tool_lists[label] = self._mcp_server_tools(label, tool, reply)
            if label not in listed:  # the API imports only the allowed tools
                imported = [
                    t
                    for t in tool_lists[label]
                    if mcp_rules.allowed(tool, t["name"], t.get("annotations"))
                ]
                await self._mcp_list_tools_item(run, label, imported)

        results: list[str] = []
        denied: list[str] = []

        async def call(label: str, name: str, arguments: str, approval: str | None) -> None:
            await self._mcp_call_item(run, servers[label], name, arguments, approval, delay, chunk)
            results.append(reply.mcp_output if reply.mcp_error is None else reply.mcp_error)

        requests = mcp_rules.approval_requests(req.context)
        for answer in req.mcp_approval_responses():
            rid = str(answer.get("approval_request_id"))
            request = requests[rid]  # checked in _check_mcp_approvals
            approve = bool(answer.get("approve"))
            self.mcp_approvals[rid] = approve
            if approve:
                label = str(request.get("server_label"))
                await call(label, str(request["name"]), str(request["arguments"]), rid)
            else:
                denied.append(str(request.get("name")))

        pending: list[tuple[str, str, str]] = []
        for label, name, args in reply.mcp_calls:
            target = servers.get(label)
            if target is None:
                self.mcp_calls_ignored.append(
                    (label, name, "no mcp tool with this server_label in the request")
                )
                continue
            listed_tool = next((t for t in tool_lists[label] if t["name"] == name), None)
            if listed_tool is None:
                self.mcp_calls_ignored.append((label, name, "not a tool of this server"))
                continue
            annotations = listed_tool.get("annotations")
            if not mcp_rules.allowed(target, name, annotations):
                self.mcp_calls_ignored.append((label, name, "not in allowed_tools"))
                continue
            arguments = json.dumps(args)
            if mcp_rules.needs_approval(target, name, annotations):
                pending.append((label, name, arguments))
            else:
                await call(label, name, arguments, None)
        return results, denied, pending

    async def _mcp_list_tools_item(self, run: _Run, label: str, tools: list[JSON]) -> None:
        item: JSON = {
            "id": new_id("mcpl"),
            "type": "mcp_list_tools",
            "server_label": label,
            "tools": [],
        }
        i = self._add_item(run, item)
        self._item_event(run, "response.mcp_list_tools.in_progress", item, i)
        await asyncio.sleep(0)
        item["tools"] = _snap(tools)
        self._item_event(run, "response.mcp_list_tools.completed", item, i)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))

    async def _mcp_call_item(
        self,
        run: _Run,
        tool: JSON,
        name: str,
        arguments: str,
        approval_request_id: str | None,
        delay: float,
        chunk: int,
    ) -> None:
        """One MCP call the API makes. A call the model just wrote streams its arguments
        (response.mcp_call_arguments.delta/.done); an approved one has them already."""
        reply = run.reply
        item: JSON = {
            "id": new_id("mcp"),
            "type": "mcp_call",
            "status": "in_progress",
            "server_label": str(tool.get("server_label")),
            "name": name,
            "arguments": arguments if approval_request_id else "",
            "output": None,
            "error": None,
            "approval_request_id": approval_request_id,
        }
        i = self._add_item(run, item)
        self._item_event(run, "response.mcp_call.in_progress", item, i)
        if approval_request_id is None:
            for n, pos in enumerate(range(0, len(arguments), chunk)):
                await asyncio.sleep(delay if n and delay else 0)
                piece = arguments[pos : pos + chunk]
                item["arguments"] += piece
                self._item_event(run, "response.mcp_call_arguments.delta", item, i, delta=piece)
            self._item_event(run, "response.mcp_call_arguments.done", item, i, arguments=arguments)
        await asyncio.sleep(0)
        if reply.mcp_error is not None:
            item["status"] = "failed"
            item["error"] = {
                "type": "mcp_tool_execution_error",
                "content": [{"type": "text", "text": reply.mcp_error}],
            }
            self._item_event(run, "response.mcp_call.failed", item, i)
        else:
            item["status"] = "completed"
            item["output"] = reply.mcp_output
            self._item_event(run, "response.mcp_call.completed", item, i)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = {}
        headers = tool.get("headers")
        self.mcp_calls_run.append(
            McpCallRun(
                server_label=item["server_label"],
                name=name,
                arguments=parsed if isinstance(parsed, dict) else {},
                response_id=run.id,
                item_id=item["id"],
                approval_request_id=approval_request_id,
                output=item["output"],
                error=reply.mcp_error,
                headers=dict(headers) if isinstance(headers, dict) else {},
            )
        )

    def _mcp_approval_request_item(self, run: _Run, label: str, name: str, arguments: str) -> None:
        item: JSON = {
            "id": new_id("mcpr"),
            "type": "mcp_approval_request",
            "server_label": label,
            "name": name,
            "arguments": arguments,
        }
        i = self._add_item(run, item)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))
        self.mcp_approval_requests[item["id"]] = _snap(item)

    async def _web_search_item(self, run: _Run, query: str) -> None:
        item: JSON = {
            "id": new_id("ws"),
            "type": "web_search_call",
            "status": "in_progress",
            "action": {"type": "search", "query": query, "queries": [query]},
        }
        i = self._add_item(run, item)
        self._item_event(run, "response.web_search_call.in_progress", item, i)
        await asyncio.sleep(0)
        item["status"] = "searching"
        self._item_event(run, "response.web_search_call.searching", item, i)
        await asyncio.sleep(0)
        item["status"] = "completed"
        self._item_event(run, "response.web_search_call.completed", item, i)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))

    async def _file_search_item(
        self, run: _Run, tool: JSON, query: str, include: set[str]
    ) -> list[JSON]:
        item: JSON = {
            "id": new_id("fs"),
            "type": "file_search_call",
            "status": "in_progress",
            "queries": [query],
            "results": None,
        }
        i = self._add_item(run, item)
        self._item_event(run, "response.file_search_call.in_progress", item, i)
        await asyncio.sleep(0)
        item["status"] = "searching"
        self._item_event(run, "response.file_search_call.searching", item, i)
        await asyncio.sleep(0)
        hit: StoredFile | None = None
        candidates: list[VectorStoreFileState] = []
        for vid in tool.get("vector_store_ids") or []:
            store = self.vector_stores.get(vid)
            if store is not None:
                candidates.extend(store.files.values())
        candidates.sort(key=lambda f: f.status != "completed")
        for vsf in candidates:
            if vsf.file_id in self.files:
                hit = self.files[vsf.file_id]
                break
        item["status"] = "completed"
        if "file_search_call.results" in include:
            item["results"] = (
                [
                    {
                        "file_id": hit.id,
                        "filename": hit.filename,
                        "score": 0.9,
                        "text": hit.data[:400].decode("utf-8", "replace"),
                        "attributes": {},
                    }
                ]
                if hit
                else []
            )
        self._item_event(run, "response.file_search_call.completed", item, i)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))
        if hit is None:
            return []
        return [{"type": "file_citation", "file_id": hit.id, "filename": hit.filename, "index": -1}]

    def _container_for(self, tool: JSON, req: ModelRequest) -> ContainerState:
        container = tool.get("container")
        if isinstance(container, str):
            state = self.containers[container]
            state.last_active_at = _now()
            return state
        # "auto": reuse an active container of an earlier code_interpreter_call in the
        # context, else create one and copy file_ids in.
        for item in reversed(req.context):
            if item.get("type") == "code_interpreter_call":
                prior = self.containers.get(str(item.get("container_id")))
                if prior is not None and prior.status == "running":
                    prior.last_active_at = _now()
                    return prior
        file_ids = container.get("file_ids") if isinstance(container, dict) else None
        return self._new_container("code-interpreter-auto", file_ids or [])

    def _new_container(self, name: str, file_ids: list[str]) -> ContainerState:
        state = ContainerState(id=new_id("cntr"), name=name, created_at=_now())
        state.last_active_at = state.created_at
        self.containers[state.id] = state
        for fid in file_ids:
            stored = self.files.get(fid)
            if stored is None:
                raise ApiError(404, f"No such File object: {fid}", param="file_ids")
            self._add_container_file(state, stored.filename, stored.data, "user")
        return state

    def _add_container_file(
        self, state: ContainerState, filename: str, data: bytes, source: str
    ) -> ContainerFile:
        cfile = ContainerFile(
            id=new_id("cfile"),
            container_id=state.id,
            path=f"/mnt/data/{filename.removeprefix('/mnt/data/').lstrip('/')}",
            data=data,
            created_at=_now(),
            source=source,
        )
        state.files[cfile.id] = cfile
        return cfile

    async def _code_item(
        self,
        run: _Run,
        tool: JSON,
        reply: Reply,
        include: set[str],
        delay: float,
        chunk: int,
    ) -> list[ContainerFile]:
        code = reply.code or ""
        container = self._container_for(tool, run.req)
        item: JSON = {
            "id": new_id("ci"),
            "type": "code_interpreter_call",
            "status": "in_progress",
            "code": "",
            "container_id": container.id,
            "outputs": None,
        }
        i = self._add_item(run, item)
        self._item_event(run, "response.code_interpreter_call.in_progress", item, i)
        for n, pos in enumerate(range(0, len(code), chunk)):
            await asyncio.sleep(delay if n and delay else 0)
            piece = code[pos : pos + chunk]
            item["code"] += piece
            self._item_event(run, "response.code_interpreter_call_code.delta", item, i, delta=piece)
        await asyncio.sleep(0)
        self._item_event(run, "response.code_interpreter_call_code.done", item, i, code=code)
        item["status"] = "interpreting"
        self._item_event(run, "response.code_interpreter_call.interpreting", item, i)
        await asyncio.sleep(0)
        created = [
            self._add_container_file(container, name, data, "assistant")
            for name, data in reply.files
        ]
        if reply.make_files is not None:
            current = {f.path: f.data for f in container.files.values()}
            created.extend(
                self._add_container_file(container, name, data, "assistant")
                for name, data in reply.make_files(current)
            )
        item["status"] = "completed"
        if "code_interpreter_call.outputs" in include:
            item["outputs"] = [{"type": "logs", "logs": reply.code_logs}]
        self._item_event(run, "response.code_interpreter_call.completed", item, i)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))
        return created

    async def _image_item(self, run: _Run, b64: str) -> None:
        item: JSON = {
            "id": new_id("ig"),
            "type": "image_generation_call",
            "status": "in_progress",
            "result": None,
            "output_format": "png",
            "size": "1024x1024",
            "quality": "auto",
            "background": "opaque",
            "revised_prompt": None,
        }
        i = self._add_item(run, item)
        self._item_event(run, "response.image_generation_call.in_progress", item, i)
        await asyncio.sleep(0)
        item["status"] = "generating"
        self._item_event(run, "response.image_generation_call.generating", item, i)
        await asyncio.sleep(0)
        item["status"] = "completed"
        item["result"] = b64
        self._item_event(run, "response.image_generation_call.completed", item, i)
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))

    async def _message_item(
        self, run: _Run, text: str, annotations: list[JSON], delay: float, chunk: int
    ) -> bool:
        """Stream one assistant message. False if the run ended (fail/stream_error)."""
        reply = run.reply
        for ann in annotations:
            if ann.get("type") == "file_citation" and ann.get("index", -1) < 0:
                ann["index"] = len(text)
        pending = sorted(annotations, key=_annotation_end)
        item: JSON = {
            "id": new_id("msg"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        i = self._add_item(run, item)
        part: JSON = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        item["content"].append(part)
        self._item_event(
            run, "response.content_part.added", item, i, content_index=0, part=_snap(part)
        )
        next_ann = 0

        def flush_annotations(upto: int) -> None:
            nonlocal next_ann
            while next_ann < len(pending) and _annotation_end(pending[next_ann]) <= upto:
                ann = pending[next_ann]
                part["annotations"].append(ann)
                self._item_event(
                    run,
                    "response.output_text.annotation.added",
                    item,
                    i,
                    content_index=0,
                    annotation_index=next_ann,
                    annotation=_snap(ann),
                )
                next_ann += 1

        for n, pos in enumerate(range(0, len(text), chunk)):
            await asyncio.sleep(delay if n and delay else 0)
            piece = text[pos : pos + chunk]
            part["text"] += piece
            self._item_event(
                run,
                "response.output_text.delta",
                item,
                i,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
            if reply.fail is None and reply.stream_error is None:
                flush_annotations(pos + len(piece))

        if reply.fail is not None:
            item["status"] = "incomplete"
            run.response["status"] = "failed"
            run.response["error"] = {"code": "server_error", "message": reply.fail}
            self._emit(run, "response.failed", response=_snap(run.response))
            self._finalize(run, "failed")
            return False
        if reply.stream_error is not None:
            run.stream_error = reply.stream_error
            run.response["error"] = {"code": "server_error", "message": reply.stream_error}
            self._emit(
                run,
                "error",
                code="server_error",
                message=reply.stream_error,
                param=None,
            )
            self._finalize(run, "failed")
            return False

        flush_annotations(len(text) + 1_000_000)
        self._item_event(
            run, "response.output_text.done", item, i, content_index=0, text=text, logprobs=[]
        )
        self._item_event(
            run, "response.content_part.done", item, i, content_index=0, part=_snap(part)
        )
        item["status"] = "incomplete" if reply.incomplete is not None else "completed"
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))
        return True

    async def _function_call_item(
        self, run: _Run, name: str, arguments: str, delay: float, chunk: int
    ) -> None:
        item: JSON = {
            "id": new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": new_id("call"),
            "name": name,
            "arguments": "",
        }
        i = self._add_item(run, item)
        for n, pos in enumerate(range(0, len(arguments), chunk)):
            await asyncio.sleep(delay if n and delay else 0)
            piece = arguments[pos : pos + chunk]
            item["arguments"] += piece
            self._item_event(run, "response.function_call_arguments.delta", item, i, delta=piece)
        self._item_event(
            run, "response.function_call_arguments.done", item, i, arguments=arguments, name=name
        )
        item["status"] = "completed"
        self._emit(run, "response.output_item.done", output_index=i, item=_snap(item))

    # ------------------------------------------------------------------ responses: other

    def _get_run(self, rid: str) -> _Run:
        run = self._runs.get(rid)
        if run is None:
            raise ApiError(404, f"Response with id '{rid}' not found.", param="response_id")
        return run

    async def _h_get_response(self, ctx: _Ctx) -> web.StreamResponse:
        run = self._get_run(ctx.params["rid"])
        if ctx.query.get("stream") in ("true", "True", "1"):
            try:
                after = int(ctx.query.get("starting_after", "-1"))
            except ValueError as exc:
                raise ApiError(400, "Invalid 'starting_after'.", param="starting_after") from exc
            return await self._stream_run(ctx, run, after, cancel_on_disconnect=False)
        return self._json(_snap(run.response))

    async def _h_delete_response(self, ctx: _Ctx) -> web.StreamResponse:
        run = self._get_run(ctx.params["rid"])
        self._runs.pop(run.id, None)
        return self._json({"id": run.id, "object": "response.deleted", "deleted": True})

    async def _h_cancel_response(self, ctx: _Ctx) -> web.StreamResponse:
        run = self._get_run(ctx.params["rid"])
        if not run.response.get("background"):
            raise ApiError(
                400, "Only responses created with background=true can be cancelled.", param=None
            )
        if run.response["status"] not in _TERMINAL:
            self._cancel_run(run)
        return self._json(_snap(run.response))

    async def _h_response_input_items(self, ctx: _Ctx) -> web.StreamResponse:
        run = self._get_run(ctx.params["rid"])
        return self._json(_page(_snap(run.req.input_items), ctx.query))

    # ------------------------------------------------------------------ conversations

    def _conv(self, cid: str) -> ConvState:
        conv = self.conversations.get(cid)
        if conv is None:
            raise ApiError(404, f"Conversation with id '{cid}' not found.", param="conversation_id")
        return conv

    def _items_from(self, raw: Any) -> list[JSON]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ApiError(400, "Invalid type for 'items': expected an array.", param="items")
        if len(raw) > MAX_ITEMS_PER_CALL:
            raise ApiError(
                400,
                f"Invalid 'items': array too long. Expected an array with maximum length "
                f"{MAX_ITEMS_PER_CALL}, but got an array with length {len(raw)} instead.",
                param="items",
                code="array_above_max_length",
            )
        return normalize_input(raw)

    async def _h_create_conversation(self, ctx: _Ctx) -> web.StreamResponse:
        body = ctx.json_body()
        items = self._items_from(body.get("items"))
        conv = ConvState(
            id=new_id("conv"),
            created_at=_now(),
            metadata=dict(body.get("metadata") or {}),
            items=items,
        )
        self.conversations[conv.id] = conv
        return self._json(conv.to_json())

    async def _h_get_conversation(self, ctx: _Ctx) -> web.StreamResponse:
        return self._json(self._conv(ctx.params["cid"]).to_json())

    async def _h_update_conversation(self, ctx: _Ctx) -> web.StreamResponse:
        conv = self._conv(ctx.params["cid"])
        metadata = ctx.json_body().get("metadata")
        if isinstance(metadata, dict):
            conv.metadata = dict(metadata)
        return self._json(conv.to_json())

    async def _h_delete_conversation(self, ctx: _Ctx) -> web.StreamResponse:
        conv = self._conv(ctx.params["cid"])
        del self.conversations[conv.id]
        return self._json({"id": conv.id, "object": "conversation.deleted", "deleted": True})

    async def _h_create_items(self, ctx: _Ctx) -> web.StreamResponse:
        conv = self._conv(ctx.params["cid"])
        items = self._items_from(ctx.json_body().get("items"))
        conv.items.extend(items)
        return self._json(
            {
                "object": "list",
                "data": _snap(items),
                "first_id": items[0]["id"] if items else None,
                "last_id": items[-1]["id"] if items else None,
                "has_more": False,
            }
        )

    async def _h_list_items(self, ctx: _Ctx) -> web.StreamResponse:
        conv = self._conv(ctx.params["cid"])
        return self._json(_page(_snap(conv.items), ctx.query, conversation_style=True))

    async def _h_get_item(self, ctx: _Ctx) -> web.StreamResponse:
        conv = self._conv(ctx.params["cid"])
        for item in conv.items:
            if item.get("id") == ctx.params["iid"]:
                return self._json(_snap(item))
        raise ApiError(404, f"Item with id '{ctx.params['iid']}' not found.", param="item_id")

    async def _h_delete_item(self, ctx: _Ctx) -> web.StreamResponse:
        conv = self._conv(ctx.params["cid"])
        before = len(conv.items)
        conv.items = [i for i in conv.items if i.get("id") != ctx.params["iid"]]
        if len(conv.items) == before:
            raise ApiError(404, f"Item with id '{ctx.params['iid']}' not found.", param="item_id")
        return self._json(conv.to_json())

    # ------------------------------------------------------------------ files

    def _file(self, fid: str) -> StoredFile:
        stored = self.files.get(fid)
        if stored is None:
            raise ApiError(404, f"No such File object: {fid}", param="id")
        return stored

    async def _h_create_file(self, ctx: _Ctx) -> web.StreamResponse:
        upload = ctx.uploads.get("file")
        if upload is None:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file")
        purpose = ctx.form.get("purpose")
        if not purpose:
            raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
        stored = StoredFile(
            id=new_id("file", "-"),
            filename=upload.filename,
            purpose=purpose,
            data=upload.data,
            created_at=_now(),
        )
        self.files[stored.id] = stored
        return self._json(stored.to_json())

    async def _h_list_files(self, ctx: _Ctx) -> web.StreamResponse:
        purpose = ctx.query.get("purpose")
        files = [f.to_json() for f in self.files.values() if purpose in (None, f.purpose)]
        return self._json(_page(files, ctx.query, default_order="desc"))

    async def _h_get_file(self, ctx: _Ctx) -> web.StreamResponse:
        return self._json(self._file(ctx.params["fid"]).to_json())

    async def _h_delete_file(self, ctx: _Ctx) -> web.StreamResponse:
        stored = self._file(ctx.params["fid"])
        del self.files[stored.id]
        return self._json({"id": stored.id, "object": "file", "deleted": True})

    async def _h_file_content(self, ctx: _Ctx) -> web.StreamResponse:
        stored = self._file(ctx.params["fid"])
        if stored.purpose in ("assistants", "user_data") and not self.allow_user_file_download:
            raise ApiError(400, f"Not allowed to download files of purpose: {stored.purpose}")
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ containers

    def _container(self, cid: str, *, for_files: bool = False) -> ContainerState:
        state = self.containers.get(cid)
        if state is None:
            raise ApiError(404, f"Container with id '{cid}' not found.", code="container_not_found")
        if for_files and state.status == "expired":
            raise ApiError(404, "Container is expired.", code="container_expired")
        return state

    async def _h_create_container(self, ctx: _Ctx) -> web.StreamResponse:
        body = ctx.json_body()
        name = body.get("name")
        if not name:
            raise ApiError(400, "Missing required parameter: 'name'.", param="name")
        state = self._new_container(str(name), list(body.get("file_ids") or []))
        return self._json(state.to_json())

    async def _h_list_containers(self, ctx: _Ctx) -> web.StreamResponse:
        return self._json(_page([c.to_json() for c in self.containers.values()], ctx.query))

    async def _h_get_container(self, ctx: _Ctx) -> web.StreamResponse:
        return self._json(self._container(ctx.params["cid"]).to_json())

    async def _h_delete_container(self, ctx: _Ctx) -> web.StreamResponse:
        state = self._container(ctx.params["cid"])
        del self.containers[state.id]
        return self._json({"id": state.id, "object": "container.deleted", "deleted": True})

    async def _h_create_container_file(self, ctx: _Ctx) -> web.StreamResponse:
        state = self._container(ctx.params["cid"], for_files=True)
        upload = ctx.uploads.get("file")
        if upload is not None:
            cfile = self._add_container_file(state, upload.filename, upload.data, "user")
            by = "upload"
        else:
            fid = ctx.form.get("file_id") if ctx.body is None else ctx.json_body().get("file_id")
            if not fid:
                raise ApiError(400, "Missing required parameter: 'file' or 'file_id'.")
            stored = self._file(str(fid))
            cfile = self._add_container_file(state, stored.filename, stored.data, "user")
            by = "file_id"
        self.container_uploads.append(
            ContainerUpload(
                container_id=state.id,
                filename=cfile.filename,
                path=cfile.path,
                size=len(cfile.data),
                by=by,
                file_id=cfile.id,
            )
        )
        return self._json(cfile.to_json())

    async def _h_list_container_files(self, ctx: _Ctx) -> web.StreamResponse:
        state = self._container(ctx.params["cid"], for_files=True)
        return self._json(_page([f.to_json() for f in state.files.values()], ctx.query))

    def _container_file(self, ctx: _Ctx) -> tuple[ContainerState, ContainerFile]:
        state = self._container(ctx.params["cid"], for_files=True)
        cfile = state.files.get(ctx.params["fid"])
        if cfile is None:
            raise ApiError(404, f"Container file with id '{ctx.params['fid']}' not found.")
        return state, cfile

    async def _h_get_container_file(self, ctx: _Ctx) -> web.StreamResponse:
        return self._json(self._container_file(ctx)[1].to_json())

    async def _h_delete_container_file(self, ctx: _Ctx) -> web.StreamResponse:
        state, cfile = self._container_file(ctx)
        del state.files[cfile.id]
        return web.Response(status=200)

    async def _h_container_file_content(self, ctx: _Ctx) -> web.StreamResponse:
        return web.Response(
            body=self._container_file(ctx)[1].data, content_type="application/octet-stream"
        )

    # ------------------------------------------------------------------ vector stores

    def _store(self, vid: str) -> VectorStoreState:
        store = self.vector_stores.get(vid)
        if store is None:
            raise ApiError(404, f"No vector store found with id '{vid}'.", param="vector_store_id")
        return store

    def _store_json(self, store: VectorStoreState) -> JSON:
        counts = _file_counts(store.files.values())
        return {
            "id": store.id,
            "object": "vector_store",
            "created_at": store.created_at,
            "name": store.name,
            "usage_bytes": sum(f.size for f in store.files.values() if f.status == "completed"),
            "file_counts": counts,
            "status": "in_progress" if counts["in_progress"] else "completed",
            "expires_after": None,
            "expires_at": None,
            "last_active_at": store.created_at,
            "metadata": store.metadata,
        }

    def _attach(
        self, store: VectorStoreState, fid: str, attributes: dict[str, Any] | None = None
    ) -> VectorStoreFileState:
        stored = self.files.get(fid)
        if stored is None:
            raise ApiError(404, f"No file found with id '{fid}'.", param="file_id")
        vsf = VectorStoreFileState(
            file_id=fid,
            vector_store_id=store.id,
            created_at=_now(),
            size=len(stored.data),
            retrieves_left=self.vector_store_indexing_retrieves,
            attributes=dict(attributes or {}),
        )
        store.files[fid] = vsf
        if vsf.retrieves_left <= 0:
            self._advance(vsf)
        return vsf

    def _advance(self, vsf: VectorStoreFileState) -> None:
        """One indexing step, taken on each retrieve."""
        if vsf.status != "in_progress":
            return
        if vsf.retrieves_left > 0:
            vsf.retrieves_left -= 1
            return
        stored = self.files.get(vsf.file_id)
        failure = self._failing.get(stored.filename) if stored is not None else None
        if failure is not None:
            vsf.status = "failed"
            vsf.last_error = {"code": failure[0], "message": failure[1]}
        else:
            vsf.status = "completed"

    async def _h_create_vector_store(self, ctx: _Ctx) -> web.StreamResponse:
        body = ctx.json_body()
        store = VectorStoreState(
            id=new_id("vs"),
            name=str(body.get("name") or ""),
            created_at=_now(),
            metadata=dict(body.get("metadata") or {}),
        )
        for fid in body.get("file_ids") or []:
            self._attach(store, fid)
        self.vector_stores[store.id] = store
        return self._json(self._store_json(store))

    async def _h_list_vector_stores(self, ctx: _Ctx) -> web.StreamResponse:
        stores = [self._store_json(s) for s in self.vector_stores.values()]
        return self._json(_page(stores, ctx.query))

    async def _h_get_vector_store(self, ctx: _Ctx) -> web.StreamResponse:
        return self._json(self._store_json(self._store(ctx.params["vid"])))

    async def _h_update_vector_store(self, ctx: _Ctx) -> web.StreamResponse:
        store = self._store(ctx.params["vid"])
        body = ctx.json_body()
        if body.get("name") is not None:
            store.name = str(body["name"])
        if isinstance(body.get("metadata"), dict):
            store.metadata = dict(body["metadata"])
        return self._json(self._store_json(store))

    async def _h_delete_vector_store(self, ctx: _Ctx) -> web.StreamResponse:
        store = self._store(ctx.params["vid"])
        del self.vector_stores[store.id]
        return self._json({"id": store.id, "object": "vector_store.deleted", "deleted": True})

    async def _h_create_vs_file(self, ctx: _Ctx) -> web.StreamResponse:
        store = self._store(ctx.params["vid"])
        body = ctx.json_body()
        fid = body.get("file_id")
        if not fid:
            raise ApiError(400, "Missing required parameter: 'file_id'.", param="file_id")
        vsf = self._attach(store, str(fid), body.get("attributes"))
        return self._json(vsf.to_json())

    def _vs_file(self, ctx: _Ctx) -> tuple[VectorStoreState, VectorStoreFileState]:
        store = self._store(ctx.params["vid"])
        vsf = store.files.get(ctx.params["fid"])
        if vsf is None:
            raise ApiError(
                404,
                f"No file found with id '{ctx.params['fid']}' in vector store '{store.id}'.",
                param="file_id",
            )
        return store, vsf

    async def _h_get_vs_file(self, ctx: _Ctx) -> web.StreamResponse:
        _, vsf = self._vs_file(ctx)
        self._advance(vsf)
        return self._json(vsf.to_json(), headers={"openai-poll-after-ms": "5"})

    async def _h_delete_vs_file(self, ctx: _Ctx) -> web.StreamResponse:
        store, vsf = self._vs_file(ctx)
        del store.files[vsf.file_id]
        return self._json(
            {"id": vsf.file_id, "object": "vector_store.file.deleted", "deleted": True}
        )

    async def _h_list_vs_files(self, ctx: _Ctx) -> web.StreamResponse:
        store = self._store(ctx.params["vid"])
        wanted = ctx.query.get("filter")
        files = [f.to_json() for f in store.files.values() if wanted in (None, f.status)]
        return self._json(_page(files, ctx.query))

    def _batch_json(self, store: VectorStoreState, batch: FileBatchState) -> JSON:
        files = [store.files[f] for f in batch.file_ids if f in store.files]
        counts = _file_counts(files)
        if batch.cancelled:
            status = "cancelled"
        elif counts["in_progress"]:
            status = "in_progress"
        else:
            status = "completed"
        return {
            "id": batch.id,
            "object": "vector_store.files_batch",
            "created_at": batch.created_at,
            "vector_store_id": store.id,
            "status": status,
            "file_counts": counts,
        }

    async def _h_create_batch(self, ctx: _Ctx) -> web.StreamResponse:
        store = self._store(ctx.params["vid"])
        body = ctx.json_body()
        entries: list[tuple[str, dict[str, Any] | None]] = [
            (str(fid), body.get("attributes")) for fid in body.get("file_ids") or []
        ]
        for entry in body.get("files") or []:
            if isinstance(entry, dict) and entry.get("file_id"):
                entries.append((str(entry["file_id"]), entry.get("attributes")))
        if not entries:
            raise ApiError(400, "Missing required parameter: 'file_ids'.", param="file_ids")
        for fid, _ in entries:
            if fid not in self.files:
                raise ApiError(404, f"No file found with id '{fid}'.", param="file_ids")
        batch = FileBatchState(
            id=new_id("vsfb"),
            vector_store_id=store.id,
            created_at=_now(),
            file_ids=[fid for fid, _ in entries],
        )
        for fid, attrs in entries:
            self._attach(store, fid, attrs)
        store.batches[batch.id] = batch
        return self._json(self._batch_json(store, batch))

    def _batch(self, ctx: _Ctx) -> tuple[VectorStoreState, FileBatchState]:
        store = self._store(ctx.params["vid"])
        batch = store.batches.get(ctx.params["bid"])
        if batch is None:
            raise ApiError(404, f"No file batch found with id '{ctx.params['bid']}'.")
        return store, batch

    async def _h_get_batch(self, ctx: _Ctx) -> web.StreamResponse:
        store, batch = self._batch(ctx)
        for fid in batch.file_ids:
            if fid in store.files:
                self._advance(store.files[fid])
        return self._json(self._batch_json(store, batch), headers={"openai-poll-after-ms": "5"})

    async def _h_cancel_batch(self, ctx: _Ctx) -> web.StreamResponse:
        store, batch = self._batch(ctx)
        batch.cancelled = True
        for fid in batch.file_ids:
            vsf = store.files.get(fid)
            if vsf is not None and vsf.status == "in_progress":
                vsf.status = "cancelled"
        return self._json(self._batch_json(store, batch))

    async def _h_list_batch_files(self, ctx: _Ctx) -> web.StreamResponse:
        store, batch = self._batch(ctx)
        wanted = ctx.query.get("filter")
        files = [
            store.files[f].to_json()
            for f in batch.file_ids
            if f in store.files and wanted in (None, store.files[f].status)
        ]
        return self._json(_page(files, ctx.query))

    # ------------------------------------------------------------------ models

    def _model_json(self, mid: str) -> JSON:
        return {"id": mid, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}

    async def _h_list_models(self, ctx: _Ctx) -> web.StreamResponse:
        names = ["gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "gpt-5", "gpt-5-mini"]
        data = [self._model_json(n) for n in names if n not in self.unknown_models]
        return self._json({"object": "list", "data": data})

    async def _h_get_model(self, ctx: _Ctx) -> web.StreamResponse:
        mid = ctx.params["mid"]
        if mid in self.unknown_models:
            raise ApiError(
                404,
                f"The model '{mid}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        return self._json(self._model_json(mid))

    # ------------------------------------------------------------------ audio

    def _audio_model(self, model: str, supported: tuple[str, ...]) -> None:
        if not model:
            raise ApiError(
                400,
                "Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            )
        if model in self.unknown_models:
            raise ApiError(
                400,
                f"The requested model '{model}' does not exist.",
                param="model",
                code="model_not_found",
            )
        if model not in supported:
            shown = ", ".join(f"'{m}'" for m in supported[:-1]) + f", and '{supported[-1]}'"
            raise ApiError(
                400,
                f"Invalid value: '{model}'. Supported values are: {shown}.",
                param="model",
                code="invalid_value",
            )

    def _audio_failure(self, endpoint: str) -> None:
        failures = self._audio_failures[endpoint]
        if failures:
            raise _status_error(failures.popleft())

    async def _h_transcription(self, ctx: _Ctx) -> web.StreamResponse:
        upload = ctx.uploads.get("file")
        call = TranscriptionCall(
            model=ctx.form.get("model", ""),
            filename=upload.filename if upload else "",
            content_type=upload.content_type if upload else "",
            size=len(upload.data) if upload else 0,
            duration=None,
            form=dict(ctx.form),
        )
        self.transcriptions.append(call)
        return _recording(call, lambda: self._transcribe(ctx, call))

    def _transcribe(self, ctx: _Ctx, call: TranscriptionCall) -> web.StreamResponse:
        upload = ctx.uploads.get("file")
        if upload is None:
            raise ApiError(
                400,
                "Missing required parameter: 'file'.",
                param="file",
                code="missing_required_parameter",
            )
        if len(upload.data) > MAX_AUDIO_BYTES:
            read = max(ctx.request.content_length or 0, len(upload.data))
            raise ApiError(
                413,
                f"Maximum content size limit ({MAX_AUDIO_BYTES}) exceeded ({read} bytes read)",
                type_="server_error",
            )
        model = call.model
        self._audio_model(model, TRANSCRIPTION_MODELS)
        form = ctx.form
        fmt = form.get("response_format") or "json"
        allowed = _TRANSCRIPTION_RESPONSE_FORMATS.get(model, ("json", "text"))
        if fmt not in allowed:
            instead = " or ".join(f"'{f}'" for f in allowed)
            if len(allowed) > 2:
                instead = ", ".join(f"'{f}'" for f in allowed[:-1]) + f" or '{allowed[-1]}'"
            raise ApiError(
                400,
                f"response_format '{fmt}' is not compatible with model '{model}'. "
                f"Use {instead} instead.",
                param="response_format",
                code="unsupported_value",
            )
        language = form.get("language")
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(
                400,
                f"Invalid language '{language}'. Language parameter must be specified in "
                "ISO-639-1 format.",
                param="language",
                code="invalid_language_format",
            )
        name = upload.filename
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in TRANSCRIPTION_FORMATS:
            raise ApiError(
                400,
                f"Invalid file format. Supported formats: {list(TRANSCRIPTION_FORMATS)}",
                param="file",
                code="invalid_value",
            )
        # The real service decodes with ffmpeg; here the headers must be readable
        # (mutagen, and for WebM the EBML Duration or the last block).
        duration = audio_files.audio_length(upload.data)
        if duration is None:
            raise ApiError(
                400,
                "Audio file might be corrupted or unsupported",
                param="file",
                code="invalid_value",
            )
        call.duration = duration
        if duration < _MIN_AUDIO_SECONDS:
            raise ApiError(
                400,
                f"Audio file is too short. Minimum audio length is {_MIN_AUDIO_SECONDS} seconds.",
                param="file",
                code="audio_too_short",
            )
        if model != "whisper-1" and duration > _MAX_TRANSCRIBE_SECONDS:
            raise ApiError(
                400,
                f"audio duration {duration:.1f} seconds is longer than "
                f"{_MAX_TRANSCRIBE_SECONDS} seconds which is the maximum for this model",
                param=None,
                code="invalid_value",
            )
        self._audio_failure("transcription")

        text = self.transcripts.get(name)
        if text is None:
            text = self.transcript if self.transcript is not None else f"transcript of {name}"
        call.text = text
        words = text.split()
        usage: JSON
        if model == "whisper-1":
            usage = {"type": "duration", "seconds": math.ceil(duration)}
        else:
            audio_tokens = max(1, math.ceil(duration * AUDIO_TOKENS_PER_SECOND))
            text_tokens = len((form.get("prompt") or "").split())
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens + text_tokens,
                "input_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
                "output_tokens": len(words),
                "total_tokens": audio_tokens + text_tokens + len(words),
            }
        include = {v for k, v in ctx.form_pairs if k in ("include", "include[]")}
        logprobs: list[JSON] | None = None
        if "logprobs" in include and model not in ("whisper-1", "gpt-4o-transcribe-diarize"):
            tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
            logprobs = [{"token": t, "logprob": -0.01, "bytes": list(t.encode())} for t in tokens]

        # stream=true: server-sent events for the gpt-4o models; whisper-1 ignores it.
        if form.get("stream") == "true" and model != "whisper-1":
            return self._transcript_stream(text, usage, logprobs)
        if fmt == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if fmt in ("srt", "vtt"):
            return web.Response(text=_subtitles(fmt, text, duration), content_type="text/plain")
        if fmt == "verbose_json":
            granularities = {
                v
                for k, v in ctx.form_pairs
                if k in ("timestamp_granularities", "timestamp_granularities[]")
            }
            return self._json(_verbose_transcript(text, duration, language, granularities, usage))
        if fmt == "diarized_json":
            segment = {
                "type": "transcript.text.segment",
                "id": "seg_0",
                "start": 0.0,
                "end": duration,
                "text": text,
                "speaker": "A",
            }
            body = {
                "task": "transcribe",
                "duration": duration,
                "text": text,
                "segments": [segment],
                "usage": usage,
            }
            return self._json(body)
        body = {"text": text, "usage": usage}
        if logprobs is not None:
            body["logprobs"] = logprobs
        return self._json(body)

    def _transcript_stream(
        self, text: str, usage: JSON, logprobs: list[JSON] | None
    ) -> web.StreamResponse:
        pieces = [w if i == 0 else " " + w for i, w in enumerate(text.split())]
        out = b""
        for i, piece in enumerate(pieces):
            delta: JSON = {"type": "transcript.text.delta", "delta": piece}
            if logprobs is not None:
                delta["logprobs"] = [logprobs[i]]
            out += format_sse(delta)
        done: JSON = {"type": "transcript.text.done", "text": text, "usage": usage}
        if logprobs is not None:
            done["logprobs"] = logprobs
        out += format_sse(done)
        return web.Response(body=out, content_type="text/event-stream")

    async def _h_speech(self, ctx: _Ctx) -> web.StreamResponse:
        body = ctx.json_body()
        voice = body.get("voice")
        if isinstance(voice, dict):
            voice = voice.get("id")
        instructions = body.get("instructions")
        speed = body.get("speed", 1.0)
        call = SpeechCall(
            model=str(body.get("model") or ""),
            voice=str(voice or ""),
            input=str(body.get("input") or ""),
            response_format=str(body.get("response_format") or "mp3"),
            instructions=instructions if isinstance(instructions, str) else None,
            speed=float(speed) if isinstance(speed, int | float) else 1.0,
            stream_format=str(body.get("stream_format") or "audio"),
        )
        self.speeches.append(call)
        return _recording(call, lambda: self._speak(body, call))

    def _speak(self, body: JSON, call: SpeechCall) -> web.StreamResponse:
        # The definition holds input and instructions to 4096 characters, response_format
        # and stream_format to their values, speed to 0.25..4 (spec.py answers those).
        model = call.model
        self._audio_model(model, SPEECH_MODELS)
        if not call.input:
            raise ApiError(
                400,
                "Invalid 'input': string too short. Expected a string with minimum length 1, "
                "but got a string with length 0 instead.",
                param="input",
                code="string_below_min_length",
            )
        if call.instructions is not None and not model.startswith("gpt-4o-mini-tts"):
            raise ApiError(
                400,
                "Unsupported parameter: 'instructions' is not supported with this model.",
                param="instructions",
                code="unsupported_parameter",
            )
        if not isinstance(body.get("voice"), dict) and call.voice not in SPEECH_VOICES:
            shown = ", ".join(f"'{v}'" for v in SPEECH_VOICES[:-1]) + f", and '{SPEECH_VOICES[-1]}'"
            raise ApiError(
                400,
                f"Invalid value: '{call.voice}'. Supported values are: {shown}.",
                param="voice",
                code="invalid_value",
            )
        if call.stream_format == "sse" and not model.startswith("gpt-4o-mini-tts"):
            raise ApiError(
                400,
                "Unsupported value: 'stream_format' does not support 'sse' with this model. "
                "Supported values are: 'audio'.",
                param="stream_format",
                code="unsupported_value",
            )
        self._audio_failure("speech")
        seconds = max(0.5, len(call.input) / SPEECH_CHARS_PER_SECOND) / max(0.25, call.speed)
        data, mime = _speech_audio(call.response_format, seconds)
        call.duration, call.size = seconds, len(data)
        if call.stream_format == "sse":
            out = b""
            for pos in range(0, len(data), 32_768):
                chunk = base64.b64encode(data[pos : pos + 32_768]).decode()
                out += format_sse({"type": "speech.audio.delta", "audio": chunk})
            in_tokens = len(call.input.split()) + len((call.instructions or "").split())
            out_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
            usage = {
                "input_tokens": in_tokens,
                "output_tokens": out_tokens,
                "total_tokens": in_tokens + out_tokens,
            }
            out += format_sse({"type": "speech.audio.done", "usage": usage})
            return web.Response(body=out, content_type="text/event-stream")
        return web.Response(body=data, content_type=mime)


def _speech_audio(fmt: str, seconds: float) -> tuple[bytes, str]:
    """Silent audio of ``seconds`` in a /audio/speech response_format, and its type.

    mp3, opus (Ogg Opus), flac, wav (24 kHz mono 16-bit, as the API's) and pcm (raw 24 kHz
    16-bit little-endian samples) are real files of that format. "aac" is WAV bytes under
    the aac type: no AAC encoder here (mutagen and ffmpeg still read the length from the
    content, not the type).
    """
    if fmt == "mp3":
        return audio_files.mp3_bytes(seconds), "audio/mpeg"
    if fmt == "opus":
        return audio_files.ogg_opus_bytes(seconds), "audio/opus"
    if fmt == "flac":
        return audio_files.flac_bytes(seconds, rate=24_000), "audio/flac"
    if fmt == "pcm":
        return audio_files.pcm_bytes(seconds, rate=24_000), "audio/pcm"
    wav = audio_files.wav_bytes(seconds, rate=24_000)
    return wav, "audio/aac" if fmt == "aac" else "audio/wav"


def _clock(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _subtitles(fmt: str, text: str, duration: float) -> str:
    """One cue spanning the audio, as srt or vtt."""
    sep = "," if fmt == "srt" else "."
    cue = f"{_clock(0, sep)} --> {_clock(duration, sep)}\n{text}\n"
    return f"1\n{cue}\n" if fmt == "srt" else f"WEBVTT\n\n{cue}\n"


def _verbose_transcript(
    text: str, duration: float, language: str | None, granularities: set[str], usage: JSON
) -> JSON:
    """whisper-1's verbose_json: one segment; words too if timestamp_granularities asks."""
    words = text.split()
    body: JSON = {
        "task": "transcribe",
        "language": _LANGUAGE_NAMES.get(language or "en", language or "english"),
        "duration": duration,
        "text": text,
        "segments": [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": duration,
                "text": " " + text,
                "tokens": list(range(50_364, 50_364 + len(words))),
                "temperature": 0.0,
                "avg_logprob": -0.25,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        ],
        "usage": usage,
    }
    if "word" in granularities:
        step = duration / max(1, len(words))
        body["words"] = [
            {"word": w, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
            for i, w in enumerate(words)
        ]
        if "segment" not in granularities:
            del body["segments"]
    return body


def _recording(
    call: TranscriptionCall | SpeechCall, answer: Callable[[], web.StreamResponse]
) -> web.StreamResponse:
    """`answer()`, with the status (and error) it gave kept on the call's record."""
    try:
        resp = answer()
    except ApiError as err:
        call.status, call.error = err.status, err.message
        raise
    call.status = resp.status
    return resp


def _annotation_end(ann: JSON) -> int:
    if "end_index" in ann:
        return int(ann["end_index"])
    return int(ann.get("index", 0))


def _container_citations(text: str, files: list[ContainerFile]) -> list[JSON]:
    """container_file_citation annotations spanning ``sandbox:/mnt/data/NAME`` (or NAME)
    in the text; at the end of the text (empty span) if the text doesn't mention it."""
    out: list[JSON] = []
    for cfile in files:
        start = end = len(text)
        for needle in (f"sandbox:{cfile.path}", cfile.path, cfile.filename):
            found = text.find(needle)
            if found >= 0:
                start, end = found, found + len(needle)
                break
        out.append(
            {
                "type": "container_file_citation",
                "container_id": cfile.container_id,
                "file_id": cfile.id,
                "filename": cfile.filename,
                "start_index": start,
                "end_index": end,
            }
        )
    return out
