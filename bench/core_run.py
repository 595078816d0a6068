"""The service path the console uses, in this process, with a recording replier.

Store (SQLite file, real migrations), engine (real openai SDK -> the OpenAI emulator
in a child process) and service, wired as ``bot/cli.py`` wires them; the replier only
records when a turn's first text and its end arrive. Comparing these numbers with the
Slack run separates the core's overhead from the Slack adapter's.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import procinfo
from bench.openai_proc import OpenAIProcess
from bench.scenarios import Scenario
from bench.turns import Turn, analyse
from bot.assistant import Assistant
from bot.assistants import single
from bot.cli import Settings
from bot.config import load_settings
from bot.engine import Engine, build_client
from bot.models import Inbound, OnPosted, OutFile, PostedRefs, Progress, ThreadKey
from bot.service import Service
from bot.store import Store

PLATFORM = "bench"
TURN_TIMEOUT = 60.0


class TimingSink:
    def __init__(self, turn: Turn | None, on_posted: OnPosted | None) -> None:
        self.turn = turn
        self.on_posted = on_posted
        self.text_seen = ""

    async def progress(self, step: Progress) -> None:
        return None

    async def text(self, delta: str) -> None:
        first = not self.text_seen
        self.text_seen += delta
        if first:
            if self.turn is not None and self.turn.t_first_text is None:
                self.turn.t_first_text = time.monotonic()
            # A real sink reports the message it just posted, which the service records.
            if self.on_posted is not None:
                await self.on_posted(PostedRefs((f"bench-{uuid.uuid4().hex[:8]}",)))

    async def file(self, file: OutFile) -> None:
        return None

    async def notice(self, text: str) -> None:
        return None

    async def finish(self, *, error: str | None = None) -> PostedRefs:
        if self.turn is not None:
            self.turn.finish(time.monotonic(), error="error reply" if error else None)
        return PostedRefs()

    async def close(self) -> None:
        return None


class TimingReplier:
    """One turn in flight per thread: the sink belongs to the thread's current turn."""

    def __init__(self) -> None:
        self.current: dict[str, Turn] = {}

    async def open_reply(
        self,
        *,
        key: ThreadKey,
        anchor: str,
        posted: Sequence[str] = (),
        on_posted: OnPosted | None = None,
        turn_id: int | None = None,
    ) -> TimingSink:
        return TimingSink(self.current.get(key.thread), on_posted)


async def run_core_scenario(scenario: Scenario) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-core-{scenario.name}-"))
    openai = await OpenAIProcess.start(scenario.model)
    settings = load_settings(
        Settings,
        _env_file=None,
        OPENAI_API_KEY="sk-bench-key-123456",
        OPENAI_BASE_URL=openai.base_url,
        OPENAI_MODEL="bench-model",
        DATABASE_URL=f"sqlite:///{workdir / 'core.db'}",
    )
    url, connect_args = settings.store_url
    store = await Store.open(url, connect_args=connect_args)
    # This process's CPU time when each model request goes out (httpx's request hook).
    requests_cpu: list[float] = []

    async def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.path.endswith("/responses"):
            requests_cpu.append(time.process_time())

    # Wired as bot/cli.py wires it: the service stores each new thread's assistant.
    assistants = single(Assistant.from_settings(settings))
    engine = Engine(
        client=build_client(settings, event_hooks={"request": [on_request]}),
        assistants=assistants,
        store=store,
        settings=settings,
    )
    replier = TimingReplier()
    service = Service(
        store=store,
        engine=engine,
        settings=settings,
        repliers={PLATFORM: replier},
        assistants=assistants,
    )
    await service.start()
    turns: list[Turn] = []
    # One thread at a time: the CPU from a message's submit to its model request.
    to_request_ms: list[float] = []

    async def thread(n: int, delay: float, *, record: bool = True) -> None:
        await asyncio.sleep(delay)
        key = ThreadKey(PLATFORM, "T1", "C1", f"thread-{n}")
        for k in range(scenario.messages if record else 1):
            turn = Turn(thread=n, index=k, t_sent=time.monotonic())
            if record:
                turns.append(turn)
            replier.current[key.thread] = turn
            inbound = Inbound(
                key=key,
                text=f"question {k} of thread {n}",
                user_id=f"U{n:06d}",
                message_id=uuid.uuid4().hex,
                anchor=key.thread,
            )
            turn.t_sent = time.monotonic()
            seen, cpu_sent = len(requests_cpu), time.process_time()
            await service.submit(inbound)
            turn.t_acked = time.monotonic()
            try:
                await asyncio.wait_for(turn.done.wait(), TURN_TIMEOUT)
            except TimeoutError:
                turn.finish(time.monotonic(), error="no reply (timeout)")
            if scenario.threads == 1:
                await service.drain()  # the turn's own bookkeeping is not the next one's
            if record and scenario.threads == 1 and len(requests_cpu) > seen:
                to_request_ms.append((requests_cpu[seen] - cpu_sent) * 1000)

    try:
        await thread(-1, 0, record=False)  # warm-up
        await openai.reset()
        rng = random.Random(7)
        cpu0 = time.process_time()
        busy0 = procinfo.machine_busy_seconds()
        oai0 = procinfo.cpu_seconds(openai.pid)
        t0 = time.monotonic()
        await asyncio.gather(
            *(
                thread(n, rng.uniform(0, scenario.ramp) if scenario.threads > 1 else 0.0)
                for n in range(scenario.threads)
            )
        )
        wall = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        busy = procinfo.machine_busy_seconds() - busy0
        cpu_oai = procinfo.cpu_seconds(openai.pid) - oai0
        stats = await openai.stats()
    finally:
        await service.stop(budget=5)
        await engine.close()
        await store.close()
        await openai.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result: dict[str, Any] = {"scenario": scenario.to_json(), "path": "core-in-process"}
    result.update(analyse(turns, scenario.model))
    routes: dict[str, int] = stats["routes"]
    result["openai_requests"] = {
        "total": sum(routes.values()),
        "per_turn": round(sum(routes.values()) / max(1, len(turns)), 3),
        "by_route": routes,
        "max_concurrent_responses": stats["max_concurrent_responses"],
    }
    result["cpu"] = {
        "wall_seconds": round(wall, 2),
        "core_and_driver_cores_used": round(cpu / wall, 2),
        "openai_emulator_cores_used": round(cpu_oai / wall, 2),
        "other_processes_cores_used": round(max(0.0, busy - cpu - cpu_oai) / wall, 2),
        "machine_cores_busy": round(busy / wall, 2),
        "core_cpu_ms_per_turn": round(cpu / max(1, len(turns)) * 1000, 2),
    }
    if to_request_ms:
        # Sequential turns only: then no other turn's work is in between.
        to_request_ms.sort()
        result["cpu"]["core_cpu_ms_to_request_p50"] = round(
            to_request_ms[len(to_request_ms) // 2], 2
        )
    return result
