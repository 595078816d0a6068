"""A terminal chat over the same service and store (hubot's shell, errbot's Text).

Interactive on a terminal; with piped input it reads one message per line and prints
each reply, so it can be scripted: `printf 'hi\\n' | threadbridge console`.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.attachments import guess_mime
from bot.models import (
    Attachment,
    AttachmentError,
    Inbound,
    OnPosted,
    OutFile,
    PostedRefs,
    Progress,
    ThreadKey,
)
from bot.service import Service

PLATFORM = "console"
HELP = """commands:
  /new              start a new thread
  /file PATH [text] attach a file (sent with the text, or with your next message)
  /thread           show the thread name (resume it with --thread NAME)
  /quit             leave"""


class ConsoleSink:
    """Prints one reply as it streams."""

    def __init__(self, out: TextIO, output_dir: Path, finished: asyncio.Queue[str | None]) -> None:
        self.out = out
        self.output_dir = output_dir
        self.finished = finished
        self._started = False
        self._at_line_start = True

    def _write(self, text: str) -> None:
        if not self._started:
            self.out.write("assistant> ")
            self._started = True
        self.out.write(text)
        self.out.flush()
        self._at_line_start = text.endswith("\n")

    def _line(self, text: str) -> None:
        if not self._at_line_start and self._started:
            self.out.write("\n")
        self.out.write(text + "\n")
        self.out.flush()
        self._at_line_start = True

    async def progress(self, step: Progress) -> None:
        self._line(f"  [{'done' if step.done else 'step'}] {step.label}")

    async def text(self, delta: str) -> None:
        self._write(delta)

    async def file(self, file: OutFile) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        safe = Path(file.name).name or "file"
        path = self.output_dir / safe
        counter = 1
        while path.exists():
            path = self.output_dir / f"{Path(safe).stem}-{counter}{Path(safe).suffix}"
            counter += 1
        path.write_bytes(file.data)
        self._line(f"  [file] {path}")

    async def notice(self, text: str) -> None:
        self._line(f"  [note] {text}")

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        if error:
            self._line(f"  [error] {error}")
        elif not self._at_line_start:
            self.out.write("\n")
        self.out.flush()
        await self.finished.put(error)
        return PostedRefs()

    async def close(self) -> None:
        pass


class ConsoleReplier:
    def __init__(self, out: TextIO, output_dir: Path) -> None:
        self.out = out
        self.output_dir = output_dir
        self.finished: asyncio.Queue[str | None] = asyncio.Queue()

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> ConsoleSink:
        # A terminal cannot edit what it printed: a resumed reply is printed in full.
        return ConsoleSink(self.out, self.output_dir, self.finished)


def _file_attachment(path: Path) -> Attachment:
    size = path.stat().st_size

    async def download(max_bytes: int) -> bytes:
        if size > max_bytes:
            raise AttachmentError("it is over the size limit")
        return await asyncio.to_thread(path.read_bytes)

    return Attachment(
        name=path.name,
        mime_type=guess_mime(path.name),
        size=size,
        download=download,
        url=path.resolve().as_uri(),
    )


class Console:
    """The REPL. `run()` returns the process exit code."""

    def __init__(
        self,
        *,
        service: Service,
        thread: str | None,
        output_dir: Path,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        user: str = "console-user",
    ) -> None:
        self.service = service
        self.stdin = stdin
        self.stdout = stdout
        self.user = user
        self.thread = thread or self._new_name()
        self.replier = ConsoleReplier(stdout, output_dir)
        service.register(PLATFORM, self.replier)
        self.pending_files: list[Attachment] = []
        self.interactive = stdin.isatty()

    @staticmethod
    def _new_name() -> str:
        return time.strftime("console-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]

    def _say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def _read(self) -> str | None:
        if self.interactive:
            self.stdout.write("you> ")
            self.stdout.flush()
        line = await asyncio.to_thread(self.stdin.readline)
        return None if line == "" else line.rstrip("\r\n")

    async def run(self) -> int:
        if self.interactive:
            self._say(f"threadbridge console, thread {self.thread}. /help for commands.")
        while (line := await self._read()) is not None:
            if not line.strip():
                continue
            if line.startswith("/"):
                text = self._command(line)
                if text is None:
                    continue
                if text == "\0quit":
                    break
            else:
                text = line
            await self.send(text)
        return 0

    def _command(self, line: str) -> str | None:
        """Handle a /command; returns text to send, None for nothing, "\\0quit" to stop."""
        try:
            parts = shlex.split(line)
        except ValueError:
            parts = line.split()
        name, args = parts[0].lower(), parts[1:]
        if name in ("/quit", "/exit"):
            return "\0quit"
        if name == "/help":
            self._say(HELP)
            here = self.service.assistants_at(("console",))
            if len(self.service.assistant_names()) > 1:
                names = ", ".join(n + (" (answers here)" if bound else "") for n, bound in here)
                self._say(f"assistants: {names}")
            bound = here[0][0]
            tools = self.service.describe_assistant(bound)
            self._say("tools: " + ("; ".join(tools) if tools else "none"))
        elif name == "/new":
            self.thread = self._new_name()
            self._say(f"new thread {self.thread}")
        elif name == "/thread":
            self._say(f"thread {self.thread}")
        elif name == "/file":
            if not args:
                self._say("usage: /file PATH [text]")
                return None
            path = Path(args[0]).expanduser()
            if not path.is_file():
                self._say(f"no such file: {path}")
                return None
            self.pending_files.append(_file_attachment(path))
            if len(args) > 1:
                return " ".join(args[1:])
            self._say(f"attached {path.name}; it goes with your next message")
        else:
            self._say(f"unknown command {name}; /help lists them")
        return None

    async def send(self, text: str) -> str | None:
        """Submit one message and wait for its reply; returns the error, if any."""
        key = ThreadKey(PLATFORM, "", "console", self.thread)
        inbound = Inbound(
            key=key,
            text=text,
            user_id=self.user,
            message_id=uuid.uuid4().hex,
            attachments=tuple(self.pending_files),
            places=("console",),
        )
        self.pending_files = []
        await self.service.submit(inbound)
        return await self.replier.finished.get()
