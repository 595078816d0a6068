"""A turn from inbound message to finished reply.

`submit()` claims a message's dedup keys and queues it in one transaction; a
duplicate delivery returns False at once. Each thread has at most one worker, so a
thread's turns never overlap; workers of different threads run concurrently, bounded
by `THREADBRIDGE_MAX_CONCURRENT_TURNS`.

Messages that arrive while a turn runs wait in the queue. When the worker comes
back, it takes *all* queued messages of the thread as one turn (in order), so a user
who sends three quick lines gets one answer to all three.

A turn's progress is in the store as it happens: its status (running, posting, done,
failed), the model's response id once the model has accepted the request, and the
platform messages already posted. A process that finds a turn left open by a dead
one (under the thread's lease) resumes it: the engine fetches the stored response if
it can (else asks again), and the sink reuses the messages already posted, so the
user ends up with one complete reply. A turn interrupted twice is given up with a
short message in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Literal, Protocol

from bot.assistants import Assistants
from bot.attachments import human_size
from bot.config import CoreSettings
from bot.faults import failpoint
from bot.models import (
    ApprovalKind,
    ApprovalOutcome,
    ApprovalRequest,
    ApprovalSink,
    Approver,
    Attachment,
    AttachmentError,
    Context,
    ContextReader,
    Done,
    EngineEvent,
    Failed,
    FileReady,
    Inbound,
    InputFile,
    Notice,
    OnPosted,
    PostedRefs,
    Progress,
    Replier,
    ReplySink,
    Started,
    TextDelta,
    ThreadKey,
    Transcript,
    UserMessage,
)
from bot.store import (
    FeedbackValue,
    InboundRow,
    Start,
    Store,
    ThreadRow,
    TurnRow,
    TurnStatus,
    TurnUsage,
    Work,
)
from bot.tools import ToolContext

logger = logging.getLogger(__name__)

REPLIER_WAIT_SECONDS = 30.0
# The first attempt and one resume; a turn that dies twice is not tried a third time.
MAX_ATTEMPTS = 2
GAVE_UP = "Sorry, this answer was interrupted twice. Please send your message again."
CONTEXT_UNREADABLE = "I couldn't read the earlier messages in this thread."
STOPPED_MARK = "\n\n_(stopped)_"
SIGNATURE = "\n\n— _{name}_"

# What a Stop or feedback click came to (the adapter words the ephemeral note).
StopOutcome = Literal["stopped", "finished", "not_allowed", "unknown"]
FeedbackOutcome = Literal["recorded", "unknown"]
DecisionOutcome = Literal["approved", "denied", "decided", "not_allowed", "unknown"]
NO_APPROVAL_HERE = "A tool call needed approval, which cannot be asked for here: it was denied."
# How often a waiting approval looks for a decision another process took.
APPROVAL_POLL_SECONDS = 1.0
# How often a process looks for Stop clicks another process took for its running turns.
STOP_POLL_SECONDS = 1.0
# How long a reply may take to end its background work after its turn (`ReplySink.close`).
CLOSE_SECONDS = 3.0
# Platform threads remembered as known conversations (a set of keys, cleared when full).
KNOWN_THREADS = 10_000


def _turn_id(work: Work | None) -> int | None:
    return None if work is None or work.turn is None else work.turn.id


def _same_channel(a: ThreadKey, b: ThreadKey) -> bool:
    """A click belongs to a turn only in the turn's own workspace/guild and channel."""
    return (a.platform, a.scope, a.channel) == (b.platform, b.scope, b.channel)


class _Running:
    """A turn this process is running, as a Stop click finds it."""

    __slots__ = ("ending", "in_engine", "response_id", "stopped", "task")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.in_engine = False  # awaiting the engine's next event (not a sink call)
        self.stopped = False
        # The answer is complete (being posted, then recorded): too late for a Stop.
        self.ending = False
        self.response_id: str | None = None


class Service:
    """Queues inbound messages per thread and runs their turns."""

    def __init__(
        self,
        *,
        store: Store,
        engine: TurnEngine,
        settings: CoreSettings,
        repliers: Mapping[str, Replier] | None = None,
        assistants: Assistants | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._assistants = assistants
        self.settings = settings
        self.repliers: dict[str, Replier] = dict(repliers or {})
        self._slots = asyncio.Semaphore(settings.max_concurrent_turns)
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()
        # Threads with a message submitted to this process that no worker has leased yet.
        self._submitted: set[int] = set()
        # Turns a claim started (store.Start), for the thread's worker.
        self._started: dict[int, Work] = {}
        # The turn each running worker last got from take_work: one a claim also handed
        # over (both raced for it) is not run twice.
        self._taken: dict[int, int] = {}
        # Download callables live only in memory; after a restart the metadata in the
        # store is all that is left of an attachment.
        self._attachments: dict[int, tuple[Attachment, ...]] = {}
        self._accepting = True
        self._sweeper: asyncio.Task[None] | None = None
        self._stop_watcher: asyncio.Task[None] | None = None
        # Identifies this process in thread leases.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._idle = asyncio.Event()
        self._idle.set()
        self._running: dict[int, _Running] = {}
        # Platform threads known to be conversations (a thread row, once there, stays):
        # a message in one needs no lookup. Bounded; forgetting costs a lookup.
        self._known: set[ThreadKey] = set()
        self._decisions: dict[int, asyncio.Event] = {}  # approval id -> decided here
        self._admins = frozenset(settings.admin_users)

    def register(self, platform: str, replier: Replier) -> None:
        self.repliers[platform] = replier

    # --- what adapters may ask ----------------------------------------------------

    async def knows_thread(self, key: ThreadKey) -> bool:
        """Whether the platform thread `key` is a conversation already."""
        if key in self._known:
            return True
        known = await self._store.find_thread(key) is not None
        if known:
            self._remember(key)
        return known

    def _remember(self, key: ThreadKey) -> None:
        if len(self._known) >= KNOWN_THREADS:
            self._known.clear()
        self._known.add(key)

    async def reset_thread(self, key: ThreadKey) -> None:
        """The next message in `key` starts a new conversation (the old one stays as
        history in the store)."""
        await self._store.reset_thread(key)

    def describe_assistant(self, name: str | None = None) -> list[str]:
        """An assistant's tools (the default's), one short line each (for /help)."""
        return self._engine.describe(name)

    def assistant_names(self) -> list[str]:
        """Every assistant of the deployment (one name when there is one)."""
        if self._assistants is None:
            return ["default"]
        return [a.name for a in self._assistants.all]

    def assistants_at(self, places: Sequence[str]) -> list[tuple[str, bool]]:
        """(name, is the one bound here) of the assistants a new thread at `places` may
        talk to; one entry when the deployment has one assistant."""
        if self._assistants is None:
            return [("default", True)]
        allowed = self._assistants.allowed(places)
        return [(a.name, i == 0) for i, a in enumerate(allowed)]

    def _signs(self, name: str | None) -> bool:
        return name is not None and self._assistants is not None and self._assistants.several

    async def assistant_of(self, key: ThreadKey) -> str | None:
        """The name of the assistant a known thread talks to, when there are several
        (None: one assistant, or an unknown thread)."""
        if self._assistants is None or not self._assistants.several:
            return None
        thread = await self._store.find_thread(key)
        if thread is None:
            return None
        return (self._assistants.get(thread.assistant) or self._assistants.default).name

    def is_admin(self, platform: str, user_id: str) -> bool:
        return user_id in self._admins or f"{platform}:{user_id}" in self._admins

    async def stop_turn(self, turn_id: int, *, key: ThreadKey, user_id: str) -> StopOutcome:
        """A Stop click by `user_id` in the platform thread `key`.

        Only the turn's asker (or an admin) may stop it; a turn of another thread (a
        forged or stale click) is "unknown". The reply keeps its text so far and ends
        with "(stopped)"; the thread takes its next message as usual.
        """
        control = await self._store.turn_control(turn_id)
        if control is None or not _same_channel(control.thread.key, key):
            return "unknown"
        if user_id not in control.askers and not self.is_admin(key.platform, user_id):
            return "not_allowed"
        if self._stop_running(turn_id):
            logger.info("turn %s of %s stopped by %s", turn_id, key, user_id)
            return "stopped"
        if turn_id not in self._running and await self._store.request_stop(turn_id, user_id):
            # Another process runs it (or this one has yet to start it): it looks for
            # such requests every STOP_POLL_SECONDS.
            logger.info("turn %s of %s: stop by %s passed on", turn_id, key, user_id)
            return "stopped"
        return "finished"

    def _stop_running(self, turn_id: int) -> bool:
        """Stop the turn if this process runs it; False if it does not (any more)."""
        running = self._running.get(turn_id)
        if running is None or running.stopped or running.ending:
            return False
        running.stopped = True
        if running.in_engine and running.task is not None:
            # Waiting for the model or a function: interrupt that wait. Between events
            # (a sink call in progress) the loop sees the flag after the call.
            running.task.cancel()
        return True

    async def _watch_stops(self) -> None:
        """Stop this process's turns whose Stop click another process took."""
        while True:
            await asyncio.sleep(STOP_POLL_SECONDS)
            if not self._running:
                continue
            try:
                asked = await self._store.stop_requests()
            except Exception as exc:  # the database is away: the sweep logs that
                logger.debug("looking for stop requests failed: %r", exc)
                continue
            for turn_id, user_id in asked.items():
                if self._stop_running(turn_id):  # False for another process's turns
                    logger.info("turn %s stopped by %s (clicked elsewhere)", turn_id, user_id)

    async def decide_approval(
        self, approval_id: int, *, key: ThreadKey, user_id: str, approve: bool
    ) -> DecisionOutcome:
        """An Approve or Deny click. Only the turn's asker (or an admin) decides, once;
        a click on a decided, expired or unknown approval changes nothing."""
        row = await self._store.approval(approval_id)
        control = None if row is None else await self._store.turn_control(row.turn_id)
        if row is None or control is None or not _same_channel(control.thread.key, key):
            return "unknown"
        if user_id not in control.askers and not self.is_admin(key.platform, user_id):
            return "not_allowed"
        finished = control.status not in ("queued", "running", "posting")
        if row.status != "pending" or row.expires_at <= time.time() or finished:
            return "decided"
        status: DecisionOutcome = "approved" if approve else "denied"
        if not await self._store.decide_approval(approval_id, status, user_id=user_id):
            return "decided"
        waiter = self._decisions.get(approval_id)
        if waiter is not None:
            waiter.set()
        logger.info("approval %s (%s) %s by %s", approval_id, row.name, status, user_id)
        return status

    def _approver(self, turn: TurnRow, sink: ReplySink) -> Approver:
        """How this turn's tool calls get a person's decision: stored, asked in the
        thread (buttons), awaited until decided or the timeout (= Deny). A resumed turn
        finds the approval it asked before, decided or still open."""

        async def approve(
            kind: ApprovalKind, call_id: str, name: str, arguments: str
        ) -> ApprovalOutcome:
            timeout = self.settings.approval_timeout
            row = await self._store.open_approval(
                turn.id,
                call_id=call_id,
                kind=kind,
                name=name,
                arguments=arguments,
                expires_at=time.time() + timeout,
            )
            request = ApprovalRequest(row.id, kind, name, arguments, timeout)
            if not isinstance(sink, ApprovalSink):
                await self._store.decide_approval(row.id, "denied", user_id=None)
                await sink.notice(NO_APPROVAL_HERE)
                return "denied"
            if row.status == "pending" and row.message_ref is None:
                ref = await sink.ask(request)
                await self._store.set_approval_message(row.id, ref)
            waiter = self._decisions.setdefault(row.id, asyncio.Event())
            try:
                while row.status == "pending":
                    left = row.expires_at - time.time()
                    if left <= 0:
                        await self._store.decide_approval(row.id, "expired", user_id=None)
                    else:
                        # Decided here: woken at once; by another process: seen by polling.
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(waiter.wait(), min(left, APPROVAL_POLL_SECONDS))
                    fresh = await self._store.approval(row.id)
                    assert fresh is not None
                    row = fresh
            finally:
                self._decisions.pop(row.id, None)
            outcome: ApprovalOutcome = (
                "approved"
                if row.status == "approved"
                else "expired"
                if row.status == "expired"
                else "denied"
            )
            await sink.decided(request, outcome, ref=row.message_ref, by=row.decided_by or "")
            return outcome

        return approve

    async def record_feedback(
        self, turn_id: int, *, key: ThreadKey, user_id: str, value: FeedbackValue
    ) -> FeedbackOutcome:
        """A thumbs up or down on a finished reply (one vote per user, changeable)."""
        control = await self._store.turn_control(turn_id)
        if control is None or not _same_channel(control.thread.key, key):
            return "unknown"
        if control.status not in ("done", "stopped"):
            return "unknown"
        await self._store.record_feedback(turn_id, user_id, value)
        return "recorded"

    # --- intake -------------------------------------------------------------------

    async def submit(self, inbound: Inbound) -> bool:
        """Queue `inbound` unless it was seen before. Returns True if queued.

        Adapters call this before acknowledging the platform's delivery.
        """
        if not self._accepting:
            raise ServiceStopping()
        meta = [
            {"name": a.name, "mime_type": a.mime_type, "size": a.size, "url": a.url}
            for a in inbound.attachments
        ]
        assistant = None
        if self._assistants is not None:
            assistant = self._assistants.choose(inbound.places, inbound.assistant).name
        start = None
        if inbound.key.platform in self.repliers and not self._slots.locked():
            # A new thread's first turn, or an idle thread's next one, starts in its
            # claim: the model request is one transaction away. Threads this process
            # has a worker for take their queue themselves.
            start = Start(
                owner=self.owner,
                ttl=self.settings.lease_seconds,
                pool_after=self._engine.pool_after(),
                busy=frozenset(self._workers),
            )
        claimed = await self._store.claim(inbound, meta, assistant=assistant, start=start)
        if claimed is None:
            logger.debug("duplicate delivery ignored: %s", inbound.key)
            return False
        failpoint("after_claim")
        self._remember(inbound.key)
        if inbound.attachments:
            self._attachments[claimed.inbound_id] = inbound.attachments
        if claimed.work is not None:
            self._started[claimed.thread_id] = claimed.work
        if inbound.ambient:
            return True  # context for the next turn; it starts none
        self._submitted.add(claimed.thread_id)
        self.wake(claimed.thread_id)
        return True

    def wake(self, thread_id: int) -> None:
        """Make sure a worker will look at `thread_id`'s queue."""
        self._dirty.add(thread_id)
        if thread_id not in self._workers:
            self._idle.clear()
            self._workers[thread_id] = asyncio.create_task(
                self._worker(thread_id), name=f"thread-{thread_id}"
            )

    async def start(self) -> None:
        """Pick up work a previous (or a dead) process left behind, now and periodically."""
        self._engine.start()
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sweeper")
        self._stop_watcher = asyncio.create_task(self._watch_stops(), name="stop-watcher")

    async def sweep(self) -> None:
        for thread_id in await self._store.threads_with_work():
            if thread_id not in self._workers:
                self.wake(thread_id)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds)
            try:
                await self.sweep()
            except Exception:
                logger.exception("sweep failed")

    async def drain(self) -> None:
        """Wait until every queued message has been answered."""
        await self._idle.wait()

    async def stop(self, *, budget: float) -> bool:
        """Stop intake, give running turns `budget` seconds, cancel the rest.

        Returns True if everything finished. Unfinished work stays in the store.
        """
        self._accepting = False
        if self._sweeper is not None:
            self._sweeper.cancel()
        try:
            tasks = list(self._workers.values())
            if not tasks:
                return True
            _, pending = await asyncio.wait(tasks, timeout=budget)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return not pending
        finally:
            # Only now: a Stop clicked elsewhere still applies to a turn finishing here.
            if self._stop_watcher is not None:
                self._stop_watcher.cancel()

    # --- workers ------------------------------------------------------------------

    async def _worker(self, thread_id: int) -> None:
        ttl = self.settings.lease_seconds
        leased = False
        try:
            while True:
                self._dirty.discard(thread_id)
                async with self._slots:
                    # Started by the new thread's claim, or taken now in one transaction:
                    # the lease, then what a dead process left (that comes first), else
                    # the queue, started as a turn.
                    started = self._started.pop(thread_id, None)
                    if _turn_id(started) == self._taken.get(thread_id, 0):
                        started = None  # run already: take_work found it (below)
                    work = started or await self._store.take_work(
                        thread_id, owner=self.owner, ttl=ttl, platforms=frozenset(self.repliers)
                    )
                    if started is None and work is not None and work.turn is not None:
                        self._taken[thread_id] = work.turn.id
                        if _turn_id(self._started.get(thread_id)) == work.turn.id:
                            # A claim started this turn while this worker asked the store
                            # (a message came in as the worker began): it is the claim's
                            # new turn, not a dead process's to resume.
                            work = self._started.pop(thread_id)
                    leased = work is not None
                    if work is not None:
                        self._submitted.discard(thread_id)
                    if work is not None and work.turn is not None:
                        # finish_turn let go of the lease unless more messages wait.
                        leased = await self._run_turn(work)
                    if started is not None and started.pooled:
                        # After the turn, so the refill does not compete with its request.
                        self._engine.pool_taken()
                if work is None:
                    if thread_id not in self._submitted:
                        break  # its owner is alive; the sweep looks again later
                    # Another process runs this thread; look again later in case it dies
                    # or finishes without seeing the message sent to us.
                    await asyncio.sleep(ttl / 4)
                    self._dirty.add(thread_id)
                    continue
                if work.waiting:
                    platform = work.thread.key.platform
                    if await self._replier_for(platform) is not None:
                        continue
                    # Leave the messages queued: the adapter may register later, or the
                    # next process (or the periodic sweep) will answer them.
                    logger.warning("no adapter for %s; thread %s stays queued", platform, thread_id)
                    await self._store.release_lease(thread_id, self.owner)
                    break
                if work.turn is None:  # nothing to do
                    await self._store.release_lease(thread_id, self.owner)
                    leased = False
                if leased or thread_id in self._dirty:
                    continue  # more queued, or a message came in while we let go
                # No await between this check and leaving _workers: wake() can't miss us.
                break
        except Exception:
            logger.exception("worker for thread %s crashed", thread_id)
            if leased:
                await self._store.release_lease(thread_id, self.owner)
        finally:
            self._submitted.discard(thread_id)
            self._taken.pop(thread_id, None)
            self._workers.pop(thread_id, None)
            if not self._workers:
                self._idle.set()

    async def _keep_lease(self, thread_id: int) -> None:
        """Renew the lease while a long turn runs."""
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            await self._store.acquire_lease(thread_id, self.owner, self.settings.lease_seconds)

    async def _replier_for(self, platform: str) -> Replier | None:
        """The platform's replier; at start-up, adapters register a moment after work resumes."""
        for _ in range(int(REPLIER_WAIT_SECONDS / 0.1)):
            replier = self.repliers.get(platform)
            if replier is not None or not self._accepting:
                return replier
            await asyncio.sleep(0.1)
        return self.repliers.get(platform)

    async def _run_turn(self, work: Work) -> bool:
        """Run the turn `work` started (or resumed) to its end.

        Returns True if more messages wait in the thread's queue (the lease is kept).
        """
        assert work.turn is not None
        try:
            return await self._play_turn(work)
        finally:
            # Only now, however it ended: a Stop click until the turn is recorded must
            # find it here, or it would be stored as a request for an open turn (and
            # answered "Stopped.").
            self._running.pop(work.turn.id, None)

    async def _play_turn(self, work: Work) -> bool:
        assert work.turn is not None
        thread, turn, resumed = work.thread, work.turn, work.resumed
        rows = in_platform_order(work.rows or [])
        replier = self.repliers[thread.key.platform]
        if resumed:
            logger.info(
                "resuming turn %s of %s (%s, %d message(s) posted)",
                turn.id,
                thread.key,
                turn.status,
                len(turn.posted),
            )
            if not rows or turn.attempts > MAX_ATTEMPTS:
                return await self._give_up(replier, thread, turn)
        posted, response_id = tuple(turn.posted), turn.response_id
        sink = await replier.open_reply(
            key=thread.key,
            anchor=turn.anchor,
            posted=posted,
            on_posted=self._recorder(turn.id),
            turn_id=turn.id,
        )
        status: TurnStatus = "failed"
        error: str | None = None
        ref: str | None = None
        # None until the sink says what the reply consists of; the messages posted so
        # far are in the store already (recorded as they were posted).
        delivered: list[str] | None = None
        keeper = asyncio.create_task(self._keep_lease(thread.id))
        done: Done | None = None
        try:
            if not posted:
                for row in rows:
                    for text in row.notices:
                        await sink.notice(text)
            over = None if resumed else await self._over_budget(thread, rows[-1].user_id)
            if over:
                await sink.notice(over)
                refs = await sink.finish()
                delivered, status, error = list(refs.message_ids), "done", "over budget"
                return await self._finish(turn, status, delivered, error, None, None)
            if response_id is not None:
                # The model has these messages already; they are only needed again if
                # its response cannot be found, and their files are gone with the process.
                messages = [
                    UserMessage(r.text, r.user_id, r.user_name, inbound_id=r.id, heard=_heard(r))
                    for r in rows
                ]
            else:
                messages = []
                if work.first:
                    messages = await self._context(replier, thread, turn, rows, sink)
                messages += [await self._user_message(row, sink) for row in rows]
            context = ToolContext(
                thread=thread.key, user_id=rows[-1].user_id, user_name=rows[-1].user_name
            )
            running = _Running(asyncio.current_task())
            self._running[turn.id] = running
            events = self._engine.turn(
                thread=thread,
                messages=messages,
                context=context,
                resume_response=response_id,
                stopped=lambda: running.stopped,
                approve=self._approver(turn, sink),
            )
            async with contextlib.aclosing(self._until_stopped(events, running)) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        await sink.text(event.text)
                    elif isinstance(event, Progress):
                        await sink.progress(event)
                    elif isinstance(event, FileReady):
                        # Posted before the next event is asked for: the engine then records
                        # it as delivered.
                        await sink.file(event.file)
                    elif isinstance(event, Notice):
                        await sink.notice(event.text)
                    elif isinstance(event, Started):
                        running.response_id = event.response_id
                        await self._store.turn_started(turn.id, event.response_id)
                    elif isinstance(event, Done):
                        done = event
                        failpoint("after_model_answered")
                    elif isinstance(event, Failed):
                        error = f"{event.message} (ref {event.ref})"
                        ref = event.ref
            running.ending = True
            if running.stopped:
                await self._engine.cancel(running.response_id)
                await sink.text(STOPPED_MARK)
                error = None
            if error is None and done is not None and self._signs(done.assistant):
                # Where several assistants answer, each reply says whose it is.
                await sink.text(SIGNATURE.format(name=done.assistant))
            refs = await sink.finish(error=error)
            delivered = list(refs.message_ids)
            status = "stopped" if running.stopped else "done" if error is None else "failed"
            failpoint("before_done")
        except Exception as exc:
            logger.exception("turn %s of %s could not be delivered", turn.id, thread.key)
            error = f"delivery failed: {exc.__class__.__name__}"
        finally:
            if (ending := self._running.get(turn.id)) is not None:
                ending.ending = True
            for row in rows:
                self._attachments.pop(row.id, None)
            try:
                await self._close(sink, turn.id)
            finally:
                keeper.cancel()  # even if a second cancellation cuts the close short
        usage = self._usage(thread, rows, done)
        response = done.response_id if done else None
        return await self._finish(turn, status, delivered, error, ref, response, usage)

    async def _until_stopped(
        self, events: AsyncGenerator[EngineEvent, None], running: _Running
    ) -> AsyncGenerator[EngineEvent, None]:
        """The engine's events until the turn ends or is stopped. A stop while waiting
        for the engine cancels that wait (the engine closes the model stream and cancels
        running functions); the cancellation is absorbed here, the turn goes on to post
        what it has."""
        try:
            while not running.stopped:
                running.in_engine = True
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if not running.stopped or task is None or task.uncancel() > 0:
                        raise  # a shutdown, not (only) a Stop
                    return
                finally:
                    running.in_engine = False
                yield event
        finally:
            # Closed here, not when collected: a cancelled turn's model stream must end
            # now (a conversation stays locked while its response runs).
            await events.aclose()

    async def _finish(
        self,
        turn: TurnRow,
        status: TurnStatus,
        posted: list[str] | None,
        error: str | None,
        ref: str | None,
        response_id: str | None,
        usage: TurnUsage | None = None,
    ) -> bool:
        """Close the turn; True if more messages wait (else the lease is let go)."""
        return await self._store.finish_turn(
            turn.id,
            status=status,
            posted=posted,
            error=error,
            ref=ref,
            response_id=response_id,
            usage=usage,
            owner=self.owner,
            thread_id=turn.thread_id,
        )

    @staticmethod
    async def _close(sink: ReplySink, turn_id: int) -> None:
        """`sink.close()`, for at most CLOSE_SECONDS (a platform that hangs must not hold
        up the turn's record, or a shutdown)."""
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await sink.close()
        except TimeoutError:
            logger.warning("turn %s: its reply did not close within %gs", turn_id, CLOSE_SECONDS)
        except Exception:
            logger.exception("turn %s: its reply's background work did not end cleanly", turn_id)

    def _recorder(self, turn_id: int) -> OnPosted:
        async def record(refs: PostedRefs) -> None:
            await self._store.record_posted(turn_id, refs.message_ids)
            failpoint("after_first_post")

        return record

    async def _give_up(self, replier: Replier, thread: ThreadRow, turn: TurnRow) -> bool:
        """A turn that keeps dying (or lost its messages): say so where the reply was."""
        logger.warning("giving up turn %s of %s after repeated interruptions", turn.id, thread.key)
        sink = await replier.open_reply(key=thread.key, anchor=turn.anchor, posted=turn.posted)
        try:
            refs = await sink.finish(error=GAVE_UP)
            posted = list(refs.message_ids)
        except Exception:
            logger.exception("could not tell %s that turn %s was given up", thread.key, turn.id)
            posted = turn.posted
        finally:
            await self._close(sink, turn.id)
        return await self._finish(
            turn, "failed", posted, "interrupted too often", None, turn.response_id
        )

    async def _over_budget(self, thread: ThreadRow, user_id: str) -> str | None:
        """A short message if the user or their workspace used up today's tokens."""
        user_limit = self.settings.daily_user_tokens
        scope_limit = self.settings.daily_scope_tokens
        assistant = None
        if self._assistants is not None:
            assistant = self._assistants.get(thread.assistant) or self._assistants.default
        assistant_limit = assistant.daily_tokens if assistant is not None else 0
        if not user_limit and not scope_limit and not assistant_limit:
            return None
        midnight = time.time() // 86400 * 86400
        platform = thread.key.platform
        if assistant is not None and assistant_limit:
            used = await self._store.tokens_used(since=midnight, assistant=assistant.name)
            if used >= assistant_limit:
                return (
                    f"The {assistant.name} assistant has used today's budget. "
                    "It resets at midnight UTC."
                )
        if user_limit:
            used = await self._store.tokens_used(since=midnight, platform=platform, user_id=user_id)
            if used >= user_limit:
                return "You have used today's assistant budget. It resets at midnight UTC."
        if scope_limit:
            used = await self._store.tokens_used(
                since=midnight, platform=platform, scope=thread.key.scope
            )
            if used >= scope_limit:
                return (
                    "This workspace has used today's assistant budget. It resets at midnight UTC."
                )
        return None

    @staticmethod
    def _usage(thread: ThreadRow, rows: list[InboundRow], done: Done | None) -> TurnUsage | None:
        if done is None:
            return None
        # A merged turn is charged to the user whose message closed it.
        return TurnUsage(thread, rows[-1].user_id, done.model, done.usage, done.assistant)

    async def _context(
        self,
        replier: Replier,
        thread: ThreadRow,
        turn: TurnRow,
        rows: list[InboundRow],
        sink: ReplySink,
    ) -> list[UserMessage]:
        """The earlier messages of the platform's thread, where the adapter reads them
        (on the thread's first turn; the adapter's anchor says whether there are any)."""
        addressed = [r for r in rows if not r.ambient]
        if not isinstance(replier, ContextReader) or not addressed:
            return []
        # The first message asked in the thread: its anchor carries the adapter's mark.
        first = addressed[0]
        try:
            context = await replier.read_context(
                key=thread.key, anchor=first.anchor, before=first.message_id
            )
        except Exception:
            logger.exception("reading the context of %s failed", thread.key)
            context = Context(note=CONTEXT_UNREADABLE)
        if context.note:
            await sink.notice(context.note)
        if not context.messages:
            return []
        await self._store.record_context(turn.id, len(context.messages))
        messages = [
            await self._files_of(
                UserMessage(
                    text=m.text,
                    user_id="",
                    user_name=m.author,
                    sent_at=m.sent_at,
                    from_assistant=m.from_assistant,
                ),
                m.attachments,
                sink,
            )
            for m in context.messages
        ]
        if context.omitted:
            gap = UserMessage(f"({context.omitted} earlier messages omitted)", "")
            messages.insert(1, gap)
        return messages

    async def _user_message(self, row: InboundRow, sink: ReplySink) -> UserMessage:
        heard = _heard(row)
        attachments = self._attachments.get(row.id)
        if attachments is None and row.attachments:
            for meta in row.attachments:
                if not any(h.name == meta["name"] for h in heard):
                    await sink.notice(
                        f"{meta['name']} could not be fetched any more; send it again."
                    )
            attachments = ()
        message = UserMessage(
            text=row.text,
            user_id=row.user_id,
            user_name=row.user_name,
            inbound_id=row.id,
            heard=heard,
        )
        return await self._files_of(message, attachments or (), sink)

    async def _files_of(
        self, message: UserMessage, attachments: Sequence[Attachment], sink: ReplySink
    ) -> UserMessage:
        """`message` with its attachments downloaded, within the size caps."""
        files: list[InputFile] = []
        budget = self.settings.max_message_bytes
        limit = self.settings.max_file_bytes
        for attachment in attachments:
            cap = min(limit, budget)
            if attachment.size is not None and attachment.size > cap:
                which = "file" if attachment.size > limit else "message's files"
                await sink.notice(
                    f"Skipped {attachment.name}: {human_size(attachment.size)} is over the "
                    f"{which} limit of {human_size(cap)}."
                )
                continue
            if attachment.download is None:
                await sink.notice(f"Skipped {attachment.name}: it cannot be downloaded.")
                continue
            try:
                data = await attachment.download(cap)
            except AttachmentError as exc:
                await sink.notice(f"Skipped {attachment.name}: {exc}")
                continue
            if len(data) > cap:
                await sink.notice(f"Skipped {attachment.name}: it is over the size limit.")
                continue
            budget -= len(data)
            files.append(
                InputFile(
                    attachment.name,
                    attachment.mime_type,
                    data,
                    duration=attachment.duration,
                    voice=attachment.voice,
                )
            )
        return dataclasses.replace(message, files=tuple(files)) if files else message


def _heard(row: InboundRow) -> tuple[Transcript, ...]:
    """What an earlier attempt heard in the message's audio."""
    return tuple(
        Transcript(
            name=str(h["name"]),
            text=str(h["text"]),
            voice=bool(h.get("voice")),
            seconds=float(h.get("seconds") or 0),
        )
        for h in row.heard
    )


def in_platform_order(rows: list[InboundRow]) -> list[InboundRow]:
    """Messages of one turn in the order they were written, not as they arrived (a
    retried delivery comes late). Slack's message ts and Discord's snowflake ids grow
    with time; where a row has neither (the console), arrival order stands."""
    keys: list[Decimal] = []
    for row in rows:
        stamp = row.message_id or row.event_id or ""
        try:
            keys.append(Decimal(stamp))
        except InvalidOperation:
            return rows
    if any(not key.is_finite() for key in keys):
        return rows
    return [row for _, row in sorted(zip(keys, rows, strict=True), key=lambda pair: pair[0])]


class TurnEngine(Protocol):
    """What the service needs of an engine (`bot.engine.Engine`; tests may script one)."""

    def turn(
        self,
        *,
        thread: ThreadRow,
        messages: Sequence[UserMessage],
        context: ToolContext,
        resume_response: str | None = None,
        stopped: Callable[[], bool] = ...,
        approve: Approver | None = None,
    ) -> AsyncGenerator[EngineEvent, None]: ...

    def start(self) -> None: ...

    def pool_after(self) -> float | None:
        """A new thread's claim may take a conversation created ahead after this time
        (None: the engine keeps no pool)."""

    def pool_taken(self) -> None:
        """A claim took a pooled conversation: top the pool up (in the background)."""

    def describe(self, name: str | None = None) -> list[str]: ...

    async def cancel(self, response_id: str | None) -> None:
        """A stopped turn's response: cancel it where it runs on (background mode)."""


class ServiceStopping(Exception):
    """Raised by submit() while shutting down; adapters answer 503 / don't ack."""
