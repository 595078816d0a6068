"""The "Ask threadbridge" message shortcut: a question about any message, answered in
that message's thread.

1. **Shortcut** (``message_action``, callback_id :data:`CALLBACK_ID`): a modal opens
   (``views.open`` with the shortcut's ``trigger_id``, inside Slack's 3 seconds) asking
   for the question. Its ``private_metadata`` carries the message: channel, ts, thread,
   team, author and a short excerpt (:class:`Target`). Outside the allowlists the modal
   says so instead; only the user sees it.
2. **Submission** (``view_submission``): the question is not a Slack message, so the
   people in the thread would see an answer to nothing. The bot first posts it there,
   as ``@asker asked:`` and the question quoted (escaped, pings broken: user text never
   pings; the asker is mentioned, which also tells them where the answer is). Then it
   is claimed through the service like a mention in that thread: dedup keys
   ``event_id`` = the view id (a modal submitted twice is answered once) and
   ``message_id`` = the ts of that posted question (so the turn's read of the thread
   stops right before it, and it sorts with the thread's messages); the text is the
   question and which message it is about; the anchor is the thread, with ``history``
   when the bot was not part of the thread yet, so the thread up to the question
   becomes context once. Only after the claim committed is the submission acked and the
   modal closed; the answer then comes as a normal reply in the thread.
3. **Failures** answer in the modal (``response_action: errors``) and leave nothing in
   the thread: refused by the allowlists, the bot not in the channel, Slack refusing the
   post, the process shutting down, the store down. A question posted before a failed
   claim is deleted again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Inbound, ThreadKey
from bot.service import Service, ServiceStopping
from bot.text import valid_text

from .errors import FAILURES, error_code
from .events import (
    PLATFORM,
    Anchor,
    Incoming,
    channel_type_of,
    permitted,
    places_of,
    unescape,
)
from .text import break_broadcasts, escape
from .users import UserNames

logger = logging.getLogger(__name__)

CALLBACK_ID = "ask_threadbridge"
VIEW_CALLBACK_ID = "ask_threadbridge_question"
SHORTCUT_NAME = "Ask threadbridge"
#: callback_id -> (type, name) of each shortcut the manifest declares and a listener
#: handles (tests/slack/test_manifest.py holds manifest.yml to it).
SHORTCUTS: Mapping[str, tuple[str, str]] = {CALLBACK_ID: ("message", SHORTCUT_NAME)}

QUESTION_BLOCK = "question"
ASSISTANT_BLOCK = "assistant"
ASSISTANT_ACTION = "assistant"
QUESTION_ACTION = "text"
MAX_QUESTION = 3000  # Slack's largest max_length for a plain-text input
EXCERPT_CHARS = 300
#: views.open must come within 3 s of the shortcut; posting the question, before the
#: submission's 3 s are up.
OPEN_SECONDS = 2.5
POST_SECONDS = 2.0

MODAL_TITLE = "Ask threadbridge"
QUESTION_LABEL = "Your question"
QUESTION_PLACEHOLDER = "What would you like to know about this message?"
QUESTION_HINT = "The question and the answer go into the message's thread, for everyone there."

EMPTY = "Write a question first."
OUT_OF_DATE = "This form is out of date. Close it and use the shortcut again."
NOT_A_MEMBER = (
    "I'm not in this channel, so I can't answer in its threads. Add me to it and ask again."
)
NOT_MY_DM = "I can only answer in channels I'm in and in my own direct messages."
NOT_POSTED = "Slack didn't let me post in that thread. Try again in a moment."
STOPPING = "I'm restarting. Ask again in a minute."
NOT_TAKEN = "I couldn't take your question just now. Try again in a moment."

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass(frozen=True, slots=True)
class Target:
    """The message a question is about; the modal's ``private_metadata``.

    ``thread_ts`` is the thread the answer goes to: the message's thread, or its own
    ts for a message without one. ``author`` is its author's user id (a bot's name for
    a bot without one); ``excerpt`` the start of its text.
    """

    channel: str
    ts: str
    thread_ts: str
    team: str
    author: str = ""
    excerpt: str = ""

    def dumps(self) -> str:
        data = {
            "c": self.channel,
            "m": self.ts,
            "t": self.thread_ts,
            "tm": self.team,
            "a": self.author,
            "x": self.excerpt,
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def loads(cls, raw: object) -> Target | None:
        """The target in `raw`, or None if it is not one (an old or foreign form)."""
        try:
            data = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        fields = [data.get(name) for name in ("c", "m", "t")]
        if not all(isinstance(f, str) and f for f in fields):
            return None
        return cls(
            channel=str(data["c"]),
            ts=str(data["m"]),
            thread_ts=str(data["t"]),
            team=str(data.get("tm") or ""),
            author=str(data.get("a") or ""),
            excerpt=str(data.get("x") or ""),
        )


@dataclass(frozen=True, slots=True)
class Submission:
    """A submitted question form; ``target`` is None when its metadata is unreadable."""

    view_id: str
    user: str
    question: str
    target: Target | None
    assistant: str | None = None  # chosen in the form (several assistants, new thread)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a message's text on one line, cut at a word."""
    flat = " ".join(valid_text(unescape(text)).split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit - 1)
    return flat[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def parse_shortcut(body: Mapping[str, Any]) -> tuple[Target, str, str] | None:
    """(target, user, trigger_id) of a ``message_action`` payload, or None."""
    if body.get("type") != "message_action":
        return None
    channel = _get(body, "channel", "id")
    message = body.get("message")
    user = _get(body, "user", "id")
    trigger_id = body.get("trigger_id")
    if not isinstance(message, Mapping) or not (channel and user and isinstance(trigger_id, str)):
        return None
    ts = message.get("ts") or body.get("message_ts")
    if not isinstance(ts, str) or not ts:
        return None
    thread_ts = message.get("thread_ts")
    team = _get(body, "team", "id") or _get(body, "user", "team_id")
    profile = message.get("bot_profile")
    bot_name = profile.get("name") if isinstance(profile, Mapping) else None
    author = message.get("user") or message.get("username") or bot_name or ""
    target = Target(
        channel=channel,
        ts=ts,
        thread_ts=thread_ts if isinstance(thread_ts, str) and thread_ts else ts,
        team=team,
        author=str(author),
        excerpt=excerpt(str(message.get("text") or "")),
    )
    return target, user, trigger_id


def parse_submission(body: Mapping[str, Any]) -> Submission:
    """The question form a ``view_submission`` payload carries."""
    view = body.get("view")
    view = view if isinstance(view, Mapping) else {}
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    question = _get(values, QUESTION_BLOCK, QUESTION_ACTION, "value")
    assistant = _get(values, ASSISTANT_BLOCK, ASSISTANT_ACTION, "selected_option", "value")
    return Submission(
        view_id=str(view.get("id") or ""),
        user=_get(body, "user", "id"),
        question=question,
        target=Target.loads(view.get("private_metadata")),
        assistant=assistant or None,
    )


def _get(data: object, *path: str) -> str:
    """The string at `path` in nested mappings ("" if any step is missing)."""
    for name in path:
        if not isinstance(data, Mapping):
            return ""
        data = data.get(name)
    return data if isinstance(data, str) else ""


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def question_view(target: Target, assistants: Sequence[tuple[str, bool]] = ()) -> dict[str, Any]:
    """The modal asking for the question (plain text only: nothing in it can ping).
    With several `assistants` (name, bound here) for a new thread, a select picks one."""
    blocks: list[dict[str, Any]] = []
    if target.excerpt:
        blocks.append({"type": "context", "elements": [_plain(f"“{target.excerpt}”")]})
    blocks.append(
        {
            "type": "input",
            "block_id": QUESTION_BLOCK,
            "label": _plain(QUESTION_LABEL),
            "hint": _plain(QUESTION_HINT),
            "element": {
                "type": "plain_text_input",
                "action_id": QUESTION_ACTION,
                "multiline": True,
                "max_length": MAX_QUESTION,
                "placeholder": _plain(QUESTION_PLACEHOLDER),
            },
        }
    )
    if len(assistants) > 1:
        options = [{"text": _plain(name[:75]), "value": name} for name, _ in assistants]
        bound = next((o for o, (_, here) in zip(options, assistants, strict=True) if here), None)
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": ASSISTANT_ACTION,
            "options": options,
        }
        if bound is not None:
            element["initial_option"] = bound
        blocks.append(
            {
                "type": "input",
                "block_id": ASSISTANT_BLOCK,
                "label": _plain("Assistant"),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": VIEW_CALLBACK_ID,
        "title": _plain(MODAL_TITLE),
        "submit": _plain("Ask"),
        "close": _plain("Cancel"),
        "private_metadata": target.dumps(),
        "blocks": blocks,
    }


def notice_view(text: str) -> dict[str, Any]:
    """A modal that only says `text` (a refusal): no input, no submit button."""
    return {
        "type": "modal",
        "title": _plain(MODAL_TITLE),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": _plain(text)}],
    }


def question_text(question: str, user: str) -> str:
    """The question as the bot posts it into the thread (mrkdwn for ``text``): who
    asked, then their words quoted, escaped and with every ping token broken."""
    lines = question.split("\n")
    quoted = "\n".join(
        "> " + break_broadcasts(escape(line)) if line.strip() else ">" for line in lines
    )
    who = f"<@{user}>" if _USER_ID.fullmatch(user) else "Someone"
    return f"{who} asked:\n{quoted}"


def model_text(question: str, *, author: str, about: str) -> str:
    """What the model gets: the question, and which message of the thread it is about
    (the user chose it; "this" in the question means that message)."""
    who = author or "someone"
    if about:
        return f"{question}\n\n(Asked about this message from {who}: “{about}”)"
    return f"{question}\n\n(Asked about a message from {who} in this thread.)"


class InboundBuilder(Protocol):
    """`SlackBridge._inbound`: the `Inbound` a mention would give (names, anchor, files)."""

    def __call__(self, incoming: Incoming, *, first: bool) -> Awaitable[Inbound]: ...


class AskShortcut:
    """The shortcut's two listeners; :meth:`register` adds them to the Bolt app."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        service: Service,
        names: UserNames,
        inbound: InboundBuilder,
        allowed_channels: Sequence[str] = (),
        allowed_users: Sequence[str] = (),
        refusal: str,
    ) -> None:
        self.client = client
        self.service = service
        self.names = names
        self.inbound = inbound
        self.allowed_channels = tuple(allowed_channels)
        self.allowed_users = tuple(allowed_users)
        self.refusal = refusal

    def register(self, app: AsyncApp) -> None:
        app.message_shortcut(CALLBACK_ID)(self._on_shortcut)
        app.view_submission(VIEW_CALLBACK_ID)(self._on_submission)

    # --- listeners --------------------------------------------------------------------

    async def _on_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        parsed = parse_shortcut(body)
        if parsed is not None:
            target, user, trigger_id = parsed
            allowed = self._permitted(target, user)
            choices: list[tuple[str, bool]] = []
            if allowed and len(self.service.assistant_names()) > 1:
                key = ThreadKey(PLATFORM, target.team, target.channel, target.thread_ts)
                if not await self.service.knows_thread(key):  # a thread keeps its own
                    choices = self.service.assistants_at(places_of(target.channel))
            view = question_view(target, choices) if allowed else notice_view(self.refusal)
            try:
                async with asyncio.timeout(OPEN_SECONDS):
                    await self.client.views_open(trigger_id=trigger_id, view=view)
            except FAILURES as exc:
                logger.warning("could not open the question form: %s", error_code(exc))
        await ack()

    async def _on_submission(self, ack: Any, body: dict[str, Any]) -> None:
        # Bolt acks after this returns (process_before_response): the modal closes only
        # once the question is claimed, or shows why it was not.
        problem = await self._take(parse_submission(body))
        if problem is None:
            await ack()
        else:
            await ack(response_action="errors", errors={QUESTION_BLOCK: problem})

    # --- helpers ----------------------------------------------------------------------

    def _permitted(self, target: Target, user: str) -> bool:
        return permitted(
            self._incoming(target, user=user, text="", ts=target.ts, view_id=""),
            allowed_channels=self.allowed_channels,
            allowed_users=self.allowed_users,
        )

    @staticmethod
    def _incoming(target: Target, *, user: str, text: str, ts: str, view_id: str) -> Incoming:
        """The question as if it were a mention in the target's thread."""
        return Incoming(
            key=ThreadKey(PLATFORM, target.team, target.channel, target.thread_ts),
            channel=target.channel,
            channel_type=channel_type_of(target.channel),
            user=user,
            team=target.team,
            text=text,
            ts=ts,
            thread_ts=target.thread_ts,
            event_id=view_id or None,
            mentioned=True,
        )

    async def _take(self, submission: Submission) -> str | None:
        """Post and claim the question; None if done, else what to show in the modal."""
        target = submission.target
        if target is None or not submission.view_id or not submission.user:
            return OUT_OF_DATE
        question = valid_text(submission.question).strip()
        if not question:
            return EMPTY
        if not self._permitted(target, submission.user):
            return self.refusal
        try:
            return await self._claim(submission, target, question)
        except ServiceStopping:
            return STOPPING
        except Exception as exc:
            # Nothing was left in the thread; the user can simply submit again.
            logger.error(
                "could not take a question for %s/%s: %s: %s",
                target.channel,
                target.thread_ts,
                exc.__class__.__name__,
                exc,
            )
            return NOT_TAKEN

    async def _claim(self, submission: Submission, target: Target, question: str) -> str | None:
        key = ThreadKey(PLATFORM, target.team, target.channel, target.thread_ts)
        known = await self.service.knows_thread(key)
        try:
            async with asyncio.timeout(POST_SECONDS):
                posted = await self.client.chat_postMessage(
                    channel=target.channel,
                    thread_ts=target.thread_ts,
                    text=question_text(question, submission.user),
                    unfurl_links=False,
                    unfurl_media=False,
                )
            ts = str(posted["ts"])
        except FAILURES as exc:
            return self._not_posted(target, exc)
        try:
            author = await self._author(target.author)
            incoming = self._incoming(
                target,
                user=submission.user,
                text=model_text(question, author=author, about=target.excerpt),
                ts=ts,
                view_id=submission.view_id,
            )
            inbound = await self.inbound(incoming, first=not known)
            if submission.assistant and not known:
                inbound = dataclasses.replace(inbound, assistant=submission.assistant)
            if not known:
                # The thread (up to the question) is context once, in DMs as well: the
                # message the question is about may be all there is of it.
                anchor = dataclasses.replace(Anchor.loads(inbound.anchor), history=True)
                inbound = dataclasses.replace(inbound, anchor=anchor.dumps())
            queued = await self.service.submit(inbound)
        except Exception:
            await self._retract(target.channel, ts)
            raise
        if not queued:
            logger.info("question form %s submitted again: answered once", submission.view_id)
            await self._retract(target.channel, ts)
        return None

    @staticmethod
    def _not_posted(target: Target, exc: BaseException) -> str:
        error = error_code(exc)
        logger.warning("could not post a question into %s: %s", target.channel, error)
        if error == "not_in_channel" or (
            error == "channel_not_found" and channel_type_of(target.channel) != "im"
        ):
            return NOT_A_MEMBER
        if error == "channel_not_found":
            return NOT_MY_DM
        return NOT_POSTED

    async def _author(self, author: str) -> str:
        if _USER_ID.fullmatch(author):
            return await self.names.get(author) or author
        return author

    async def _retract(self, channel: str, ts: str) -> None:
        try:
            await self.client.chat_delete(channel=channel, ts=ts)
        except FAILURES as exc:
            logger.warning("could not delete an unanswered question: %s", error_code(exc))


__all__ = [
    "CALLBACK_ID",
    "SHORTCUTS",
    "VIEW_CALLBACK_ID",
    "AskShortcut",
    "Submission",
    "Target",
    "excerpt",
    "model_text",
    "notice_view",
    "parse_shortcut",
    "parse_submission",
    "question_text",
    "question_view",
]
