"""A turn: the user's messages in, the model's answer out as reply events.

One turn = one or more `responses.create(stream=True)` calls on the thread's
Conversation (more than one only while the model calls functions, which the turn runs
itself). A turn resumed after a crash starts from the response the dead process had
started: a finished one is read back (`responses.retrieve`), a background one still
running is streamed again (`responses.retrieve(stream=True)`), anything else is asked
again. New and resumed streams are read by the same loop (`Engine._read`) through the
SDK's typed stream and mapped by :mod:`bot.engine.stream`. In stateless mode the
history comes from our store instead of a Conversation, for OpenAI-compatible servers
that lack the Conversations API.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai import AsyncOpenAI, Omit, omit
from openai.types.responses import (
    ResponseInputItemParam,
    ResponseInputParam,
    ToolParam,
)
from openai.types.shared_params import Reasoning, ReasoningEffort

from bot.assistant import Assistant
from bot.assistants import Assistants, single
from bot.attachments import FileKind, classify, guess_mime, human_size, is_text
from bot.config import CoreSettings
from bot.engine.audio import Audio, NotHeard, heard_part
from bot.engine.errors import (
    TurnFailed,
    is_container_gone,
    is_conversation_gone,
    is_locked,
    is_transient,
    retry_delay,
    server_reason,
    user_message_for,
)
from bot.engine.pool import ConversationPool
from bot.engine.resources import Resources
from bot.engine.stream import EventStream, Round, map_event, map_response
from bot.models import (
    ApprovalKind,
    ApprovalOutcome,
    Approver,
    CheckResult,
    Done,
    EngineEvent,
    Failed,
    FileReady,
    InputFile,
    Notice,
    OutFile,
    Progress,
    TextDelta,
    Transcript,
    Usage,
    UserMessage,
)
from bot.store import Store, ThreadRow
from bot.tools import FunctionCall, ToolContext, ToolRegistry

logger = logging.getLogger(__name__)

LOCKED_BACKOFF = (0.2, 0.4, 0.8, 1.6, 3.2, 5.0)
REPLAYED_TYPES = frozenset({"message", "function_call", "function_call_output"})
NOT_RUN = "Not run: this turn reached its limit of tool calls."
STOPPED_CALL = "Not finished: the user stopped this answer."
ASSISTANT_GONE = "The assistant “{name}” was removed; “{now}” answers in this thread from now on."
NOT_APPROVED: dict[ApprovalOutcome, str] = {
    "denied": "Not run: denied by the user.",
    "expired": "Not run: denied by the user (no decision in time).",
    "approved": "",
}
# Container files the code wrote this long before the turn began still count as its own.
GENERATED_SLACK_SECONDS = 60
IMAGES_IN_SANDBOX = (
    "The images you generated in this turn are now files in your code interpreter "
    "sandbox: {paths}. If the user's request needs them in code (slides, documents, "
    "edits), go on with it now; otherwise say in one short sentence that they are ready."
)
SPOKEN_FAILED = "I couldn't make the spoken reply this time."
IMAGES_NOT_COPIED = "I couldn't give the generated images to the code interpreter."
# Generated images copied for the code are kept in Files this long (the API's maximum).
GENERATED_KEEP_SECONDS = 30 * 24 * 3600

Item = dict[str, Any]


def wire_input(items: list[Item]) -> str | ResponseInputParam:
    """A request's `input`: a lone text message from the user goes as the plain string
    the API takes for one (the same message to the model and in the Conversation); the
    SDK's parameter transform walks each item through every type it could be, which
    for one short message costs more CPU than the rest of the request."""
    if len(items) == 1:
        item = items[0]
        content = item.get("content")
        if (
            item.keys() == {"type", "role", "content"}
            and item["type"] == "message"
            and item["role"] == "user"
            and isinstance(content, list)
            and len(content) == 1
            and content[0].keys() == {"type", "text"}
            and content[0]["type"] == "input_text"
        ):
            return str(content[0]["text"])
    return cast("ResponseInputParam", items)


def _call_detail(call: FunctionCall) -> str:
    """`name(arguments)`, short, for a progress step."""
    text = f"{call.name}({call.arguments})"
    return text if len(text) <= 160 else text[:159] + "…"


def new_ref() -> str:
    """A short id the user can quote and that is in the logs."""
    return secrets.token_hex(4)


@dataclass
class _TurnState:
    assistant: Assistant
    thread: ThreadRow
    conversation_id: str | None
    container_id: str | None
    vector_store_ids: tuple[str, ...]
    started_at: float
    delivered: set[str] = field(default_factory=set)
    # Audio heard in this turn (seconds), and whether the asker spoke (not the context).
    audio_seconds: float = 0.0
    voice_asked: bool = False


@dataclass
class _Said:
    """The model's words in a turn (what a spoken reply reads); a round's text after an
    earlier round's starts a new paragraph."""

    parts: list[str] = field(default_factory=list)
    gap: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def new_round(self) -> None:
        self.gap = bool(self.parts)

    def note(self, event: EngineEvent) -> list[EngineEvent]:
        """`event`, and the paragraph break before the round's first text."""
        if not isinstance(event, TextDelta):
            return [event]
        events: list[EngineEvent] = [event]
        if self.gap:
            self.gap = False
            self.parts.append("\n\n")
            events.insert(0, TextDelta("\n\n"))
        self.parts.append(event.text)
        return events


class _IdleWatch:
    """Cancels the reading task once it has waited `idle` seconds for the next stream
    event (time spent with an event, in the sink, does not count). One timer per
    stream, moved only when it fires, where `asyncio.timeout` per event would set and
    cancel one for every delta."""

    def __init__(self, idle: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()  # cancellations asked before ours
        self._idle = idle
        self._since: float | None = None  # waiting since (loop time), None: not waiting
        self._fired = False
        self._timer: asyncio.TimerHandle | None = None

    def waiting(self) -> None:
        task = asyncio.current_task()
        if task is not self._task and task is not None:
            # Read from another task (each `anext` wrapped in a task of its own, say).
            self._task, self._cancelling = task, task.cancelling()
        self._since = now = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._idle, self._check)

    def got_one(self) -> None:
        self._since = None
        if self._fired:  # the stream swallowed our cancellation: take it back
            self._task.uncancel()
            self._fired = False

    def _check(self) -> None:
        self._timer = None
        since = self._since
        if since is None:
            return  # not waiting: the next wait sets the timer again
        if self._loop.time() - since >= self._idle:
            self._fired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(since + self._idle, self._check)

    def expired(self) -> bool:
        """For a CancelledError while waiting: True if it is this watch's own (and then
        it is taken back), False if someone else cancelled too (a Stop, a shutdown)."""
        if not self._fired:
            return False
        self._fired = False
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Engine:
    """Runs turns against the Responses API. One instance per process."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        assistants: Assistants | Assistant,
        store: Store,
        settings: CoreSettings,
    ) -> None:
        self.client = client
        self.assistants = assistants if isinstance(assistants, Assistants) else single(assistants)
        # The default one: what `check` and `describe` speak of.
        self.assistant = assistant = self.assistants.default
        self.store = store
        self.settings = settings
        self.stateless = settings.conversation_mode == "stateless"
        self.resources = Resources(
            client=client, assistant=assistant, store=store, settings=settings
        )
        self.audio = Audio(client=client, settings=settings)
        self.pool = ConversationPool(
            client=client,
            store=store,
            size=0 if self.stateless else settings.conversation_pool,
        )
        # responses.create is retried here, not by the SDK: see `_create`.
        self._create_client = client.with_options(max_retries=0)

    def start(self) -> None:
        """Background work of a running process: fill the conversation pool."""
        self.pool.fill()

    def pool_after(self) -> float | None:
        """Pooled conversations created after this time may be taken (None: no pool)."""
        return self.pool.cutoff()

    def pool_taken(self) -> None:
        """A new thread's claim took a pooled conversation (`Store.claim`)."""
        self.pool.taken()

    def describe(self, name: str | None = None) -> list[str]:
        """An assistant's tools (the default's), one short line each."""
        return (self.assistants.get(name) or self.assistant).describe()

    async def close(self) -> None:
        await self.pool.close()
        await self.client.close()

    async def check(self) -> list[CheckResult]:
        """Talk to the API the way turns will: the model, and Conversations if used."""
        return await self.resources.check()

    async def knowledge_store_id(self) -> str | None:
        return await self.resources.knowledge_store_id()

    # --- the turn ------------------------------------------------------------

    async def turn(
        self,
        *,
        thread: ThreadRow,
        messages: Sequence[UserMessage],
        context: ToolContext,
        resume_response: str | None = None,
        stopped: Callable[[], bool] = lambda: False,
        approve: Approver | None = None,
    ) -> AsyncGenerator[EngineEvent, None]:
        """Answer `messages` in `thread`, yielding events; never raises for API errors.

        With `resume_response`, the turn continues from that response of an interrupted
        attempt (see the module docstring); `messages` are sent only if it is lost.

        Function tools marked `@requires_approval`, and MCP calls the API holds for
        approval, wait for `approve` (the service asks the asker); without it they are
        denied.

        A `FileReady` with a `source_id` is recorded as delivered in the thread when the
        caller asks for the next event, that is once it has posted the file: a turn
        resumed after a crash does not post it again.
        """
        try:
            async for event in self._turn(
                thread, messages, context, resume_response, stopped, approve
            ):
                yield event
        except Exception as exc:
            ref = new_ref()  # only a failure needs one (an os.urandom call less a turn)
            logger.error(
                "turn failed ref=%s thread=%s: %s: %s",
                ref,
                thread.key,
                exc.__class__.__name__,
                exc,
                exc_info=not isinstance(exc, openai.APIError | TurnFailed),
            )
            yield Failed(message=user_message_for(exc), ref=ref)

    async def _turn(
        self,
        thread: ThreadRow,
        messages: Sequence[UserMessage],
        context: ToolContext,
        resume_response: str | None,
        stopped: Callable[[], bool],
        approve: Approver | None,
    ) -> AsyncIterator[EngineEvent]:
        assistant = self.assistants.get(thread.assistant)
        if assistant is None:
            assistant = self.assistants.default
            if thread.assistant is not None:
                # Removed from the assistants file: the thread moves to the default.
                yield Notice(ASSISTANT_GONE.format(name=thread.assistant, now=assistant.name))
            await self.store.update_thread(thread.id, assistant=assistant.name)
        state = _TurnState(
            assistant=assistant,
            thread=thread,
            conversation_id=thread.conversation_id,
            container_id=thread.container_id,
            vector_store_ids=(),
            started_at=time.time(),
        )
        if assistant.code_interpreter and not self.stateless:
            state.container_id = await self.resources.ensure_container(thread)
        notices: list[str] = []
        new_items = [await self._user_item(state, message, notices) for message in messages]
        for text in notices:
            yield Notice(text)
        state.vector_store_ids = await self.resources.vector_store_ids(state.thread, assistant)

        history: list[Item] = []
        new_thread = False
        if self.stateless:
            history = replay_window(
                await self.store.history(thread.id, self.settings.history_limit)
            )
        elif state.conversation_id is None:
            pooled = await self.pool.take(thread.id)
            if pooled is not None:
                logger.info("thread %s -> conversation %s (pooled)", thread.key, pooled)
            state.conversation_id = pooled or await self.resources.new_conversation(thread)
            new_thread = True

        usage = Usage()
        said = _Said()
        transcript: list[Item] = list(new_items)
        pending_input: list[Item] = list(new_items)
        response_id: str | None = None
        images = 0
        current: Round | None = None  # the round whose calls have no outputs yet
        try:
            for round_number in range(self.settings.tool_rounds + 1):
                result = Round(announce=not self.stateless, images=images)
                current = result
                said.new_round()
                if resume_response is not None and not self.stateless:
                    resumed = Round(announce=False, images=images)
                    async for event in self._resume(state, resume_response, resumed):
                        for out in said.note(event):
                            yield out
                    resume_response = None
                    if resumed.finished:
                        result = current = resumed
                if not result.finished:
                    request_input = history + transcript if self.stateless else pending_input
                    async for event in self._respond(state, request_input, result):
                        for out in said.note(event):
                            yield out
                images = result.images
                usage = usage + result.usage
                response_id = result.response_id or response_id
                transcript.extend(result.output_items)
                async for event in self._deliver_files(state, result):
                    yield event
                if result.cited_names:
                    names = ", ".join(dict.fromkeys(result.cited_names))
                    yield TextDelta(f"\n\nSources: {names}")
                shown: list[Item] = []
                if round_number < self.settings.tool_rounds:  # else no round is left
                    async for event in self._images_for_code(state, result, shown):
                        yield event
                if not result.calls and not result.approvals and not shown:
                    break
                if round_number == self.settings.tool_rounds and result.calls:
                    # Every call needs its output in the history, or the next request is
                    # rejected ("No tool output found for function call").
                    skipped: list[Item] = [
                        {"type": "function_call_output", "call_id": call.call_id, "output": NOT_RUN}
                        for call in result.calls
                    ]
                    transcript.extend(skipped)
                    if not self.stateless and state.conversation_id is not None:
                        await self.client.conversations.items.create(
                            state.conversation_id,
                            items=cast("list[ResponseInputItemParam]", skipped),
                        )
                    yield Notice("Stopped after too many tool calls in one turn.")
                    break
                if round_number == self.settings.tool_rounds:
                    break  # MCP approvals left unanswered: the API does not insist
                next_input: list[Item] = []
                if result.approvals:
                    async for event in self._answer_mcp_approvals(result, approve, next_input):
                        yield event
                if result.calls:
                    async for event in self._run_calls(
                        result, assistant.functions, context, approve, next_input
                    ):
                        yield event
                next_input.extend(shown)  # after the calls' outputs, which must follow them
                transcript.extend(next_input)
                pending_input = next_input
                current = None
        except (asyncio.CancelledError, GeneratorExit):
            # Stopped by the user: the calls of a finished response still need outputs,
            # or the thread's next request is refused ("No tool output found"). A
            # process shutting down leaves them to the turn's resume instead.
            if not stopped():
                raise
            if current is not None and current.finished and current.calls:
                await asyncio.shield(self._record_stopped(state, transcript, current))
            if self.stateless:
                await asyncio.shield(self.store.append_history(thread.id, _portable(transcript)))
            raise

        if self.stateless:
            await self.store.append_history(thread.id, _portable(transcript))
        if new_thread:
            self.pool.taken()
        usage = usage + Usage(audio_seconds=state.audio_seconds, images=images)
        if state.voice_asked and self.settings.spoken_replies:
            spoken = await self._speak(said.text)
            if isinstance(spoken, Notice):
                yield spoken
            elif spoken is not None:
                yield FileReady(spoken[0])
                usage = usage + Usage(speech_characters=spoken[1])
        yield Done(
            usage=usage, model=assistant.model, response_id=response_id, assistant=assistant.name
        )

    async def _speak(self, reply: str) -> tuple[OutFile, int] | Notice | None:
        """The spoken copy of a reply to a voice message, or a note that it failed."""
        try:
            spoken = await self.audio.speak(reply)
        except openai.APIError as exc:
            logger.warning("spoken reply failed: %s", exc.message)
            return Notice(SPOKEN_FAILED)
        if spoken is None:
            return None
        data, characters = spoken
        out = OutFile(name="reply.mp3", mime_type="audio/mpeg", data=data, alt_text="Spoken reply")
        return out, characters

    async def _images_for_code(
        self, state: _TurnState, result: Round, shown: list[Item]
    ) -> AsyncIterator[EngineEvent]:
        """Copy the round's generated images into the code interpreter's container and
        put the note that tells the model where they are in `shown` (the turn then goes
        on, so the model can use them). A failed copy is a notice; the turn ends as it
        would without the copy."""
        if not result.generated or not state.assistant.code_interpreter or not state.container_id:
            return
        paths = []
        try:
            for item_id, image in result.generated:
                stem = image.name.rsplit(".", 1)[0]
                name = f"{stem}-{item_id[-8:]}.png"
                placed = await self.resources.add_container_file(
                    state.thread,
                    state.container_id,
                    InputFile(name, image.mime_type, image.data),
                    keep_seconds=GENERATED_KEEP_SECONDS,
                )
                state.container_id = placed.container_id or state.container_id
                paths.append(f"{placed.path or name} ({image.name})")
        except openai.APIError as exc:
            logger.warning("generated images not copied to the container: %s", exc.message)
            yield Notice(IMAGES_NOT_COPIED)
            return
        note = IMAGES_IN_SANDBOX.format(paths=", ".join(paths))
        shown.append({"type": "message", "role": "developer", "content": note})

    # --- one response ---------------------------------------------------------------

    async def _respond(
        self, state: _TurnState, request_input: list[Item], result: Round
    ) -> AsyncIterator[EngineEvent]:
        """Ask for a response and stream it; it must end (completed or incomplete)."""
        stream = await self._create(state, request_input)
        async for event in self._read(stream, result):
            yield event
        if not result.finished:
            raise TurnFailed("The model stream ended before the answer was complete.")

    async def _create(self, state: _TurnState, request_input: list[Item]) -> EventStream:
        """`responses.create(stream=True)`, retried here rather than by the SDK.

        A locked conversation is retried for `locked_retry_seconds`; an expired
        container or a deleted Conversation is re-created once; what the SDK would
        retry (408, 409, 429, 5xx, connection errors) is retried `openai_max_retries`
        times, except a server error that repeats the last one word for word: it will
        fail the same way again (a compatible server refusing images, say). Other 4xx
        are never retried. HTTP errors are raised as the SDK's `APIStatusError`s.
        """
        deadline = time.monotonic() + self.settings.locked_retry_seconds
        attempt = 0
        retries = 0
        last_failure: str | None = None
        recreated_container = False
        recreated_conversation = False
        while True:
            assistant = state.assistant
            reasoning: Reasoning | Omit = omit
            if assistant.reasoning_effort:
                reasoning = {"effort": cast("ReasoningEffort", assistant.reasoning_effort)}
            tools = assistant.tools(
                container_id=state.container_id, vector_store_ids=state.vector_store_ids
            )
            try:
                raw = await self._create_client.responses.with_raw_response.create(
                    model=assistant.model,
                    # Stateless: no container for generated images to reach.
                    instructions=(
                        assistant.instructions if self.stateless else assistant.request_instructions
                    ),
                    reasoning=reasoning,
                    # JSON items built here, by the tool registry and the stored history.
                    input=wire_input(request_input),
                    tools=cast("list[ToolParam]", tools) if tools else omit,
                    conversation=omit if self.stateless else state.conversation_id,
                    store=False if self.stateless else omit,
                    background=(
                        True if self.settings.background_responses and not self.stateless else omit
                    ),
                    include=["code_interpreter_call.outputs"] if state.container_id else omit,
                    stream=True,
                )
                return raw.parse(to=EventStream)
            except openai.APIConnectionError as exc:  # also a timeout
                if retries >= self.settings.openai_max_retries:
                    raise
                retries += 1
                await asyncio.sleep(retry_delay(exc, retries))
            except openai.APIStatusError as exc:
                if is_locked(exc) and time.monotonic() < deadline:
                    delay = LOCKED_BACKOFF[min(attempt, len(LOCKED_BACKOFF) - 1)]
                    attempt += 1
                    logger.info("conversation locked, retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    continue
                if not self.stateless and not recreated_conversation and is_conversation_gone(exc):
                    # Deleted (or of another project): start a new one rather than leave
                    # the thread unusable.
                    recreated_conversation = True
                    logger.warning(
                        "conversation %s is gone; starting a new one", state.conversation_id
                    )
                    state.conversation_id = await self.resources.new_conversation(state.thread)
                    continue
                if state.container_id and not recreated_container and is_container_gone(exc):
                    recreated_container = True
                    state.container_id = await self.resources.new_container(state.thread)
                    continue
                failure = f"{exc.status_code} {server_reason(exc)}"
                if (
                    not is_transient(exc)
                    or retries >= self.settings.openai_max_retries
                    or (exc.status_code >= 500 and server_reason(exc) and failure == last_failure)
                ):
                    raise
                last_failure = failure
                retries += 1
                logger.info("model request failed (%s), retrying", exc.status_code)
                await asyncio.sleep(retry_delay(exc, retries))

    async def _read(self, stream: EventStream, result: Round) -> AsyncIterator[EngineEvent]:
        """The one loop over a response's stream, new or resumed, until it ends.

        The stream is closed on every way out. Nothing for `stream_idle_timeout`
        seconds (a stalled server that keeps the connection open) ends the turn.
        """
        idle = self.settings.stream_idle_timeout
        async with stream:
            watch = _IdleWatch(idle)
            try:
                while True:
                    watch.waiting()
                    try:
                        event = await anext(stream)
                    except StopAsyncIteration:
                        return
                    except (asyncio.CancelledError, TimeoutError) as exc:
                        if isinstance(exc, asyncio.CancelledError) and not watch.expired():
                            raise
                        await self._abandon(result)
                        raise TurnFailed(
                            f"The model stopped answering (nothing for {idle:g} seconds). "
                            "Please try again."
                        ) from None
                    watch.got_one()
                    for out in map_event(event, result):
                        yield out
            finally:
                watch.close()

    async def _run_calls(
        self,
        result: Round,
        functions: ToolRegistry,
        context: ToolContext,
        approve: Approver | None,
        outputs: list[Item],
    ) -> AsyncIterator[EngineEvent]:
        """Run a round's function calls (concurrently), those that need approval once
        it is given; append one output per call to `outputs`."""
        calls = result.calls
        for call in calls:
            yield Progress(
                call.call_id, "function", f"Calling {call.name}", detail=_call_detail(call)
            )
        asking = [c for c in calls if functions.requires_approval(c.name)]
        decisions: dict[str, ApprovalOutcome] = {}
        if asking:
            for call in asking:
                yield Progress(
                    f"{call.call_id}:approval", "function", f"Waiting for approval: {call.name}"
                )
            decided = await asyncio.gather(
                *(self._decide(approve, "function", c.call_id, c.name, c.arguments) for c in asking)
            )
            decisions = {c.call_id: d for c, d in zip(asking, decided, strict=True)}
            for call in asking:
                yield Progress(
                    f"{call.call_id}:approval",
                    "function",
                    f"Waiting for approval: {call.name}",
                    done=True,
                    failed=decisions[call.call_id] != "approved",
                )
        allowed = [c for c in calls if decisions.get(c.call_id, "approved") == "approved"]
        ran = {o["call_id"]: o for o in await functions.run(allowed, context)} if allowed else {}
        for call in calls:
            output = ran.get(call.call_id) or {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": NOT_APPROVED[decisions[call.call_id]],
            }
            outputs.append(output)
            failed = call.call_id not in ran or str(output["output"]).startswith("Error:")
            yield Progress(
                call.call_id,
                "function",
                f"Calling {call.name}",
                done=True,
                detail=_call_detail(call),
                failed=failed,
            )

    async def _answer_mcp_approvals(
        self, result: Round, approve: Approver | None, answers: list[Item]
    ) -> AsyncIterator[EngineEvent]:
        """Ask about the MCP calls the API held, and answer each (approve true/false)."""
        requests = result.approvals
        for req in requests:
            yield Progress(req.id, "mcp", f"Waiting for approval: {req.server_label}: {req.name}")
        decided = await asyncio.gather(
            *(
                self._decide(approve, "mcp", r.id, f"{r.server_label}: {r.name}", r.arguments)
                for r in requests
            )
        )
        for req, decision in zip(requests, decided, strict=True):
            answers.append(
                {
                    "type": "mcp_approval_response",
                    "approval_request_id": req.id,
                    "approve": decision == "approved",
                }
            )
            yield Progress(
                req.id,
                "mcp",
                f"Waiting for approval: {req.server_label}: {req.name}",
                done=True,
                failed=decision != "approved",
            )

    @staticmethod
    async def _decide(
        approve: Approver | None, kind: ApprovalKind, call_id: str, name: str, arguments: str
    ) -> ApprovalOutcome:
        if approve is None:
            return "denied"  # nobody to ask
        return await approve(kind, call_id, name, arguments)

    async def cancel(self, response_id: str | None) -> None:
        """A stopped turn: a background response runs on without its stream, so it is
        cancelled (a streamed one ended when its stream was closed)."""
        if response_id is None or self.stateless or not self.settings.background_responses:
            return
        try:
            await self.client.responses.cancel(response_id)
        except openai.APIError as exc:
            logger.info("could not cancel response %s: %s", response_id, exc.message)

    async def _record_stopped(
        self, state: _TurnState, transcript: list[Item], result: Round
    ) -> None:
        """Outputs for the calls a stopped turn did not run (or did not finish)."""
        answered = {i.get("call_id") for i in transcript if i.get("type") == "function_call_output"}
        outputs: list[Item] = [
            {"type": "function_call_output", "call_id": call.call_id, "output": STOPPED_CALL}
            for call in result.calls
            if call.call_id not in answered
        ]
        transcript.extend(outputs)
        if self.stateless or state.conversation_id is None or not outputs:
            return
        try:
            await self.client.conversations.items.create(
                state.conversation_id, items=cast("list[ResponseInputItemParam]", outputs)
            )
        except openai.APIError as exc:
            logger.warning("could not record the stopped calls' outputs: %s", exc.message)

    async def _abandon(self, result: Round) -> None:
        """Give up a stalled response so it does not hold the conversation: a background
        one is cancelled; a streamed one ends when its stream is closed (by `_read`)."""
        logger.warning("response %s stalled; giving up on it", result.response_id or "(no id)")
        if result.response_id is None or self.stateless or not self.settings.background_responses:
            return
        try:
            await self.client.responses.cancel(result.response_id)
        except openai.APIError as exc:
            logger.info("could not cancel response %s: %s", result.response_id, exc.message)

    async def _resume(
        self, state: _TurnState, response_id: str, result: Round
    ) -> AsyncIterator[EngineEvent]:
        """Replay an interrupted attempt's response; `result.finished` says if it worked.

        A background response still running is streamed from its first event (the
        reply is rebuilt in place from the whole answer), by the same loop as a new one.
        """
        try:
            response = await self.client.responses.retrieve(response_id)
        except openai.NotFoundError:
            logger.info("response %s of an interrupted turn is gone; asking again", response_id)
            return
        status = response.status
        if status in ("queued", "in_progress") and response.background:
            raw = await self.client.responses.with_raw_response.retrieve(response_id, stream=True)
            stream = raw.parse(to=EventStream)
            async for event in self._read(stream, result):
                yield event
            return
        if status not in ("completed", "incomplete"):
            logger.info("interrupted turn's response %s is %s; asking again", response_id, status)
            return
        for event in map_response(response, result):
            yield event

    # --- generated files ----------------------------------------------------------
    # This is the one place that reads and writes which generated files a thread has
    # had (the store's thread files of purpose "out").

    async def _deliver_files(self, state: _TurnState, result: Round) -> AsyncIterator[EngineEvent]:
        wanted = dict(result.container_files)
        sizes: dict[str, int] = {}
        if not wanted and not result.ran_code:
            return
        # Files already posted in an earlier turn are remembered in the store.
        state.delivered |= {fid for fid, _ in await self.store.thread_files(state.thread.id, "out")}
        if result.ran_code and state.container_id:
            # Citations are sometimes missing: also take files the code wrote recently.
            since = state.started_at - GENERATED_SLACK_SECONDS
            for generated in await self.resources.generated_files(state.container_id, since=since):
                if generated.file_id not in state.delivered:
                    wanted.setdefault(generated.file_id, (generated.container_id, generated.name))
                    sizes[generated.file_id] = generated.size
        limit = self.settings.max_file_bytes
        for file_id, (container_id, name) in wanted.items():
            if file_id in state.delivered:
                continue
            state.delivered.add(file_id)
            size = sizes.get(file_id, 0)
            data = b""
            if size <= limit:
                data = await self.resources.download(container_id, file_id)
                size = len(data)
            if size > limit:
                yield Notice(
                    f"{name} is too large to post ({human_size(size)}; limit {human_size(limit)})."
                )
            else:
                yield FileReady(
                    OutFile(name=name, mime_type=guess_mime(name), data=data, source_id=file_id)
                )
            # The caller asked for the next event: the file is posted (or was noted).
            await self.store.add_thread_file(
                state.thread.id, file_id=file_id, name=name, purpose="out"
            )

    # --- inputs -------------------------------------------------------------------

    async def _user_item(self, state: _TurnState, message: UserMessage, notices: list[str]) -> Item:
        if message.from_assistant:
            # The bot's own earlier answer in the thread (read as context).
            return {"type": "message", "role": "assistant", "content": message.text}
        text = message.text
        if message.user_name and message.sent_at is not None:
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(message.sent_at))
            text = f"[{message.user_name}, {when}] {text}"
        elif message.user_name:
            text = f"[{message.user_name}] {text}"
        parts: list[Item] = [{"type": "input_text", "text": text}]
        asked = message.sent_at is None  # not an earlier message read as context
        heard = list(message.heard)  # by an earlier attempt (a resumed turn)
        for earlier in heard:
            parts.append(heard_part(earlier))
            self._count_heard(state, earlier, asked=asked)
        for file in message.files:
            if any(h.name == file.name for h in message.heard):
                continue  # heard already
            kind = classify(
                file.name, file.mime_type, code_interpreter=state.assistant.code_interpreter
            )
            if kind != "audio":
                parts.extend(await self._file_parts(state, file, kind, notices))
                continue
            try:
                now = await self.audio.listen(file)
            except NotHeard as exc:
                notices.append(str(exc))
                continue
            notices.append(now.shown)
            parts.append(now.part)
            heard.append(now.transcript)
            self._count_heard(state, now.transcript, asked=asked)
        if message.inbound_id is not None and len(heard) > len(message.heard):
            # Kept with the message: a turn resumed after a crash has no files.
            await self.store.record_heard(
                message.inbound_id, [dataclasses.asdict(h) for h in heard]
            )
        if self.stateless and len(parts) == 1:
            return {"type": "message", "role": "user", "content": text}
        return {"type": "message", "role": "user", "content": parts}

    @staticmethod
    def _count_heard(state: _TurnState, heard: Transcript, *, asked: bool) -> None:
        state.audio_seconds += heard.seconds
        # A spoken reply answers a recorded voice message of the asker's, not an audio
        # file, nor audio read as the thread's context.
        state.voice_asked = state.voice_asked or (asked and heard.voice)

    async def _file_parts(
        self, state: _TurnState, file: InputFile, kind: FileKind, notices: list[str]
    ) -> list[Item]:
        """A file other than audio as content parts (or a notice why it has none)."""
        if kind == "unsupported":
            notices.append(f"I can't read {file.name} ({guess_mime(file.name, file.mime_type)}).")
            return []
        if self.stateless:
            return _inline_parts(file, kind, notices)
        if kind == "image":
            file_id = await self.resources.upload(file)
            image: list[Item] = [{"type": "input_image", "file_id": file_id, "detail": "auto"}]
            if state.assistant.code_interpreter:
                placed = await self.resources.add_container_file(
                    state.thread, state.container_id, file, file_id=file_id
                )
                state.container_id = placed.container_id or state.container_id
                where = f" at {placed.path}" if placed.path else ""
                note = f"(Image {file.name} is also in the code interpreter{where}.)"
                image.append({"type": "input_text", "text": note})
            return image
        if kind == "data":
            # Re-attached by the next new container if this thread has none yet.
            placed = await self.resources.add_container_file(state.thread, state.container_id, file)
            state.container_id = placed.container_id or state.container_id
            return [
                {
                    "type": "input_text",
                    "text": f"(File {file.name} is available to the code interpreter.)",
                }
            ]
        file_id = await self.resources.upload(file)
        if state.assistant.file_search:
            state.thread = await self.resources.add_to_thread_search(
                state.thread, file_id, file.name
            )
        return [{"type": "input_file", "file_id": file_id}]


def _inline_parts(file: InputFile, kind: str, notices: list[str]) -> list[Item]:
    """A file as content parts of the request itself (stateless mode: no uploads)."""
    if kind == "image":
        encoded = base64.b64encode(file.data).decode()
        mime = guess_mime(file.name, file.mime_type)
        return [
            {"type": "input_image", "image_url": f"data:{mime};base64,{encoded}", "detail": "auto"}
        ]
    if is_text(file.name, file.mime_type):
        body = file.data.decode("utf-8", errors="replace")
        return [{"type": "input_text", "text": f"File {file.name}:\n{body}"}]
    notices.append(f"I can't read {file.name} in stateless mode.")
    return []


# --- stateless history ------------------------------------------------------------


def _portable(items: list[Item]) -> list[Item]:
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


def replay_window(items: list[Item]) -> list[Item]:
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
