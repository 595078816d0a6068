"""The conversation engine: OpenAI Responses + Conversations.

One turn = one or more `responses.create(stream=True)` calls on the thread's
Conversation (more than one only while the model calls functions). A turn resumed
after a crash starts from the response the dead process had started: a finished one
is read back (`responses.retrieve`), a background one still running is streamed again
(`responses.retrieve(stream=True)`), anything else is asked again. The stream is
turned into platform-neutral events (:mod:`bot.models`). In stateless mode the
history comes from our store instead of a Conversation, for OpenAI-compatible
servers that lack the Conversations API.

The `responses.create` stream is read as raw server-sent events
(`with_streaming_response`, decoded by :mod:`bot.sse`) rather than through the SDK's
typed stream, which costs a pydantic model per event: text deltas are taken straight
from the JSON, every other event becomes the SDK model the typed stream would have
given (see `_stream_round`). The rare resumed stream still uses the typed stream.

This module (with :mod:`bot.knowledge`) is the only place that imports `openai`; it
also imports `httpx2`, the SDK's HTTP client, to turn read errors into the SDK's (its
aiohttp transport raises httpx2's errors too, see `build_client`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin

import anyio
import httpx2
import openai
import pydantic
from openai import AsyncOpenAI
from openai.types.responses import ResponseStreamEvent

from bot.assistant import KNOWLEDGE_STORE_KEY, Assistant
from bot.attachments import classify, guess_mime, human_size, is_text
from bot.config import Settings
from bot.conversation_pool import ConversationPool
from bot.models import (
    CheckResult,
    Done,
    EngineEvent,
    Failed,
    FileReady,
    InputFile,
    Notice,
    OutFile,
    Progress,
    Started,
    StepKind,
    TextDelta,
    Usage,
    UserMessage,
)
from bot.sse import SSEDecoder
from bot.store import Store, ThreadRow
from bot.tools import FunctionCall, ToolContext

logger = logging.getLogger(__name__)

# Containers idle for ~20 minutes expire; re-check an older one before using it.
CONTAINER_FRESH_SECONDS = 15 * 60
KNOWLEDGE_CACHE_SECONDS = 30.0
LOCKED_BACKOFF = (0.2, 0.4, 0.8, 1.6, 3.2, 5.0)
# What a server answers for an endpoint it does not have.
NO_ENDPOINT_STATUSES = frozenset({404, 405, 501})
MISCONFIGURED_CONVERSATIONS = (
    "The assistant is misconfigured: its server has no Conversations API. "
    "An admin can switch this deployment to stateless mode."
)
REPLAYED_TYPES = frozenset({"message", "function_call", "function_call_output"})
NOT_RUN = "Not run: this turn reached its limit of tool calls."

STEP_LABELS: dict[str, tuple[StepKind, str]] = {
    "code_interpreter_call": ("code", "Running code"),
    "file_search_call": ("file_search", "Searching the knowledge base"),
    "image_generation_call": ("image", "Generating an image"),
    "web_search_call": ("web_search", "Searching the web"),
    "mcp_call": ("mcp", "Using a connected tool"),
}


def build_client(settings: Settings) -> AsyncOpenAI:
    """The one OpenAI client of the process, with explicit timeouts and retries.

    Its HTTP transport is aiohttp (the SDK's `DefaultAioHttpClient`, "for improved
    concurrency performance") instead of httpcore. Profiled at 50 concurrent threads,
    httpcore + anyio + h11 reading the answer streams and sending requests were the
    largest share of the event loop; with aiohttp's C parser the bot's CPU per turn fell
    by a quarter and the latency it adds to the first words at 50 threads to a third
    (bench/RESULTS.md).
    aiohttp also keeps every idle connection (httpx kept 100), so hundreds of concurrent
    streams are not reconnected. Errors keep the SDK's types: the transport maps
    aiohttp's errors to httpx2's, which the SDK turns into `APIConnectionError` and
    `APITimeoutError`.
    """
    timeout = openai.Timeout(settings.openai_timeout, connect=settings.openai_connect_timeout)
    return AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=timeout,
        max_retries=settings.openai_max_retries,
        http_client=openai.DefaultAioHttpClient(timeout=timeout),
    )


# `responses.create` parameters passed in `extra_body`, which the SDK sends as given.
# Otherwise it first walks them against its parameter types, every member of every union
# in turn: ~0.7 ms a request for one input message and three function tools, a tenth of
# the bot's CPU per turn. No Responses parameter type renames or reformats a field (no
# `PropertyInfo` alias or format), so the JSON sent is the same; a test holds it to that.
SENT_AS_IS = ("input", "tools")


def _sent_as_is(kwargs: dict[str, Any]) -> dict[str, Any]:
    typed = {k: v for k, v in kwargs.items() if k not in SENT_AS_IS}
    typed["extra_body"] = {k: kwargs[k] for k in SENT_AS_IS if k in kwargs}
    return typed


def new_ref() -> str:
    """A short id the user can quote and that is in the logs."""
    return secrets.token_hex(4)


class TurnFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


def _user_message_for(exc: BaseException) -> str:
    if isinstance(exc, TurnFailed):
        return exc.user_message
    if isinstance(exc, openai.RateLimitError):
        return "The assistant is busy right now (rate limited). Please try again in a minute."
    if isinstance(exc, openai.APITimeoutError):
        return "The assistant took too long to answer. Please try again."
    if isinstance(exc, openai.APIConnectionError):
        return "The assistant could not be reached. Please try again."
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "The assistant is not configured correctly (the API key was refused)."
    if isinstance(exc, openai.APIStatusError):
        reason = server_reason(exc)
        if exc.status_code < 500:
            if reason:
                return f"The assistant's server refused this request: {reason}"
            return "The assistant could not handle this request."
        if reason:
            return f"The assistant's server failed: {reason}"
    return "Sorry, something went wrong while answering."


REASON_LIMIT = 200


def server_reason(exc: openai.APIStatusError) -> str:
    """The error message a server gave (its JSON `error.message`), on one short line;
    "" for a body without one (an HTML page from a proxy, say)."""
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    line = " ".join(message.split())
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1].rstrip() + "…"


def _retry_delay(exc: openai.APIError, attempt: int) -> float:
    """The server's Retry-After if it gave one (up to a minute), else exponential backoff."""
    response = getattr(exc, "response", None)
    headers = response.headers if response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        try:
            seconds: float | None = float(value) * scale if value is not None else None
        except ValueError:
            seconds = None
        if seconds is not None and 0 <= seconds <= 60:
            return seconds
    return min(0.5 * 2.0 ** (attempt - 1), 8.0) * random.uniform(0.75, 1.0)  # noqa: S311


# Containers: the real API answers an expired one with a 400 whose code is null
# ("Container is expired.", reported in the OpenAI community forum, thread 1321773), so
# the message is the fallback there; these codes are honoured where a server sends one.
CONTAINER_GONE_CODES = frozenset({"container_expired", "container_not_found"})


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""


def is_locked(exc: openai.APIStatusError) -> bool:
    """Another response of the conversation is still running (400 `conversation_locked`)."""
    return exc.code == "conversation_locked"


def is_conversation_gone(exc: openai.APIStatusError) -> bool:
    """The request's Conversation was deleted (or belongs to another project): a 404 about
    the `conversation` parameter. The message is read only when the body names neither
    a code nor a parameter."""
    if not isinstance(exc, openai.NotFoundError):
        return False
    if exc.code is not None or exc.param is not None:
        return exc.param == "conversation" or exc.code == "conversation_not_found"
    return "conversation" in _error_message(exc).lower()


def is_container_gone(exc: openai.APIStatusError) -> bool:
    """The code interpreter's container expired or was deleted (a 400 or 404)."""
    if exc.status_code not in (400, 404):
        return False
    if exc.code is not None:
        return exc.code in CONTAINER_GONE_CODES
    message = _error_message(exc).lower()
    return "container" in message and ("expired" in message or "not found" in message)


def _stream_event_models() -> dict[str, type[pydantic.BaseModel]]:
    """Event `type` -> the SDK model class for it: the variants of ResponseStreamEvent."""
    union: Any = ResponseStreamEvent
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    models: dict[str, type[pydantic.BaseModel]] = {}
    for variant in get_args(union):
        type_field = variant.model_fields.get("type")
        for value in get_args(type_field.annotation) if type_field is not None else ():
            models[value] = variant
    if "response.completed" not in models:  # fail at import, not on every turn
        raise RuntimeError("openai.types.responses.ResponseStreamEvent has an unknown shape")
    return models


_STREAM_EVENT_MODELS = _stream_event_models()
# The stream events `Engine._map_event` acts on; the rest (in_progress, content parts,
# text done, ...) are skipped before any model is built.
_MAPPED_EVENTS = frozenset(
    {
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    }
)


def _event_model(event: dict[str, Any]) -> Any | None:
    """The SDK model of one stream event, as the SDK's typed stream builds it; None if
    the SDK has no model for its type (a newer event: the typed stream gave those a
    meaningless model that `_map_event` ignored, so they are skipped).

    Validated like the SDK does, but against the one class the `type` names, not by
    trying each of the ~60 union members in turn; data that does not validate (an
    older or newer server) is built without validation, the SDK's fallback too.
    """
    kind = event.get("type")
    model = _STREAM_EVENT_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    try:
        return model.model_validate(event)
    except pydantic.ValidationError:
        return model.model_construct(**event)


@dataclass
class _RoundResult:
    """What one streamed response left behind for the turn."""

    response_id: str | None = None
    calls: list[FunctionCall] = field(default_factory=list)
    output_items: list[dict[str, Any]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    container_files: dict[str, tuple[str, str]] = field(default_factory=dict)
    cited_names: list[str] = field(default_factory=list)
    ran_code: bool = False
    finished: bool = False


@dataclass
class _TurnState:
    thread: ThreadRow
    conversation_id: str | None
    container_id: str | None
    vector_store_ids: tuple[str, ...]
    started_at: float
    delivered: set[str] = field(default_factory=set)
    images: int = 0


class Engine:
    """Runs turns against the Responses API. One instance per process."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        assistant: Assistant,
        store: Store,
        settings: Settings,
    ) -> None:
        self.client = client
        self.assistant = assistant
        self.store = store
        self.settings = settings
        self.stateless = settings.conversation_mode == "stateless"
        # responses.create is retried here, not by the SDK: see `_create`.
        self._create_client = client.with_options(max_retries=0)
        self.pool = ConversationPool(
            client=client,
            store=store,
            size=0 if self.stateless else settings.conversation_pool,
        )
        self._knowledge: tuple[float, str | None] = (0.0, None)

    def start(self) -> None:
        """Background work of a running process: fill the conversation pool."""
        self.pool.fill()

    def describe(self) -> list[str]:
        """The assistant's tools, one short line each."""
        return self.assistant.describe()

    async def close(self) -> None:
        await self.pool.close()
        await self.client.close()

    async def check(self) -> list[CheckResult]:
        """Talk to the API the way turns will: the model, and Conversations if used."""
        results: list[CheckResult] = []
        model = self.assistant.model
        try:
            found = await self._model_exists(model)
        except openai.AuthenticationError:
            return [CheckResult("OpenAI key", False, "OPENAI_API_KEY was refused (401)")]
        except openai.APIError as exc:
            results.append(CheckResult("OpenAI", False, f"cannot reach the API: {exc.message}"))
            return results
        if found:
            results.append(CheckResult("OpenAI model", True, f"{model} is available"))
        else:
            results.append(
                CheckResult("OpenAI model", False, f"OPENAI_MODEL {model!r} does not exist here")
            )
        if not self.stateless:
            try:
                conversation = await self.client.conversations.create(
                    metadata={"purpose": "threadbridge check"}
                )
                await self.client.conversations.delete(conversation.id)
                results.append(CheckResult("OpenAI Conversations", True, "available"))
            except openai.APIStatusError as exc:
                results.append(
                    CheckResult(
                        "OpenAI Conversations",
                        False,
                        f"not available ({exc.status_code}); for servers without it set "
                        "THREADBRIDGE_CONVERSATION_MODE=stateless",
                    )
                )
        return results

    async def _model_exists(self, model: str) -> bool:
        """`GET /models/{id}`, or the list where a server has only that (llama.cpp's)."""
        try:
            await self.client.models.retrieve(model)
            return True
        except openai.NotFoundError:
            pass  # a missing model, or no such route: the list tells which
        async for listed in self.client.models.list():
            if listed.id == model:
                return True
        return False

    # --- the turn ------------------------------------------------------------

    async def turn(
        self,
        *,
        thread: ThreadRow,
        messages: Sequence[UserMessage],
        context: ToolContext,
        resume_response: str | None = None,
    ) -> AsyncIterator[EngineEvent]:
        """Answer `messages` in `thread`, yielding events; never raises for API errors.

        With `resume_response`, the turn continues from that response of an interrupted
        attempt (see the module docstring); `messages` are sent only if it is lost.
        """
        ref = new_ref()
        try:
            async for event in self._turn(thread, messages, context, resume_response):
                yield event
        except Exception as exc:
            logger.error(
                "turn failed ref=%s thread=%s: %s: %s",
                ref,
                thread.key,
                exc.__class__.__name__,
                exc,
                exc_info=not isinstance(exc, openai.APIError | TurnFailed),
            )
            yield Failed(message=_user_message_for(exc), ref=ref)

    async def _turn(
        self,
        thread: ThreadRow,
        messages: Sequence[UserMessage],
        context: ToolContext,
        resume_response: str | None,
    ) -> AsyncIterator[EngineEvent]:
        state = _TurnState(
            thread=thread,
            conversation_id=thread.conversation_id,
            container_id=thread.container_id,
            vector_store_ids=(),
            started_at=time.time(),
        )
        if self.assistant.code_interpreter and not self.stateless:
            state.container_id = await self._ensure_container(state)
        notices: list[str] = []
        new_items = [await self._user_item(state, message, notices) for message in messages]
        for text in notices:
            yield Notice(text)
        state.vector_store_ids = await self._vector_store_ids(state)

        history: list[dict[str, Any]] = []
        new_thread, pooled = False, None
        if self.stateless:
            history = replay_window(
                await self.store.history(thread.id, self.settings.history_limit)
            )
        elif state.conversation_id is None:
            pooled = await self.pool.take()
            if pooled is not None:
                await self.store.update_thread(thread.id, conversation_id=pooled)
                logger.info("thread %s -> conversation %s (pooled)", thread.key, pooled)
            state.conversation_id = pooled or await self._new_conversation(thread)
            new_thread = True

        usage = Usage()
        transcript: list[dict[str, Any]] = list(new_items)
        pending_input: list[dict[str, Any]] = list(new_items)
        response_id: str | None = None
        for _round in range(self.settings.tool_rounds + 1):
            result = _RoundResult()
            request_input = history + transcript if self.stateless else pending_input
            if resume_response is not None and not self.stateless:
                async for event in self._resume_round(state, resume_response, result):
                    yield event
                resume_response = None
                if not result.finished:
                    result = _RoundResult()  # lost: ask again
            if not result.finished:
                async for event in self._stream_round(state, request_input, result):
                    yield event
            usage = usage + result.usage
            response_id = result.response_id or response_id
            transcript.extend(result.output_items)
            async for event in self._deliver_files(state, result):
                yield event
            if result.cited_names:
                names = ", ".join(dict.fromkeys(result.cited_names))
                yield TextDelta(f"\n\nSources: {names}")
            if not result.calls:
                break
            if _round == self.settings.tool_rounds:
                # Every call needs its output in the history, or the next request is
                # rejected ("No tool output found for function call").
                skipped: list[Any] = [
                    {"type": "function_call_output", "call_id": call.call_id, "output": NOT_RUN}
                    for call in result.calls
                ]
                transcript.extend(skipped)
                if not self.stateless and state.conversation_id is not None:
                    await self.client.conversations.items.create(
                        state.conversation_id, items=skipped
                    )
                yield Notice("Stopped after too many tool calls in one turn.")
                break
            for call in result.calls:
                yield Progress(call.call_id, "function", f"Calling {call.name}")
            outputs = await self.assistant.functions.run(result.calls, context)
            for call in result.calls:
                yield Progress(call.call_id, "function", f"Calling {call.name}", done=True)
            transcript.extend(outputs)
            pending_input = outputs

        if self.stateless:
            await self.store.append_history(thread.id, _portable(transcript))
        if new_thread:
            self.pool.fill()
        yield Done(usage=usage, model=self.assistant.model, response_id=response_id)

    # --- one streamed response ----------------------------------------------------

    async def _create(
        self,
        state: _TurnState,
        request_input: list[dict[str, Any]],
        stack: contextlib.AsyncExitStack,
    ) -> openai.AsyncAPIResponse[Any]:
        """`responses.create(stream=True)`, retrying while the conversation is locked.

        Returns the response with its body unread; `stack` closes it. HTTP errors are
        raised here, as the SDK's `APIStatusError` subclasses.
        """
        kwargs: dict[str, Any] = {
            "model": self.assistant.model,
            "instructions": self.assistant.instructions,
            "input": request_input,
            "stream": True,
        }
        tools = self.assistant.tools(
            container_id=state.container_id, vector_store_ids=state.vector_store_ids
        )
        if tools:
            kwargs["tools"] = tools
        if self.stateless:
            kwargs["store"] = False
        else:
            kwargs["conversation"] = state.conversation_id
            if self.settings.background_responses:
                kwargs["background"] = True
        if state.container_id:
            kwargs["include"] = ["code_interpreter_call.outputs"]

        deadline = time.monotonic() + self.settings.locked_retry_seconds
        attempt = 0
        retries = 0
        last_failure: str | None = None
        recreated_container = False
        recreated_conversation = False
        while True:
            try:
                return await stack.enter_async_context(
                    self._create_client.responses.with_streaming_response.create(
                        **_sent_as_is(kwargs)
                    )
                )
            except openai.APIConnectionError as exc:  # also a timeout
                if retries >= self.settings.openai_max_retries:
                    raise
                retries += 1
                await asyncio.sleep(_retry_delay(exc, retries))
            except openai.NotFoundError as exc:
                # The Conversation was deleted (or belongs to another project): start a new
                # one rather than leave the thread unusable.
                if self.stateless or recreated_conversation or not is_conversation_gone(exc):
                    raise
                recreated_conversation = True
                logger.warning("conversation %s is gone; starting a new one", state.conversation_id)
                state.conversation_id = await self._new_conversation(state.thread)
                kwargs["conversation"] = state.conversation_id
            except openai.APIStatusError as exc:
                if is_locked(exc) and time.monotonic() < deadline:
                    delay = LOCKED_BACKOFF[min(attempt, len(LOCKED_BACKOFF) - 1)]
                    attempt += 1
                    logger.info("conversation locked, retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    continue
                if (
                    state.container_id
                    and not recreated_container
                    and exc.status_code in (400, 404)
                    and is_container_gone(exc)
                ):
                    recreated_container = True
                    state.container_id = await self._new_container(state)
                    kwargs["tools"] = self.assistant.tools(
                        container_id=state.container_id, vector_store_ids=state.vector_store_ids
                    )
                    continue
                # What the SDK would retry (408, 409, 429, 5xx), except a server error that
                # repeats the last one word for word: it will fail the same way again (a
                # compatible server refusing images, say). Other 4xx are never retried.
                failure = f"{exc.status_code} {server_reason(exc)}"
                transient = exc.status_code in (408, 409, 429) or exc.status_code >= 500
                if (
                    not transient
                    or retries >= self.settings.openai_max_retries
                    or (exc.status_code >= 500 and server_reason(exc) and failure == last_failure)
                ):
                    raise
                last_failure = failure
                retries += 1
                logger.info("model request failed (%s), retrying", exc.status_code)
                await asyncio.sleep(_retry_delay(exc, retries))

    async def _stream_round(
        self, state: _TurnState, request_input: list[dict[str, Any]], result: _RoundResult
    ) -> AsyncIterator[EngineEvent]:
        # The body is read here instead of through the SDK's typed stream: profiled under
        # load, that stream spent 13-28% of the event loop's CPU building a pydantic
        # model for every event (it tries the ~60 event types one by one: about 55 µs a
        # text delta, 150 µs another event) and ~12% more in its pure-Python SSE
        # decoder. An answer is ~45 events, ~40 of them text deltas, which need no model.
        # Against the emulator, engine CPU per 40-delta turn went from ~7.4 ms to ~3.4 ms.
        async with contextlib.AsyncExitStack() as stack:  # closes the response on any exit
            response = await self._create(state, request_input, stack)
            chunks = await stack.enter_async_context(
                contextlib.aclosing(response.http_response.aiter_bytes())
            )
            decoder = SSEDecoder()
            idle = self.settings.stream_idle_timeout
            try:
                while True:
                    try:
                        async with asyncio.timeout(idle):
                            chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        await self._abandon(state, result)
                        raise TurnFailed(
                            f"The model stopped answering (nothing for {idle:g} seconds). "
                            "Please try again."
                        ) from None
                    for data in decoder.feed(chunk):
                        for out in self._raw_event(data, response, state, result):
                            yield out
                    if decoder.done:
                        break
            # Read errors become the SDK's errors, as its typed stream raises them.
            except httpx2.TimeoutException as exc:
                raise openai.APITimeoutError(request=response.http_request) from exc
            except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as exc:
                raise openai.APIConnectionError(request=response.http_request) from exc
        if not result.finished:
            raise TurnFailed("The model stream ended before the answer was complete.")

    def _raw_event(
        self,
        data: str,
        response: openai.AsyncAPIResponse[Any],
        state: _TurnState,
        result: _RoundResult,
    ) -> list[EngineEvent]:
        """One event's JSON `data` from `_stream_round`, mapped like `_map_event`."""
        event = json.loads(data)
        if not isinstance(event, dict):
            logger.warning("skipping a stream event that is not an object: %.200s", data)
            return []
        error = event.get("error")
        if error:
            # What the SDK's stream raises for data carrying an `error` (before any model).
            message = error.get("message") if isinstance(error, dict) else None
            if not message or not isinstance(message, str):
                message = "An error occurred during streaming"
            raise openai.APIError(message, response.http_request, body=error)
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = event.get("delta")
            if isinstance(delta, str):  # the fast path: no model for the commonest event
                result.text.append(delta)
                return [TextDelta(delta)]
        if kind not in _MAPPED_EVENTS:
            return []  # _map_event would ignore it: no model needed either
        # The two events that carry the whole Response: read the two fields we use.
        body = event.get("response")
        if (
            kind == "response.created"
            and isinstance(body, dict)
            and isinstance(response_id := body.get("id"), str)
        ):
            return self._started(response_id, result)
        if kind == "response.completed" and isinstance(body, dict):
            usage = body.get("usage")
            if usage is None or isinstance(usage, dict):
                counts = usage or {}
                self._completed(result, counts.get("input_tokens"), counts.get("output_tokens"))
                return []
        model = _event_model(event)
        if model is None:
            logger.debug("skipping a stream event of unknown type %.100r", event.get("type"))
            return []
        return self._map_event(model, state, result)

    async def _abandon(self, state: _TurnState, result: _RoundResult) -> None:
        """Give up a stalled response so it does not hold the conversation: a background
        one is cancelled; a streamed one ends when the stream is closed (by the caller)."""
        logger.warning("response %s stalled; giving up on it", result.response_id or "(no id)")
        if result.response_id is None or self.stateless or not self.settings.background_responses:
            return
        try:
            await self.client.responses.cancel(result.response_id)
        except openai.APIError as exc:
            logger.info("could not cancel response %s: %s", result.response_id, exc.message)

    async def _resume_round(
        self, state: _TurnState, response_id: str, result: _RoundResult
    ) -> AsyncIterator[EngineEvent]:
        """Replay an interrupted attempt's response; `result.finished` says if it worked."""
        try:
            response = await self.client.responses.retrieve(response_id)
        except openai.NotFoundError:
            logger.info("response %s of an interrupted turn is gone; asking again", response_id)
            return
        status = response.status
        if status in ("queued", "in_progress") and response.background:
            stream = await self.client.responses.retrieve(response_id, stream=True)
            try:
                async for event in stream:
                    for out in self._map_event(event, state, result):
                        if not isinstance(out, Started):
                            yield out
            finally:
                await stream.close()
            return
        if status not in ("completed", "incomplete"):
            logger.info("interrupted turn's response %s is %s; asking again", response_id, status)
            return
        result.response_id = response.id
        for item in response.output:
            if item.type == "message":
                text = "".join(p.text for p in item.content if p.type == "output_text")
                if text:
                    result.text.append(text)
                    yield TextDelta(text)
            for out in self._item_done(item, state, result):
                yield out
        if response.usage is not None:
            result.usage = Usage(response.usage.input_tokens, response.usage.output_tokens)
        if status == "incomplete":
            yield self._cut_short(response)
        result.finished = True

    @staticmethod
    def _cut_short(response: Any) -> Notice:
        reason = getattr(response.incomplete_details, "reason", None) or "unknown"
        return Notice(f"The reply was cut short ({reason.replace('_', ' ')}).")

    def _started(self, response_id: str, result: _RoundResult) -> list[EngineEvent]:
        result.response_id = response_id
        # Stored responses can be looked up again if this process dies mid-turn.
        return [] if self.stateless else [Started(response_id)]

    @staticmethod
    def _completed(result: _RoundResult, input_tokens: Any, output_tokens: Any) -> None:
        result.finished = True
        if isinstance(input_tokens, int) and isinstance(output_tokens, int):
            result.usage = Usage(input_tokens, output_tokens)

    def _map_event(self, event: Any, state: _TurnState, result: _RoundResult) -> list[EngineEvent]:
        kind = event.type
        if kind == "response.output_text.delta":
            result.text.append(event.delta)
            return [TextDelta(event.delta)]
        if kind == "response.created":
            return self._started(event.response.id, result)
        if kind == "response.output_item.added":
            return self._step(event.item, done=False)
        if kind == "response.output_item.done":
            return self._item_done(event.item, state, result)
        if kind == "response.completed":
            usage = event.response.usage
            self._completed(
                result,
                None if usage is None else usage.input_tokens,
                None if usage is None else usage.output_tokens,
            )
            return []
        if kind == "response.incomplete":
            result.finished = True
            response = event.response
            if response.usage is not None:
                result.usage = Usage(response.usage.input_tokens, response.usage.output_tokens)
            return [self._cut_short(response)]
        if kind == "response.failed":
            error = event.response.error
            logger.warning(
                "response %s failed: %s",
                event.response.id,
                getattr(error, "message", None) or "no details",
            )
            raise TurnFailed("The model could not finish this answer. Please try again.")
        if kind == "error":
            logger.warning("stream error event: %s", getattr(event, "message", ""))
            raise TurnFailed("The model stream broke off. Please try again.")
        return []

    def _step(self, item: Any, *, done: bool) -> list[EngineEvent]:
        item_type = getattr(item, "type", "")
        if item_type == "function_call":
            return []  # announced by the turn loop, which runs the function
        if item_type not in STEP_LABELS:
            return []
        kind, label = STEP_LABELS[item_type]
        if item_type == "mcp_call":
            label = f"Using {getattr(item, 'server_label', 'a tool')}: {getattr(item, 'name', '')}"
        return [Progress(getattr(item, "id", "") or item_type, kind, label, done=done)]

    def _item_done(self, item: Any, state: _TurnState, result: _RoundResult) -> list[EngineEvent]:
        events = self._step(item, done=True)
        item_type = getattr(item, "type", "")
        if item_type == "function_call":
            result.calls.append(FunctionCall(item.call_id, item.name, item.arguments))
            result.output_items.append(
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
        elif item_type == "message":
            text = "".join(
                part.text for part in item.content if getattr(part, "type", "") == "output_text"
            )
            result.output_items.append({"type": "message", "role": "assistant", "content": text})
            for part in item.content:
                for note in getattr(part, "annotations", None) or []:
                    self._annotation(note, result)
        elif item_type == "code_interpreter_call":
            result.ran_code = True
        elif item_type == "image_generation_call" and getattr(item, "result", None):
            state.images += 1
            data = base64.b64decode(item.result)
            events.append(
                FileReady(
                    OutFile(
                        name=f"image-{state.images}.png",
                        mime_type="image/png",
                        data=data,
                        alt_text=getattr(item, "revised_prompt", None) or "Generated image",
                    )
                )
            )
        return events

    def _annotation(self, note: Any, result: _RoundResult) -> None:
        note_type = getattr(note, "type", "")
        if note_type == "container_file_citation":
            result.container_files[note.file_id] = (note.container_id, note.filename)
        elif note_type == "file_citation":
            result.cited_names.append(getattr(note, "filename", None) or note.file_id)

    # --- generated files ----------------------------------------------------------

    async def _deliver_files(
        self, state: _TurnState, result: _RoundResult
    ) -> AsyncIterator[EngineEvent]:
        wanted = dict(result.container_files)
        sizes: dict[str, int] = {}
        if not wanted and not result.ran_code:
            return
        # Files already posted in an earlier turn are remembered in the store.
        delivered = {fid for fid, _ in await self.store.thread_files(state.thread.id, "out")}
        state.delivered |= delivered
        if result.ran_code and state.container_id:
            # Citations are sometimes missing: also take files the code wrote recently.
            async for cfile in self.client.containers.files.list(state.container_id):
                if getattr(cfile, "source", "") != "assistant":
                    continue
                if cfile.created_at < state.started_at - 60 or cfile.id in state.delivered:
                    continue
                name = cfile.path.rsplit("/", 1)[-1]
                wanted.setdefault(cfile.id, (state.container_id, name))
                sizes[cfile.id] = cfile.bytes or 0
        for file_id, (container_id, name) in wanted.items():
            if file_id in state.delivered:
                continue
            state.delivered.add(file_id)
            limit = self.settings.max_file_bytes
            if sizes.get(file_id, 0) > limit:
                await self._mark_delivered(state, file_id, name)
                yield Notice(
                    f"{name} is too large to post ({human_size(sizes[file_id])}; "
                    f"limit {human_size(limit)})."
                )
                continue
            content = await self.client.containers.files.content.retrieve(
                file_id, container_id=container_id
            )
            data = content.content
            if len(data) > limit:
                await self._mark_delivered(state, file_id, name)
                yield Notice(
                    f"{name} is too large to post ({human_size(len(data))}; "
                    f"limit {human_size(limit)})."
                )
                continue
            # The service records it as delivered once the sink has posted it.
            yield FileReady(
                OutFile(name=name, mime_type=guess_mime(name), data=data, source_id=file_id)
            )

    async def _mark_delivered(self, state: _TurnState, file_id: str, name: str) -> None:
        await self.store.add_thread_file(state.thread.id, file_id=file_id, name=name, purpose="out")

    # --- inputs -------------------------------------------------------------------

    async def _user_item(
        self, state: _TurnState, message: UserMessage, notices: list[str]
    ) -> dict[str, Any]:
        if message.from_assistant:
            # The bot's own earlier answer in the thread (read as context).
            return {"type": "message", "role": "assistant", "content": message.text}
        text = message.text
        if message.user_name and message.sent_at is not None:
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(message.sent_at))
            text = f"[{message.user_name}, {when}] {text}"
        elif message.user_name:
            text = f"[{message.user_name}] {text}"
        parts: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
        for file in message.files:
            parts.extend(await self._file_parts(state, file, notices))
        if self.stateless and len(parts) == 1:
            return {"type": "message", "role": "user", "content": text}
        return {"type": "message", "role": "user", "content": parts}

    async def _file_parts(
        self, state: _TurnState, file: InputFile, notices: list[str]
    ) -> list[dict[str, Any]]:
        kind = classify(file.name, file.mime_type, code_interpreter=self.assistant.code_interpreter)
        if kind == "unsupported":
            notices.append(f"I can't read {file.name} ({guess_mime(file.name, file.mime_type)}).")
            return []
        if self.stateless:
            return self._inline_parts(file, kind, notices)
        if kind == "image":
            file_id = await self._upload(file)
            return [{"type": "input_image", "file_id": file_id, "detail": "auto"}]
        if kind == "data":
            file_id = await self._upload(file)
            await self.store.add_thread_file(
                state.thread.id, file_id=file_id, name=file.name, purpose="container"
            )
            if state.container_id:
                await self._attach_to_container(state.container_id, file_id)
            # Re-created on the next _ensure_container if this thread has none yet.
            return [
                {
                    "type": "input_text",
                    "text": f"(File {file.name} is available to the code interpreter.)",
                }
            ]
        file_id = await self._upload(file)
        if self.assistant.file_search:
            await self._add_to_thread_search(state, file_id, file.name)
        return [{"type": "input_file", "file_id": file_id}]

    def _inline_parts(self, file: InputFile, kind: str, notices: list[str]) -> list[dict[str, Any]]:
        if kind == "image":
            encoded = base64.b64encode(file.data).decode()
            mime = guess_mime(file.name, file.mime_type)
            return [
                {
                    "type": "input_image",
                    "image_url": f"data:{mime};base64,{encoded}",
                    "detail": "auto",
                }
            ]
        if is_text(file.name, file.mime_type):
            body = file.data.decode("utf-8", errors="replace")
            return [{"type": "input_text", "text": f"File {file.name}:\n{body}"}]
        notices.append(f"I can't read {file.name} in stateless mode.")
        return []

    async def _upload(self, file: InputFile) -> str:
        uploaded = await self.client.files.create(
            file=(file.name, file.data, guess_mime(file.name, file.mime_type)),
            purpose="user_data",
        )
        return uploaded.id

    # --- conversations, containers, vector stores ------------------------------

    async def _new_conversation(self, thread: ThreadRow) -> str:
        try:
            conversation = await self.client.conversations.create(
                metadata={"platform": thread.key.platform, "thread": str(thread.id)}
            )
        except openai.APIStatusError as exc:
            if exc.status_code not in NO_ENDPOINT_STATUSES:
                raise
            logger.error(
                "%s has no Conversations API (%s on POST /conversations): set "
                "THREADBRIDGE_CONVERSATION_MODE=stateless for servers without it",
                self.client.base_url,
                exc.status_code,
            )
            raise TurnFailed(MISCONFIGURED_CONVERSATIONS) from exc
        await self.store.update_thread(thread.id, conversation_id=conversation.id)
        logger.info("thread %s -> conversation %s", thread.key, conversation.id)
        return conversation.id

    async def _ensure_container(self, state: _TurnState) -> str:
        thread = state.thread
        now = time.time()
        if thread.container_id and thread.container_used_at:
            if now - thread.container_used_at < CONTAINER_FRESH_SECONDS:
                await self.store.update_thread(thread.id, container_used_at=now)
                return thread.container_id
            try:
                container = await self.client.containers.retrieve(thread.container_id)
                if getattr(container, "status", "running") != "expired":
                    await self.store.update_thread(thread.id, container_used_at=now)
                    return thread.container_id
            except openai.NotFoundError:
                pass
        return await self._new_container(state)

    async def _new_container(self, state: _TurnState) -> str:
        file_ids = [fid for fid, _ in await self.store.thread_files(state.thread.id, "container")]
        container = await self.client.containers.create(
            name=f"threadbridge-{state.thread.id}", file_ids=file_ids
        )
        await self.store.update_thread(
            state.thread.id, container_id=container.id, container_used_at=time.time()
        )
        logger.info(
            "thread %s -> container %s (%d files)", state.thread.key, container.id, len(file_ids)
        )
        return container.id

    async def _attach_to_container(self, container_id: str, file_id: str) -> None:
        await self.client.containers.files.create(container_id, file_id=file_id)

    async def _vector_store_ids(self, state: _TurnState) -> tuple[str, ...]:
        if not self.assistant.file_search or self.stateless:
            return ()
        ids = []
        knowledge = await self.knowledge_store_id()
        if knowledge:
            ids.append(knowledge)
        thread_store = state.thread.vector_store_id
        if thread_store:
            ids.append(thread_store)
        return tuple(ids)

    async def knowledge_store_id(self) -> str | None:
        fetched_at, value = self._knowledge
        if time.monotonic() - fetched_at > KNOWLEDGE_CACHE_SECONDS:
            value = await self.store.get_value(KNOWLEDGE_STORE_KEY)
            self._knowledge = (time.monotonic(), value)
        return value

    async def _add_to_thread_search(self, state: _TurnState, file_id: str, name: str) -> None:
        store_id = state.thread.vector_store_id
        if store_id is None:
            created = await self.client.vector_stores.create(
                name=f"threadbridge-thread-{state.thread.id}",
                expires_after={"anchor": "last_active_at", "days": 7},
            )
            store_id = created.id
            await self.store.update_thread(state.thread.id, vector_store_id=store_id)
            state.thread = await self.store.thread(state.thread.id)
        await self.client.vector_stores.files.create_and_poll(
            file_id=file_id, vector_store_id=store_id, poll_interval_ms=200
        )
        await self.store.add_thread_file(
            state.thread.id, file_id=file_id, name=name, purpose="search"
        )


def _portable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History items any Responses-compatible server accepts when replayed: messages,
    function calls and their outputs, each with its `type` (llama.cpp's server cannot
    tell an item's kind from its role)."""
    keep = []
    for item in items:
        if "type" not in item and item.get("role") in ("user", "assistant"):
            item = {"type": "message", **item}  # stored by versions before 0.2
        if item.get("type") in REPLAYED_TYPES:
            keep.append(item)
    return keep


def replay_window(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored history as a request can carry it: from the first user message on
    (a window cut inside a turn would begin with a call's output without its call), and
    every function call paired with its output."""
    items = _portable(items)
    start = next(
        (i for i, item in enumerate(items) if item["type"] == "message" and item["role"] == "user"),
        len(items),
    )
    items = items[start:]
    calls = {i["call_id"] for i in items if i["type"] == "function_call"}
    outputs = {i["call_id"] for i in items if i["type"] == "function_call_output"}
    paired = calls & outputs
    return [i for i in items if i["type"] == "message" or i.get("call_id") in paired]
