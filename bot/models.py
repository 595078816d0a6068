"""Plain data shared by the core and the adapters. No I/O here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Platform = str  # "slack" | "discord" | "console"


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """Where a conversation lives on a chat platform.

    `scope` is the Slack team or Discord guild ("" for DMs and the console), `channel`
    the channel id, `thread` the thread id (Slack thread_ts, Discord thread channel id,
    console thread name).
    """

    platform: Platform
    scope: str
    channel: str
    thread: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.scope}/{self.channel}/{self.thread}"


class AttachmentError(Exception):
    """A file could not be fetched; the message is safe to show to the user."""


Downloader = Callable[[int], Awaitable[bytes]]
"""`download(max_bytes)` returns the file's bytes or raises AttachmentError."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a user sent, not yet downloaded. The adapter supplies `download`."""

    name: str
    mime_type: str
    size: int | None
    download: Downloader | None = field(default=None, compare=False, repr=False)
    url: str = ""
    # Audio: the length the platform gives (Discord voice messages, Slack clips), and
    # whether it is a recorded voice message rather than an audio file.
    duration: float | None = None
    voice: bool = False


@dataclass(frozen=True, slots=True)
class Inbound:
    """One user message as the core sees it.

    `event_id` and `message_id` are the dedup keys: the platform's delivery id (Slack
    event_id, Discord interaction id) and the message's own id within its channel
    (Slack ts, Discord message id). Either may be None. `anchor` tells the adapter
    where to put the reply (opaque to the core, stored with the turn).
    """

    key: ThreadKey
    text: str
    user_id: str
    event_id: str | None = None
    message_id: str | None = None
    anchor: str = ""
    user_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    notices: tuple[str, ...] = ()
    # Said in the thread but not to the bot: context of the next turn, which it does
    # not start (Slack with THREADBRIDGE_SLACK_REQUIRE_MENTION, say).
    ambient: bool = False
    # Where the thread starts, most specific first ("discord:THREAD", "discord:PARENT",
    # "discord-guild:GUILD"; "slack:CHANNEL"; "dm"; "console"): what picks a new
    # thread's assistant. `assistant`: the one the user asked for, if any.
    places: tuple[str, ...] = ()
    assistant: str | None = None


@dataclass(frozen=True, slots=True)
class InputFile:
    """An attachment after download, ready for the engine."""

    name: str
    mime_type: str
    data: bytes
    duration: float | None = None
    voice: bool = False


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was heard in one of a message's audio files."""

    name: str
    text: str
    voice: bool = False
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A queued message handed to the engine for a turn.

    `inbound_id` names its row in the store (None for context read from the platform);
    `heard` is what an earlier attempt at the turn heard in its audio, whose files a
    resumed turn no longer has.
    """

    text: str
    user_id: str
    user_name: str | None = None
    files: tuple[InputFile, ...] = ()
    inbound_id: int | None = None
    heard: tuple[Transcript, ...] = ()
    # Context read from the platform's thread: when it was written, and whether the
    # bot wrote it (then it is the assistant's own earlier answer).
    sent_at: float | None = None
    from_assistant: bool = False


@dataclass(frozen=True, slots=True)
class ContextMessage:
    """An earlier message of the platform's thread, read for the model's context."""

    author: str
    text: str
    sent_at: float
    from_assistant: bool = False
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """What an adapter could read of a thread before the bot was asked in it.

    `omitted` messages were left out of the middle to fit the budget; `note` is a short
    message for the user when the read failed (the turn goes on without it).
    """

    messages: tuple[ContextMessage, ...] = ()
    omitted: int = 0
    note: str | None = None


@dataclass(frozen=True, slots=True)
class OutFile:
    """A file the assistant produced (chart, CSV, image...).

    `source_id` is the provider's id of the file (a container file). The engine
    records it as delivered once the file is posted (when the service asks for the
    turn's next event), so a resumed turn does not post it twice.
    """

    name: str
    mime_type: str
    data: bytes
    alt_text: str = ""
    source_id: str = ""


# --- engine events --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


StepKind = Literal["code", "file_search", "function", "image", "web_search", "mcp", "other"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A run step: a tool call started or finished. `label` is for humans; `detail`
    says more where known (the function and its arguments, the search query, the MCP
    tool); `failed` marks a finished step that went wrong; `sources` are the URLs a
    web search read."""

    step_id: str
    kind: StepKind
    label: str
    done: bool = False
    detail: str = ""
    failed: bool = False
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileReady:
    file: OutFile


@dataclass(frozen=True, slots=True)
class Notice:
    """A short remark for the user that is not model text (skipped file, cap hit...)."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """What a turn used: the model's tokens, and the audio and images around them
    (seconds of audio transcribed, characters spoken, images generated)."""

    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    speech_characters: int = 0
    images: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.audio_seconds + other.audio_seconds,
            self.speech_characters + other.speech_characters,
            self.images + other.images,
        )


@dataclass(frozen=True, slots=True)
class Started:
    """The model accepted the request: `response_id` can be looked up again after a crash."""

    response_id: str


@dataclass(frozen=True, slots=True)
class Done:
    usage: Usage
    model: str
    response_id: str | None = None
    assistant: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The turn failed; `message` is short and safe to show, `ref` is in the logs."""

    message: str
    ref: str


EngineEvent = TextDelta | Progress | FileReady | Notice | Started | Done | Failed


# --- adapter side ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostedRefs:
    """Platform message ids the sink posted, recorded with the turn.

    The ids are the adapter's own notation (opaque to the core); an adapter gets
    them back in `open_reply(posted=...)` when an interrupted reply is resumed.
    """

    message_ids: tuple[str, ...] = ()


OnPosted = Callable[[PostedRefs], Awaitable[None]]
"""Called by a sink each time it has posted a new platform message (not on edits)."""


class ReplySink(Protocol):
    """Renders one turn's reply on a platform. Created by `Replier.open_reply`."""

    async def progress(self, step: Progress) -> None: ...

    async def text(self, delta: str) -> None: ...

    async def file(self, file: OutFile) -> None: ...

    async def notice(self, text: str) -> None: ...

    async def finish(self, *, error: str | None = None) -> PostedRefs: ...

    async def close(self) -> None:
        """End the reply's background work (typing, a pending Stop button, a timed
        edit) without posting more. Called after every turn: after `finish` it has
        nothing left to do; after a delivery failure it keeps a dead reply quiet."""
        ...


ApprovalKind = Literal["function", "mcp"]
ApprovalOutcome = Literal["approved", "denied", "expired"]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A tool call that waits for a person's decision (`approval_id` names it in the
    buttons); `arguments` is the call's JSON, as the model wrote it."""

    approval_id: int
    kind: ApprovalKind
    name: str
    arguments: str
    timeout: float


# (kind, call id, tool name, arguments JSON) -> the decision; how the engine asks.
Approver = Callable[[ApprovalKind, str, str, str], Awaitable[ApprovalOutcome]]


@runtime_checkable
class ApprovalSink(Protocol):
    """A reply sink that can ask for approvals (Approve / Deny buttons).

    `ask` posts the question and returns the platform id of the message it posted (so
    a later process can update it); `decided` updates that message with the outcome.
    """

    async def ask(self, request: ApprovalRequest) -> str | None: ...

    async def decided(
        self, request: ApprovalRequest, outcome: ApprovalOutcome, *, ref: str | None, by: str
    ) -> None: ...


class Replier(Protocol):
    """What an adapter gives the service: a way to reach a thread from stored data.

    `posted` lists what an interrupted earlier attempt at this reply had posted: the
    sink reuses those messages (edits them) instead of posting the reply a second
    time. `on_posted` lets the service record each new message as it is posted.
    `turn_id` names the turn in the reply's buttons (Stop, feedback); None: no buttons.
    """

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> ReplySink: ...


@runtime_checkable
class ContextReader(Protocol):
    """A replier that can read the earlier messages of a thread (optional).

    Called when a turn starts, with the turn's anchor and the platform id of its first
    message; an anchor that marks no history to read returns an empty Context at once.
    """

    async def read_context(self, *, key: ThreadKey, anchor: str, before: str | None) -> Context: ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of `threadbridge check`: what was checked, whether it is fine, what to do."""

    name: str
    ok: bool
    detail: str
