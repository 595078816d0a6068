"""The Slack reply sink: streaming, edit fallback, long replies, status, files.

One reply is a sequence of *pages*, each one Slack message of at most ``PAGE_LIMIT``
characters of model Markdown. A page is shown one of two ways:

* **stream** (thread replies, when ``THREADBRIDGE_SLACK_STREAMING`` is on):
  ``chat.startStream`` with the first text, ``chat.appendStream`` with what came since,
  ``chat.stopStream`` when the page is full or the turn ends. Text goes as
  ``markdown_text``, which Slack renders as Markdown, with ping tokens broken up.
* **edit** (the root of a DM, streaming off, or after any streaming error such as
  ``message_not_in_streaming_state`` from an expired stream): ``chat.postMessage``
  once, then ``chat.update`` of the same message, with the text converted to mrkdwn.

Either way Slack is called at most about once a second per reply (`FLUSH_INTERVAL`):
deltas only accumulate, and a background flush pushes them. When a page is full it is
cut at a paragraph or line boundary (a code block is closed there and reopened in the
next page) and the rest continues in a new message.

Progress steps become the thread's status (``assistant.threads.setStatus``: the
"is working..." line under the thread, in DMs, the AI app pane and channel threads
alike). Slack clears the status when the app posts a reply, so the sink clears it
itself only when a status was set after its last posted message (a step after the
reply's first words, say): a plain turn is one status call, not two. Status is best
effort: a workspace that refuses it (an app without the agent feature, or on Slack's
rules before 2026-03 without ``assistant:write``) just shows no status. A refusal for
good (a missing scope, say) turns status off for the process, not a call per reply.

Notices and errors are short separate messages in the thread; files are uploaded with
``files_upload_v2`` into the same thread.

Every message posted is reported to the service as it is posted (``on_posted``): page
messages by their ``ts``, notices as ``note:<ts>``, files as ``file:<id>``. A reply
resumed after a crash gets that list back: its pages are written into the messages
already posted (an open stream is stopped first, then ``chat.update``), so the
thread ends up with one reply, not a partial one and a complete one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

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

from .context import SlackContextReader
from .controls import (
    STOP_PROMPT,
    approval_blocks,
    approval_text,
    decided_text,
    feedback_blocks,
    stop_blocks,
)
from .errors import FAILURES, error_code
from .events import Anchor
from .text import (
    PAGE_LIMIT,
    SEAL_ROOM,
    break_broadcasts,
    escape,
    inert,
    page_cut,
    safe_markdown,
    seal,
    to_mrkdwn,
)

logger = logging.getLogger(__name__)

TASK_TITLE_LIMIT = 120
TASK_DETAIL_LIMIT = 500
TASK_SOURCES = 10

FLUSH_INTERVAL = 1.0
THINKING = "is thinking…"
WORKING = "is working…"
EMPTY_REPLY = "_(The assistant returned an empty reply.)_"
# Slack errors that will not change while the process runs (the app's scopes, token,
# features): the call is not worth making again.
REFUSED_FOR_GOOD = frozenset(
    {"missing_scope", "not_allowed_token_type", "unknown_method", "method_deprecated"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkOptions:
    """Per-deployment choices the sink needs (from Settings)."""

    streaming: bool = True
    allow_user_mentions: bool = False
    max_file_bytes: int = 20 * 1024 * 1024
    page_limit: int = PAGE_LIMIT
    flush_interval: float = FLUSH_INTERVAL
    stop_button: bool = False
    # Seconds a reply must still be running before its Stop button is sent: a quick
    # reply leaves no ephemeral "Stop" behind (and costs one Slack call less).
    stop_after: float = 0.0
    feedback_buttons: bool = False
    # Slack users (THREADBRIDGE_ADMIN_USERS) who get the Stop button of every reply too.
    admins: tuple[str, ...] = ()
    # Progress steps as task cards in a streamed reply ("timeline" or "plan"), or only
    # the thread status ("status").
    task_display: str = "status"


@dataclass
class _Page:
    """One Slack message of the reply."""

    raw: str = ""
    stream: bool = False
    ts: str | None = None
    sent: int = 0  # characters of `raw` the user has (stream mode)
    shown: str = ""  # last mrkdwn text posted (edit mode)
    open_stream: bool = False
    reused: bool = False  # posted by an interrupted attempt; may still be streaming


@dataclass
class _Refs:
    ids: list[str] = field(default_factory=list)
    on_posted: OnPosted | None = None

    async def add(self, ref: str | None) -> None:
        if ref and ref not in self.ids:
            self.ids.append(ref)
            if self.on_posted is not None:
                await self.on_posted(PostedRefs(tuple(self.ids)))


class SlackSink:
    """Renders one turn's reply into a Slack thread. Created by `SlackReplier.open_reply`."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        key: ThreadKey,
        anchor: Anchor,
        options: SinkOptions,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
        features_off: set[str] | None = None,
    ) -> None:
        self.client = client
        self.channel = key.channel
        # Shared by the replier's sinks: what Slack refused for good ("status").
        self._features_off = set() if features_off is None else features_off
        self.anchor = anchor
        self.turn_id = turn_id
        # Blocks the last streamed page gets when it stops (the feedback buttons).
        self._final_blocks: list[dict[str, Any]] | None = None
        self._feedback_shown = False  # the final blocks are on the reply
        self.thread_ts = anchor.thread_ts or None
        self.options = options
        # Streams must be thread replies.
        self._streaming = options.streaming and self.thread_ts is not None
        self._tasks = self._streaming and options.task_display in ("timeline", "plan")
        # Resuming: earlier pages are rewritten in place; notes and files stay as they are.
        self._reuse = [ref for ref in posted if ":" not in ref]
        self._refs = _Refs(ids=[ref for ref in posted if ":" in ref], on_posted=on_posted)
        self._page = self._new_page()
        self._incoming = ""
        self._any_text = False
        self._posted_anything = False
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._last_flush = 0.0
        self._called = False  # a Slack call showed text during this sync
        self._failure: BaseException | None = None
        self._status_ok = self.thread_ts is not None and "status" not in self._features_off
        # A status may be showing: set, and no message posted after it was.
        self._status_showing = False
        self._status_calls = 0  # setStatus calls under way
        self._starting: asyncio.Task[None] | None = None
        self._stopper: asyncio.Task[None] | None = None  # the Stop button, later
        self._stop_posting = False  # its wait is over: it is being sent
        self._finishing = False  # finish() began: no Stop button any more

    # --- ReplySink --------------------------------------------------------------------

    async def start(self) -> None:
        """Show that the bot is working, without holding up the model request.

        The status (and an AI-pane thread's title) go out in the background: a Slack
        round trip before the request would add its time to every first word.
        """
        self._starting = asyncio.create_task(self._show_started(), name="slack-status")

    async def _show_started(self) -> None:
        if self.anchor.assistant and self.anchor.title and self.thread_ts:
            with contextlib.suppress(*FAILURES):
                await self.client.assistant_threads_setTitle(
                    channel_id=self.channel,
                    thread_ts=self.thread_ts,
                    title=inert(self.anchor.title),
                )
        if self._finishing:  # the reply was done before this task ran
            return
        await self._set_status(THINKING)
        if self._finishing:
            return
        if self.options.stop_button and self.turn_id is not None and self.anchor.user:
            if self.options.stop_after > 0:
                self._stopper = asyncio.create_task(self._offer_stop(), name="slack-stop")
            else:
                await self._post_stop(self.turn_id, self.anchor.user)

    async def _offer_stop(self) -> None:
        """The Stop button, once the reply has run `stop_after` seconds (`finish`
        cancels this while it waits)."""
        await asyncio.sleep(self.options.stop_after)
        assert self.turn_id is not None and self.anchor.user
        if self._finishing:  # its last words are on their way: too late to stop
            return
        self._stop_posting = True
        await self._post_stop(self.turn_id, self.anchor.user)

    async def _post_stop(self, turn_id: int, asker: str) -> None:
        # Streaming messages take no buttons: the asker (and each admin) gets Stop as a
        # message only they see.
        for user in dict.fromkeys((asker, *self.options.admins)):
            with contextlib.suppress(*FAILURES):
                await self.client.chat_postEphemeral(
                    channel=self.channel,
                    user=user,
                    thread_ts=self.thread_ts,
                    text=STOP_PROMPT,
                    blocks=stop_blocks(turn_id),
                )

    async def progress(self, step: Progress) -> None:
        if self._tasks:
            await self._task_update(step)
        if step.done:
            return
        await self._set_status(WORKING, step.label)

    async def _task_update(self, step: Progress) -> None:
        """The step as a task card of the streamed reply (`task_update` chunk): in
        progress, then complete or error. A stream that cannot take it leaves the
        status line alone to show the steps."""
        status = "error" if step.failed else "complete" if step.done else "in_progress"
        chunk: dict[str, Any] = {
            "type": "task_update",
            "id": step.step_id[:64] or "step",
            "title": inert(step.label)[:TASK_TITLE_LIMIT],
            "status": status,
        }
        if step.detail:
            chunk["details"] = safe_markdown(
                step.detail[:TASK_DETAIL_LIMIT], allow_user_mentions=False
            )
        if step.sources:
            chunk["sources"] = [
                {"type": "url", "url": url, "text": inert(url)[:TASK_TITLE_LIMIT]}
                for url in step.sources[:TASK_SOURCES]
                if url.startswith(("https://", "http://"))
            ]
        async with self._lock:
            page = self._page
            try:
                if page.ts is None and page.stream:
                    clears = self._clears_status()
                    response = await self.client.chat_startStream(
                        channel=self.channel,
                        thread_ts=self.thread_ts or "",
                        chunks=[chunk],
                        task_display_mode=self.options.task_display,
                        recipient_team_id=self.anchor.team or None,
                        recipient_user_id=self.anchor.user or None,
                    )
                    self._posted(clears)
                    page.ts = str(response["ts"])
                    page.open_stream = True
                    self._posted_anything = True
                    await self._refs.add(page.ts)
                elif page.ts is not None and page.open_stream:
                    await self.client.chat_appendStream(
                        channel=self.channel, ts=page.ts, chunks=[chunk]
                    )
            except FAILURES as exc:
                logger.info("task cards off for this reply (%s)", error_code(exc))
                self._tasks = False

    async def text(self, delta: str) -> None:
        if not delta:
            return
        self._raise_failure()
        self._incoming += delta
        self._any_text = True
        if self._flusher is None or self._flusher.done():
            delay = max(0.0, self._last_flush + self.options.flush_interval - time.monotonic())
            self._flusher = asyncio.create_task(self._flush_later(delay))

    async def file(self, file: OutFile) -> None:
        self._raise_failure()
        if len(file.data) > self.options.max_file_bytes:
            await self.notice(
                f"{file.name} is {human_size(len(file.data))}, over the upload limit of "
                f"{human_size(self.options.max_file_bytes)}; it was not uploaded."
            )
            return
        kwargs: dict[str, Any] = {
            "channel": self.channel,
            "content": file.data,
            "filename": inert(file.name),
            "title": inert(file.name),
        }
        if self.thread_ts:
            kwargs["thread_ts"] = self.thread_ts
        if file.mime_type.startswith("image/"):
            kwargs["alt_txt"] = inert(file.alt_text or file.name)[:1000]
        try:
            response = await self.client.files_upload_v2(**kwargs)
        except FAILURES as exc:
            logger.warning("upload of a generated file failed: %s", error_code(exc))
            await self.notice(f"{file.name} could not be uploaded ({error_code(exc)}).")
            return
        self._posted_anything = True
        for uploaded in response.get("files") or [response.get("file") or {}]:
            if isinstance(uploaded, dict) and uploaded.get("id"):
                await self._refs.add(f"file:{uploaded['id']}")

    # --- ApprovalSink -------------------------------------------------------------------

    async def ask(self, request: ApprovalRequest) -> str | None:
        """Approve / Deny buttons in the thread; the message's ts names it later."""
        kwargs: dict[str, Any] = {
            "channel": self.channel,
            "text": approval_text(request),
            "blocks": approval_blocks(request),
        }
        if self.thread_ts:
            kwargs["thread_ts"] = self.thread_ts
        response = await self.client.chat_postMessage(**kwargs)
        ts = str(response["ts"])
        await self._refs.add(f"approval:{ts}")
        return ts

    async def decided(
        self, request: ApprovalRequest, outcome: ApprovalOutcome, *, ref: str | None, by: str
    ) -> None:
        """The question becomes its outcome; the buttons go."""
        if ref is None:
            return
        text = decided_text(request, outcome, by)
        try:
            await self.client.chat_update(
                channel=self.channel,
                ts=ref,
                text=text,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            )
        except FAILURES as exc:
            logger.info("could not update the approval message: %s", error_code(exc))

    async def notice(self, text: str) -> None:
        await self._post_extra(f":information_source: {self._plain(text)}")

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        self._finishing = True
        # First the flush that has not gone out yet: the final sync sends its text, so a
        # reply complete before its first words is posted whole, not streamed.
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.wait([self._flusher])
            async with self._lock:
                pass  # a sync the flusher had under way ends first (its failure counts)
        self._raise_failure()
        if not error and self.options.feedback_buttons and self.turn_id is not None:
            self._final_blocks = feedback_blocks(self.turn_id)
        # The text before anything else: it does not wait for the status call (a status
        # that lands after it is cleared below) nor for the Stop button.
        await self._sync(final=True)
        if self._starting is not None:
            await self._starting
        if self._stopper is not None:
            if not self._stop_posting:
                self._stopper.cancel()
            await asyncio.wait([self._stopper])
        await self._drop_unused_pages()
        if error:
            await self._post_extra(f":warning: {self._plain(error)}")
        elif not self._any_text and not self._posted_anything:
            await self._post_extra(EMPTY_REPLY)
        if self._status_showing:
            await self._set_status("")
        return PostedRefs(tuple(self._refs.ids))

    async def close(self) -> None:
        tasks = [t for t in (self._starting, self._stopper, self._flusher) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._starting = self._stopper = self._flusher = None
        if self._status_showing:  # a reply that broke off: its "thinking" goes too
            await self._set_status("")

    # --- text pipeline --------------------------------------------------------------------

    async def _flush_later(self, delay: float) -> None:
        """Push accumulated text at most once per interval while deltas keep coming."""
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            # Shielded: finish() may cancel this task, but not halfway through a Slack
            # call whose effect would then go unrecorded (and be sent twice).
            await asyncio.shield(self._sync_quietly())
            if not self._incoming or self._failure is not None:
                return
            delay = self.options.flush_interval

    async def _sync_quietly(self) -> None:
        try:
            await self._sync(final=False)
        except Exception as exc:  # surfaced by the next text()/finish()
            logger.warning("slack reply update failed: %s", exc.__class__.__name__)
            self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def _sync(self, *, final: bool) -> None:
        """Move incoming text into pages and show it (under the lock: one call at a time)."""
        async with self._lock:
            self._called = False
            page = self._page
            page.raw += self._incoming
            self._incoming = ""
            limit = self.options.page_limit
            while len(page.raw) > limit:
                shown = page.sent if page.stream and page.ts else 0
                cut = page_cut(page.raw, limit - SEAL_ROOM, start=shown, final=final)
                if cut is None or cut >= len(page.raw):
                    break  # the line the user sees is still coming: it stays on this page
                head, tail = seal(page.raw[:cut], page.raw[cut:])
                page.raw = head
                await self._show(page, final=True, last=False)
                page = self._page = self._new_page(tail)
            await self._show(page, final=final, last=final)
            if self._called:
                # The interval counts from the last call. Text held back (a first word
                # that could still become a mention) goes out with the very next delta.
                self._last_flush = time.monotonic()

    async def _show(self, page: _Page, *, final: bool, last: bool) -> None:
        """Show `page`; `final`: its text is complete; `last`: it is the reply's last
        page, complete, and takes the final blocks (the feedback buttons)."""
        blocks = self._final_blocks if last else None
        if page.stream:
            try:
                await self._show_stream(page, final=final, blocks=blocks)
                return
            except FAILURES as exc:
                error = error_code(exc)
                logger.info("streaming stopped (%s); editing the message instead", error)
                await self._abandon_stream(page)
        await self._show_edit(page, extra=None if self._feedback_shown else blocks)

    async def _show_stream(
        self, page: _Page, *, final: bool, blocks: list[dict[str, Any]] | None
    ) -> None:
        upto = len(page.raw) if final else _stream_end(page.raw, page.sent)
        chunk = page.raw[page.sent : upto]
        text = safe_markdown(chunk, allow_user_mentions=self.options.allow_user_mentions)
        if page.ts is None:
            if not chunk.strip():
                return
            self._called = True
            if final:
                # The whole page is here before its first words went out: one message,
                # no stream to start and stop (one Slack call, not two).
                await self._post_whole(page, text, upto, blocks)
                return
            clears = self._clears_status()
            response = await self.client.chat_startStream(
                channel=self.channel,
                thread_ts=self.thread_ts or "",
                markdown_text=text,
                task_display_mode=self.options.task_display if self._tasks else None,
                recipient_team_id=self.anchor.team or None,
                recipient_user_id=self.anchor.user or None,
            )
            self._posted(clears)
            page.ts = str(response["ts"])
            page.open_stream = True
            self._posted_anything = True
            await self._refs.add(page.ts)
            page.sent = upto
            return
        if final:
            self._called = True
            await self.client.chat_stopStream(
                channel=self.channel,
                ts=page.ts,
                markdown_text=text if chunk else None,
                blocks=blocks,
            )
            self._feedback_shown = self._feedback_shown or blocks is not None
            page.open_stream = False
        elif chunk:
            self._called = True
            await self.client.chat_appendStream(
                channel=self.channel, ts=page.ts, markdown_text=text
            )
        page.sent = upto

    async def _post_whole(
        self, page: _Page, markdown: str, upto: int, blocks: list[dict[str, Any]] | None
    ) -> None:
        """Post a complete page in Markdown, as a stream would show it: `markdown_text`,
        or a ``markdown`` block above the final `blocks` (Slack takes `markdown_text`
        without blocks only; `text` is then the notification's fallback)."""
        kwargs: dict[str, Any] = {"channel": self.channel, "thread_ts": self.thread_ts}
        if blocks is None:
            kwargs["markdown_text"] = markdown
        else:
            kwargs["text"] = to_mrkdwn(
                page.raw[:upto], allow_user_mentions=self.options.allow_user_mentions
            )
            kwargs["blocks"] = [{"type": "markdown", "text": markdown}, *blocks]
        clears = self._clears_status()
        response = await self.client.chat_postMessage(**kwargs)
        self._posted(clears)
        page.ts = str(response["ts"])
        page.sent = upto
        self._posted_anything = True
        self._feedback_shown = self._feedback_shown or blocks is not None
        await self._refs.add(page.ts)

    async def _abandon_stream(self, page: _Page) -> None:
        """Leave streaming for this reply; the page continues as an edited message."""
        self._streaming = False
        page.stream = False
        if page.ts is not None and page.open_stream:
            # An error other than an expired stream may leave it open, and Slack
            # refuses chat.update on a message that is still streaming.
            with contextlib.suppress(*FAILURES):
                await self.client.chat_stopStream(channel=self.channel, ts=page.ts)
        page.open_stream = False

    async def _show_edit(self, page: _Page, *, extra: list[dict[str, Any]] | None = None) -> None:
        """Post or edit the page; with `extra` blocks (the feedback buttons under the
        last page), the text goes in section blocks above them. A page an interrupted
        attempt posted is rewritten with blocks too: it may have blocks of its own (a
        Markdown block, the buttons), which an edit of its text alone would leave."""
        if not page.raw.strip():
            return
        text = to_mrkdwn(page.raw, allow_user_mentions=self.options.allow_user_mentions)
        if text == page.shown and not extra:
            return
        reused = page.reused and page.ts is not None
        blocks = [*text_sections(text), *(extra or ())] if extra or reused else None
        if page.reused and page.ts is not None:
            page.reused = False
            # It may have been left streaming; Slack refuses chat.update until stopped.
            with contextlib.suppress(*FAILURES):
                await self.client.chat_stopStream(channel=self.channel, ts=page.ts)
        self._called = True
        if page.ts is not None:
            try:
                if blocks is None:
                    await self.client.chat_update(channel=self.channel, ts=page.ts, text=text)
                else:
                    await self.client.chat_update(
                        channel=self.channel, ts=page.ts, text=text, blocks=blocks
                    )
                page.shown = text
                self._feedback_shown = self._feedback_shown or bool(extra)
                return
            except FAILURES as exc:
                # The message is gone or frozen: continue in a new one.
                logger.info("chat.update failed (%s); posting anew", error_code(exc))
                page.ts = None
        page.ts = await self._post(text, blocks=blocks)
        page.shown = text
        self._feedback_shown = self._feedback_shown or bool(extra)

    def _new_page(self, raw: str = "") -> _Page:
        """The next page: a message an interrupted attempt posted, or a new one."""
        if self._reuse:
            ts = self._reuse.pop(0)
            self._refs.ids.append(ts)
            return _Page(raw=raw, ts=ts, reused=True)
        return _Page(raw=raw, stream=self._streaming)

    async def _drop_unused_pages(self) -> None:
        """A resumed reply came out shorter: remove what the first attempt posted beyond it."""
        leftovers = [self._page.ts] if self._page.reused and not self._page.raw.strip() else []
        leftovers += self._reuse
        self._reuse = []
        for ts in leftovers:
            if ts is None:
                continue
            with contextlib.suppress(*FAILURES):
                await self.client.chat_delete(channel=self.channel, ts=ts)
            if ts in self._refs.ids:
                self._refs.ids.remove(ts)

    # --- posting ----------------------------------------------------------------------

    @staticmethod
    def _plain(text: str) -> str:
        """Our own short texts (notices, errors): plain text, escaped (file names are
        user input)."""
        return break_broadcasts(escape(text))

    async def _post(
        self, text: str, *, ref_prefix: str = "", blocks: list[dict[str, Any]] | None = None
    ) -> str:
        kwargs: dict[str, Any] = {"channel": self.channel, "text": text}
        if blocks is not None:
            kwargs["blocks"] = blocks
        if self.thread_ts:
            kwargs["thread_ts"] = self.thread_ts
        clears = self._clears_status()
        response = await self.client.chat_postMessage(**kwargs)
        self._posted(clears)
        ts = str(response["ts"])
        self._posted_anything = True
        await self._refs.add(ref_prefix + ts)
        return ts

    async def _post_extra(self, text: str) -> None:
        async with self._lock:
            await self._post(text, ref_prefix="note:")

    async def _set_status(self, status: str, detail: str = "") -> None:
        starting = self._starting
        if starting is not None and asyncio.current_task() is not starting:
            await starting  # keep the order: "thinking" before any later status
        if not self._status_ok or self.thread_ts is None:
            return
        kwargs: dict[str, Any] = {
            "channel_id": self.channel,
            "thread_ts": self.thread_ts,
            "status": status,
        }
        if detail:
            kwargs["loading_messages"] = [inert(detail)[:200]]
        self._status_calls += 1
        if status:
            # Counted as showing from the moment it is asked for: a call cut short
            # (close() during it) may have reached Slack.
            self._status_showing = True
        try:
            await self.client.assistant_threads_setStatus(**kwargs)
            self._status_showing = bool(status)
        except FAILURES as exc:
            # Not an AI app, or a scope missing: go on without status.
            code = error_code(exc)
            if code in REFUSED_FOR_GOOD and "status" not in self._features_off:
                self._features_off.add("status")
                logger.info("thread status off until restart: Slack says %s", code)
            else:
                logger.debug("thread status unavailable for this reply: %s", code)
            self._status_ok = False
        finally:
            self._status_calls -= 1

    def _clears_status(self) -> bool:
        """Whether a message sent now is sure to clear the status: Slack clears it when
        the app posts, but a setStatus still under way might land after the post."""
        return self._status_calls == 0

    def _posted(self, cleared_status: bool) -> None:
        if cleared_status:
            self._status_showing = False


def text_sections(text: str, limit: int = 3000) -> list[dict[str, Any]]:
    """mrkdwn text as section blocks (Slack: at most 3,000 characters each), cut at
    line ends where it can be."""
    sections: list[dict[str, Any]] = []
    while text:
        cut = len(text) if len(text) <= limit else (text.rfind("\n", 0, limit) + 1 or limit)
        sections.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:cut]}})
        text = text[cut:]
    return sections


def _stream_end(text: str, start: int) -> int:
    """How much of `text` an append may send while the reply is still coming.

    All of it, unless its last word could still grow into a ping token with the next
    delta (it has a ``<`` or ``@``): then up to the last whitespace, so no token is
    split between two appends, where `safe_markdown` could not see it whole.
    """
    end = _last_break(text, start)
    tail = text[end:]
    return end if "<" in tail or "@" in tail else len(text)


def _last_break(text: str, start: int) -> int:
    """End of the last whitespace run after `start`, or `start` if there is none."""
    for index in range(len(text) - 1, start - 1, -1):
        if text[index].isspace():
            return index + 1
    return start


class SlackReplier:
    """Gives the service a sink for a Slack thread, from the stored key and anchor, and
    the thread's earlier messages where the bot was first asked in it."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        options: SinkOptions,
        context: SlackContextReader | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.context = context
        self._features_off: set[str] = set()

    async def read_context(self, *, key: ThreadKey, anchor: str, before: str | None) -> Context:
        if self.context is None:
            return Context()
        return await self.context.read_context(key=key, anchor=anchor, before=before)

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> SlackSink:
        sink = SlackSink(
            client=self.client,
            key=key,
            anchor=Anchor.loads(anchor),
            options=self.options,
            posted=posted,
            on_posted=on_posted,
            turn_id=turn_id,
            features_off=self._features_off,
        )
        await sink.start()
        return sink


__all__ = ["FLUSH_INTERVAL", "SinkOptions", "SlackReplier", "SlackSink"]
