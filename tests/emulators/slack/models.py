"""Plain data records kept by the Slack emulator (what was called, what the user sees)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Identity of the emulated workspace / app / bot user.
TEAM_ID = "T0001"
TEAM_NAME = "Threadbridge Test"
TEAM_DOMAIN = "threadbridge-test"
ENTERPRISE_ID: str | None = None
APP_ID = "A0001"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "threadbridge"
DEFAULT_USER_ID = "U0USER"

BOT_TOKEN = "xoxb-test-bot"
APP_TOKEN = "xapp-test-app"
SIGNING_SECRET = "test-signing-secret"

#: Bot scopes granted by default: the threadbridge manifest list plus reactions:write.
DEFAULT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "commands",
    "chat:write",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "files:read",
    "files:write",
    "assistant:write",
    "users:read",
    "reactions:write",
)


@dataclass
class Call:
    """One Web API request as the emulator received it."""

    method: str
    params: dict[str, Any]
    token: str | None
    headers: dict[str, str]
    time: float
    http_method: str = "POST"
    content_type: str = ""
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    #: The ``fail_next`` failure this call got: a Slack error ("ratelimited", ...),
    #: "html" (an HTML error page) or "drop" (connection closed); None otherwise.
    fault: str | None = None
    #: Whether the emulator has answered it (False while a ``latency`` holds it).
    answered: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        err = self.response.get("error")
        return str(err) if err is not None else None


@dataclass
class Edit:
    """One change to a message (post, chat.update, stream start/append/stop)."""

    method: str
    time: float
    text: str
    blocks: list[dict[str, Any]] | None = None
    appended: str = ""


@dataclass
class Message:
    """A message as Slack stores it; ``text`` is what the user sees now."""

    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    user: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    subtype: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)
    #: None for ordinary messages; "streaming" while a chat.startStream message is
    #: open; "stopped" after chat.stopStream (or after expiry).
    stream_state: str | None = None
    #: Every streaming chunk received (start, append, stop), in order; a bare
    #: ``markdown_text`` argument is recorded as a ``markdown_text`` chunk too.
    stream_chunks: list[dict[str, Any]] = field(default_factory=list)
    #: task id -> the task as the stream shows it now (``task_update`` chunks).
    tasks: dict[str, Task] = field(default_factory=dict)
    #: ``task_display_mode`` of chat.startStream ("timeline" unless given).
    task_display_mode: str | None = None
    #: The plan's title (the last ``plan_update`` chunk), if any.
    plan_title: str | None = None
    #: ``session_status`` of chat.stopStream (None if not given).
    session_status: str | None = None
    deleted: bool = False
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None

    @property
    def is_bot(self) -> bool:
        return self.bot_id is not None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def streaming(self) -> bool:
        return self.stream_state == "streaming"

    @property
    def history(self) -> list[str]:
        """The text after each edit, oldest first (first entry = as posted)."""
        return [e.text for e in self.edits]

    def task_statuses(self, task_id: str) -> list[str]:
        """Every status the stream showed for task `task_id`, in order (repeats
        collapsed): e.g. ``["in_progress", "complete"]``. Empty if never shown."""
        task = self.tasks.get(task_id)
        return list(task.statuses) if task is not None else []

    def chunks_of(self, kind: str) -> list[dict[str, Any]]:
        """The received streaming chunks of one type (``"task_update"``, ...), in order."""
        return [c for c in self.stream_chunks if c.get("type") == kind]

    def to_api(self) -> dict[str, Any]:
        """The message object as Slack's Web API returns it."""
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user is not None:
            out["user"] = self.user
        if self.bot_id is not None:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id or APP_ID
            out["bot_profile"] = {
                "id": self.bot_id,
                "app_id": self.app_id or APP_ID,
                "name": BOT_NAME,
                "team_id": TEAM_ID,
                "deleted": False,
            }
        if self.subtype is not None:
            out["subtype"] = self.subtype
        out["team"] = TEAM_ID
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.blocks is not None:
            out["blocks"] = self.blocks
        elif self.text and self.stream_state is None:
            # Slack derives a rich_text block from plain text (bolt's assistant
            # thread-context store reads message["blocks"] unconditionally).
            from .payloads import rich_text_blocks

            out["blocks"] = rich_text_blocks(self.text)
        if self.files:
            out["files"] = self.files
            out["upload"] = False
        if self.attachments is not None:
            out["attachments"] = self.attachments
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.reactions:
            out["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in self.reactions.items()
            ]
        if len(self.edits) > 1 and self.stream_state is None:
            last = self.edits[-1]
            out["edited"] = {"user": self.user, "ts": f"{int(last.time)}.000000"}
        return out


@dataclass
class Task:
    """One task of a streamed message, as ``task_update`` chunks left it.

    A chunk always carries ``title`` and ``status``; ``details``, ``output`` and
    ``sources`` keep their last value when a later chunk leaves them out (the
    emulator's reading: Slack's docs do not say).
    """

    id: str
    title: str
    status: str
    details: str | None = None
    output: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    #: Every status shown, in order, consecutive repeats collapsed.
    statuses: list[str] = field(default_factory=list)
    #: Every ``task_update`` chunk for this id, in order.
    updates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Ephemeral:
    """A message only `user` sees in `channel` (and `thread_ts`, if in a thread).

    ``source`` says how it got there: ``"chat.postEphemeral"`` or ``"response_url"``
    (an app's POST to a block_actions payload's response_url). ``deleted`` and
    ``edits`` follow later response_url replacements/deletions of it.
    """

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    message_ts: str
    time: float
    source: str = "chat.postEphemeral"
    deleted: bool = False
    edits: list[Edit] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "ts": self.message_ts,
            "text": self.text,
            "bot_id": BOT_ID,
            "user": BOT_USER_ID,
            "team": TEAM_ID,
        }
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.blocks is not None:
            out["blocks"] = self.blocks
        return out


#: How long a block_actions response_url takes POSTs, and how many it takes.
#: Slack's "Handling user interaction" guide
#: (docs.slack.dev/interactivity/handling-user-interaction#message_responses):
#: "use it up to 5 times within 30 minutes of receiving the payload".
RESPONSE_URL_SECONDS = 30 * 60
RESPONSE_URL_USES = 5


@dataclass
class ResponseUrlPost:
    """One POST to a response_url: the JSON body, the answer, what it did.

    ``effect`` is ``"ephemeral"`` (a new message only the clicking user sees),
    ``"in_channel"`` (a new message everyone sees), ``"replaced"`` (the original
    message's content replaced), ``"deleted"`` (the original deleted), or, for a
    refused POST, the error body Slack answers with (``"expired_url"``,
    ``"used_url"``, ``"invalid_blocks"``, ``"no_text"``, ``"invalid_payload"``).
    """

    body: dict[str, Any] | None
    status: int
    answer: str
    effect: str
    time: float  # monotonic


@dataclass
class ResponseUrl:
    """A response_url handed out with a block_actions payload."""

    id: str
    url: str
    channel: str
    message_ts: str
    user: str
    thread_ts: str | None
    is_ephemeral: bool
    issued_at: float  # monotonic
    posts: list[ResponseUrlPost] = field(default_factory=list)

    @property
    def uses(self) -> int:
        """POSTs Slack accepted (refused ones do not count)."""
        return sum(1 for p in self.posts if p.status == 200)


@dataclass
class StoredFile:
    """A file Slack hosts: uploaded through files_upload_v2 or placed by a test."""

    id: str
    name: str
    content: bytes | None
    mimetype: str
    host: str = "files.slack.com"
    require_token: bool = True
    title: str | None = None
    alt_txt: str | None = None
    declared_length: int | None = None
    #: What the file host claims in Content-Length when serving it (None: chunked).
    served_length: int | None = None
    snippet_type: str | None = None
    completed: bool = False
    uploaded_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/files-pri/{TEAM_ID}-{self.id}/{self.name}"

    @property
    def download_path(self) -> str:
        return f"/files-pri/{TEAM_ID}-{self.id}/download/{self.name}"


@dataclass
class FileRequest:
    """One download attempt against /files-pri (HTTPS file host or plain-http API port)."""

    scheme: str
    host: str
    path: str
    has_auth: bool
    authorization: str | None
    time: float
    status: int = 0
    served: str = ""  # "file" | "login_page" | "redirect" | "not_found"
    #: Body bytes the file host wrote before the download ended (or the client left).
    bytes_sent: int = 0


@dataclass
class HttpDelivery:
    """One signed Events API POST made by ``http_send_event``."""

    url: str
    payload: dict[str, Any]
    headers: dict[str, str]
    status: int
    body: str
    seconds: float


@dataclass
class InteractiveDelivery:
    """One interaction payload (a shortcut, a view submission) sent to the app.

    ``mode`` is ``"socket"`` (an ``interactive`` envelope; ``response`` is the ack's
    ``payload``) or ``"http"`` (a signed form POST of ``payload=``; ``response`` is the
    JSON body of the answer). ``status`` is the HTTP status (200 for a Socket Mode ack,
    0 for no ack at all); ``seconds`` the time until the answer.
    """

    kind: str  # the payload's type: "message_action", "view_submission", ...
    mode: str
    payload: dict[str, Any]
    status: int
    response: dict[str, Any] | None
    seconds: float
    envelope_id: str | None = None
    body: str = ""

    @property
    def acked(self) -> bool:
        """Answered with 200 within Slack's 3 seconds."""
        return self.status == 200 and self.seconds <= INTERACTION_SECONDS


#: How long Slack waits for the answer to an interaction, and how long a trigger_id
#: can be exchanged for a modal (views.open).
INTERACTION_SECONDS = 3.0


@dataclass
class Trigger:
    """A trigger_id the emulator handed out with an interaction payload."""

    id: str
    user: str
    issued_at: float  # monotonic
    used: bool = False


@dataclass
class View:
    """A modal opened with views.open, as the user sees it now.

    ``state`` is ``"open"`` or ``"closed"``; ``errors`` the per-block errors the app
    answered a submission with (shown under the inputs, the modal stays open);
    ``slack_error`` what Slack shows when the app's answer was late, failed or
    invalid (the modal stays open too); ``stack`` the views pushed over it.
    """

    id: str
    team_id: str
    user: str
    trigger_id: str
    view: dict[str, Any]
    opened_at: float
    hash: str
    state: str = "open"
    errors: dict[str, str] = field(default_factory=dict)
    slack_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    stack: list[dict[str, Any]] = field(default_factory=list)
    submissions: list[InteractiveDelivery] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.state == "open"

    def to_api(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """The view object as Slack sends it (views.open answer, view_submission)."""
        view = self.view
        return {
            "id": self.id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": values or {}},
            "hash": self.hash,
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": self.id,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }


@dataclass
class SocketConnection:
    """One Socket Mode WebSocket session."""

    ticket: str
    connected_at: float
    disconnected_at: float | None = None
    close_code: int | None = None
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.disconnected_at is None


@dataclass
class Fault:
    """A queued failure for ``fail_next``."""

    method: str  # a Web API method name, or "*" for any
    error: str
    status: int
    retry_after: int | None
    remaining: int
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = "slack"  # "slack" (JSON error), "html" (an HTML page), "drop" (no answer)
    content_type: str = "text/html"


@dataclass
class UnknownArgument:
    """A Web API call naming arguments slack_sdk's method for it does not have."""

    method: str
    names: list[str]  # the unknown argument names, sorted
    params: dict[str, Any]  # every argument of the call (token removed)
    time: float

    def __str__(self) -> str:
        return f"{self.method}: unknown argument(s) {', '.join(self.names)}"


class _TsClock:
    """Process-wide source of Slack ``ts`` strings: wall-clock based, strictly increasing.

    Shared by the emulator (bot messages) and the payload builders (user messages),
    so every ts sorts in creation order and looks current (stale-event filters in
    the code under test keep working).
    """

    def __init__(self) -> None:
        self._last_us = 0

    def next(self) -> str:
        now_us = int(time.time() * 1_000_000)
        self._last_us = max(now_us, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"


_clock = _TsClock()


def new_ts() -> str:
    """A fresh message ts like ``"1763712345.123456"``, unique and increasing."""
    return _clock.next()
