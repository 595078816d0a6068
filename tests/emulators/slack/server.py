"""A loopback Slack: Web API + Socket Mode + HTTPS file host, for the real slack_sdk/bolt.

Usage::

    async with SlackEmulator() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.chat_postMessage(channel="C0001", text="hi")
        assert slack.messages("C0001")[0].text == "hi"

Strict arguments: a Web API call naming an argument that slack_sdk's method for it
does not have (``chat.postMessage`` -> ``AsyncWebClient.chat_postMessage``'s explicit
parameters, plus ``token`` / ``team_id``; see ``arguments.py``) is answered the way
Slack answers invalid arguments, ``{"ok": false, "error": "invalid_arguments",
"response_metadata": {"messages": ["[ERROR] unknown argument: ..."]}}``, and kept in
:attr:`SlackEmulator.unknown_arguments` (``strict_arguments = False`` turns it off).
Real Slack ignores most unknown arguments; the emulator does not, so a misspelt or
unsupported argument passed through an SDK method's ``**kwargs`` is caught.

Failures the way Slack (or what stands in front of it) fails: see
:meth:`SlackEmulator.fail_next`.

Strict blocks and chunks: every ``blocks`` (chat.postMessage, chat.update,
chat.postEphemeral, chat.stopStream, a ``blocks`` chunk, a response_url body) is
held to :mod:`.blocks` (``invalid_blocks`` with ``errors`` and
``response_metadata.messages``), every ``chunks`` to :mod:`.chunks`
(``invalid_chunks``). Streamed messages record their chunks and tasks
(:attr:`Message.stream_chunks`, :attr:`Message.tasks`, :meth:`Message.task_statuses`).

Buttons: :meth:`SlackEmulator.click` / :meth:`SlackEmulator.click_feedback` send a
``block_actions`` payload (docs.slack.dev/reference/interaction-payloads/
block_actions-payload) whose ``response_url`` the emulator serves at
``/actions/T0001/<id>/<secret>`` (docs.slack.dev/interactivity/
handling-user-interaction#message_responses: 5 uses in 30 minutes;
``replace_original``, ``delete_original``, ``response_type``, ``thread_ts``); what
the app posts there lands in :attr:`SlackEmulator.ephemerals` (read with
:meth:`SlackEmulator.ephemerals_for` / :meth:`SlackEmulator.ephemeral_texts`) or on
the message, and each POST in :attr:`SlackEmulator.response_urls`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import mimetypes
import secrets
import ssl
import string
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import trustme
from aiohttp import BodyPartReader, WSMsgType, web
from aiohttp.abc import AbstractResolver

from . import network, views
from .arguments import unknown_arguments
from .blocks import block_problems
from .chunks import SESSION_STATUSES, TASK_DISPLAY_MODES, chunk_problems, chunks_text
from .models import (
    APP_ID,
    APP_TOKEN,
    BOT_ID,
    BOT_NAME,
    BOT_TOKEN,
    BOT_USER_ID,
    DEFAULT_SCOPES,
    DEFAULT_USER_ID,
    INTERACTION_SECONDS,
    RESPONSE_URL_SECONDS,
    RESPONSE_URL_USES,
    SIGNING_SECRET,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    Call,
    Edit,
    Ephemeral,
    Fault,
    FileRequest,
    HttpDelivery,
    InteractiveDelivery,
    Message,
    ResponseUrl,
    ResponseUrlPost,
    SocketConnection,
    StoredFile,
    Task,
    Trigger,
    UnknownArgument,
    View,
    new_ts,
)
from .payloads import (
    block_actions_payload,
    event_callback,
    message_action_payload,
    new_trigger_id,
    signed_event_request,
    signed_interactive_request,
    view_submission_payload,
)

#: Parameters Slack accepts as JSON-encoded strings in form/query bodies.
_JSON_FIELDS = frozenset(
    {
        "blocks",
        "attachments",
        "files",
        "chunks",
        "metadata",
        "prompts",
        "loading_messages",
        "user_auth_blocks",
        "view",
    }
)

#: Bot scope each method needs (conversations.* depend on the channel type, see below);
#: "a,b": either will do (Slack's ``x-accepted-oauth-scopes`` lists them so).
_METHOD_SCOPES: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.startStream": "chat:write",
    "chat.appendStream": "chat:write",
    "chat.stopStream": "chat:write",
    # Since 2026-03-05 chat:write will do too (channel apps show loading states).
    "assistant.threads.setStatus": "assistant:write,chat:write",
    "assistant.threads.setSuggestedPrompts": "assistant:write",
    "assistant.threads.setTitle": "assistant:write",
    "users.info": "users:read",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
}
_CONVERSATION_SCOPE_PREFIX = {"channel": "channels", "group": "groups", "im": "im", "mpim": "mpim"}

_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>
<body class="signin"><div id="page"><h1>Sign in to Threadbridge Test</h1>
<form id="signin_form" action="/signin" method="post"><input type="email" name="email">
<input type="password" name="password"><button type="submit">Sign in</button></form>
</div></body></html>
"""

MAX_TEXT = 40_000
#: Bytes per write when the file host serves a download.
FILE_CHUNK = 64 * 1024
#: markdown_text per streaming call (chat.startStream/appendStream/stopStream pages).
MAX_MARKDOWN_TEXT = 12_000
#: conversations.replies: default and largest ``limit`` (Slack's docs: 1000; 15 for
#: commercially distributed non-Marketplace apps, which this bot is not).
REPLIES_LIMIT = 1000

#: What the Slack client shows in a modal whose app answered late, failed or wrongly.
TROUBLE_CONNECTING = "We had some trouble connecting. Try again?"

#: What Slack's edge (or a proxy in front of it) sends with a 5xx: HTML, not JSON.
_HTML_ERROR_PAGE = """<html>
<head><title>{status} {reason}</title></head>
<body>
<center><h1>{status} {reason}</h1></center>
<hr><center>envoy</center>
</body>
</html>
"""


class ApiError(Exception):
    """Raised by a method handler: becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


def _missing(field: str) -> ApiError:
    return ApiError(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] missing required field: {field}"]},
    )


def _validate_blocks(blocks: Any) -> None:
    """Raise Slack's ``invalid_blocks`` (or ``invalid_blocks_format`` for a non-array)
    for blocks Slack would refuse; see :mod:`.blocks` for the rules."""
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    problems = block_problems(blocks)
    if problems:
        raise ApiError(
            "invalid_blocks",
            errors=problems,
            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
        )


def _validate_chunks(chunks: Any) -> list[dict[str, Any]]:
    """The chunks, or Slack's ``invalid_chunks``; see :mod:`.chunks`."""
    problems = chunk_problems(chunks)
    if problems:
        raise ApiError(
            "invalid_chunks",
            errors=problems,
            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
        )
    return [dict(c) for c in chunks]


def _markdown_param(call: Call) -> str:
    text = call.params.get("markdown_text")
    if text is None:
        return ""
    if len(str(text)) > MAX_MARKDOWN_TEXT:
        raise ApiError("msg_too_long")
    return str(text)


def _enum_param(call: Call, name: str, allowed: frozenset[str]) -> str | None:
    value = call.params.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise ApiError(
            "invalid_arguments",
            response_metadata={
                "messages": [
                    f"[ERROR] must be one of {', '.join(sorted(allowed))} [json-pointer:/{name}]"
                ]
            },
        )
    return str(value)


def _ts_param(value: Any, error: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(str(value))
    except ValueError:
        raise ApiError(error) from None


def _bool_param(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


def _limit_param(value: Any) -> int:
    if value is None or value == "":
        return REPLIES_LIMIT
    try:
        limit = int(str(value))
    except ValueError:
        raise ApiError("invalid_limit") from None
    return max(1, min(REPLIES_LIMIT, limit)) if limit > 0 else REPLIES_LIMIT


def _encode_cursor(ts: str) -> str:
    # Slack's cursors look like base64("next_ts:<ts without the dot>")
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None
    prefix, _, digits = raw.partition(":")
    if prefix != "next_ts" or not digits.isdigit() or len(digits) <= 6:
        raise ApiError("invalid_cursor")
    return f"{digits[:-6]}.{digits[-6:]}"


_ALNUM = string.ascii_uppercase + string.digits


def channel_kind(channel: str) -> str:
    if channel.startswith("D"):
        return "im"
    if channel.startswith("G"):
        return "group"
    return "channel"


class SlackEmulator:
    """Emulated Slack workspace ``T0001`` with bot ``UBOT``/``BBOT`` of app ``A0001``."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        #: Bot scopes: sent as ``x-oauth-scopes`` and enforced (``missing_scope``).
        self.scopes: list[str] = list(scopes)
        self.enforce_scopes = True
        self.team_id = TEAM_ID
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.app_id = APP_ID

        self.calls: list[Call] = []
        #: Reject arguments slack_sdk's method does not name (see the module docstring).
        self.strict_arguments = True
        #: Every call rejected for unknown arguments, in order.
        self.unknown_arguments: list[UnknownArgument] = []
        #: Set by a test that provokes unknown arguments on purpose: the
        #: ``slack_emulator`` fixture then does not fail on them.
        self.expect_unknown_arguments = False
        #: Per-method delay in seconds before answering.
        self.latency: dict[str, float] = {}
        self._faults: list[Fault] = []

        self._messages: dict[str, dict[str, Message]] = {}
        # (channel, thread_ts) -> the assistant status shown under that thread
        self._shown_status: dict[tuple[str, str], str] = {}
        self.ephemerals: list[Ephemeral] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}

        self.files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, StoredFile] = {}
        self._file_seq = 0
        self.file_requests: list[FileRequest] = []
        self._redirects: dict[str, str] = {}

        #: Events POSTed to the app with :meth:`http_send_event`.
        self.http_deliveries: list[HttpDelivery] = []

        #: Interaction payloads sent to the app (shortcuts, view submissions), in order.
        self.interactive_deliveries: list[InteractiveDelivery] = []
        #: trigger_id -> the trigger handed out with an interaction payload.
        self.triggers: dict[str, Trigger] = {}
        #: view id -> every modal opened with views.open.
        self.views: dict[str, View] = {}
        #: response_url -> the record of every response_url handed out with a
        #: block_actions payload (its POSTs in ``.posts``).
        self.response_urls: dict[str, ResponseUrl] = {}
        #: How long a response_url takes POSTs and how many it accepts (Slack: 30
        #: minutes, 5 times); lower them in a test to see expiry.
        self.response_url_seconds: float = RESPONSE_URL_SECONDS
        self.response_url_uses: int = RESPONSE_URL_USES

        self.socket_connections: list[SocketConnection] = []
        self._sockets: dict[int, web.WebSocketResponse] = {}
        self._tickets: set[str] = set()
        #: envelope_id -> monotonic time the ack arrived.
        self.acks: dict[str, float] = {}
        #: envelope_id -> the ``payload`` sent with the ack (None if none).
        self.ack_payloads: dict[str, dict[str, Any] | None] = {}
        #: Every envelope pushed to a client, with the monotonic send time.
        self.envelopes: list[tuple[float, dict[str, Any]]] = []
        self._ack_cond: asyncio.Condition | None = None
        self._socket_connected: asyncio.Event | None = None
        self._socket_disconnected: asyncio.Event | None = None

        self.ca: trustme.CA = network.make_ca()
        self._server_ssl = network.server_ssl_context(self.ca)

        self._api_runner: web.AppRunner | None = None
        self._files_runner: web.AppRunner | None = None
        self.port = 0
        self.files_port = 0

        self._handlers: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "assistant.threads.setStatus": self._assistant_ok,
            "assistant.threads.setSuggestedPrompts": self._assistant_ok,
            "assistant.threads.setTitle": self._assistant_ok,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> SlackEmulator:
        self._ack_cond = asyncio.Condition()
        self._socket_connected = asyncio.Event()
        self._socket_disconnected = asyncio.Event()

        api = web.Application(client_max_size=64 * 1024 * 1024)
        api.router.add_route("*", "/api/{method}", self._api_handler)
        api.router.add_post("/upload/v1/{file_id}", self._upload_handler)
        api.router.add_get("/link/", self._ws_handler)
        api.router.add_get("/files-pri/{tail:.*}", self._file_handler)
        api.router.add_route("*", "/actions/{team}/{key}/{secret}", self._response_url_handler)
        api.on_shutdown.append(self._close_sockets)
        self._api_runner = web.AppRunner(api, access_log=None, shutdown_timeout=1.0)
        await self._api_runner.setup()
        api_site = web.TCPSite(self._api_runner, "127.0.0.1", 0)
        await api_site.start()
        self.port = self._bound_port(self._api_runner)

        files = web.Application()
        files.router.add_get("/files-pri/{tail:.*}", self._file_handler)
        files.router.add_get("/{tail:.*}", self._file_handler)
        self._files_runner = web.AppRunner(files, access_log=None, shutdown_timeout=1.0)
        await self._files_runner.setup()
        files_site = web.TCPSite(self._files_runner, "127.0.0.1", 0, ssl_context=self._server_ssl)
        await files_site.start()
        self.files_port = self._bound_port(self._files_runner)
        return self

    async def stop(self) -> None:
        await self._close_sockets()
        if self._api_runner is not None:
            await self._api_runner.cleanup()
            self._api_runner = None
        if self._files_runner is not None:
            await self._files_runner.cleanup()
            self._files_runner = None

    async def __aenter__(self) -> SlackEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @staticmethod
    def _bound_port(runner: web.AppRunner) -> int:
        addr = runner.addresses[0]
        return int(addr[1])

    # ------------------------------------------------------------------ URLs

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as ``AsyncWebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    @property
    def ws_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/"

    def file_url(self, path: str, *, host: str = "files.slack.com", https: bool = True) -> str:
        """URL of ``path`` on the HTTPS file host, or (https=False) on the plain-http API port."""
        if https:
            return f"https://{host}:{self.files_port}{path}"
        return f"http://{host}:{self.port}{path}"

    def http_url(self, url_or_file: str | dict[str, Any]) -> str:
        """The plain-http twin of a hosted file URL (same path, API port, ``http://``)."""
        url = url_or_file if isinstance(url_or_file, str) else url_or_file["url_private"]
        parts = urlsplit(url)
        return self.file_url(parts.path, host=parts.hostname or "files.slack.com", https=False)

    # ------------------------------------------------------------------ TLS / DNS

    def ssl_client_context(self) -> ssl.SSLContext:
        """An SSLContext trusting only the emulator's CA."""
        return network.client_ssl_context(self.ca)

    def resolver(self, *extra_names: str) -> AbstractResolver:
        """aiohttp resolver mapping files.slack.com, evil.example.com (+extra) to 127.0.0.1."""
        names = {"files.slack.com", "evil.example.com", "localhost", *extra_names}
        return network.EmulatorResolver(names)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        status: int | None = None,
        retry_after: int | None = 1,
        times: int = 1,
        *,
        html: bool = False,
        drop: bool = False,
        content_type: str = "text/html",
        **extra: Any,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"``: of any method) fail.

        The failure modes, as slack_sdk meets them against Slack:

        - a Slack error (the default): HTTP 200 ``{"ok": false, "error": error}``,
          e.g. ``"invalid_auth"``, ``"channel_not_found"``,
          ``"message_not_in_streaming_state"``; ``extra`` is merged into the body.
          slack_sdk raises ``SlackApiError`` (``.response["error"] == error``).
        - ``"ratelimited"`` (the default error): HTTP 429 with
          ``Retry-After: retry_after`` (``status`` defaults to 429 for it).
          ``SlackApiError`` unless the client has a rate-limit retry handler.
        - ``html=True``: HTTP ``status`` (default 503) with an HTML error page
          (``content_type``, default ``text/html``), as Slack's edge or a proxy
          answers; ``error`` is not used. slack_sdk raises ``SlackApiError`` with
          ``.response.status_code == status`` and ``.response.data == {}`` (it reads
          only JSON bodies); with ``content_type="application/json"`` (a proxy
          mislabelling its page) the body fails to parse and ``SlackApiError``'s
          message quotes it.
        - ``drop=True``: the TCP connection is closed without an answer. aiohttp
          raises ``ServerDisconnectedError`` (an ``aiohttp.ClientError``);
          slack_sdk's default retry handler retries that once, so ``times=2`` is
          what makes it reach the caller of a default ``AsyncWebClient``.

        Failed calls have no side effects but are recorded in :attr:`calls`, with
        :attr:`Call.fault` saying which failure they got.
        """
        kind = "drop" if drop else ("html" if html else "slack")
        if drop:
            status = 0  # no answer at all
        elif status is None:
            status = 503 if html else (429 if error == "ratelimited" else 200)
        self._faults.append(
            Fault(
                method=method,
                error="drop" if drop else ("html" if html else error),
                status=status,
                retry_after=retry_after if status == 429 else None,
                remaining=times,
                extra=extra,
                kind=kind,
                content_type=content_type,
            )
        )

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method in (method, "*") and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    async def _fault_response(
        request: web.Request, fault: Fault, headers: dict[str, str]
    ) -> web.Response | None:
        """The answer for an html/drop fault (None for a Slack error)."""
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        if fault.kind == "html":
            reason = ""
            with contextlib.suppress(ValueError):
                reason = HTTPStatus(fault.status).phrase
            body = _HTML_ERROR_PAGE.format(status=fault.status, reason=reason)
            return web.Response(
                status=fault.status,
                body=body.encode(),
                headers={**headers, "Content-Type": f"{fault.content_type}; charset=utf-8"},
            )
        return None

    # ------------------------------------------------------------------ queries

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def call_names(self) -> list[str]:
        return [c.method for c in self.calls]

    def messages(
        self, channel: str, thread_ts: str | None = None, *, include_deleted: bool = False
    ) -> list[Message]:
        """Messages in ``channel`` (all, ts order), or of one thread: parent + replies."""
        stored = self._messages.get(channel, {}).values()
        if thread_ts is not None:
            selected = [m for m in stored if m.ts == thread_ts or m.thread_ts == thread_ts]
        else:
            selected = list(stored)
        if not include_deleted:
            selected = [m for m in selected if not m.deleted]
        return sorted(selected, key=lambda m: (float(m.ts), m.ts))

    def bot_messages(self, channel: str, thread_ts: str | None = None) -> list[Message]:
        return [m for m in self.messages(channel, thread_ts) if m.bot_id == self.bot_id]

    def bot_texts(self, channel: str, thread_ts: str | None = None) -> list[str]:
        """What the user sees: final text of every bot message (ts order)."""
        return [m.text for m in self.bot_messages(channel, thread_ts)]

    def message(self, channel: str, ts: str) -> Message | None:
        return self._messages.get(channel, {}).get(ts)

    def assistant_status(self, channel: str, thread_ts: str) -> str:
        """The status a user sees under the thread now ("" for none)."""
        return self._shown_status.get((channel, thread_ts), "")

    def assistant_statuses(self, channel: str, thread_ts: str) -> list[str]:
        """Every status set by assistant.threads.setStatus on a thread, in order."""
        return [
            str(c.params.get("status", ""))
            for c in self.calls_to("assistant.threads.setStatus")
            if c.ok
            and c.params.get("channel_id") == channel
            and c.params.get("thread_ts") == thread_ts
        ]

    # ------------------------------------------------------------------ seeding

    def next_ts(self) -> str:
        return new_ts()

    def add_channel(self, channel: str, **fields: Any) -> dict[str, Any]:
        info = self._channel_info(channel)
        info.update(fields)
        self.channels[channel] = info
        return info

    def add_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        real_name: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add (or change) a user as users.info returns it. ``display_name`` and
        ``real_name`` go where Slack keeps them (``real_name`` on the user and in
        ``profile``, ``display_name`` in ``profile``, with their ``_normalized``
        twins); other ``fields`` are merged into the user object."""
        info = self._user_info(user_id) or {"id": user_id, "profile": {}}
        profile = dict(info.get("profile") or {})
        if real_name is not None:
            info["real_name"] = real_name
            profile["real_name"] = profile["real_name_normalized"] = real_name
        if display_name is not None:
            profile["display_name"] = profile["display_name_normalized"] = display_name
        info["profile"] = profile
        info.update(fields)
        self.users[user_id] = info
        return info

    def user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = DEFAULT_USER_ID,
        thread_ts: str | None = None,
        ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> Message:
        """Store a message typed by a human (the thing an event would announce)."""
        msg = Message(
            channel=channel,
            ts=ts or new_ts(),
            text=text,
            thread_ts=thread_ts,
            user=user,
            files=list(files or []),
        )
        msg.edits.append(Edit("user", time.monotonic(), text))
        self._store(msg)
        return msg

    def record_event(self, payload: dict[str, Any]) -> Message | None:
        """Store the user message an event_callback announces (no-op if known/irrelevant)."""
        event = payload.get("event", payload)
        if event.get("type") not in ("message", "app_mention"):
            return None
        if event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return None
        channel, ts = event.get("channel"), event.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            return None
        existing = self.message(channel, ts)
        if existing is not None:
            return existing
        msg = Message(
            channel=channel,
            ts=ts,
            text=str(event.get("text", "")),
            blocks=event.get("blocks"),
            thread_ts=event.get("thread_ts"),
            user=event.get("user"),
            bot_id=event.get("bot_id"),
            app_id=event.get("app_id"),
            subtype=event.get("subtype"),
            files=list(event.get("files") or []),
        )
        msg.edits.append(Edit("event", time.monotonic(), msg.text))
        self._store(msg)
        return msg

    def expire_stream(self, channel: str, ts: str) -> None:
        """Let an open stream time out server-side (later appends fail)."""
        msg = self.message(channel, ts)
        if msg is None:
            raise KeyError((channel, ts))
        msg.stream_state = "expired"

    def _store(self, msg: Message) -> None:
        self._messages.setdefault(msg.channel, {})[msg.ts] = msg
        if msg.user == self.bot_user_id and msg.thread_ts:
            # "The status will be automatically cleared when the app sends a reply."
            self._shown_status.pop((msg.channel, msg.thread_ts), None)

    # ------------------------------------------------------------------ file hosting

    def _new_file_id(self) -> str:
        self._file_seq += 1
        return f"F{self._file_seq:010d}"

    def _register_file(self, f: StoredFile) -> None:
        self.files[f.id] = f
        self._file_paths[f.path] = f
        self._file_paths[f.download_path] = f

    def host_file(
        self,
        name: str,
        content: bytes,
        mimetype: str,
        *,
        host: str = "files.slack.com",
        require_token: bool = True,
        user: str = DEFAULT_USER_ID,
        title: str | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Host ``content`` and return the Slack file object for it.

        ``overrides`` are merged into the returned object (``mode="external"``,
        ``hidden_by_limit=True``, ...). ``require_token=False`` serves without auth.
        """
        f = StoredFile(
            id=self._new_file_id(),
            name=name,
            content=content,
            mimetype=mimetype,
            host=host,
            require_token=require_token,
            title=title,
            completed=True,
            uploaded_at=time.time(),
            extra={"user": user, **overrides},
        )
        self._register_file(f)
        return self.file_object(f.id)

    def redirect_file(self, path: str, to_url: str) -> None:
        """Make GET ``path`` (or a full URL's path) answer ``302 Location: to_url``."""
        if "://" in path:
            path = urlsplit(path).path
        self._redirects[path] = to_url

    def file_object(self, file_id: str) -> dict[str, Any]:
        f = self.files[file_id]
        user = str(f.extra.get("user", BOT_USER_ID))
        ext = f.name.rsplit(".", 1)[-1].lower() if "." in f.name else "binary"
        created = int(f.uploaded_at or time.time())
        obj: dict[str, Any] = {
            "id": f.id,
            "created": created,
            "timestamp": created,
            "name": f.name,
            "title": f.title or f.name,
            "mimetype": f.mimetype,
            "filetype": ext,
            "pretty_type": ext.upper(),
            "user": user,
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(f.content or b""),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": self.file_url(f.path, host=f.host),
            "url_private_download": self.file_url(f.download_path, host=f.host),
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{user}/{f.id}/{f.name}",
            "permalink_public": f"https://slack-files.com/{TEAM_ID}-{f.id}-0000000000",
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if f.alt_txt is not None:
            obj["alt_txt"] = f.alt_txt
        obj.update({k: v for k, v in f.extra.items() if k != "user"})
        return obj

    async def _file_handler(self, request: web.Request) -> web.StreamResponse:
        scheme = "https" if request.secure else "http"
        host = (request.host or "").rsplit(":", 1)[0] if request.host else ""
        auth = request.headers.get("Authorization")
        rec = FileRequest(
            scheme=scheme,
            host=host,
            path=request.path,
            has_auth=auth is not None,
            authorization=auth,
            time=time.monotonic(),
        )
        self.file_requests.append(rec)
        if request.path in self._redirects:
            rec.status, rec.served = 302, "redirect"
            raise web.HTTPFound(self._redirects[request.path])
        f = self._file_paths.get(request.path)
        if f is None or f.content is None:
            rec.status, rec.served = 404, "not_found"
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        authorized = auth == f"Bearer {self.bot_token}" and (
            "files:read" in self.scopes or not self.enforce_scopes
        )
        if f.require_token and not authorized:
            rec.status, rec.served = 200, "login_page"
            return web.Response(text=_LOGIN_PAGE, content_type="text/html", charset="utf-8")
        rec.status, rec.served = 200, "file"
        # Streamed in chunks, as a file host sends a big file: a client that stops
        # reading at its size cap leaves the rest unsent (rec.bytes_sent says).
        response = web.StreamResponse(
            headers={"Content-Disposition": f'attachment; filename="{f.name}"'}
        )
        response.content_type = f.mimetype
        if f.served_length is not None:
            response.content_length = f.served_length
        await response.prepare(request)
        try:
            for start in range(0, len(f.content), FILE_CHUNK):
                if request.transport is None or request.transport.is_closing():
                    return response  # the client went away
                chunk = f.content[start : start + FILE_CHUNK]
                await response.write(chunk)
                await asyncio.sleep(0)  # let a lost connection be noticed
                rec.bytes_sent += len(chunk)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        return response

    async def _upload_handler(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["file_id"])
        if f is None:
            return web.Response(status=404, text="file not found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            data = b""
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if isinstance(part, BodyPartReader) and (
                    part.filename is not None or part.name in ("file", "filename")
                ):
                    data = bytes(await part.read())
                    break
        else:
            data = await request.read()
        f.content = data
        f.uploaded_at = time.time()
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    # ------------------------------------------------------------------ HTTP mode delivery

    async def http_send_event(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> tuple[int, str]:
        """POST a signed Events API delivery to the app's endpoint, as Slack does.

        A bare inner event is wrapped with :func:`event_callback`; the announced user
        message is stored. Returns (status, body text); also appended, with the
        round-trip seconds, to :attr:`http_deliveries`.
        """
        if payload.get("type") not in ("event_callback", "url_verification"):
            payload = event_callback(payload)
        self.record_event(payload)
        body, headers = signed_event_request(
            payload,
            signing_secret or self.signing_secret,
            timestamp=timestamp,
            retry_num=retry_num,
            retry_reason=retry_reason,
        )
        started = time.monotonic()
        client_timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.post(url, data=body, headers=headers) as resp,
        ):
            text = await resp.text()
            status = resp.status
        self.http_deliveries.append(
            HttpDelivery(
                url=url,
                payload=payload,
                headers=headers,
                status=status,
                body=text,
                seconds=time.monotonic() - started,
            )
        )
        return status, text

    # ------------------------------------------------------------------ interactivity

    def issue_trigger(self, user: str = DEFAULT_USER_ID) -> str:
        """A fresh trigger_id for `user`, valid for views.open for 3 seconds, once."""
        trigger = Trigger(id=new_trigger_id(), user=user, issued_at=time.monotonic())
        self.triggers[trigger.id] = trigger
        return trigger.id

    async def message_shortcut(
        self,
        channel: str,
        ts: str,
        *,
        callback_id: str,
        user: str = DEFAULT_USER_ID,
        url: str | None = None,
        signing_secret: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> InteractiveDelivery:
        """`user` chooses the app's message shortcut `callback_id` on the stored message
        `ts`: a ``message_action`` payload over Socket Mode, or over HTTP to `url`.

        Slack lists an app's shortcuts only when it has the ``commands`` scope: without
        it this raises RuntimeError (the user could not have chosen the shortcut).
        """
        if "commands" not in self.scopes:
            raise RuntimeError("without the commands scope Slack shows no app shortcuts")
        message = self.message(channel, ts)
        if message is None or message.deleted:
            raise KeyError((channel, ts))
        payload = message_action_payload(
            message=message.to_api(),
            channel=channel,
            callback_id=callback_id,
            trigger_id=self.issue_trigger(user),
            user=user,
            team_id=self.team_id,
        )
        return await self.deliver_interactive(
            payload, url=url, signing_secret=signing_secret, timeout_seconds=timeout_seconds
        )

    async def submit_view(
        self,
        view_id: str,
        typed: Mapping[str, str],
        *,
        url: str | None = None,
        signing_secret: str | None = None,
    ) -> InteractiveDelivery:
        """The user presses the submit button of the open modal `view_id` after typing
        `typed` (block_id -> text) into its inputs: a ``view_submission`` payload, and
        the app's answer applied to the modal (closed; errors shown under the inputs;
        updated; pushed; or, for a late, failed or invalid answer, Slack's own error).

        Raises ValueError for what the Slack client would not let the user submit
        (see :func:`views.input_values`) and for a modal that is not open.
        """
        record = self.views[view_id]
        if not record.open:
            raise ValueError(f"the modal {view_id} is not open")
        shown = record.stack[-1] if record.stack else record.view
        if "submit" not in shown:
            raise ValueError(f"the modal {view_id} has no submit button")
        values = views.input_values(shown, typed)
        payload = view_submission_payload(
            view={**record.to_api(values), **self._shown_fields(shown)},
            trigger_id=self.issue_trigger(record.user),
            user=record.user,
            team_id=record.team_id,
        )
        delivery = await self.deliver_interactive(payload, url=url, signing_secret=signing_secret)
        record.submissions.append(delivery)
        self._apply_view_answer(record, shown, delivery)
        return delivery

    @staticmethod
    def _shown_fields(shown: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("blocks", "private_metadata", "callback_id", "title", "submit", "close")
        return {k: shown.get(k) for k in keys if k in shown}

    def _apply_view_answer(
        self, record: View, shown: Mapping[str, Any], delivery: InteractiveDelivery
    ) -> None:
        record.errors = {}
        record.slack_error = None
        if not delivery.acked:
            record.slack_error = TROUBLE_CONNECTING
            return
        answer = delivery.response
        if not answer:
            record.state = "closed"
            return
        problems = views.response_problems(shown, answer)
        if problems:
            record.slack_error = TROUBLE_CONNECTING + " (" + "; ".join(problems) + ")"
            return
        action = answer["response_action"]
        if action == "errors":
            record.errors = dict(answer["errors"])
        elif action == "clear":
            record.state = "closed"
            record.stack.clear()
        elif action == "update":
            if record.stack:
                record.stack[-1] = dict(answer["view"])
            else:
                record.view = dict(answer["view"])
            record.history.append(dict(answer["view"]))
        elif action == "push":
            record.stack.append(dict(answer["view"]))
            record.history.append(dict(answer["view"]))

    def open_views(self, user: str | None = None) -> list[View]:
        """Modals open now (of `user`), oldest first."""
        return [v for v in self.views.values() if v.open and user in (None, v.user)]

    # ------------------------------------------------------------------ buttons

    def _clickable(
        self, channel: str, ts: str, user: str
    ) -> tuple[Message | Ephemeral, list[dict[str, Any]], bool]:
        """The message `user` sees at (channel, ts), the blocks shown on it, and
        whether it is ephemeral. Raises KeyError if the user sees no such message."""
        msg = self.message(channel, ts)
        if msg is not None and not msg.deleted:
            shown = list(msg.blocks or [])
            for chunk in msg.stream_chunks:
                if chunk.get("type") == "blocks" and isinstance(chunk.get("blocks"), list):
                    shown.extend(chunk["blocks"])
            return msg, shown, False
        for eph in reversed(self.ephemerals):
            if eph.channel == channel and eph.message_ts == ts and not eph.deleted:
                if eph.user != user:
                    raise KeyError(f"the ephemeral message {ts} is shown to {eph.user}, not {user}")
                return eph, list(eph.blocks or []), True
        raise KeyError(f"no message {ts} in {channel}")

    @staticmethod
    def _generated_block_id(ts: str, index: int) -> str:
        # Slack fills in a block_id for blocks posted without one.
        return hashlib.sha1(f"{ts}:{index}".encode(), usedforsecurity=False).hexdigest()[:5]

    def _find_element(
        self, blocks: list[dict[str, Any]], ts: str, action_id: str
    ) -> tuple[dict[str, Any], str]:
        """The interactive element with `action_id` among `blocks` and its block_id."""
        for i, block in enumerate(blocks):
            candidates: list[Any] = []
            if block.get("type") in ("actions", "context_actions"):
                candidates.extend(block.get("elements") or [])
            if block.get("type") == "section" and block.get("accessory"):
                candidates.append(block["accessory"])
            for element in candidates:
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    return element, str(block.get("block_id") or self._generated_block_id(ts, i))
        found = [
            e.get("action_id")
            for b in blocks
            for e in [*(b.get("elements") or []), b.get("accessory")]
            if isinstance(e, dict) and e.get("action_id")
        ]
        raise LookupError(
            f"the message {ts} has no button with action_id {action_id!r} "
            f"(its action_ids: {found or 'none'})"
        )

    def _message_for_payload(self, msg: Message, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        out = msg.to_api()
        if msg.blocks is not None or blocks:
            out["blocks"] = [
                {**b, "block_id": b.get("block_id") or self._generated_block_id(msg.ts, i)}
                for i, b in enumerate(blocks)
            ]
        return out

    def _issue_response_url(
        self, channel: str, ts: str, user: str, thread_ts: str | None, is_ephemeral: bool
    ) -> str:
        key = "".join(secrets.choice(string.digits) for _ in range(13))
        url = f"{self.base_url}/actions/{self.team_id}/{key}/{secrets.token_urlsafe(18)}"
        self.response_urls[url] = ResponseUrl(
            id=key,
            url=url,
            channel=channel,
            message_ts=ts,
            user=user,
            thread_ts=thread_ts,
            is_ephemeral=is_ephemeral,
            issued_at=time.monotonic(),
        )
        return url

    async def click(
        self,
        channel: str,
        ts: str,
        action_id: str,
        *,
        user: str = DEFAULT_USER_ID,
        value: str | None = None,
        url: str | None = None,
        signing_secret: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> InteractiveDelivery:
        """`user` clicks the element `action_id` on the message `ts` in `channel`: a
        ``block_actions`` payload over Socket Mode (an ``interactive`` envelope), or,
        with `url`, as a signed form POST (``payload=<json>``), as Slack sends it.

        The element is looked up in the message's blocks as the user sees them now
        (a posted or updated message, a streamed one's ``blocks`` chunks and final
        ``blocks``, or an ephemeral message shown to `user`): a ``button`` in an
        ``actions`` block or a section's ``accessory``, an ``icon_button`` or a
        ``feedback_buttons`` in a ``context_actions`` block. For ``feedback_buttons``
        `value` picks the pressed button (its ``positive_button``/``negative_button``
        value; see :meth:`click_feedback`); for other elements a given `value` must
        equal the element's. Raises KeyError (no such message), LookupError (no such
        element on it: the test fails loudly) or ValueError (wrong `value`).

        The payload (``payload`` of the returned delivery; also in
        :attr:`interactive_deliveries`) carries ``user``, ``api_app_id``, ``token``,
        ``container`` (``type: message``, ``message_ts``, ``channel_id``,
        ``is_ephemeral``, ``thread_ts`` when in a thread), ``trigger_id`` (usable with
        views.open for 3 s), ``team``, ``enterprise``, ``is_enterprise_install``,
        ``channel``, ``message`` (not for an ephemeral message), ``state``,
        ``response_url`` (see :attr:`response_urls`) and one ``actions`` entry:
        ``action_id``, ``block_id``, ``text``, ``value``, ``type``, ``action_ts``
        (``style`` too for a styled button).
        """
        target, blocks, is_ephemeral = self._clickable(channel, ts, user)
        element, block_id = self._find_element(blocks, ts, action_id)
        kind = str(element.get("type"))
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id}
        if kind == "feedback_buttons":
            pressed = None
            for side in ("positive_button", "negative_button"):
                button = element.get(side) or {}
                if value is None and side == "positive_button":
                    continue
                if button.get("value") == value:
                    pressed = button
                    break
            if pressed is None:
                raise ValueError(
                    f"feedback_buttons {action_id!r} has no button with value {value!r}"
                )
            action.update(text=pressed.get("text"), value=pressed.get("value"))
        else:
            if value is not None and element.get("value") != value:
                raise ValueError(
                    f"{kind} {action_id!r} has value {element.get('value')!r}, not {value!r}"
                )
            if "text" in element:
                action["text"] = element["text"]
            if "value" in element:
                action["value"] = element["value"]
            if "style" in element:
                action["style"] = element["style"]
        action["type"] = kind
        action["action_ts"] = new_ts()
        thread_ts = target.thread_ts
        info = self.channels.get(channel, {})
        payload = block_actions_payload(
            channel=channel,
            message_ts=ts,
            action=action,
            trigger_id=self.issue_trigger(user),
            response_url=self._issue_response_url(channel, ts, user, thread_ts, is_ephemeral),
            message=(
                None if isinstance(target, Ephemeral) else self._message_for_payload(target, blocks)
            ),
            thread_ts=thread_ts,
            is_ephemeral=is_ephemeral,
            user=user,
            team_id=self.team_id,
            channel_name=info.get("name"),
        )
        return await self.deliver_interactive(
            payload, url=url, signing_secret=signing_secret, timeout_seconds=timeout_seconds
        )

    async def click_feedback(
        self,
        channel: str,
        ts: str,
        *,
        positive: bool,
        action_id: str | None = None,
        user: str = DEFAULT_USER_ID,
        url: str | None = None,
        signing_secret: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> InteractiveDelivery:
        """`user` presses 👍 (`positive`) or 👎 of the ``feedback_buttons`` element on
        the message `ts` (the one with `action_id`, or the message's only one).

        The payload's ``actions[0]`` is ``{"action_id", "block_id", "text", "value",
        "type": "feedback_buttons", "action_ts"}``, ``text``/``value`` those of the
        pressed ``positive_button``/``negative_button`` (bolt-js's
        ``FeedbackButtonsAction``: ``value: string``, ``text: PlainTextElement``).
        Raises LookupError when the message has no such element.
        """
        _, blocks, _ = self._clickable(channel, ts, user)
        elements = [
            e
            for b in blocks
            if b.get("type") == "context_actions"
            for e in b.get("elements") or []
            if isinstance(e, dict)
            and e.get("type") == "feedback_buttons"
            and action_id in (None, e.get("action_id"))
        ]
        if len(elements) != 1 or not elements[0].get("action_id"):
            raise LookupError(
                f"the message {ts} has {len(elements)} feedback_buttons elements"
                + (f" with action_id {action_id!r}" if action_id else "")
                + " (need exactly one, with an action_id)"
            )
        element = elements[0]
        side = "positive_button" if positive else "negative_button"
        return await self.click(
            channel,
            ts,
            str(element["action_id"]),
            user=user,
            value=str((element.get(side) or {}).get("value")),
            url=url,
            signing_secret=signing_secret,
            timeout_seconds=timeout_seconds,
        )

    # ------------------------------------------------------------------ response_url

    async def _response_url_handler(self, request: web.Request) -> web.Response:
        """A POST to a response_url, answered as Slack's hooks.slack.com answers:
        ``200 ok`` (text/html) when taken, else a 4xx with the error as the body."""
        record = self.response_urls.get(str(request.url.with_query(None)).rstrip("/"))
        if record is None:
            record = next(
                (r for r in self.response_urls.values() if urlsplit(r.url).path == request.path),
                None,
            )
        now = time.monotonic()
        if record is None:
            return web.Response(status=404, text="no_service", content_type="text/html")

        def answer(
            status: int, text: str, effect: str, body: dict[str, Any] | None
        ) -> web.Response:
            record.posts.append(ResponseUrlPost(body, status, text, effect, now))
            return web.Response(status=status, text=text, content_type="text/html")

        if request.method != "POST":
            return answer(405, "invalid_method", "invalid_method", None)
        if now - record.issued_at > self.response_url_seconds:
            return answer(404, "expired_url", "expired_url", None)
        if record.uses >= self.response_url_uses:
            return answer(404, "used_url", "used_url", None)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return answer(400, "invalid_payload", "invalid_payload", None)
        try:
            effect = self._apply_response(record, body, now)
        except ApiError as err:
            return answer(400, err.error, err.error, body)
        return answer(200, "ok", effect, body)

    def _apply_response(self, record: ResponseUrl, body: dict[str, Any], now: float) -> str:
        """What a response_url body does, as Slack's "Handling user interaction"
        guide describes it: ``delete_original: true`` deletes the message the button
        was on; ``replace_original: true`` replaces its text/blocks; otherwise a new
        message: ``response_type: "in_channel"`` for everyone, else (the default)
        an ephemeral one for the clicking user, in ``thread_ts`` if given (else the
        clicked message's thread)."""
        blocks = body.get("blocks")
        if blocks is not None:
            _validate_blocks(blocks)
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise ApiError("invalid_payload")
        if text is not None and len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        original: Message | Ephemeral | None
        if record.is_ephemeral:
            original = next(
                (
                    e
                    for e in self.ephemerals
                    if e.channel == record.channel and e.message_ts == record.message_ts
                ),
                None,
            )
        else:
            original = self.message(record.channel, record.message_ts)
        if _bool_param(body.get("delete_original")):
            if original is None or original.deleted:
                raise ApiError("message_not_found")
            original.deleted = True
            return "deleted"
        if not text and not blocks and not body.get("attachments"):
            raise ApiError("no_text")
        if _bool_param(body.get("replace_original")):
            if original is None or original.deleted:
                raise ApiError("message_not_found")
            original.text = text or ""
            original.blocks = blocks or None
            original.edits.append(Edit("response_url", now, original.text, original.blocks))
            return "replaced"
        thread_ts = body.get("thread_ts") or record.thread_ts
        if body.get("response_type") == "in_channel":
            msg = self._bot_message(
                record.channel,
                new_ts(),
                text=text or "",
                blocks=blocks or None,
                thread_ts=str(thread_ts) if thread_ts else None,
                attachments=body.get("attachments"),
            )
            msg.edits.append(Edit("response_url", now, msg.text, msg.blocks))
            self._store(msg)
            return "in_channel"
        eph = Ephemeral(
            channel=record.channel,
            user=record.user,
            text=text or "",
            blocks=blocks or None,
            thread_ts=str(thread_ts) if thread_ts else None,
            message_ts=new_ts(),
            time=now,
            source="response_url",
        )
        eph.edits.append(Edit("response_url", now, eph.text, eph.blocks))
        self.ephemerals.append(eph)
        return "ephemeral"

    def ephemerals_for(
        self, user: str, channel: str | None = None, thread_ts: str | None = None
    ) -> list[Ephemeral]:
        """Ephemeral messages shown to `user` (in `channel`, in thread `thread_ts`),
        oldest first, deleted ones left out: chat.postEphemeral and response_url
        ones alike (``Ephemeral.source`` tells them apart)."""
        return [
            e
            for e in self.ephemerals
            if e.user == user
            and not e.deleted
            and channel in (None, e.channel)
            and thread_ts in (None, e.thread_ts)
        ]

    def ephemeral_texts(
        self, user: str, channel: str | None = None, thread_ts: str | None = None
    ) -> list[str]:
        """The text of each ephemeral message `user` sees now (see :meth:`ephemerals_for`)."""
        return [e.text for e in self.ephemerals_for(user, channel, thread_ts)]

    async def deliver_interactive(
        self,
        payload: dict[str, Any],
        *,
        url: str | None = None,
        signing_secret: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> InteractiveDelivery:
        """Send an interaction payload as Slack does: an ``interactive`` Socket Mode
        envelope (``accepts_response_payload: true``; the answer is the ack's payload),
        or, with `url`, a signed form POST of ``payload=<json>`` (the answer is the
        response body). Waits up to `timeout_seconds` for the answer; a late one is
        recorded as such (``acked`` is False past Slack's 3 seconds)."""
        kind = str(payload.get("type", ""))
        started = time.monotonic()
        if url is None:
            envelope_id = str(uuid.uuid4())
            await self.socket_send(
                {
                    "envelope_id": envelope_id,
                    "payload": payload,
                    "type": "interactive",
                    "accepts_response_payload": True,
                }
            )
            try:
                acked_at = await self.wait_ack(envelope_id, timeout_seconds)
            except TimeoutError:
                delivery = InteractiveDelivery(
                    kind, "socket", payload, 0, None, time.monotonic() - started, envelope_id
                )
            else:
                delivery = InteractiveDelivery(
                    kind,
                    "socket",
                    payload,
                    200,
                    self.ack_payloads.get(envelope_id),
                    acked_at - started,
                    envelope_id,
                )
        else:
            body, headers = signed_interactive_request(
                payload, signing_secret or self.signing_secret
            )
            client_timeout = aiohttp.ClientTimeout(total=timeout_seconds)
            async with (
                aiohttp.ClientSession(timeout=client_timeout) as session,
                session.post(url, data=body, headers=headers) as resp,
            ):
                text = await resp.text()
                status = resp.status
            answer: dict[str, Any] | None = None
            if text.strip():
                with contextlib.suppress(ValueError):
                    parsed = json.loads(text)
                    answer = parsed if isinstance(parsed, dict) else None
            delivery = InteractiveDelivery(
                kind, "http", payload, status, answer, time.monotonic() - started, body=text
            )
        self.interactive_deliveries.append(delivery)
        return delivery

    # ------------------------------------------------------------------ Socket Mode

    @property
    def socket_connected(self) -> asyncio.Event:
        """Set while at least one Socket Mode client is connected."""
        assert self._socket_connected is not None, "emulator not started"
        return self._socket_connected

    @property
    def socket_disconnected(self) -> asyncio.Event:
        """Set once the last connected Socket Mode client has gone away."""
        assert self._socket_disconnected is not None, "emulator not started"
        return self._socket_disconnected

    async def wait_socket_connected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self.socket_connected.wait(), timeout)

    async def wait_socket_disconnected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self.socket_disconnected.wait(), timeout)

    @property
    def open_socket_connections(self) -> list[SocketConnection]:
        return [c for c in self.socket_connections if c.open]

    async def socket_send(self, message: dict[str, Any]) -> None:
        """Send a raw JSON message to the newest connected Socket Mode client."""
        for conn in reversed(self.socket_connections):
            ws = self._sockets.get(id(conn))
            if conn.open and ws is not None and not ws.closed:
                await ws.send_str(json.dumps(message))
                self.envelopes.append((time.monotonic(), message))
                return
        raise RuntimeError("no Socket Mode client is connected to the Slack emulator")

    async def socket_send_event(
        self,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        envelope_id: str | None = None,
    ) -> str:
        """Push an ``events_api`` envelope; returns its envelope_id.

        ``payload`` is an ``event_callback`` body; a bare inner event is wrapped with
        :func:`event_callback` first. The announced user message is stored (see
        :meth:`record_event`). Retries: resend the same payload (same event_id) with
        ``retry_attempt=1, retry_reason="timeout"``.
        """
        if payload.get("type") != "event_callback":
            payload = event_callback(payload)
        eid = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": eid,
            "payload": payload,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        self.record_event(payload)
        await self.socket_send(envelope)
        return eid

    async def socket_send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        await self.socket_send(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "slack-emulator"}}
        )

    async def socket_close(self, code: int = 1001) -> None:
        """Drop every Socket Mode connection from the server side."""
        for ws in list(self._sockets.values()):
            await ws.close(code=code)

    async def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> float:  # noqa: ASYNC109
        """Wait for the client's ack; returns its monotonic time. Raises TimeoutError."""
        assert self._ack_cond is not None, "emulator not started"
        cond = self._ack_cond
        async with cond:
            await asyncio.wait_for(cond.wait_for(lambda: envelope_id in self.acks), timeout)
        return self.acks[envelope_id]

    def ack_delay(self, envelope_id: str) -> float | None:
        """Seconds between sending an envelope and its ack (None if not acked)."""
        if envelope_id not in self.acks:
            return None
        for sent, env in self.envelopes:
            if env.get("envelope_id") == envelope_id:
                return self.acks[envelope_id] - sent
        return None

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SocketConnection(ticket=ticket, connected_at=time.monotonic())
        self.socket_connections.append(conn)
        self._sockets[id(conn)] = ws
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self.open_socket_connections),
                    "debug_info": {
                        "host": "slack-emulator",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        self.socket_disconnected.clear()
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                conn.received.append(data)
                eid = data.get("envelope_id")
                if isinstance(eid, str):
                    assert self._ack_cond is not None
                    async with self._ack_cond:
                        self.acks.setdefault(eid, time.monotonic())
                        self.ack_payloads.setdefault(eid, data.get("payload"))
                        self._ack_cond.notify_all()
        finally:
            conn.disconnected_at = time.monotonic()
            conn.close_code = ws.close_code
            self._sockets.pop(id(conn), None)
            if not self.open_socket_connections:
                self.socket_connected.clear()
                self.socket_disconnected.set()
        return ws

    async def _close_sockets(self, _app: web.Application | None = None) -> None:
        for ws in list(self._sockets.values()):
            await ws.close(code=1001, message=b"server shutdown")

    # ------------------------------------------------------------------ Web API plumbing

    async def _parse_params(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise ApiError("invalid_json") from exc
                if not isinstance(body, dict):
                    raise ApiError("invalid_json")
                params.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = value.file.read()
                    else:
                        params[key] = value
        for key in _JSON_FIELDS & params.keys():
            value = params[key]
            if isinstance(value, str) and value[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        token: str | None = None
        authz = request.headers.get("Authorization", "")
        if authz.lower().startswith("bearer "):
            token = authz[7:].strip()
        body_token = params.pop("token", None)
        if token is None and isinstance(body_token, str):
            token = body_token
        return params, token

    def _required_scope(self, call: Call) -> str | None:
        if call.method in ("conversations.info", "conversations.replies"):
            channel = str(call.params.get("channel", ""))
            info = self._channel_info(channel)
            kind = (
                "mpim"
                if info.get("is_mpim")
                else (
                    "im"
                    if info.get("is_im")
                    else ("group" if info.get("is_private") else "channel")
                )
            )
            suffix = "read" if call.method == "conversations.info" else "history"
            return f"{_CONVERSATION_SCOPE_PREFIX[kind]}:{suffix}"
        return _METHOD_SCOPES.get(call.method)

    async def _api_handler(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(
            method=method,
            params={},
            token=None,
            headers=dict(request.headers),
            time=time.monotonic(),
            http_method=request.method,
            content_type=request.content_type,
        )
        self.calls.append(call)
        headers: dict[str, str] = {}
        try:
            call.params, call.token = await self._parse_params(request)
            delay = self.latency.get(method, 0.0)
            if delay:
                await asyncio.sleep(delay)
            fault = self._take_fault(method)
            if fault is not None:
                call.fault = fault.error
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                special = await self._fault_response(request, fault, headers)
                if special is not None:
                    call.status = fault.status
                    call.answered = True
                    return special
                raise ApiError(fault.error, status=fault.status, **fault.extra)
            handler = self._handlers.get(method)
            if handler is None:
                raise ApiError("unknown_method", status=404, req_method=method)
            self._check_auth(call)
            if call.token == self.bot_token:
                headers["x-oauth-scopes"] = ",".join(self.scopes)
                needed = self._required_scope(call)
                if needed is not None:
                    headers["x-accepted-oauth-scopes"] = needed
                    if self.enforce_scopes and not set(needed.split(",")) & set(self.scopes):
                        raise ApiError(
                            "missing_scope", needed=needed, provided=",".join(self.scopes)
                        )
            self._check_arguments(call)
            body = await handler(call)
            body = {"ok": True, **body}
            status = 200
        except ApiError as err:
            body = {"ok": False, "error": err.error, **err.extra}
            status = err.status
            if call.token == self.bot_token:
                headers.setdefault("x-oauth-scopes", ",".join(self.scopes))
        call.status = status
        call.response = body
        call.answered = True
        return web.json_response(body, status=status, headers=headers)

    def _check_arguments(self, call: Call) -> None:
        if not self.strict_arguments:
            return
        names = unknown_arguments(call.method, set(call.params))
        if not names:
            return
        self.unknown_arguments.append(
            UnknownArgument(
                method=call.method, names=names, params=dict(call.params), time=call.time
            )
        )
        raise ApiError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] unknown argument: {n}" for n in names]},
        )

    def unknown_argument_report(self) -> str:
        """Every call rejected for unknown arguments, one a line."""
        return "\n".join(str(u) for u in self.unknown_arguments)

    def _check_auth(self, call: Call) -> None:
        if not call.token:
            raise ApiError("not_authed")
        if call.method == "apps.connections.open":
            if call.token == self.app_token:
                return
            if call.token == self.bot_token:
                raise ApiError("not_allowed_token_type")
            raise ApiError("invalid_auth")
        if call.token == self.bot_token:
            return
        if call.token == self.app_token:
            raise ApiError("not_allowed_token_type")
        raise ApiError("invalid_auth")

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _req(call: Call, name: str) -> Any:
        value = call.params.get(name)
        if value is None or value == "":
            raise _missing(name)
        return value

    def _resolve_channel(self, channel: str) -> str:
        if channel.startswith(("U", "W")):
            return "D" + channel[1:]  # posting to a user id goes to the app DM
        if channel.startswith(("C", "G", "D")) or channel in self.channels:
            return channel
        raise ApiError("channel_not_found")

    def _check_member(self, channel: str) -> None:
        """A channel added with ``is_member=False``: the bot may not post there (a public
        channel says ``not_in_channel``; a private one or someone else's DM is
        ``channel_not_found`` to a bot that is not in it)."""
        info = self.channels.get(channel)
        if info is None or info.get("is_member", True) is not False:
            return
        public = channel_kind(channel) == "channel"
        raise ApiError("not_in_channel" if public else "channel_not_found")

    def _bot_message(self, channel: str, ts: str, **kw: Any) -> Message:
        return Message(
            channel=channel,
            ts=ts,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            **kw,
        )

    def _lookup(self, call: Call, ts_field: str = "ts") -> Message:
        channel = self._resolve_channel(str(self._req(call, "channel")))
        ts = str(self._req(call, ts_field))
        msg = self.message(channel, ts)
        if msg is None or msg.deleted:
            raise ApiError("message_not_found")
        return msg

    def _channel_info(self, channel: str) -> dict[str, Any]:
        if channel in self.channels:
            return dict(self.channels[channel])
        kind = channel_kind(channel)
        created = 1_600_000_000
        if kind == "im":
            return {
                "id": channel,
                "created": created,
                "is_im": True,
                "is_org_shared": False,
                "user": DEFAULT_USER_ID,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": channel,
            "name": f"{'private' if kind == 'group' else 'general'}-{channel.lower()}",
            "is_channel": kind == "channel",
            "is_group": kind == "group",
            "is_im": False,
            "is_mpim": False,
            "is_private": kind == "group",
            "created": created,
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": True,
            "context_team_id": TEAM_ID,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def _user_info(self, user_id: str) -> dict[str, Any] | None:
        if user_id in self.users:
            return dict(self.users[user_id])
        if user_id == self.bot_user_id:
            return {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": BOT_NAME,
                "real_name": BOT_NAME,
                "deleted": False,
                "is_bot": True,
                "is_app_user": False,
                "tz": "UTC",
                "tz_offset": 0,
                "profile": {
                    "real_name": BOT_NAME,
                    "display_name": "",
                    "bot_id": self.bot_id,
                    "api_app_id": self.app_id,
                    "team": TEAM_ID,
                },
            }
        if not user_id.startswith(("U", "W")):
            return None
        name = user_id.lower()
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": f"User {user_id}",
            "tz": "UTC",
            "tz_label": "UTC",
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1_600_000_000,
            "profile": {
                "real_name": f"User {user_id}",
                "display_name": name,
                "real_name_normalized": f"User {user_id}",
                "display_name_normalized": name,
                "team": TEAM_ID,
            },
        }

    # ------------------------------------------------------------------ methods

    async def _api_test(self, call: Call) -> dict[str, Any]:
        return {"args": {k: v for k, v in call.params.items() if isinstance(v, str)}}

    async def _auth_test(self, call: Call) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _apps_connections_open(self, call: Call) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": f"{self.ws_base_url}?ticket={ticket}&app_id={self.app_id}"}

    def _message_content(self, call: Call, *, require: bool = True) -> tuple[str, Any]:
        text = call.params.get("text")
        if text is None and call.params.get("markdown_text") is not None:
            text = call.params["markdown_text"]
        blocks = call.params.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        if blocks is not None:
            _validate_blocks(blocks)
        if require and not text and not blocks and not call.params.get("attachments"):
            raise ApiError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT:
            raise ApiError("msg_too_long")
        return ("" if text is None else str(text)), blocks

    async def _chat_post_message(self, call: Call) -> dict[str, Any]:
        channel = self._resolve_channel(str(self._req(call, "channel")))
        self._check_member(channel)
        text, blocks = self._message_content(call)
        thread_ts = call.params.get("thread_ts") or None
        msg = self._bot_message(
            channel,
            new_ts(),
            text=text,
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
            attachments=call.params.get("attachments"),
            metadata=call.params.get("metadata"),
        )
        msg.edits.append(Edit(call.method, call.time, text, blocks))
        self._store(msg)
        return {"channel": channel, "ts": msg.ts, "message": msg.to_api()}

    async def _chat_update(self, call: Call) -> dict[str, Any]:
        msg = self._lookup(call)
        if msg.bot_id != self.bot_id:
            raise ApiError("cant_update_message")
        if msg.streaming:
            raise ApiError("streaming_state_conflict")
        text, blocks = self._message_content(call)
        if "text" in call.params or "markdown_text" in call.params:
            msg.text = text
        if "blocks" in call.params:
            msg.blocks = blocks or None
        if "attachments" in call.params:
            msg.attachments = call.params["attachments"]
        if "metadata" in call.params:
            msg.metadata = call.params["metadata"]
        msg.edits.append(Edit(call.method, call.time, msg.text, msg.blocks))
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text, "message": msg.to_api()}

    async def _chat_delete(self, call: Call) -> dict[str, Any]:
        msg = self._lookup(call)
        if msg.bot_id != self.bot_id:
            raise ApiError("cant_delete_message")
        msg.deleted = True
        msg.stream_state = None if msg.stream_state is None else "stopped"
        return {"channel": msg.channel, "ts": msg.ts}

    async def _chat_post_ephemeral(self, call: Call) -> dict[str, Any]:
        """chat.postEphemeral: recorded in :attr:`ephemerals` for (channel, user,
        thread_ts); blocks held to :mod:`.blocks`."""
        channel = self._resolve_channel(str(self._req(call, "channel")))
        user = str(self._req(call, "user"))
        self._check_member(channel)
        text, blocks = self._message_content(call)
        ts = new_ts()
        thread_ts = call.params.get("thread_ts") or None
        eph = Ephemeral(
            channel=channel,
            user=user,
            text=text,
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
            message_ts=ts,
            time=call.time,
        )
        eph.edits.append(Edit(call.method, call.time, text, blocks))
        self.ephemerals.append(eph)
        return {"message_ts": ts}

    def _stream_chunks(self, msg: Message, call: Call) -> str:
        """Validate and record the call's ``markdown_text`` and ``chunks`` on `msg`
        (tasks and plan title updated); returns the markdown added."""
        markdown = _markdown_param(call)
        raw = call.params.get("chunks")
        chunks = _validate_chunks(raw) if raw is not None else []
        received: list[dict[str, Any]] = []
        if markdown:
            received.append({"type": "markdown_text", "text": markdown})
        received.extend(chunks)
        for chunk in received:
            msg.stream_chunks.append(chunk)
            if chunk["type"] == "task_update":
                self._apply_task(msg, chunk)
            elif chunk["type"] == "plan_update":
                msg.plan_title = str(chunk["title"])
        added = chunks_text(received)
        msg.text += added
        return added

    @staticmethod
    def _apply_task(msg: Message, chunk: dict[str, Any]) -> None:
        task_id = str(chunk["id"])
        task = msg.tasks.get(task_id)
        if task is None:
            task = msg.tasks[task_id] = Task(
                id=task_id, title=str(chunk["title"]), status=str(chunk["status"])
            )
        task.title = str(chunk["title"])
        task.status = str(chunk["status"])
        for name in ("details", "output"):
            if chunk.get(name) is not None:
                setattr(task, name, str(chunk[name]))
        if chunk.get("sources") is not None:
            task.sources = [dict(s) for s in chunk["sources"]]
        if not task.statuses or task.statuses[-1] != task.status:
            task.statuses.append(task.status)
        task.updates.append(chunk)

    async def _chat_start_stream(self, call: Call) -> dict[str, Any]:
        """chat.startStream: a bot reply in `thread_ts` that later calls append to.

        In a channel (not a DM) ``recipient_team_id`` and ``recipient_user_id`` are
        required (``missing_recipient_team_id`` / ``missing_recipient_user_id``).
        ``markdown_text`` and ``chunks`` are validated (``invalid_chunks``,
        ``msg_too_long`` over 12,000 characters) and recorded in
        :attr:`Message.stream_chunks` / :attr:`Message.tasks`;
        ``task_display_mode`` must be ``timeline`` or ``plan``.
        """
        channel = self._resolve_channel(str(self._req(call, "channel")))
        thread_ts = str(self._req(call, "thread_ts"))
        team = call.params.get("recipient_team_id")
        user = call.params.get("recipient_user_id")
        if channel_kind(channel) != "im" and not self._channel_info(channel).get("is_im"):
            if not team:
                raise ApiError("missing_recipient_team_id")
            if not user:
                raise ApiError("missing_recipient_user_id")
        mode = _enum_param(call, "task_display_mode", TASK_DISPLAY_MODES)
        msg = self._bot_message(
            channel,
            new_ts(),
            text="",
            thread_ts=thread_ts,
            stream_state="streaming",
            recipient_team_id=team,
            recipient_user_id=user,
            task_display_mode=mode or "timeline",
        )
        added = self._stream_chunks(msg, call)
        msg.edits.append(Edit(call.method, call.time, msg.text, None, appended=added))
        self._store(msg)
        return {"channel": channel, "ts": msg.ts}

    def _stream_target(self, call: Call) -> Message:
        msg = self._lookup(call)
        if msg.bot_id != self.bot_id:
            raise ApiError("message_not_owned_by_app")
        if not msg.streaming:
            raise ApiError("message_not_in_streaming_state")
        return msg

    async def _chat_append_stream(self, call: Call) -> dict[str, Any]:
        """chat.appendStream: ``markdown_text`` and/or ``chunks`` added to the stream."""
        msg = self._stream_target(call)
        if call.params.get("markdown_text") is None and call.params.get("chunks") is None:
            raise _missing("markdown_text")
        added = self._stream_chunks(msg, call)
        msg.edits.append(Edit(call.method, call.time, msg.text, msg.blocks, appended=added))
        return {"channel": msg.channel, "ts": msg.ts}

    async def _chat_stop_stream(self, call: Call) -> dict[str, Any]:
        """chat.stopStream: last ``markdown_text``/``chunks``, the final ``blocks``
        (held to :mod:`.blocks`), ``metadata`` and ``session_status`` (``active``,
        ``processing``, ``suspended``, ``closed``); the message stops streaming."""
        msg = self._stream_target(call)
        session = _enum_param(call, "session_status", SESSION_STATUSES)
        blocks = call.params.get("blocks")
        if blocks is not None:
            _validate_blocks(blocks)
        added = self._stream_chunks(msg, call)
        if blocks is not None:
            msg.blocks = blocks
        if call.params.get("metadata") is not None:
            msg.metadata = call.params["metadata"]
        if session is not None:
            msg.session_status = session
        msg.stream_state = "stopped"
        msg.edits.append(Edit(call.method, call.time, msg.text, msg.blocks, appended=added))
        return {"channel": msg.channel, "ts": msg.ts, "message": msg.to_api()}

    async def _assistant_ok(self, call: Call) -> dict[str, Any]:
        self._req(call, "channel_id")
        if call.method != "assistant.threads.setSuggestedPrompts":
            self._req(call, "thread_ts")
        if call.method == "assistant.threads.setStatus":
            if "status" not in call.params:
                raise _missing("status")
            where = (str(call.params["channel_id"]), str(call.params["thread_ts"]))
            if call.params["status"]:
                self._shown_status[where] = str(call.params["status"])
            else:
                self._shown_status.pop(where, None)
        if call.method == "assistant.threads.setTitle":
            self._req(call, "title")
        if call.method == "assistant.threads.setSuggestedPrompts":
            prompts = call.params.get("prompts")
            if not isinstance(prompts, list) or not prompts:
                raise _missing("prompts")
        return {}

    async def _views_open(self, call: Call) -> dict[str, Any]:
        """views.open: a modal for a trigger_id handed out with an interaction payload
        at most 3 seconds ago and not used yet, its view held to :mod:`.views`."""
        trigger_id = call.params.get("trigger_id") or call.params.get("interactivity_pointer")
        if not trigger_id:
            raise _missing("trigger_id")
        trigger = self.triggers.get(str(trigger_id))
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued_at > INTERACTION_SECONDS:
            raise ApiError("expired_trigger_id")
        view = call.params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise ApiError("invalid_arguments") from None
        problems = views.modal_problems(view)
        if problems:
            raise ApiError("invalid_arguments", response_metadata={"messages": problems})
        trigger.used = True
        record = View(
            id="V" + "".join(secrets.choice(_ALNUM) for _ in range(10)),
            team_id=self.team_id,
            user=trigger.user,
            trigger_id=trigger.id,
            view=dict(view),
            opened_at=time.monotonic(),
            hash=f"{int(time.time())}.{secrets.token_hex(4)}",
        )
        record.history.append(record.view)
        self.views[record.id] = record
        return {"view": record.to_api()}

    async def _users_info(self, call: Call) -> dict[str, Any]:
        """users.info: the user object (``real_name``, ``profile.display_name``,
        ``profile.real_name``, ...); ``include_locale`` adds ``locale``."""
        info = self._user_info(str(self._req(call, "user")))
        if info is None:
            raise ApiError("user_not_found")
        if _bool_param(call.params.get("include_locale")):
            info.setdefault("locale", "en-US")
        return {"user": info}

    async def _conversations_info(self, call: Call) -> dict[str, Any]:
        channel = str(self._req(call, "channel"))
        if not channel.startswith(("C", "G", "D")) and channel not in self.channels:
            raise ApiError("channel_not_found")
        return {"channel": self._channel_info(channel)}

    async def _conversations_replies(self, call: Call) -> dict[str, Any]:
        """A thread as Slack's conversations.replies returns it.

        ``ts`` is the parent's or any reply's ts (either gives the whole thread; a
        message without replies comes back alone). The thread (parent first, then
        the replies, oldest first; deleted ones left out) is cut to the time range
        ``oldest``..``latest`` (exclusive unless ``inclusive``; defaults 0..now) and
        paged by ``limit`` (default and at most 1000) and ``cursor``
        (``response_metadata.next_cursor`` of the previous page, ``""`` on the
        last; ``has_more`` says whether one follows). The parent carries
        ``reply_count``, ``reply_users``, ``reply_users_count``, ``latest_reply``;
        replies carry ``parent_user_id``. Errors: ``channel_not_found``,
        ``thread_not_found``, ``invalid_cursor``, ``invalid_ts_oldest``,
        ``invalid_ts_latest``, ``invalid_limit``.
        """
        channel = str(self._req(call, "channel"))
        if not channel.startswith(("C", "G", "D")) and channel not in self.channels:
            raise ApiError("channel_not_found")
        ts = str(self._req(call, "ts"))
        anchor = self.message(channel, ts)
        if anchor is not None and not anchor.deleted:
            root_ts = anchor.thread_ts or anchor.ts
        elif self.messages(channel, ts):
            # replies to a root the emulator never stored (an assistant thread's
            # thread_ts from assistant_thread_started): the replies alone
            root_ts = ts
        else:
            raise ApiError("thread_not_found")
        thread = self.messages(channel, root_ts)
        parent = self.message(channel, root_ts)
        if parent is not None and parent.deleted:
            parent = None
        replies = [m for m in thread if m is not parent]

        oldest = _ts_param(call.params.get("oldest"), "invalid_ts_oldest", 0.0)
        latest = _ts_param(call.params.get("latest"), "invalid_ts_latest", float("inf"))
        inclusive = _bool_param(call.params.get("inclusive"))

        def in_range(m: Message) -> bool:
            t = float(m.ts)
            if inclusive:
                return oldest <= t <= latest
            return oldest < t < latest

        selected = [m for m in thread if in_range(m)]
        limit = _limit_param(call.params.get("limit"))
        start = 0
        cursor = call.params.get("cursor")
        if cursor:
            after = _decode_cursor(str(cursor))
            start = next((i for i, m in enumerate(selected) if m.ts == after), -1)
            if start < 0:
                raise ApiError("invalid_cursor")
        page = selected[start : start + limit]
        rest = selected[start + limit :]

        out: list[dict[str, Any]] = []
        for m in page:
            obj = m.to_api()
            if m is parent and replies:
                obj["thread_ts"] = m.ts
                obj["reply_count"] = len(replies)
                obj["reply_users"] = sorted({r.user for r in replies if r.user})
                obj["reply_users_count"] = len(obj["reply_users"])
                obj["latest_reply"] = replies[-1].ts
                obj["is_locked"] = False
                obj["subscribed"] = False
            elif m is not parent and parent is not None and parent.user:
                obj["parent_user_id"] = parent.user
            out.append(obj)
        return {
            "messages": out,
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _encode_cursor(rest[0].ts) if rest else ""},
        }

    async def _reactions_add(self, call: Call) -> dict[str, Any]:
        name = str(self._req(call, "name")).strip(":")
        msg = self._lookup(call, "timestamp")
        users = msg.reactions.setdefault(name, [])
        if self.bot_user_id in users:
            raise ApiError("already_reacted")
        users.append(self.bot_user_id)
        return {}

    async def _reactions_remove(self, call: Call) -> dict[str, Any]:
        name = str(self._req(call, "name")).strip(":")
        msg = self._lookup(call, "timestamp")
        users = msg.reactions.get(name, [])
        if self.bot_user_id not in users:
            raise ApiError("no_reaction")
        users.remove(self.bot_user_id)
        if not users:
            del msg.reactions[name]
        return {}

    async def _files_get_upload_url(self, call: Call) -> dict[str, Any]:
        filename = str(self._req(call, "filename"))
        length = self._req(call, "length")
        try:
            declared = int(length)
        except (TypeError, ValueError) as exc:
            raise ApiError("invalid_arguments") from exc
        f = StoredFile(
            id=self._new_file_id(),
            name=filename,
            content=None,
            mimetype=mimetypes.guess_type(filename)[0] or "application/octet-stream",
            declared_length=declared,
            alt_txt=call.params.get("alt_txt") or call.params.get("alt_text"),
            snippet_type=call.params.get("snippet_type"),
            extra={"user": self.bot_user_id},
        )
        self._register_file(f)
        return {"upload_url": f"{self.base_url}/upload/v1/{f.id}", "file_id": f.id}

    async def _files_complete_upload(self, call: Call) -> dict[str, Any]:
        entries = self._req(call, "files")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments")
        done: list[StoredFile] = []
        for entry in entries:
            f = self.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if f is None or f.content is None:
                raise ApiError("file_not_found")
            if entry.get("title"):
                f.title = str(entry["title"])
            f.completed = True
            done.append(f)
        channel_id = call.params.get("channel_id")
        channels = call.params.get("channels")
        targets: list[str] = []
        if channel_id:
            targets.append(str(channel_id))
        if channels:
            targets.extend(c for c in str(channels).split(",") if c)
        thread_ts = call.params.get("thread_ts") or None
        comment = str(call.params.get("initial_comment") or "")
        for target in targets:
            channel = self._resolve_channel(target)
            msg = self._bot_message(
                channel,
                new_ts(),
                text=comment,
                thread_ts=str(thread_ts) if thread_ts else None,
                files=[self.file_object(f.id) for f in done],
            )
            msg.edits.append(Edit(call.method, call.time, comment))
            self._store(msg)
        return {"files": [{"id": f.id, "title": f.title or f.name} for f in done]}

    async def _files_info(self, call: Call) -> dict[str, Any]:
        file_id = str(self._req(call, "file"))
        if file_id not in self.files or not self.files[file_id].completed:
            raise ApiError("file_not_found")
        return {
            "file": self.file_object(file_id),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }
