"""Test helpers: a reply sink that records what a user would see."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.models import Inbound, OutFile, PostedRefs, Progress, ThreadKey

_ids = itertools.count(1)


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


class RecordingSink:
    def __init__(self, reply: RecordedReply) -> None:
        self.reply = reply

    async def progress(self, step: Progress) -> None:
        self.reply.steps.append(step)

    async def text(self, delta: str) -> None:
        self.reply.text += delta

    async def file(self, file: OutFile) -> None:
        self.reply.files.append(file)

    async def notice(self, text: str) -> None:
        self.reply.notices.append(text)

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        self.reply.error = error
        self.reply.finished = True
        return PostedRefs((f"msg-{next(_ids)}",))


class RecordingReplier:
    """Replier for platform "test": every reply is kept in `replies`, in order."""

    def __init__(self) -> None:
        self.replies: list[RecordedReply] = []

    async def open_reply(self, *, key: ThreadKey, anchor: str) -> RecordingSink:
        reply = RecordedReply(key=key, anchor=anchor)
        self.replies.append(reply)
        return RecordingSink(reply)

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
