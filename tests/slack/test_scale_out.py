"""Two bot processes on one database, both receiving the same Slack events.

As on Heroku with two web dynos behind the router (or a retried delivery that lands
on the other dyno): every message is answered once, and a thread's turns never run
at the same time in both processes. Runs on SQLite (one volume, several processes)
and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.dbs import database_url
from tests.emulators.discord import DiscordEmulator
from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, SlackEmulator, app_mention_event, event_callback
from tests.helpers import model_input
from tests.slack.test_cli import base_env, expect_reply, free_port, run

__all__ = ["database_url"]


def question_of(req: Any) -> str:
    return req.last_user_text().rsplit(" ", 1)[-1]


async def serve(
    tmp_path: Path, openai_emulator: Any, slack: SlackEmulator, database: str, **extra: str
) -> tuple[Any, str]:
    port = free_port()
    env = base_env(
        tmp_path,
        openai_emulator,
        slack,
        SLACK_SIGNING_SECRET=slack.signing_secret,
        PORT=str(port),
        DATABASE_URL=database,
        THREADBRIDGE_LEASE_SECONDS="2",
        **extra,
    )
    proc = await run(["run", "--http"], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(1000):
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return proc, f"{base}/slack/events"
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.03)
    proc.kill()
    _, err = await proc.communicate()
    raise AssertionError(f"the bot did not start:\n{err.decode()[-3000:]}")


async def test_two_processes_answer_each_message_once_without_overlap(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator, database_url: str
) -> None:
    openai_emulator.model = lambda req: Reply(text=f"answer to {question_of(req)}", ttft=0.3)
    # Start one first so that the database is migrated once, as a release phase would.
    a, url_a = await serve(tmp_path, openai_emulator, slack_emulator, database_url)
    b, url_b = await serve(tmp_path, openai_emulator, slack_emulator, database_url)
    try:
        root = app_mention_event(text=f"<@{BOT_USER_ID}> shared-q0")
        events = [root]
        events += [
            app_mention_event(text=f"<@{BOT_USER_ID}> shared-q{i}", thread_ts=root["ts"])
            for i in (1, 2)
        ]
        events += [app_mention_event(text=f"<@{BOT_USER_ID}> solo-{i}") for i in range(3)]
        for event in events:
            payload = event_callback(event)
            statuses = await asyncio.gather(
                slack_emulator.http_send_event(url_a, payload),
                slack_emulator.http_send_event(
                    url_b, payload, retry_num=1, retry_reason="http_timeout"
                ),
            )
            assert [status for status, _ in statuses] == [200, 200]
            await asyncio.sleep(0.05)

        def answered() -> list[str]:
            texts = slack_emulator.bot_texts("C0001", root["ts"])
            for event in events[3:]:
                texts += slack_emulator.bot_texts("C0001", event["ts"])
            return texts

        for _ in range(500):
            messages = slack_emulator.bot_messages("C0001")
            if (
                len(openai_emulator.responses_requests()) >= 4
                and not openai_emulator.in_flight
                and all(m.stream_state in (None, "stopped") for m in messages)
                and sum("solo" in t for t in answered()) == 3
            ):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # a duplicate would show up by now
    finally:
        for proc in (a, b):
            proc.send_signal(signal.SIGTERM)
        logs = [(await proc.communicate())[1].decode() for proc in (a, b)]
    asked_texts = [
        part["text"]
        for request in openai_emulator.responses_requests()
        for item in model_input(request.body)
        for part in item["content"]
        if part.get("type") == "input_text"
    ]
    questions = sorted(text.rsplit(" ", 1)[-1] for text in asked_texts)
    assert questions == [
        "shared-q0", "shared-q1", "shared-q2", "solo-0", "solo-1", "solo-2"
    ], logs  # fmt: skip
    assert openai_emulator.overlaps == [], logs  # a thread's turns never overlapped
    for event in events[3:]:
        text = event["text"].rsplit(" ", 1)[-1]
        assert slack_emulator.bot_texts("C0001", event["ts"]) == [f"answer to {text}"], logs
    # Messages that arrive while a turn runs are answered together, in order: one reply
    # per turn, each to the newest message it covered.
    shared = slack_emulator.bot_texts("C0001", root["ts"])
    assert shared == sorted(set(shared)) and shared[-1] == "answer to shared-q2", (shared, logs)
    assert [p.returncode for p in (a, b)] == [0, 0], logs


async def lease_owners(database: str) -> list[str]:
    """The processes holding thread leases, as the `threads` table has them."""
    query = "SELECT lease_owner FROM threads WHERE lease_owner IS NOT NULL"
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
            return [str(owner) for (owner,) in db.execute(query)]
    conn = await asyncpg.connect(database)
    try:
        return [str(row[0]) for row in await conn.fetch(query)]
    finally:
        await conn.close()


async def test_a_stop_clicked_in_the_other_process_stops_the_reply(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator, database_url: str
) -> None:
    """Behind a router, the Stop click lands on any process: the one not running the
    turn passes it on through the database."""
    long = " ".join(f"word{i}" for i in range(300))
    openai_emulator.script(Reply(text=long, tokens_per_second=40, chunk_chars=6))
    fast = {"THREADBRIDGE_SLACK_STOP_AFTER": "0"}
    a, url_a = await serve(tmp_path, openai_emulator, slack_emulator, database_url, **fast)
    b, url_b = await serve(tmp_path, openai_emulator, slack_emulator, database_url, **fast)
    asker = "U0USER"
    try:
        event = app_mention_event(text=f"<@{BOT_USER_ID}> write a lot", user=asker)
        status, _ = await slack_emulator.http_send_event(url_a, event_callback(event))
        assert status == 200
        stop = None
        for _ in range(500):
            stop = next(
                (
                    e
                    for e in slack_emulator.ephemerals_for(asker, "C0001", event["ts"])
                    if e.blocks and "tb_stop" in str(e.blocks)
                ),
                None,
            )
            if stop is not None and slack_emulator.bot_messages("C0001", event["ts"]):
                break
            await asyncio.sleep(0.02)
        assert stop is not None
        [owner] = await lease_owners(database_url)
        running = {a.pid: a, b.pid: b}[int(owner.split(":")[1])]
        elsewhere = url_b if running is a else url_a
        await slack_emulator.click("C0001", stop.message_ts, "tb_stop", user=asker, url=elsewhere)
        for _ in range(500):
            [reply] = slack_emulator.bot_messages("C0001", event["ts"])
            if reply.stream_state == "stopped":
                break
            await asyncio.sleep(0.02)
    finally:
        for proc in (a, b):
            proc.send_signal(signal.SIGTERM)
        logs = [(await proc.communicate())[1].decode() for proc in (a, b)]
    [reply] = slack_emulator.bot_messages("C0001", event["ts"])
    assert reply.text.startswith("word0"), logs
    assert reply.text.rstrip().endswith("_(stopped)_"), (reply.text[-200:], logs)
    assert "word299" not in reply.text
    [response] = openai_emulator.response_objects.values()
    assert response["status"] == "cancelled"
    # The click was answered where it landed, as in one process.
    assert "Stopped." in slack_emulator.ephemeral_texts(asker, "C0001")
    assert [p.returncode for p in (a, b)] == [0, 0], logs


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def alive(pids: list[int]) -> bool:
    return any(Path(f"/proc/{pid}").exists() for pid in pids)


async def test_web_concurrency_runs_that_many_processes_on_one_port(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator, database_url: str
) -> None:
    openai_emulator.model = lambda req: Reply(text=f"answer to {question_of(req)}", ttft=1.0)
    proc, url = await serve(
        tmp_path, openai_emulator, slack_emulator, database_url, WEB_CONCURRENCY="2"
    )
    log = b""
    try:
        children = children_of(proc.pid)
        assert len(children) == 2
        # The supervisor is a fresh interpreter that runs only bot/supervisor.py.
        assert command_line(proc.pid)[1:3] == ["-m", "bot.supervisor"]
        assert proc.stderr is not None
        while log.count(b"Slack HTTP mode: listening") < 2:  # both took the port
            log += await asyncio.wait_for(proc.stderr.readline(), 30)
        events = [app_mention_event(text=f"<@{BOT_USER_ID}> q{i}") for i in range(12)]
        statuses = await asyncio.gather(
            *(slack_emulator.http_send_event(url, event_callback(e)) for e in events)
        )
        assert [status for status, _ in statuses] == [200] * 12
        # Turns run in both processes at once: each holds leases of its own.
        owners: set[int] = set()
        for _ in range(200):
            owners |= {int(owner.split(":")[1]) for owner in await lease_owners(database_url)}
            if len(owners) == 2:
                break
            await asyncio.sleep(0.02)
        assert sorted(owners) == children
        for _ in range(500):
            if all(slack_emulator.bot_texts("C0001", e["ts"]) for e in events):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate would show up by now
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 60)
        err = log + rest
    for i, event in enumerate(events):
        assert slack_emulator.bot_texts("C0001", event["ts"]) == [f"answer to q{i}"], err
    assert proc.returncode == 0, err.decode()
    assert not alive(children)


async def test_a_process_that_fails_takes_the_others_down(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    """The port is taken by someone else: the processes cannot listen, the supervisor
    exits with their code and leaves none behind (the platform restarts the container)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = base_env(
            tmp_path,
            openai_emulator,
            slack_emulator,
            SLACK_SIGNING_SECRET=slack_emulator.signing_secret,
            HOST="127.0.0.1",
            PORT=str(taken.getsockname()[1]),
            WEB_CONCURRENCY="2",
        )
        proc = await run(["run", "--http"], env, tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode not in (0, None), err.decode()
    assert "stopping the others" in err.decode() or "exited with code" in err.decode()
    assert children_of(proc.pid) == []


async def test_socket_mode_processes_connect_each_and_discord_runs_in_the_first(
    tmp_path: Path,
    openai_emulator: Any,
    slack_emulator: SlackEmulator,
    discord_emulator: DiscordEmulator,
) -> None:
    env = base_env(
        tmp_path,
        openai_emulator,
        slack_emulator,
        SLACK_APP_TOKEN=slack_emulator.app_token,
        DISCORD_TOKEN=discord_emulator.bot_token,
        DISCORD_API_URL=discord_emulator.api_base,
        DISCORD_GUILD_IDS=discord_emulator.guild_id,
        WEB_CONCURRENCY="3",
    )
    proc = await run(["run"], env, tmp_path)
    expected = min(3, len(os.sched_getaffinity(0)))  # one process per CPU at most
    try:
        for _ in range(600):
            connected = len(slack_emulator.open_socket_connections) == expected
            if connected and discord_emulator.gateway.sessions:
                break
            await asyncio.sleep(0.05)
        assert len(slack_emulator.open_socket_connections) == expected
        assert len(children_of(proc.pid)) == expected
        await asyncio.sleep(1.0)  # a second gateway session would be there by now
        # One gateway connection per token: two would each receive every event.
        assert len(discord_emulator.gateway.sessions) == 1
        event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> from one of three")
        envelope = await slack_emulator.socket_send_event(event)
        await slack_emulator.wait_ack(envelope, 10)
        await expect_reply(proc, slack_emulator, event, "echo: from one of three")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert slack_emulator.open_socket_connections == []


async def wait_for_children(proc: Any, count: int) -> list[int]:
    for _ in range(300):
        children = children_of(proc.pid)
        if len(children) == count:
            return children
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} processes, found {children_of(proc.pid)}")


async def test_sigterm_to_every_process_lets_running_replies_finish(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator, database_url: str
) -> None:
    """As Heroku stops a dyno: SIGTERM to each of its processes, the supervisor's
    passed on as well. The children drain once; the second SIGTERM changes nothing."""
    openai_emulator.model = lambda req: Reply(text=f"answer to {question_of(req)}", ttft=1.5)
    proc, url = await serve(
        tmp_path, openai_emulator, slack_emulator, database_url, WEB_CONCURRENCY="2"
    )
    events = [app_mention_event(text=f"<@{BOT_USER_ID}> q{i}") for i in range(6)]
    try:
        children = await wait_for_children(proc, 2)
        for event in events:
            status, _ = await slack_emulator.http_send_event(url, event_callback(event))
            assert status == 200
        for _ in range(200):
            if len(openai_emulator.responses_requests()) == len(events):
                break
            await asyncio.sleep(0.02)
        for pid in (proc.pid, *children):
            os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(0.3)
        for pid in children:  # and once more, as a supervisor or the platform may
            with contextlib.suppress(ProcessLookupError):  # one without turns is gone
                os.kill(pid, signal.SIGTERM)
    finally:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    for i, event in enumerate(events):
        assert slack_emulator.bot_texts("C0001", event["ts"]) == [f"answer to q{i}"], err
    assert not alive(children)


async def test_the_processes_die_with_a_killed_supervisor(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    """Nothing is left to keep serving the port (a new container binds it too)."""
    database = f"sqlite:///{tmp_path / 'threadbridge.db'}"
    proc, _ = await serve(tmp_path, openai_emulator, slack_emulator, database, WEB_CONCURRENCY="2")
    children = await wait_for_children(proc, 2)
    proc.kill()
    await proc.communicate()
    for _ in range(200):
        if not alive(children):
            break
        await asyncio.sleep(0.05)
    assert not alive(children)
