"""Self-tests: the real slack_sdk / slack_bolt against the Slack emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.emulators.slack import (
    BOT_USER_ID,
    SlackEmulator,
    app_mention_event,
    assistant_thread_started_event,
    event_callback,
    message_event,
    signed_event_request,
)


def web_client(emu: SlackEmulator, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=emu.bot_token, base_url=emu.api_url, **kwargs)


def bolt_request(body: bytes, headers: dict[str, str]) -> AsyncBoltRequest:
    hdrs: dict[str, str | Sequence[str]] = dict(headers)
    return AsyncBoltRequest(body=body.decode(), headers=hdrs)


async def start_socket_mode(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    handler = AsyncSocketModeHandler(app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    return handler


async def close_socket_mode(handler: AsyncSocketModeHandler) -> None:
    await handler.close_async()  # type: ignore[no-untyped-call]


# --------------------------------------------------------------------------- Web API


async def test_post_update_recorded_and_visible(slack_emulator: SlackEmulator) -> None:
    client = web_client(slack_emulator)
    parent = slack_emulator.user_message("C0001", f"<@{BOT_USER_ID}> hi")
    posted = await client.chat_postMessage(channel="C0001", thread_ts=parent.ts, text="thinking")
    assert posted["ok"] and posted["channel"] == "C0001"
    ts = posted["ts"]
    await client.chat_update(channel="C0001", ts=ts, text="final *answer*")

    post = slack_emulator.calls_to("chat.postMessage")[0]
    assert post.token == "xoxb-test-bot"
    assert post.params["text"] == "thinking" and post.params["thread_ts"] == parent.ts
    assert post.content_type == "application/json"
    assert slack_emulator.call_names() == ["chat.postMessage", "chat.update"]

    thread = slack_emulator.messages("C0001", parent.ts)
    assert [m.ts for m in thread] == [parent.ts, ts]
    assert thread[1].history == ["thinking", "final *answer*"]
    assert slack_emulator.bot_texts("C0001", parent.ts) == ["final *answer*"]
    assert float(parent.ts) < float(ts)


async def test_auth_errors_and_scopes(slack_emulator: SlackEmulator) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack_emulator.api_url)
    with pytest.raises(SlackApiError) as exc:
        await bad.chat_postMessage(channel="C0001", text="x")
    assert exc.value.response["error"] == "invalid_auth"

    app_tok = AsyncWebClient(token=slack_emulator.app_token, base_url=slack_emulator.api_url)
    with pytest.raises(SlackApiError) as exc:
        await app_tok.chat_postMessage(channel="C0001", text="x")
    assert exc.value.response["error"] == "not_allowed_token_type"

    client = web_client(slack_emulator)
    auth = await client.auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == ("T0001", "UBOT", "BBOT")
    assert auth.headers["x-oauth-scopes"].split(",") == slack_emulator.scopes

    slack_emulator.scopes.remove("users:read")
    with pytest.raises(SlackApiError) as exc:
        await client.users_info(user="U0USER")
    assert exc.value.response["error"] == "missing_scope"
    assert exc.value.response["needed"] == "users:read"
    # conversations.info needs channels:read, which the default bot scopes lack.
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_info(channel="C0001")
    assert exc.value.response["needed"] == "channels:read"


async def test_misc_methods(slack_emulator: SlackEmulator) -> None:
    client = web_client(slack_emulator)
    slack_emulator.scopes.append("channels:read")
    user = await client.users_info(user="U0USER")
    assert user["user"]["id"] == "U0USER" and not user["user"]["is_bot"]
    conv = await client.conversations_info(channel="C0001")
    assert conv["channel"]["is_channel"]

    parent = slack_emulator.user_message("C0001", "question")
    await client.reactions_add(channel="C0001", timestamp=parent.ts, name="eyes")
    assert parent.reactions == {"eyes": ["UBOT"]}
    with pytest.raises(SlackApiError) as exc:
        await client.reactions_add(channel="C0001", timestamp=parent.ts, name="eyes")
    assert exc.value.response["error"] == "already_reacted"
    await client.reactions_remove(channel="C0001", timestamp=parent.ts, name="eyes")
    assert parent.reactions == {}
    reply = await client.chat_postMessage(channel="C0001", thread_ts=parent.ts, text="a")
    replies = await client.conversations_replies(channel="C0001", ts=parent.ts)
    assert [m["ts"] for m in replies["messages"]] == [parent.ts, reply["ts"]]
    assert replies["messages"][0]["reply_count"] == 1

    await client.assistant_threads_setStatus(
        channel_id="D0001", thread_ts=parent.ts, status="is thinking..."
    )
    await client.assistant_threads_setTitle(channel_id="D0001", thread_ts=parent.ts, title="T")
    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D0001", thread_ts=parent.ts, prompts=[{"title": "a", "message": "b"}]
    )
    assert slack_emulator.assistant_statuses("D0001", parent.ts) == ["is thinking..."]
    prompts = slack_emulator.calls_to("assistant.threads.setSuggestedPrompts")[0]
    assert prompts.params["prompts"] == [{"title": "a", "message": "b"}]

    eph = await client.chat_postEphemeral(channel="C0001", user="U0USER", text="psst")
    assert slack_emulator.ephemerals[0].message_ts == eph["message_ts"]
    await client.chat_delete(channel="C0001", ts=reply["ts"])
    assert slack_emulator.bot_texts("C0001", parent.ts) == []

    slack_emulator.latency["users.info"] = 0.05
    await client.users_info(user="U0USER")
    assert slack_emulator.calls_to("users.info")[-1].ok


async def test_rate_limit_retried_by_sdk_handler(slack_emulator: SlackEmulator) -> None:
    client = web_client(
        slack_emulator, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
    )
    slack_emulator.fail_next("chat.postMessage", retry_after=0)
    resp = await client.chat_postMessage(channel="C0001", text="hello")
    assert resp["ok"]
    calls = slack_emulator.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].error == "ratelimited"
    assert len(slack_emulator.messages("C0001")) == 1

    # Without a retry handler the 429 surfaces with its Retry-After header.
    slack_emulator.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        await web_client(slack_emulator).chat_postMessage(channel="C0001", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"


# --------------------------------------------------------------------------- streaming


async def test_chat_stream_helper(slack_emulator: SlackEmulator) -> None:
    client = web_client(slack_emulator)
    parent = slack_emulator.user_message("C0001", "tell me")
    stream = await client.chat_stream(
        channel="C0001",
        thread_ts=parent.ts,
        recipient_team_id="T0001",
        recipient_user_id="U0USER",
        buffer_size=8,
    )
    await stream.append(markdown_text="Hello")  # buffered
    await stream.append(markdown_text=", world")  # flush -> startStream
    await stream.append(markdown_text=" and more text")  # flush -> appendStream
    await stream.stop(markdown_text="!", blocks=[{"type": "divider"}])

    assert slack_emulator.call_names() == [
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
    ]
    start = slack_emulator.calls_to("chat.startStream")[0]
    assert start.params["chunks"] == [{"type": "markdown_text", "text": "Hello, world"}]
    assert "markdown_text" not in start.params
    msg = slack_emulator.bot_messages("C0001", parent.ts)[0]
    assert msg.ts == stream.ts
    assert msg.text == "Hello, world and more text!"
    assert msg.stream_state == "stopped" and msg.blocks == [{"type": "divider"}]
    assert [e.appended for e in msg.edits] == ["Hello, world", " and more text", "!"]


async def test_stream_errors(slack_emulator: SlackEmulator) -> None:
    client = web_client(slack_emulator)
    parent = slack_emulator.user_message("C0001", "q")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_startStream(channel="C0001", thread_ts=parent.ts, markdown_text="x")
    assert exc.value.response["error"] == "missing_recipient_team_id"
    with pytest.raises(SlackApiError) as exc:
        await client.chat_startStream(
            channel="C0001", thread_ts=parent.ts, markdown_text="x", recipient_team_id="T0001"
        )
    assert exc.value.response["error"] == "missing_recipient_user_id"
    with pytest.raises(SlackApiError) as exc:
        await client.api_call("chat.startStream", json={"channel": "D0001"})
    assert exc.value.response["error"] == "invalid_arguments"

    # In a DM no recipient is needed.
    started = await client.chat_startStream(
        channel="D0001", thread_ts="1.000001", markdown_text="a"
    )
    ts = started["ts"]
    slack_emulator.fail_next("chat.appendStream", error="message_not_in_streaming_state")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_appendStream(channel="D0001", ts=ts, markdown_text="b")
    assert exc.value.response["error"] == "message_not_in_streaming_state"
    assert exc.value.response.status_code == 200
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel="D0001", ts=ts, text="edited mid-stream")
    assert exc.value.response["error"] == "streaming_state_conflict"

    # A stream that expired server-side: append fails, chat.update fallback works.
    slack_emulator.expire_stream("D0001", ts)
    with pytest.raises(SlackApiError) as exc:
        await client.chat_appendStream(channel="D0001", ts=ts, markdown_text="b")
    assert exc.value.response["error"] == "message_not_in_streaming_state"
    await client.chat_update(channel="D0001", ts=ts, text="ab")
    assert slack_emulator.bot_texts("D0001", "1.000001") == ["ab"]

    # Through the helper, a forced expiry surfaces as SlackApiError.
    stream = await client.chat_stream(channel="D0001", thread_ts="1.000001", buffer_size=1)
    await stream.append(markdown_text="first")
    slack_emulator.fail_next("chat.appendStream", error="message_not_in_streaming_state")
    with pytest.raises(SlackApiError):
        await stream.append(markdown_text="second")


# --------------------------------------------------------------------------- files


async def test_files_upload_v2_into_thread(slack_emulator: SlackEmulator) -> None:
    client = web_client(slack_emulator)
    parent = slack_emulator.user_message("C0001", "plot it")
    data = b"\x89PNG fake image bytes"
    resp = await client.files_upload_v2(
        channel="C0001",
        thread_ts=parent.ts,
        content=data,
        filename="plot.png",
        title="Plot",
        alt_txt="a plot",
        initial_comment="here you go",
    )
    file_id = resp["file"]["id"]
    assert slack_emulator.call_names() == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    stored = slack_emulator.files[file_id]
    assert stored.content == data and stored.alt_txt == "a plot" and stored.title == "Plot"
    [msg] = slack_emulator.bot_messages("C0001", parent.ts)
    assert msg.text == "here you go"
    assert msg.files[0]["id"] == file_id and msg.files[0]["mimetype"] == "image/png"
    info = await client.files_info(file=file_id)
    assert info["file"]["size"] == len(data)


async def test_https_file_download(slack_emulator: SlackEmulator) -> None:
    f = slack_emulator.host_file("notes.txt", b"secret notes", "text/plain")
    assert f["url_private_download"].startswith(
        f"https://files.slack.com:{slack_emulator.files_port}/files-pri/T0001-F"
    )
    connector = aiohttp.TCPConnector(
        resolver=slack_emulator.resolver(), ssl=slack_emulator.ssl_client_context()
    )
    async with aiohttp.ClientSession(connector=connector) as session:
        auth = {"Authorization": f"Bearer {slack_emulator.bot_token}"}
        async with session.get(f["url_private_download"], headers=auth) as r:
            assert r.status == 200 and r.content_type == "text/plain"
            assert await r.read() == b"secret notes"
        async with session.get(f["url_private"]) as r:
            assert r.status == 200 and r.content_type == "text/html"
            assert b"<html" in await r.read()

        evil = slack_emulator.host_file(
            "x.bin",
            b"evil",
            "application/octet-stream",
            host="evil.example.com",
            require_token=False,
        )
        async with session.get(evil["url_private"]) as r:
            assert await r.read() == b"evil"

        slack_emulator.redirect_file(f["url_private"], evil["url_private"])
        async with session.get(f["url_private"], headers=auth, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == evil["url_private"]

        plain_http = slack_emulator.http_url(f["url_private_download"])
        async with session.get(plain_http, headers=auth) as r:
            assert await r.read() == b"secret notes"

    reqs = slack_emulator.file_requests
    assert [(r.scheme, r.host, r.has_auth, r.served) for r in reqs] == [
        ("https", "files.slack.com", True, "file"),
        ("https", "files.slack.com", False, "login_page"),
        ("https", "evil.example.com", False, "file"),
        ("https", "files.slack.com", True, "redirect"),
        ("http", "files.slack.com", True, "file"),
    ]


# --------------------------------------------------------------------------- bolt


async def test_bolt_socket_mode_receives_event_and_acks(slack_emulator: SlackEmulator) -> None:
    app = AsyncApp(client=web_client(slack_emulator))
    received: asyncio.Queue[tuple[dict[str, Any], dict[str, Any]]] = asyncio.Queue()

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], request: AsyncBoltRequest) -> None:
        await received.put((event, dict(request.headers)))

    handler = await start_socket_mode(app, slack_emulator.app_token)
    try:
        await slack_emulator.wait_socket_connected()
        payload = event_callback(app_mention_event(channel="C0001", text="<@UBOT> ping"))
        envelope_id = await slack_emulator.socket_send_event(payload)
        event, headers = await asyncio.wait_for(received.get(), 5)
        assert event["text"] == "<@UBOT> ping"
        await slack_emulator.wait_ack(envelope_id, 5)
        assert slack_emulator.ack_payloads[envelope_id] is None
        # Bolt turns retry_attempt=0 into x-slack-retry-num "0" (not absent!).
        assert headers.get("x-slack-retry-num") == ["0"]
        # Bolt's single-team authorization calls auth.test lazily, on the first event.
        assert slack_emulator.call_names() == ["apps.connections.open", "auth.test"]
        assert slack_emulator.message("C0001", event["ts"]) is not None

        retry_id = await slack_emulator.socket_send_event(
            payload, retry_attempt=1, retry_reason="timeout"
        )
        event2, headers2 = await asyncio.wait_for(received.get(), 5)
        assert event2 == event and headers2["x-slack-retry-num"] == ["1"]
        assert headers2["x-slack-retry-reason"] == ["timeout"]
        await slack_emulator.wait_ack(retry_id, 5)
    finally:
        await close_socket_mode(handler)
    await slack_emulator.wait_socket_disconnected()
    assert slack_emulator.socket_connections[0].disconnected_at is not None


async def test_bolt_socket_mode_unhandled_event_is_not_acked(
    slack_emulator: SlackEmulator,
) -> None:
    app = AsyncApp(client=web_client(slack_emulator))
    handler = await start_socket_mode(app, slack_emulator.app_token)
    try:
        await slack_emulator.wait_socket_connected()
        eid = await slack_emulator.socket_send_event(message_event(text="nobody listens"))
        with pytest.raises(TimeoutError):
            await slack_emulator.wait_ack(eid, 0.5)
    finally:
        await close_socket_mode(handler)


async def test_bolt_http_mode_signature(slack_emulator: SlackEmulator) -> None:
    app = AsyncApp(client=web_client(slack_emulator), signing_secret=slack_emulator.signing_secret)
    seen: list[str] = []

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any]) -> None:
        seen.append(event["text"])

    payload = event_callback(app_mention_event(text="<@UBOT> over http"))
    body, headers = signed_event_request(
        payload, slack_emulator.signing_secret, retry_num=1, retry_reason="http_timeout"
    )
    assert headers["X-Slack-Retry-Num"] == "1"
    resp = await app.async_dispatch(bolt_request(body, headers))
    assert resp.status == 200

    tampered = body.replace(b"over http", b"over HTTP")
    resp = await app.async_dispatch(bolt_request(tampered, headers))
    assert resp.status == 401
    stale_body, stale_headers = signed_event_request(
        payload, slack_emulator.signing_secret, timestamp=1_000_000_000
    )
    resp = await app.async_dispatch(bolt_request(stale_body, stale_headers))
    assert resp.status == 401

    # Same thing over a real aiohttp server using bolt's aiohttp adapter.
    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers=headers) as r:
                assert r.status == 200
            async with session.post(url, data=tampered, headers=headers) as r:
                assert r.status == 401
        # The emulator can deliver too (signs with its signing secret, records it).
        status, _ = await slack_emulator.http_send_event(
            url, payload, retry_num=2, retry_reason="http_timeout"
        )
        assert status == 200
        status, _ = await slack_emulator.http_send_event(url, payload, signing_secret="wrong")
        assert status == 401
        delivery = slack_emulator.http_deliveries[0]
        assert delivery.headers["X-Slack-Retry-Num"] == "2" and delivery.seconds < 5
    finally:
        await runner.cleanup()

    for _ in range(50):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.02)
    # Bolt does not drop HTTP redeliveries (X-Slack-Retry-Num): the app must dedupe.
    assert seen == ["<@UBOT> over http"] * 3
    assert json.loads(body)["event_id"].startswith("Ev")


# --------------------------------------------------------------------------- more plumbing


async def test_form_and_multipart_bodies(slack_emulator: SlackEmulator) -> None:
    client = web_client(slack_emulator)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    # Form-encoded with a JSON-string field, as older code paths send it.
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C0001", "text": "form", "blocks": json.dumps(blocks)},
    )
    call = slack_emulator.calls_to("chat.postMessage")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.params["blocks"] == blocks
    assert slack_emulator.messages("C0001")[0].blocks == blocks

    too_big = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C0001", text="t", blocks=too_big)
    assert exc.value.response["error"] == "invalid_blocks"

    # A multipart upload to the upload URL (what non-slack_sdk clients send).
    url = await client.files_getUploadURLExternal(filename="a.csv", length=3)
    form = aiohttp.FormData()
    form.add_field("file", b"a,b", filename="a.csv", content_type="text/csv")
    async with aiohttp.ClientSession() as session, session.post(url["upload_url"], data=form) as r:
        assert r.status == 200 and (await r.text()).startswith("OK")
    assert slack_emulator.files[url["file_id"]].content == b"a,b"
    await client.files_completeUploadExternal(files=[{"id": url["file_id"]}])
    assert slack_emulator.messages("C0001")[-1].files == []  # no channel: nothing shared


async def test_bolt_say_stream_and_reconnect(slack_emulator: SlackEmulator) -> None:
    app = AsyncApp(client=web_client(slack_emulator))
    done = asyncio.Event()

    @app.event("app_mention")
    async def on_mention(say_stream: Any, set_status: Any) -> None:
        await set_status("is thinking...")
        stream = await say_stream(buffer_size=1)
        await stream.append(markdown_text="streamed ")
        await stream.stop(markdown_text="reply")
        done.set()

    handler = await start_socket_mode(app, slack_emulator.app_token)
    try:
        await slack_emulator.wait_socket_connected()
        # Slack asks clients to reconnect every few hours: slack_sdk opens a new socket.
        await slack_emulator.socket_send_disconnect()
        for _ in range(100):
            conns = slack_emulator.socket_connections
            if len(conns) == 2 and slack_emulator.socket_connected.is_set():
                break
            await asyncio.sleep(0.02)
        first, second = slack_emulator.socket_connections
        assert not first.open and second.open
        assert len(slack_emulator.calls_to("apps.connections.open")) == 2

        event = app_mention_event(channel="C0001", user="U0USER")
        await slack_emulator.socket_send_event(event)
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await close_socket_mode(handler)
    start = slack_emulator.calls_to("chat.startStream")[0]
    # say_stream fills the recipient from the event (team_id / user).
    assert start.params["recipient_team_id"] == "T0001"
    assert start.params["recipient_user_id"] == "U0USER"
    assert start.params["thread_ts"] == event["ts"]
    assert slack_emulator.bot_texts("C0001", event["ts"]) == ["streamed reply"]
    assert slack_emulator.assistant_statuses("C0001", event["ts"]) == ["is thinking..."]


async def test_bolt_assistant_say_reads_thread_history(slack_emulator: SlackEmulator) -> None:
    from slack_bolt.middleware.assistant.async_assistant import AsyncAssistant

    app = AsyncApp(client=web_client(slack_emulator))
    assistant = AsyncAssistant()
    done = asyncio.Event()

    @assistant.thread_started
    async def started(say: Any, set_suggested_prompts: Any) -> None:
        await say("How can I help?")
        await set_suggested_prompts(prompts=[{"title": "Hi", "message": "Hello"}])

    @assistant.user_message
    async def user_message(say: Any, set_status: Any) -> None:
        await set_status("is typing...")
        await say("answer")
        done.set()

    app.use(assistant)
    handler = await start_socket_mode(app, slack_emulator.app_token)
    try:
        await slack_emulator.wait_socket_connected()
        started_ev = assistant_thread_started_event(channel="D0001")
        thread_ts = started_ev["assistant_thread"]["thread_ts"]
        eid = await slack_emulator.socket_send_event(started_ev)
        await slack_emulator.wait_ack(eid)
        for _ in range(100):
            if slack_emulator.calls_to("assistant.threads.setSuggestedPrompts"):
                break
            await asyncio.sleep(0.02)
        slack_emulator.calls.clear()
        await slack_emulator.socket_send_event(
            message_event(channel="D0001", text="question", thread_ts=thread_ts)
        )
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await close_socket_mode(handler)
    # Bolt's say() in an assistant thread first looks up the thread context via
    # conversations.replies (throttled for non-Marketplace apps).
    assert slack_emulator.call_names() == [
        "assistant.threads.setStatus",
        "conversations.replies",
        "chat.postMessage",
    ]
    assert slack_emulator.bot_texts("D0001", thread_ts) == ["How can I help?", "answer"]
    first = slack_emulator.bot_messages("D0001", thread_ts)[0]
    assert first.metadata is not None
    assert first.metadata["event_type"] == "assistant_thread_context"
