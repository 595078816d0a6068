"""`threadbridge run` starts the Slack adapter (a real process against the emulators)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, SlackEmulator, app_mention_event
from tests.helpers import this_tree


def clean_env(**values: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "SLACK_", "DISCORD_", "THREADBRIDGE_"))
        and k not in ("DATABASE_URL", "PORT", "DYNO", "WEB_CONCURRENCY")
    }
    return {**base, **values}


async def run(args: list[str], env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=this_tree(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def base_env(tmp_path: Path, openai_emulator: Any, slack: SlackEmulator, **extra: str) -> dict:
    values = {
        "THREADBRIDGE_ENV_FILE": str(tmp_path / "none.env"),
        "OPENAI_API_KEY": "sk-test-key-123456",
        "OPENAI_BASE_URL": openai_emulator.base_url,
        "OPENAI_MODEL": "test-model",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.api_url,
    }
    return clean_env(**{**values, **extra})


async def test_http_without_signing_secret_is_a_usage_error(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    proc = await run(
        ["run", "--http"], base_env(tmp_path, openai_emulator, slack_emulator), tmp_path
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "SLACK_SIGNING_SECRET" in err.decode()
    assert "SLACK_BOT_TOKEN" not in err.decode()


async def test_run_socket_mode_answers_and_stops_on_sigterm(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    env = base_env(
        tmp_path, openai_emulator, slack_emulator, SLACK_APP_TOKEN=slack_emulator.app_token
    )
    proc = await run(["run"], env, tmp_path)
    try:
        await slack_emulator.wait_socket_connected(30)
        event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> from the cli")
        envelope = await slack_emulator.socket_send_event(event)
        await slack_emulator.wait_ack(envelope, 10)
        await expect_reply(proc, slack_emulator, event, "echo: from the cli")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    await slack_emulator.wait_socket_disconnected(10)


async def expect_reply(
    proc: asyncio.subprocess.Process, slack: SlackEmulator, event: dict[str, Any], text: str
) -> None:
    """Wait for the process's finished reply in the event's thread and compare it."""
    channel, thread_ts = event["channel"], event["ts"]
    for _ in range(1000):
        messages = slack.bot_messages(channel, thread_ts)
        if messages and all(m.stream_state in (None, "stopped") for m in messages):
            break
        await asyncio.sleep(0.02)
    texts = slack.bot_texts(channel, thread_ts)
    if texts != [text]:
        proc.send_signal(signal.SIGTERM)
        _, err = await proc.communicate()
        calls = [(c.method, c.status, c.params.get("markdown_text")) for c in slack.calls]
        raise AssertionError(f"{texts!r}\ncalls: {calls}\nlog:\n{err.decode()[-4000:]}")


async def wait_healthy(session: aiohttp.ClientSession, base: str) -> None:
    """Until the HTTP mode server answers GET /healthz."""
    for _ in range(500):
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_http_mode_serves_events_and_health(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    port = free_port()
    env = base_env(
        tmp_path,
        openai_emulator,
        slack_emulator,
        SLACK_SIGNING_SECRET=slack_emulator.signing_secret,
        PORT=str(port),
    )
    proc = await run(["run", "--http"], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, base)
            event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> over http")
            status, _ = await slack_emulator.http_send_event(f"{base}/slack/events", event)
            assert status == 200
            status, _ = await slack_emulator.http_send_event(
                f"{base}/slack/events", event, signing_secret="forged"
            )
            assert status == 401
        await expect_reply(proc, slack_emulator, event, "echo: over http")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()


def signed(body: bytes, secret: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
        "Content-Type": "application/json",
    }


async def test_http_mode_binds_host_and_keeps_hostile_requests_out_of_the_log(
    tmp_path: Path, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    port = free_port()
    env = base_env(
        tmp_path,
        openai_emulator,
        slack_emulator,
        SLACK_SIGNING_SECRET=slack_emulator.signing_secret,
        PORT=str(port),
        HOST="127.0.0.1",
    )
    proc = await run(["run", "--http"], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, base)
            # HOST=127.0.0.1: another loopback address (which 0.0.0.0 would serve) is refused.
            try:
                async with session.get(f"http://127.0.0.2:{port}/healthz") as response:
                    reached_other = True
            except aiohttp.ClientConnectionError:
                reached_other = False
            assert not reached_other
            # A forged signature: refused, and the body (anyone's text) is not logged.
            event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> private words 7")
            status, _ = await slack_emulator.http_send_event(
                f"{base}/slack/events", event, signing_secret="forged"
            )
            assert status == 401
            # Malformed JSON, correctly signed: 400, not a 500 with a traceback.
            body = b'{"type": "event_callback", "event": {'
            async with session.post(
                f"{base}/slack/events",
                data=body,
                headers=signed(body, slack_emulator.signing_secret),
            ) as response:
                assert response.status == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "Invalid request signature" in log  # Bolt's line is kept, without the body
    assert "private words" not in log and "event_callback" not in log
    assert "Traceback" not in log
    assert len([line for line in log.splitlines() if "malformed" in line]) == 1
    assert "alembic" not in log
    assert len([line for line in log.splitlines() if "migrat" in line]) <= 1


async def test_a_cancelled_slack_runner_lets_a_running_turn_post_its_reply(
    make_core: Any, openai_emulator: Any, slack_emulator: SlackEmulator
) -> None:
    """The same shape as the Discord runner: cancelled (SIGTERM), intake stops and the
    turn in flight still posts its reply before the client closes."""
    from adapters.slack.runner import run_slack

    core = await make_core(
        SLACK_BOT_TOKEN=slack_emulator.bot_token,
        SLACK_APP_TOKEN=slack_emulator.app_token,
        SLACK_API_URL=slack_emulator.api_url,
    )
    task = asyncio.create_task(run_slack(service=core.service, settings=core.settings, http=False))
    await slack_emulator.wait_socket_connected(10)
    openai_emulator.script(Reply(text="made it", ttft=0.5))
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> quick, before shutdown")
    envelope = await slack_emulator.socket_send_event(event)
    await slack_emulator.wait_ack(envelope, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slack_emulator.bot_texts("C0001", event["ts"]) == ["made it"]
