"""Sampling the bot process with py-spy while a scenario runs, and summarising it.

py-spy (``pip install py-spy`` or the ``bench`` extra) records collapsed stacks
(``--format raw``); the summary groups the samples' innermost frames by library
(where the CPU goes) and lists the functions with the most inclusive samples.
Turn the raw file into a flame graph with ``inferno-flamegraph`` or speedscope.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 200

# Library buckets, by a path fragment of the innermost frame's file; first match wins.
BUCKETS: tuple[tuple[str, str], ...] = (
    ("/bot/store/", "bot.store"),
    ("/bot/", "bot (core)"),
    ("/adapters/slack/", "adapters.slack"),
    ("/slack_bolt/", "slack_bolt"),
    ("/slack_sdk/", "slack_sdk"),
    ("/openai/", "openai SDK"),
    ("/httpx", "httpx"),
    ("/httpcore", "httpcore"),
    ("/h11/", "h11"),
    ("/anyio/", "anyio"),
    ("/pydantic", "pydantic"),
    ("/aiohttp/", "aiohttp"),
    ("/yarl/", "yarl/multidict"),
    ("/multidict/", "yarl/multidict"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("/sqlite3/", "sqlite3"),
    ("/alembic/", "alembic"),
    ("/logging/", "logging"),
    ("/json/", "json"),
    ("/ssl.py", "ssl"),
    ("/asyncio/", "asyncio"),
    ("/threading.py", "threading"),
    ("/concurrent/", "threading"),
)

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _bucket(file: str) -> str:
    for fragment, name in BUCKETS:
        if fragment in file:
            return name
    return "other"


def _short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame)
        out.append((frame, "") if match is None else (match["func"], match["file"] or ""))
    return out


def summarise(raw: str, *, top: int = 25) -> dict[str, Any]:
    """Where the event-loop thread spends its busy samples, and the SQLite threads' work.

    py-spy samples every thread; the event loop waiting in ``select`` is idle, and so
    is the store's SQLite thread (a one-thread executor) waiting for its next operation.
    """
    self_bucket: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_func: Counter[str] = Counter()
    loop_busy = loop_idle = sql_busy = sql_idle = other = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        funcs = {f for f, _ in frames}
        leaf, leaf_file = frames[-1]
        if "BaseEventLoop._run_once" in funcs:
            if leaf.endswith(".select") or leaf == "select":
                loop_idle += count
                continue
            loop_busy += count
            self_bucket[_bucket("/" + leaf_file)] += count
            self_func[f"{leaf} ({_short(leaf_file)})"] += count
            for name in {f"{f} ({_short(p)})" for f, p in frames}:
                inclusive[name] += count
        elif "_SqliteInline._call" in funcs:  # on the store thread: a fallback, a checkpoint
            sql_busy += count
        elif "_worker" in funcs and ("get" in leaf or "wait" in leaf):
            sql_idle += count  # an idle executor thread (the store's, or DNS lookups')
        else:
            other += count

    def pct(n: int) -> float:
        return round(100 * n / loop_busy, 1) if loop_busy else 0.0

    return {
        "rate_hz": RATE,
        "event_loop_busy_samples": loop_busy,
        "event_loop_idle_samples": loop_idle,
        "event_loop_busy_pct": round(100 * loop_busy / max(1, loop_busy + loop_idle), 1),
        "sqlite_thread_busy_samples": sql_busy,
        "sqlite_thread_idle_samples": sql_idle,
        "other_thread_samples": other,
        "loop_self_by_library_pct": {k: pct(v) for k, v in self_bucket.most_common()},
        "loop_top_self_pct": {k: pct(v) for k, v in self_func.most_common(top)},
        "loop_top_inclusive_pct": {
            k: pct(v) for k, v in inclusive.most_common(top + 12) if not _plumbing(k)
        },
    }


_PLUMBING = ("runpy", "asyncio/runners.py", "asyncio/base_events.py", "bot/__main__.py")


def _plumbing(name: str) -> bool:
    """Frames every sample has (the loop itself): no information."""
    return any(p in name for p in _PLUMBING) or name.startswith("main (bot/cli.py")


class Profiler:
    """``py-spy record`` attached to a pid until :meth:`stop`."""

    def __init__(self, proc: asyncio.subprocess.Process | None, out: Path, note: str = "") -> None:
        self.proc = proc
        self.out = out
        self.note = note

    @classmethod
    async def start(cls, pid: int, stem: Path, *, subprocesses: bool = False) -> Profiler:
        """Sample `pid` (with `subprocesses`, its children too: WEB_CONCURRENCY)."""
        out = stem.with_suffix(".txt")
        exe = shutil.which("py-spy")
        if exe is None:
            return cls(None, out, "py-spy not installed (pip install py-spy)")
        proc = await asyncio.create_subprocess_exec(
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--nonblocking",
            *(["--subprocesses"] if subprocesses else []),
            "--format",
            "raw",
            "--output",
            str(out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, out)

    async def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {"error": self.note}
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return {"error": "py-spy did not stop"}
        if not self.out.exists():
            return {"error": f"py-spy wrote nothing: {err.decode()[-300:]}"}
        return {"raw_file": str(self.out), **summarise(self.out.read_text())}
