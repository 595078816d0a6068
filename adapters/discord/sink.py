"""Rendering one turn's reply in a Discord thread or DM.

The reply is one or more messages that are edited as text arrives. Edits are
throttled: a render happens at most once per `edit_interval` (1 s), and every render
touches each message at most once, so no message is edited more than once a second
(Discord's per-channel limit is about 5 edits in 5 s). The first render waits one
interval too, so a short answer arrives as one message without any edit.

Text over 2000 characters continues in further messages (see `chunks`). While a tool
runs, the typing indicator is on and a status line shows under the text. Files are
posted after the text, each as its own message; one over the channel's upload limit
gets a notice instead.

If the turn came from a slash command inside a thread or DM, messages are posted as
the interaction's follow-ups while its token is valid (15 minutes); after that, or
when Discord says the token is gone, they are posted (and edited) as ordinary channel
messages.

Each new message is reported to the service as it is posted (``on_posted``; file
messages as ``file:<id>``). A reply resumed after a crash gets those ids back and
edits the text messages already posted instead of posting the reply again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import discord

from adapters.discord.anchor import Anchor
from adapters.discord.chunks import FENCE, MESSAGE_LIMIT, open_fence_of, split_message
from adapters.discord.controls import (
    ControlOptions,
    approval_content,
    approval_view,
    decided_content,
    feedback_view,
    stop_view,
)
from bot.attachments import human_size
from bot.models import (
    ApprovalOutcome,
    ApprovalRequest,
    Context,
    OnPosted,
    OutFile,
    PostedRefs,
    Progress,
    ThreadKey,
)

if TYPE_CHECKING:
    from adapters.discord.context import DiscordContextReader

logger = logging.getLogger(__name__)

T = TypeVar("T")

NO_MENTIONS = discord.AllowedMentions.none()
EDIT_INTERVAL = 1.0
TYPING_EVERY = 8.0  # Discord shows "typing" for about 10 s per request
TYPING_ROUNDS = 75  # stop after ~10 minutes even if the turn is never finished
STATUS_LIMIT = 120
STATUS_PREFIX = "-# ⚙️ "
NOTICE_PREFIX = "-# ℹ️ "
ERROR_PREFIX = "⚠️ "
EMPTY_REPLY = "-# (The assistant sent no text.)"
ARCHIVED_THREAD = 50083
UNKNOWN_MESSAGE = 10008
TOO_LARGE = 40005

NO_CONTROLS = ControlOptions(stop=False, feedback=False)


@dataclass(slots=True)
class _Posted:
    id: int
    content: str
    via_webhook: bool
    controls: str = ""  # the buttons it shows: "", "stop" or "feedback"


class DiscordSink:
    """A ReplySink for one turn. Build it with `DiscordReplier.open_reply`."""

    def __init__(
        self,
        *,
        client: discord.Client,
        key: ThreadKey,
        anchor: Anchor,
        upload_limit: int,
        edit_interval: float = EDIT_INTERVAL,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
        controls: ControlOptions = NO_CONTROLS,
    ) -> None:
        self.client = client
        self.turn_id = turn_id
        self.controls = controls
        self.key = key
        self.anchor = anchor
        self.upload_limit = upload_limit
        self.edit_interval = edit_interval
        guild_id = int(key.scope) if key.scope else None
        self._channel = client.get_partial_messageable(anchor.channel_id, guild_id=guild_id)
        self._webhook: discord.Webhook | None = None
        if anchor.token_usable() and client.application_id is not None:
            assert anchor.interaction_token is not None
            self._webhook = discord.Webhook.partial(
                client.application_id, anchor.interaction_token, client=client
            )
        self._text = ""
        self._steps: dict[str, Progress] = {}
        self._files: list[OutFile] = []
        # Resuming: the text messages an interrupted attempt posted are edited in place.
        self._posted: list[_Posted] = [
            _Posted(int(ref), "", via_webhook=self._webhook is not None)
            for ref in posted
            if ref.isdigit()
        ]
        self._file_messages: list[str] = [
            ref for ref in posted if ref.startswith(("file:", "approval:"))
        ]
        self._on_posted = on_posted
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._next_render = self._loop.time() + edit_interval
        self._dirty = False
        self._closing = asyncio.Event()
        self._typing_wake = asyncio.Event()
        self._render_task: asyncio.Task[None] | None = None
        self._typing_task: asyncio.Task[None] | None = None

    # --- ReplySink ------------------------------------------------------------------

    async def start(self) -> None:
        """Make the channel postable and show that the bot is at work."""
        await self._unarchive()
        self._typing_task = asyncio.create_task(self._keep_typing(), name="discord-typing")

    async def progress(self, step: Progress) -> None:
        if step.done:
            self._steps.pop(step.step_id, None)
        else:
            self._steps[step.step_id] = step
            self._typing_wake.set()
        self._schedule()

    async def text(self, delta: str) -> None:
        if delta:
            self._text += delta
            self._schedule()

    async def file(self, file: OutFile) -> None:
        self._files.append(file)

    # --- ApprovalSink -------------------------------------------------------------------

    async def ask(self, request: ApprovalRequest) -> str | None:
        """Approve / Deny buttons in the thread; the message's id names it later."""
        message = await self._send(content=approval_content(request), view=approval_view(request))
        self._file_messages.append(f"approval:{message.id}")
        await self._report()
        return str(message.id)

    async def decided(
        self, request: ApprovalRequest, outcome: ApprovalOutcome, *, ref: str | None, by: str
    ) -> None:
        if ref is None or not ref.isdigit():
            return
        message = self._channel.get_partial_message(int(ref))
        try:
            await message.edit(
                content=decided_content(request, outcome, by),
                view=None,
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            logger.info("could not update the approval message: %s", exc)

    async def notice(self, text: str) -> None:
        self._add_line(NOTICE_PREFIX + text)
        self._schedule()

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        self._closing.set()
        self._typing_wake.set()
        if self._render_task is not None:
            await self._render_task
        if self._typing_task is not None:
            self._typing_task.cancel()
            await asyncio.gather(self._typing_task, return_exceptions=True)
        fitting: list[OutFile] = []
        for out in self._files:
            if len(out.data) > self.upload_limit:
                self._add_line(NOTICE_PREFIX + self._too_large(out))
            else:
                fitting.append(out)
        async with self._lock:
            chunks = self._chunks(final=True, error=error)
            if any(
                i < len(self._posted) and self._posted[i].content != c for i, c in enumerate(chunks)
            ):
                # Keep the final edit within the rate too.
                delay = self._next_render - self._loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self._apply(chunks, final=True, failed=bool(error))
        for out in fitting:
            await self._post_file(out)
        return self._refs()

    async def close(self) -> None:
        self._closing.set()
        self._typing_wake.set()
        if self._typing_task is not None:
            self._typing_task.cancel()
            await asyncio.gather(self._typing_task, return_exceptions=True)
        if self._render_task is not None:
            # Not cancelled: an edit under way finishes and is recorded (a resumed turn
            # would post it again otherwise); `_closing` ends the loop after it.
            await asyncio.wait([self._render_task])
            if not self._render_task.cancelled() and self._render_task.exception():
                logger.info("reply update failed: %r", self._render_task.exception())

    def _refs(self) -> PostedRefs:
        return PostedRefs(tuple(str(p.id) for p in self._posted) + tuple(self._file_messages))

    async def _report(self) -> None:
        if self._on_posted is not None:
            await self._on_posted(self._refs())

    # --- rendering ------------------------------------------------------------------

    def _add_line(self, line: str) -> None:
        if self._text and not self._text.endswith("\n"):
            self._text += "\n"
        self._text += line + "\n"

    def _schedule(self) -> None:
        self._dirty = True
        if self._closing.is_set():
            return
        if self._render_task is None or self._render_task.done():
            self._render_task = asyncio.create_task(self._render_soon(), name="discord-render")

    async def _render_soon(self) -> None:
        while self._dirty and not self._closing.is_set():
            delay = self._next_render - self._loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._closing.wait(), delay)
                    return  # finish() renders the final state
                except TimeoutError:
                    pass
            self._dirty = False
            if self.client.is_closed():
                return  # shutting down: the next process resumes the reply
            try:
                async with self._lock:
                    await self._apply(self._chunks(final=False), final=False)
            except RuntimeError:
                if not self.client.is_closed():
                    raise
                return  # the client closed meanwhile ("Session is closed")
            except discord.HTTPException as exc:
                # finish() tries again with the final text; the turn is not lost yet.
                logger.warning("updating the reply in %s failed: %s", self.key, exc)
                return

    def _chunks(self, *, final: bool, error: str | None = None) -> list[str]:
        text = self._text
        if final and error:
            text = (text.rstrip() + "\n\n" if text.strip() else "") + ERROR_PREFIX + error
        chunks = split_message(text)
        if final:
            if not chunks and (self._posted or not self._files):
                chunks = [EMPTY_REPLY]
            return chunks
        # Still streaming: show an open code block closed, as it will be.
        if chunks and open_fence_of(chunks[-1]) and len(chunks[-1]) + 4 <= MESSAGE_LIMIT:
            chunks[-1] += "\n" + FENCE
        status = self._status()
        if status:
            if not chunks:
                chunks = [status]
            elif len(chunks[-1]) + 1 + len(status) <= MESSAGE_LIMIT:
                chunks[-1] += "\n" + status
        return chunks

    def _status(self) -> str:
        if not self._steps:
            return ""
        label = next(reversed(self._steps.values())).label.strip() or "Working"
        if len(label) > STATUS_LIMIT:
            label = label[: STATUS_LIMIT - 1] + "…"
        return f"{STATUS_PREFIX}{label}…"

    def _controls_for(self, last: bool, *, final: bool, failed: bool) -> str:
        """The buttons a message of the reply shows: Stop on the last one while the
        reply is written, thumbs up / down on the last one of a finished reply."""
        if self.turn_id is None or not last:
            return ""
        if not final:
            return "stop" if self.controls.stop else ""
        return "feedback" if self.controls.feedback and not failed else ""

    def _view(self, controls: str) -> discord.ui.View | None:
        if self.turn_id is None or not controls:
            return None
        return stop_view(self.turn_id) if controls == "stop" else feedback_view(self.turn_id)

    async def _apply(self, chunks: list[str], *, final: bool, failed: bool = False) -> None:
        """Make the posted messages show `chunks` (post, edit or delete as needed)."""
        changed = False
        for i, content in enumerate(chunks):
            controls = self._controls_for(i == len(chunks) - 1, final=final, failed=failed)
            if i < len(self._posted):
                posted = self._posted[i]
                if posted.content != content or posted.controls != controls:
                    await self._edit(posted, content, controls)
                    changed = True
            else:
                self._posted.append(await self._post(content, controls))
                await self._report()
                changed = True
        for extra in self._posted[len(chunks) :]:
            # Only a status line can shrink the reply; a leftover message would be stale.
            await self._delete(extra)
            changed = True
        del self._posted[len(chunks) :]
        if changed:
            self._next_render = self._loop.time() + self.edit_interval

    # --- Discord calls --------------------------------------------------------------

    async def _post(self, content: str, controls: str = "") -> _Posted:
        view = self._view(controls)
        if self._webhook is not None:
            try:
                sent = await self._webhook.send(
                    content,
                    wait=True,
                    allowed_mentions=NO_MENTIONS,
                    view=view if view is not None else discord.utils.MISSING,
                )
                return _Posted(sent.id, content, via_webhook=True, controls=controls)
            except discord.HTTPException as exc:
                self._token_failed(exc)
        message = await self._send(content=content, view=view)
        return _Posted(message.id, content, via_webhook=False, controls=controls)

    async def _edit(self, posted: _Posted, content: str, controls: str = "") -> None:
        view = self._view(controls)
        if posted.via_webhook and self._webhook is not None:
            try:
                await self._webhook.edit_message(
                    posted.id, content=content, allowed_mentions=NO_MENTIONS, view=view
                )
                posted.content, posted.controls = content, controls
                return
            except discord.HTTPException as exc:
                self._token_failed(exc)
        message = self._channel.get_partial_message(posted.id)
        try:
            await self._retry_archived(
                lambda: message.edit(content=content, allowed_mentions=NO_MENTIONS, view=view)
            )
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MESSAGE:
                raise
            # Someone deleted the message: carry on in a new one.
            replacement = await self._send(content=content, view=view)
            posted.id, posted.via_webhook = replacement.id, False
        posted.content, posted.controls = content, controls

    async def _delete(self, posted: _Posted) -> None:
        try:
            await self._channel.get_partial_message(posted.id).delete()
        except discord.HTTPException as exc:
            logger.debug("could not delete a stale reply message: %s", exc)

    async def _send(
        self,
        *,
        content: str | None = None,
        file: Callable[[], discord.File] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        async def send() -> discord.Message:
            if file is not None:
                return await self._channel.send(content, file=file(), allowed_mentions=NO_MENTIONS)
            return await self._channel.send(
                content,
                allowed_mentions=NO_MENTIONS,
                view=view if view is not None else discord.utils.MISSING,
            )

        return await self._retry_archived(send)

    async def _retry_archived(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except discord.HTTPException as exc:
            if exc.code != ARCHIVED_THREAD:
                raise
        # Archived while the turn ran (auto-archive, a moderator): reopen, try once more.
        await self._unarchive(force=True)
        return await call()

    async def _post_file(self, out: OutFile) -> None:
        def make() -> discord.File:
            return discord.File(
                io.BytesIO(out.data), filename=out.name, description=out.alt_text or None
            )

        try:
            if self._webhook is not None:
                try:
                    sent = await self._webhook.send(
                        file=make(), wait=True, allowed_mentions=NO_MENTIONS
                    )
                    await self._file_posted(sent.id)
                    return
                except discord.HTTPException as exc:
                    if exc.status == 413 or exc.code == TOO_LARGE:
                        raise
                    self._token_failed(exc)
            message = await self._send(file=make)
            await self._file_posted(message.id)
        except discord.HTTPException as exc:
            if exc.status != 413 and exc.code != TOO_LARGE:
                raise
            note = await self._send(content=NOTICE_PREFIX + self._too_large(out))
            await self._file_posted(note.id)

    async def _file_posted(self, message_id: int) -> None:
        self._file_messages.append(f"file:{message_id}")
        await self._report()

    def _too_large(self, out: OutFile) -> str:
        return (
            f"{out.name} ({human_size(len(out.data))}) is over this channel's upload limit "
            f"of {human_size(self.upload_limit)}, so it was not posted."
        )

    def _token_failed(self, exc: discord.HTTPException) -> None:
        """Give up on the interaction token if Discord says it is gone; else re-raise."""
        if exc.status in (401, 404):
            logger.info("interaction token for %s expired; posting as channel messages", self.key)
            self._webhook = None
            return
        raise exc

    async def _unarchive(self, *, force: bool = False) -> None:
        if not self.key.scope:
            return  # DMs have no archive
        channel = self.client.get_channel(self.anchor.channel_id)
        if force or channel is None:
            try:
                channel = await self.client.fetch_channel(self.anchor.channel_id)
            except discord.HTTPException as exc:
                logger.warning("cannot look up channel of %s: %s", self.key, exc)
                return
        if isinstance(channel, discord.Thread) and channel.archived:
            logger.info("unarchiving %s to reply", self.key)
            await channel.edit(archived=False)

    async def _keep_typing(self) -> None:
        for _ in range(TYPING_ROUNDS):
            if self._closing.is_set():
                return
            # Posting a message ends Discord's typing indicator; after the first message
            # it only comes back while a tool runs.
            if not self._posted or self._steps:
                try:
                    await self._channel.typing()
                except Exception as exc:  # best effort: never worth failing a reply
                    logger.debug("typing indicator failed: %r", exc)
            self._typing_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._typing_wake.wait(), TYPING_EVERY)


class DiscordReplier:
    """The Replier the service uses to reach Discord threads and DMs (and, with a
    `context` reader, a ContextReader: the earlier messages a first question refers to)."""

    def __init__(
        self,
        *,
        client: discord.Client,
        ready: asyncio.Event,
        upload_limits: dict[str, int] | None = None,
        edit_interval: float = EDIT_INTERVAL,
        ready_timeout: float = 120.0,
        context: DiscordContextReader | None = None,
        controls: ControlOptions = NO_CONTROLS,
    ) -> None:
        self.client = client
        self.controls = controls
        self.context = context
        self.ready = ready
        # Learned from interactions (Discord tells the limit there), per guild ("" = DMs).
        self.upload_limits: dict[str, int] = upload_limits if upload_limits is not None else {}
        self.edit_interval = edit_interval
        self.ready_timeout = ready_timeout

    async def read_context(self, *, key: ThreadKey, anchor: str, before: str | None) -> Context:
        if self.context is None:
            return Context()
        async with asyncio.timeout(self.ready_timeout):
            await self.ready.wait()
        return await self.context.read_context(key=key, anchor=anchor, before=before)

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> DiscordSink:
        # After a restart, interrupted turns resume before the gateway is up.
        async with asyncio.timeout(self.ready_timeout):
            await self.ready.wait()
        parsed = Anchor.loads(anchor, key=key)
        sink = DiscordSink(
            client=self.client,
            key=key,
            anchor=parsed,
            upload_limit=parsed.upload_limit or self.upload_limit(key.scope),
            edit_interval=self.edit_interval,
            posted=posted,
            on_posted=on_posted,
            turn_id=turn_id,
            controls=self.controls,
        )
        await sink.start()
        return sink

    def upload_limit(self, scope: str) -> int:
        if scope in self.upload_limits:
            return self.upload_limits[scope]
        guild = self.client.get_guild(int(scope)) if scope else None
        if guild is not None:
            return guild.filesize_limit
        return discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES


__all__ = ["EDIT_INTERVAL", "DiscordReplier", "DiscordSink"]
