"""A scenario against the real bot process in Slack HTTP mode.

This process hosts the Slack emulator and the driver; the OpenAI emulator runs in a
child process (:mod:`bench.openai_proc`); the bot is ``python -m bot run --http``, a
third process, with its real slack_bolt/slack_sdk/openai clients talking HTTP to the
emulators. The driver POSTs signed Events API deliveries to the bot and watches the
Slack Web API calls the bot makes, so a turn's times are:

* sent: just before the event's POST to the bot;
* first text: arrival of the first Slack call that carries reply text
  (``chat.startStream`` with text, ``chat.appendStream``, ``chat.postMessage``,
  ``chat.update``);
* done: arrival of the ``chat.stopStream`` that closes the reply, of the
  ``chat.postMessage`` of a reply's last page when it was complete before its first
  words (posted whole, in Markdown, with the feedback buttons), or of the error post.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from bench import procinfo
from bench.openai_proc import REPO, OpenAIProcess
from bench.profiling import Profiler
from bench.scenarios import Scenario
from bench.stats import max_in_window
from bench.turns import Turn, analyse
from tests.emulators.slack import (
    BOT_USER_ID,
    SlackEmulator,
    app_mention_event,
    event_callback,
    message_event,
    signed_event_request,
)
from tests.emulators.slack.models import Call

TEXT_METHODS = frozenset(
    {"chat.startStream", "chat.appendStream", "chat.stopStream", "chat.postMessage", "chat.update"}
)
WARMUP_CHANNEL = "CWARMUP"
TURN_TIMEOUT = 60.0


class BenchSlack(SlackEmulator):
    """The Slack emulator, telling the driver when a turn's reply shows and ends."""

    def __init__(self, *, feedback_buttons: bool = True) -> None:
        super().__init__()
        # A reply's last page carries the feedback buttons (on by default): a page posted
        # whole ends the reply if it has them, or if there are none to carry.
        self.feedback_buttons = feedback_buttons
        #: channel -> the turn in flight there (one bench thread per channel).
        self.current: dict[str, Turn] = {}
        self.error_posts = 0

    def _note(self, call: Call, *, text: bool, done: bool, error: bool = False) -> None:
        channel = str(call.params.get("channel", ""))
        turn = self.current.get(channel)
        if turn is None or call.time < turn.t_sent:
            return
        if text and turn.t_first_text is None:
            turn.t_first_text = call.time
        if done:
            turn.finish(call.time, error="error reply" if error else None)

    async def _chat_start_stream(self, call: Call) -> dict[str, Any]:
        result = await super()._chat_start_stream(call)
        self._note(call, text=bool(call.params.get("markdown_text")), done=False)
        return result

    async def _chat_append_stream(self, call: Call) -> dict[str, Any]:
        result = await super()._chat_append_stream(call)
        self._note(call, text=True, done=False)
        return result

    async def _chat_stop_stream(self, call: Call) -> dict[str, Any]:
        result = await super()._chat_stop_stream(call)
        self._note(call, text=bool(call.params.get("markdown_text")), done=True)
        return result

    async def _chat_post_message(self, call: Call) -> dict[str, Any]:
        result = await super()._chat_post_message(call)
        text = str(call.params.get("text") or "")
        if text.startswith(":warning:"):
            self.error_posts += 1
            self._note(call, text=False, done=True, error=True)
        elif not text.startswith(":information_source:"):
            # A page complete before its first words is posted whole, in Markdown; the
            # last one with the feedback buttons under it (a Markdown block then).
            blocks = call.params.get("blocks") or []
            last = any(isinstance(b, dict) and b.get("type") == "markdown" for b in blocks)
            if not self.feedback_buttons:
                last = bool(call.params.get("markdown_text"))  # one page assumed
            self._note(call, text=True, done=last)
        return result

    async def _chat_update(self, call: Call) -> dict[str, Any]:
        result = await super()._chat_update(call)
        self._note(call, text=True, done=False)
        return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(log_path: Path) -> int:
    return log_path.read_bytes().count(b"Slack HTTP mode: listening")


async def _wait_listening(log_path: Path, processes: int) -> None:
    """With WEB_CONCURRENCY, until every process listens (one answering is not enough)."""
    for _ in range(600):
        if _listening(log_path) >= processes:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{processes} processes did not all listen; see {log_path}")


def bot_env(
    *,
    workdir: Path,
    openai_url: str,
    slack: SlackEmulator,
    port: int,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The bot's environment: only what it needs, nothing from the developer's .env, and
    the default settings (what a user gets) but for the scenario's `extra` ones."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "SLACK_", "DISCORD_", "THREADBRIDGE_"))
        and k not in ("DATABASE_URL", "PORT", "DYNO", "WEB_CONCURRENCY")
    }
    return {
        **base,
        # The bot runs in `workdir`: make it import this checkout, not whichever one
        # the environment's editable install points at.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH")) if p),
        "THREADBRIDGE_ENV_FILE": str(workdir / "none.env"),
        "OPENAI_API_KEY": "sk-bench-key-123456",
        "OPENAI_BASE_URL": openai_url,
        "OPENAI_MODEL": "bench-model",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "PORT": str(port),
        **(extra or {}),
    }


class Driver:
    """Sends each thread's messages one after the other, as Slack would deliver them."""

    def __init__(self, *, slack: BenchSlack, url: str, session: aiohttp.ClientSession) -> None:
        self.slack = slack
        self.url = url
        self.session = session
        self.turns: list[Turn] = []

    async def _deliver(self, event: dict[str, Any], turn: Turn) -> None:
        payload = event_callback(event)
        self.slack.record_event(payload)
        body, headers = signed_event_request(payload, self.slack.signing_secret)
        turn.t_sent = time.monotonic()
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                await response.read()
                turn.ack_status = response.status
        except aiohttp.ClientError as exc:
            turn.finish(time.monotonic(), error=f"delivery failed: {exc.__class__.__name__}")
            return
        turn.t_acked = time.monotonic()
        if turn.ack_status != 200:
            turn.finish(turn.t_acked, error=f"HTTP {turn.ack_status}")

    async def thread(
        self, n: int, messages: int, *, delay: float, channel: str = "", history: int = 0
    ) -> None:
        await asyncio.sleep(delay)
        channel = channel or f"C{n:06d}"
        user = f"U{n:06d}"
        root = ""
        if history:
            # A thread people wrote in before anyone asked the bot (not timed).
            root = self.slack.user_message(channel, f"thread {n} opens", user=user).ts
            for i in range(1, history):
                text = f"message {i} of thread {n}: some discussion of the plan"
                self.slack.user_message(channel, text, user=user, thread_ts=root)
        for k in range(messages):
            turn = Turn(thread=n, index=k, t_sent=time.monotonic())
            self.turns.append(turn)
            self.slack.current[channel] = turn
            if k == 0:
                event = app_mention_event(
                    channel=channel,
                    user=user,
                    text=f"<@{BOT_USER_ID}> question {k} of thread {n}",
                    thread_ts=root or None,
                )
                root = root or event["ts"]
            else:
                event = message_event(
                    channel=channel, user=user, text=f"question {k} of thread {n}", thread_ts=root
                )
            await self._deliver(event, turn)
            try:
                await asyncio.wait_for(turn.done.wait(), TURN_TIMEOUT)
            except TimeoutError:
                turn.finish(time.monotonic(), error="no reply (timeout)")


async def _wait_healthy(session: aiohttp.ClientSession, base: str, proc: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"bot exited with {proc.returncode} before listening")
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("bot did not answer /healthz within 60 s")


def _edit_rates(slack: SlackEmulator, channels: list[str]) -> dict[str, Any]:
    """Per bot message: the most text calls (appends/updates, and all incl. start/stop)
    within any one second."""
    max_edits = 0
    max_all = 0
    messages = 0
    correct_texts = Counter[str]()
    for channel in channels:
        for message in slack.bot_messages(channel):
            messages += 1
            correct_texts[message.text] += 1
            edits = [
                e.time for e in message.edits if e.method in ("chat.appendStream", "chat.update")
            ]
            every = [e.time for e in message.edits]
            max_edits = max(max_edits, max_in_window(edits))
            max_all = max(max_all, max_in_window(every))
    return {
        "bot_messages": messages,
        "max_appends_or_updates_per_second_per_message": max_edits,
        "max_text_calls_per_second_per_message_incl_start_stop": max_all,
        "_texts": correct_texts,
    }


async def run_slack_scenario(
    scenario: Scenario,
    *,
    results_dir: Path,
    profile: bool = False,
    keep_workdir: bool = False,
) -> dict[str, Any]:
    """Run ``scenario`` against a fresh bot process; returns the measurements."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario.name}-"))
    log_path = results_dir / f"bot-{scenario.name}.log"
    openai = await OpenAIProcess.start(scenario.model)
    feedback = scenario.env.get("THREADBRIDGE_FEEDBACK_BUTTONS", "true").lower() != "false"
    slack = BenchSlack(feedback_buttons=feedback)
    await slack.start()
    port = free_port()
    env = bot_env(
        workdir=workdir,
        openai_url=openai.base_url,
        slack=slack,
        port=port,
        extra=scenario.env,
    )
    log = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--http", env=env, cwd=workdir, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    connector = aiohttp.TCPConnector(limit=0)
    profiler: Profiler | None = None
    result: dict[str, Any] = {"scenario": scenario.to_json(), "path": "slack-http"}
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        ) as session:
            await _wait_healthy(session, base, proc)
            await _wait_listening(log_path, int(scenario.env.get("WEB_CONCURRENCY", "1")))
            driver = Driver(slack=slack, url=f"{base}/slack/events", session=session)
            # Warm-up: one turn outside the measurement (lazy imports, auth.test).
            await driver.thread(999_999, 1, delay=0, channel=WARMUP_CHANNEL)
            warm = driver.turns.pop()
            if warm.error:
                raise RuntimeError(f"warm-up turn failed: {warm.error}; see {log_path}")
            slack.calls.clear()
            await openai.reset()
            driver.turns.clear()

            if profile:
                profiler = await Profiler.start(
                    proc.pid,
                    results_dir / f"profile-{scenario.name}",
                    subprocesses="WEB_CONCURRENCY" in scenario.env,
                )
            rng = random.Random(7)
            user0, sys0 = procinfo.cpu_times(proc.pid)
            busy0 = procinfo.machine_busy_seconds()
            oai0 = procinfo.cpu_seconds(openai.pid)
            cpu_self0 = time.process_time()
            t0 = time.monotonic()
            await asyncio.gather(
                *(
                    driver.thread(
                        n,
                        scenario.messages,
                        delay=rng.uniform(0, scenario.ramp) if scenario.threads > 1 else 0.0,
                        history=scenario.history,
                    )
                    for n in range(scenario.threads)
                )
            )
            wall = time.monotonic() - t0
            user1, sys1 = procinfo.cpu_times(proc.pid)
            busy = procinfo.machine_busy_seconds() - busy0
            cpu_oai = procinfo.cpu_seconds(openai.pid) - oai0
            cpu_bot = user1 + sys1 - user0 - sys0
            cpu_self = time.process_time() - cpu_self0
            if profiler is not None:
                result["profile"] = await profiler.stop()
            # Let trailing calls (status clear, DB writes) land before counting.
            await asyncio.sleep(0.5)
            result["peak_rss_mb"] = procinfo.tree_peak_rss_mb(proc.pid)
            openai_stats = await openai.stats()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()
        await slack.stop()
        await openai.stop()
        if not keep_workdir:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    turns = driver.turns
    n = len(turns)
    result.update(analyse(turns, scenario.model))
    channels = [f"C{i:06d}" for i in range(scenario.threads)]
    edits = _edit_rates(slack, channels)
    texts: Counter[str] = edits.pop("_texts")
    expected = scenario.model.text()
    result["replies_with_expected_text"] = texts.get(expected, 0)
    result["edits"] = edits
    slack_methods = Counter(c.method for c in slack.calls)
    result["slack_requests"] = {
        "total": sum(slack_methods.values()),
        "per_turn": round(sum(slack_methods.values()) / n, 2) if n else None,
        "by_method_per_turn": {m: round(c / n, 3) for m, c in slack_methods.most_common()},
        "failed": sum(1 for c in slack.calls if not c.ok),
    }
    routes: dict[str, int] = openai_stats["routes"]
    total_openai = sum(routes.values())
    first_turns = sum(1 for t in turns if t.index == 0)
    result["openai_requests"] = {
        "total": total_openai,
        "per_turn": round(total_openai / n, 3) if n else None,
        "by_route": routes,
        "conversation_creates_per_thread": round(
            routes.get("POST /v1/conversations", 0) / max(1, first_turns), 3
        ),
        "responses_per_turn": round(routes.get("POST /v1/responses", 0) / max(1, n), 3),
        "polling_requests": sum(c for r, c in routes.items() if r.startswith("GET /v1/responses")),
        "statuses": openai_stats["statuses"],
        "max_concurrent_responses": openai_stats["max_concurrent_responses"],
    }
    result["error_posts"] = slack.error_posts
    ours = cpu_bot + cpu_self + cpu_oai
    result["cpu"] = {
        "wall_seconds": round(wall, 2),
        "bot_cpu_seconds": round(cpu_bot, 2),
        "bot_cores_used": round(cpu_bot / wall, 2),
        "bot_system_cpu_share": round((sys1 - sys0) / cpu_bot, 2) if cpu_bot else None,
        "driver_and_slack_emulator_cores_used": round(cpu_self / wall, 2),
        "openai_emulator_cores_used": round(cpu_oai / wall, 2),
        "other_processes_cores_used": round(max(0.0, busy - ours) / wall, 2),
        "machine_cores_busy": round(busy / wall, 2),
        "bot_cpu_ms_per_turn": round(cpu_bot / n * 1000, 2) if n else None,
    }
    result["bot_exit_code"] = proc.returncode
    result["bot_log"] = _log_summary(log_path)
    return result


def _log_summary(path: Path) -> dict[str, Any]:
    levels: defaultdict[str, int] = defaultdict(int)
    samples: list[str] = []
    with path.open(errors="replace") as handle:
        for line in handle:
            for level in ("ERROR", "WARNING", "Traceback"):
                if level in line:
                    levels[level] += 1
                    if len(samples) < 5:
                        samples.append(line.strip()[:200])
    return {"file": str(path), "counts": dict(levels), "samples": samples}
