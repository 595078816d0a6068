"""The Bolt app: listeners that claim a message through the service, then ack.

Bolt runs with ``process_before_response=True``: a listener finishes before Bolt
answers Slack (HTTP response or Socket Mode ack). Each listener only filters the
event, claims it with ``service.submit`` (dedup keys event_id and channel+ts, and the
queue entry, in one transaction) and returns; the turn runs later in the service's
worker. So the ack follows the claim, and comes within milliseconds however slow the
model is. A retried delivery (``X-Slack-Retry-Num`` > 0, in both modes) or the second
of the ``message`` + ``app_mention`` pair for one user message finds its keys claimed
and does nothing.

Every event type the manifest subscribes to has a listener (Socket Mode never acks an
event nobody listens to, and Slack would redeliver it): :data:`LISTENED_EVENTS`. The
"Ask threadbridge" message shortcut and its modal are in :mod:`.shortcut` (claimed the
same way, acked after the claim).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.settings import SlackAppSettings
from bot.models import Inbound
from bot.service import Service, ServiceStopping

from .context import ContextOptions, SlackContextReader
from .controls import Controls
from .download import ConnectorFactory, FileFetcher
from .errors import FAILURES
from .events import (
    PLATFORM,
    Incoming,
    assistant_thread,
    parse_message,
    permitted,
    places_of,
)
from .shortcut import AskShortcut
from .sink import SinkOptions, SlackReplier
from .text import inert
from .users import UserNames

logger = logging.getLogger(__name__)

#: Bolt event type -> the manifest's bot event subscriptions it covers.
LISTENED_EVENTS: Mapping[str, tuple[str, ...]] = {
    "app_mention": ("app_mention",),
    "message": ("message.channels", "message.groups", "message.im", "message.mpim"),
    "assistant_thread_started": ("assistant_thread_started",),
    "assistant_thread_context_changed": ("assistant_thread_context_changed",),
}

#: Bot token scopes the adapter uses, and what for (README and manifest test).
SCOPES: Mapping[str, str] = {
    "app_mentions:read": "receive `app_mention` events when someone @mentions the bot",
    "channels:history": "receive `message.channels`: follow-ups in public channel threads; "
    "read a thread's earlier messages when first mentioned in it",
    "groups:history": "the same in private channels",
    "im:history": "receive `message.im`: direct messages and the AI app pane",
    "mpim:history": "receive `message.mpim`: group direct messages",
    "chat:write": "post, stream (chat.startStream/appendStream/stopStream) and edit replies",
    "files:read": "download files users share with a question (`url_private`)",
    "files:write": "upload generated files into the thread (files_upload_v2)",
    "assistant:write": "AI app pane: suggested prompts, thread titles (the `is working…` "
    "status needs only `chat:write` since 2026-03)",
    "users:read": "look up a user's display name for the assistant's context",
    "commands": "the “Ask threadbridge” message shortcut (a question about any message, "
    "answered in its thread)",
}

SUGGESTED_PROMPTS: tuple[dict[str, str], ...] = (
    {"title": "Summarize", "message": "Summarize this for me in a few bullet points:"},
    {"title": "Explain code", "message": "Explain what this code does:"},
    {"title": "Draft a message", "message": "Help me draft a short, friendly message about"},
)
PROMPTS_TITLE = "How can I help?"
REFUSAL = "Sorry, I'm not set up to answer here."
EMPTY_QUESTION = "(The user mentioned you without writing anything else.)"
WEB_API_TIMEOUT = 30
NAME_LOOKUP = "users.info"  # what a background name lookup is called (its task's name)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackOptions:
    """The Slack settings the listeners and the sink need."""

    require_mention: bool = False
    allow_bots: bool = False
    allowed_channels: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    refusal: str = "reply"
    file_hosts: tuple[str, ...] = ("files.slack.com",)
    sink: SinkOptions = field(default_factory=SinkOptions)
    context: ContextOptions = field(default_factory=ContextOptions)

    @classmethod
    def from_settings(cls, settings: SlackAppSettings) -> SlackOptions:
        return cls(
            require_mention=settings.slack_require_mention,
            allow_bots=settings.slack_allow_bots,
            allowed_channels=tuple(settings.slack_allowed_channels),
            allowed_users=tuple(settings.slack_allowed_users),
            refusal=settings.slack_refusal,
            file_hosts=tuple(settings.slack_file_hosts),
            sink=SinkOptions(
                streaming=settings.slack_streaming,
                allow_user_mentions=settings.slack_allow_user_mentions,
                max_file_bytes=settings.max_file_bytes,
                stop_button=settings.stop_button,
                stop_after=settings.slack_stop_after,
                feedback_buttons=settings.feedback_buttons,
                task_display=settings.slack_task_display,
                admins=slack_admins(settings.admin_users),
            ),
            context=ContextOptions(
                enabled=settings.slack_read_history,
                allow_bots=settings.slack_allow_bots,
                max_messages=settings.context_max_messages,
                max_chars=settings.context_max_chars,
            ),
        )


def build_client(
    *, token: str, base_url: str, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The Web API client: 429s wait for Retry-After; a dropped connection and a 5xx
    (an HTML page from Slack's edge, say) are retried once.

    Without `session` slack_sdk opens a new aiohttp session, and so a new connection,
    for every call; pass :func:`web_session` for a long-lived client.
    """
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        timeout=WEB_API_TIMEOUT,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def web_session() -> aiohttp.ClientSession:
    """A shared session for the Web API client: keep-alive connections are reused.

    slack_sdk applies its timeout only to the sessions it makes itself, so it is set
    here. Create it inside the running event loop; `SlackBridge.close` closes it.
    """
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT))


def slack_admins(admin_users: list[str]) -> tuple[str, ...]:
    """The Slack user ids of THREADBRIDGE_ADMIN_USERS (`U...`, `W...` or `slack:U...`)."""
    ids = [u.removeprefix("slack:") for u in admin_users if not u.startswith("discord:")]
    return tuple(u for u in ids if u[:1] in ("U", "W"))


class SlackBridge:
    """The Bolt app wired to the service; registers the Slack replier on creation."""

    def __init__(
        self,
        *,
        service: Service,
        client: AsyncWebClient,
        options: SlackOptions,
        signing_secret: str | None = None,
        connector_factory: ConnectorFactory | None = None,
    ) -> None:
        self.service = service
        self.client = client
        self.options = options
        self.fetcher = FileFetcher(
            token=client.token or "",
            allowed_hosts=options.file_hosts,
            connector_factory=connector_factory,
        )
        self.names = UserNames(client)
        self.replier = SlackReplier(
            client=client,
            options=options.sink,
            context=SlackContextReader(
                client=client, fetcher=self.fetcher, names=self.names, options=options.context
            ),
        )
        self.app = AsyncApp(
            client=client,
            signing_secret=signing_secret or "",
            # Claim first, ack after: see the module docstring.
            process_before_response=True,
            request_verification_enabled=signing_secret is not None,
            logger=logging.getLogger("slack_bolt"),
        )
        self.app.event("app_mention")(self._on_message)
        self.app.event("message")(self._on_message)
        self.app.event("assistant_thread_started")(self._on_thread_started)
        self.app.event("assistant_thread_context_changed")(self._on_context_changed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._refused: dict[tuple[str, str], None] = {}
        self._register_shortcuts()
        service.register(PLATFORM, self.replier)

    def _register_shortcuts(self) -> None:
        """The "Ask threadbridge" message shortcut and its modal (shortcut.py)."""
        self.ask = AskShortcut(
            client=self.client,
            service=self.service,
            names=self.names,
            inbound=self._inbound,
            allowed_channels=self.options.allowed_channels,
            allowed_users=self.options.allowed_users,
            refusal=REFUSAL,
        )
        self.ask.register(self.app)
        self.controls = Controls(service=self.service)
        self.controls.register(self.app)

    @property
    def bot_events(self) -> tuple[str, ...]:
        """The manifest's bot event subscriptions these listeners cover."""
        return tuple(e for names in LISTENED_EVENTS.values() for e in names)

    async def close(self) -> None:
        """Wait briefly for background posts (refusals, prompts), then cancel them, and
        close the client's shared session (later calls get a session of their own).
        Name lookups are cancelled at once: nobody needs a name after the last turn."""
        for task in self._tasks:
            if task.get_name() == f"slack-{NAME_LOOKUP}":
                task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    # --- listeners --------------------------------------------------------------------

    async def _on_message(
        self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest
    ) -> BoltResponse | None:
        retry = _first(request.headers.get("x-slack-retry-num"))
        if retry not in (None, "", "0"):
            # Bolt sets "0" on first Socket Mode deliveries: compare, don't test presence.
            logger.info("Slack redelivery %s of %s", retry, body.get("event_id"))
        incoming = parse_message(
            body,
            bot_user_id=context.bot_user_id or "",
            bot_id=context.bot_id,
            allow_bots=self.options.allow_bots,
        )
        if incoming is None:
            return None
        try:
            return await self._take(incoming)
        except ServiceStopping:
            # Not acked: Slack redelivers, to this process after a restart or another one.
            return BoltResponse(status=503, body="shutting down")
        except Exception as exc:
            # Not acked either (a full disk, a database that is down): Slack retries, and
            # the message is answered once the store takes writes again.
            logger.error(
                "could not take Slack message %s/%s: %s: %s",
                incoming.channel,
                incoming.ts,
                exc.__class__.__name__,
                exc,
            )
            return BoltResponse(status=500, body="could not store the message")

    async def _take(self, incoming: Incoming) -> BoltResponse | None:
        """Claim `incoming` through the service if it is to be answered."""
        known: bool | None = None
        ambient = False
        if incoming.thread_ts is not None:
            known = await self.service.knows_thread(incoming.key)
        if not (incoming.mentioned or incoming.is_dm):
            # A reply in a thread without a mention: only threads that already are a
            # conversation hear it. With THREADBRIDGE_SLACK_REQUIRE_MENTION it is not
            # answered but kept as context of the next turn.
            if not known:
                return None
            ambient = self.options.require_mention
        if not permitted(
            incoming,
            allowed_channels=self.options.allowed_channels,
            allowed_users=self.options.allowed_users,
        ):
            if not ambient:
                self._refuse(incoming)
            return None
        inbound = await self._inbound(incoming, first=known is False, ambient=ambient)
        if ambient:
            inbound = dataclasses.replace(inbound, ambient=True, attachments=(), notices=())
        queued = await self.service.submit(inbound)
        if not queued:
            logger.debug("duplicate delivery of %s/%s", incoming.channel, incoming.ts)
        return None

    async def _on_thread_started(self, body: dict[str, Any]) -> None:
        thread = assistant_thread(body)
        if thread is None:
            return
        channel, thread_ts, _ = thread
        self._background(
            self.client.assistant_threads_setSuggestedPrompts(
                channel_id=channel,
                thread_ts=thread_ts,
                title=inert(PROMPTS_TITLE),
                prompts=[{k: inert(v) for k, v in p.items()} for p in SUGGESTED_PROMPTS],
            ),
            "suggested prompts",
        )

    async def _on_context_changed(self, body: dict[str, Any]) -> None:
        # The pane's context channel is not used: the conversation is the thread.
        return None

    # --- helpers ----------------------------------------------------------------------

    async def _inbound(self, incoming: Incoming, *, first: bool, ambient: bool = False) -> Inbound:
        attachments, skipped = self.fetcher.attachments(incoming.files)
        text = incoming.text
        if not text.strip() and not attachments:
            text = EMPTY_QUESTION
        return Inbound(
            key=incoming.key,
            text=text,
            user_id=incoming.user,
            event_id=incoming.event_id,
            message_id=incoming.ts,
            anchor=incoming.anchor(first=first).dumps(),
            user_name=await self._user_name(
                incoming, wait=ambient or incoming.anchor(first=first).history
            ),
            attachments=attachments,
            notices=tuple(s.notice for s in skipped),
            places=places_of(incoming.channel, incoming.channel_type),
        )

    async def _user_name(self, incoming: Incoming, *, wait: bool) -> str | None:
        """The author's display name for the model, without a Slack round trip before
        the model request: a name not cached yet is looked up in the background (for
        the author's next messages) and this message goes without it. `wait` for it
        where no request waits: a message kept as context only, and a first mention in
        an existing thread (that turn reads the thread, and its authors' names, first)."""
        if incoming.is_bot:
            return None
        if wait:
            return await self.names.get(incoming.user)
        known, name = self.names.cached(incoming.user)
        if not known and self.names.looking_up(incoming.user):
            self._background(self.names.get_later(incoming.user), NAME_LOOKUP)
        return name

    def _refuse(self, incoming: Incoming) -> None:
        if self.options.refusal != "reply" or not (incoming.mentioned or incoming.is_dm):
            return
        # Slack redelivers unacked events and sends message + app_mention for one
        # message: answer each refused message once (per process).
        marker = (incoming.channel, incoming.ts)
        if marker in self._refused:
            return
        self._refused[marker] = None
        if len(self._refused) > 10_000:
            self._refused.pop(next(iter(self._refused)))
        kwargs: dict[str, Any] = {"channel": incoming.channel, "text": REFUSAL}
        if incoming.reply_thread_ts:
            kwargs["thread_ts"] = incoming.reply_thread_ts
        self._background(self.client.chat_postMessage(**kwargs), "refusal")

    def _background(self, call: Coroutine[Any, Any, Any], what: str) -> None:
        async def run() -> None:
            try:
                await call
            except FAILURES as exc:
                logger.warning("Slack %s failed: %s", what, exc.__class__.__name__)

        task = asyncio.create_task(run(), name=f"slack-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _first(value: str | Sequence[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value[0] if value else None


__all__ = [
    "LISTENED_EVENTS",
    "SCOPES",
    "SUGGESTED_PROMPTS",
    "SlackBridge",
    "SlackOptions",
    "build_client",
    "web_session",
]
