"""Test helpers: a reply sink that records what a user would see."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.models import (
    ApprovalOutcome,
    ApprovalRequest,
    Inbound,
    OnPosted,
    OutFile,
    PostedRefs,
    Progress,
    ThreadKey,
)

_ids = itertools.count(1)
REPO = Path(__file__).resolve().parent.parent


def this_tree(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child `python -m bot` that imports this checkout's `bot`, whatever
    checkout the environment's editable install points at (the child runs elsewhere)."""
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return {**env, "PYTHONPATH": path}


@dataclass
class RecordedReply:
    key: ThreadKey
    anchor: str
    text: str = ""
    steps: list[Progress] = field(default_factory=list)
    files: list[OutFile] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    error: str | None = None
    finished: bool = False
    closed: bool = False
    posted_id: str = ""
    resumed: int = 0
    asked: list[ApprovalRequest] = field(default_factory=list)
    decided: list[tuple[int, str, str]] = field(default_factory=list)  # (id, outcome, by)


class RecordingSink:
    """Records the reply; its first text counts as posting one message."""

    def __init__(self, reply: RecordedReply, on_posted: OnPosted | None = None) -> None:
        self.reply = reply
        self.on_posted = on_posted

    async def progress(self, step: Progress) -> None:
        self.reply.steps.append(step)

    async def text(self, delta: str) -> None:
        self.reply.text += delta
        if self.on_posted is not None:
            on_posted, self.on_posted = self.on_posted, None
            await on_posted(PostedRefs((self.reply.posted_id,)))

    async def file(self, file: OutFile) -> None:
        self.reply.files.append(file)

    async def notice(self, text: str) -> None:
        self.reply.notices.append(text)

    async def ask(self, request: ApprovalRequest) -> str | None:
        self.reply.asked.append(request)
        return f"ask-{request.approval_id}"

    async def decided(
        self, request: ApprovalRequest, outcome: ApprovalOutcome, *, ref: str | None, by: str
    ) -> None:
        self.reply.decided.append((request.approval_id, outcome, by))

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        self.reply.error = error
        self.reply.finished = True
        return PostedRefs((self.reply.posted_id,))

    async def close(self) -> None:
        self.reply.closed = True


class RecordingReplier:
    """Replier for platform "test": every reply is kept in `replies`, in order."""

    def __init__(self) -> None:
        self.replies: list[RecordedReply] = []

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> RecordingSink:
        """A resumed reply (`posted` given) continues the recorded reply it names."""
        for reply in self.replies:
            if reply.posted_id and reply.posted_id in posted:
                reply.text, reply.finished, reply.resumed = "", False, reply.resumed + 1
                return RecordingSink(reply)
        reply = RecordedReply(key=key, anchor=anchor, posted_id=f"msg-{next(_ids)}")
        self.replies.append(reply)
        return RecordingSink(reply, on_posted)

    def in_thread(self, key: ThreadKey) -> list[RecordedReply]:
        return [r for r in self.replies if r.key == key]


def key(thread: str = "t1", channel: str = "C1") -> ThreadKey:
    return ThreadKey("test", "T1", channel, thread)


def inbound(
    text: str,
    *,
    thread: str = "t1",
    event_id: str | None = None,
    message_id: str | None = None,
    user: str = "U1",
) -> Inbound:
    n = next(_ids)
    return Inbound(
        key=key(thread),
        text=text,
        user_id=user,
        event_id=event_id if event_id is not None else f"Ev{n}",
        message_id=message_id if message_id is not None else f"{n}.000",
        anchor=thread,
    )


def model_input(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A `responses.create` body's `input` as items. A plain string is one user message
    with that text, as the API reads it (the engine sends a lone text message so)."""
    raw = body["input"]
    if isinstance(raw, str):
        return [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw}]}
        ]
    return list(raw)


def conversation_of(body: dict[str, Any]) -> str:
    """The Conversation id a `responses.create` body names."""
    conv = body["conversation"]
    return str(conv["id"] if isinstance(conv, dict) else conv)


def texts_of(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, text) of each input item the model got (a request body's `input`)."""
    out = []
    for item in items:
        content = item["content"]
        if isinstance(content, str):
            out.append((item["role"], content))
        else:
            out.append((item["role"], " ".join(p["text"] for p in content if p.get("text"))))
    return out


def strip_time(text: str) -> str:
    """ "[Ann, 2026-12-01 10:02 UTC] hi" -> "[Ann] hi" (tests check the time once)."""
    if text.startswith("[") and " UTC] " in text:
        name = text[1 : text.index(",")]
        return f"[{name}] " + text.split(" UTC] ", 1)[1]
    return text
