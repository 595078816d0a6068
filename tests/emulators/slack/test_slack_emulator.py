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


# --------------------------------------------------------------------------- strict arguments


async def test_unknown_argument_is_invalid_arguments(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    # slack_sdk forwards **kwargs it does not know; Slack's answer here:
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C0001", text="hi", colour="red")
    assert exc.value.response.status_code == 200
    assert exc.value.response.data == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["[ERROR] unknown argument: colour"]},
    }
    assert emu.messages("C0001") == []  # no side effect
    # form-encoded and GET query arguments are checked alike
    with pytest.raises(SlackApiError):
        await client.api_call("chat.update", data={"channel": "C0001", "ts": "1.2", "txt": "x"})
    with pytest.raises(SlackApiError):
        await client.conversations_replies(channel="C0001", ts="1.2", page=2)
    assert [(u.method, u.names) for u in emu.unknown_arguments] == [
        ("chat.postMessage", ["colour"]),
        ("chat.update", ["txt"]),
        ("conversations.replies", ["page"]),
    ]
    assert emu.unknown_arguments[0].params == {"channel": "C0001", "text": "hi", "colour": "red"}
    emu.unknown_arguments.clear()  # else the fixture fails the test


async def test_known_and_standard_arguments_pass(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    # team_id: slack_sdk adds it to every call of a client built with team_id=
    client = web_client(emu, team_id="T0001")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*b*"}}]
    posted = await client.chat_postMessage(
        channel="C0001",
        text="t",
        blocks=blocks,
        metadata={"event_type": "x", "event_payload": {"a": 1}},
        unfurl_links=False,
        unfurl_media=False,
        mrkdwn=True,
    )
    await client.chat_update(channel="C0001", ts=posted["ts"], text="t2", blocks=blocks)
    await client.conversations_replies(
        channel="C0001", ts=posted["ts"], limit=5, inclusive=True, include_all_metadata=True
    )
    await client.users_info(user="U0USER", include_locale=True)
    await client.files_upload_v2(channel="C0001", content="abc", filename="a.txt", title="A")
    await client.api_test(foo="bar")  # api.test echoes any argument
    # the token as a form field instead of the Authorization header
    form = aiohttp.FormData({"token": emu.bot_token, "channel": "C0001", "text": "form"})
    async with (
        aiohttp.ClientSession() as session,
        session.post(emu.api_url + "chat.postMessage", data=form) as resp,
    ):
        assert (await resp.json())["ok"]
    assert emu.unknown_arguments == []
    assert emu.calls_to("users.info")[0].params["team_id"] == "T0001"


def test_sdk_sends_parameters_under_their_own_names() -> None:
    """The premise of the strict check: for the methods the emulator serves, each
    explicit parameter of slack_sdk's method is sent under its own name (only
    apps.connections.open's app_token travels as the Authorization header)."""
    import ast
    import inspect
    import textwrap

    from tests.emulators.slack.arguments import sdk_arguments, sdk_function_name

    emu = SlackEmulator()
    for method in emu._handlers:
        params = sdk_arguments(method)
        if params is None:
            continue
        fn = getattr(AsyncWebClient, sdk_function_name(method))
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        sent: set[str] = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "kwargs"
            ):
                for arg in node.args:
                    if isinstance(arg, ast.Dict):
                        sent |= {k.value for k in arg.keys if isinstance(k, ast.Constant)}
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "kwargs"
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.ctx, ast.Store)
            ):
                sent.add(str(node.slice.value))
        expected = {"token"} if method == "apps.connections.open" else set()
        assert sent - params == expected, method


# --------------------------------------------------------------------------- failure modes


async def test_html_5xx_from_the_edge(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    emu.fail_next("chat.postMessage", html=True)  # 503, text/html
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C0001", text="hi")
    # slack_sdk reads only JSON bodies: an HTML page leaves .data empty
    assert exc.value.response.status_code == 503
    assert exc.value.response.data == {}
    assert exc.value.response.headers["Content-Type"].startswith("text/html")
    call = emu.calls_to("chat.postMessage")[0]
    assert (call.status, call.fault) == (503, "html")
    # a proxy that labels its HTML page as JSON: the SDK cannot parse it
    emu.fail_next("chat.update", html=True, status=502, content_type="application/json")
    with pytest.raises(SlackApiError) as bad:
        await client.chat_update(channel="C0001", ts="1.2", text="x")
    assert "non-JSON format: <html>" in str(bad.value)
    assert "502 Bad Gateway" in str(bad.value)
    assert emu.messages("C0001") == []
    # times= and "*": the next two calls of any method
    emu.fail_next("*", html=True, status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as any_method:
            await client.auth_test()
        assert any_method.value.response.status_code == 500
    assert (await client.auth_test())["ok"]


async def test_slack_errors_invalid_auth_channel_not_found(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    emu.fail_next("chat.postMessage", "invalid_auth")
    emu.fail_next("conversations.replies", "channel_not_found", times=2)
    with pytest.raises(SlackApiError) as auth:
        await client.chat_postMessage(channel="C0001", text="hi")
    assert auth.value.response.status_code == 200
    assert auth.value.response.data == {"ok": False, "error": "invalid_auth"}
    for _ in range(2):
        with pytest.raises(SlackApiError) as channel:
            await client.conversations_replies(channel="C0001", ts="1.2")
        assert channel.value.response["error"] == "channel_not_found"
    assert [c.fault for c in emu.calls] == ["invalid_auth", "channel_not_found"] * 1 + [
        "channel_not_found"
    ]
    # the emulator's own answers for these, without fail_next
    with pytest.raises(SlackApiError) as real_auth:
        await AsyncWebClient(token="xoxb-wrong", base_url=emu.api_url).auth_test()
    assert real_auth.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as real_channel:
        await client.chat_postMessage(channel="#nowhere", text="x")
    assert real_channel.value.response["error"] == "channel_not_found"


async def test_ratelimited_has_retry_after(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    emu.fail_next("users.info", "ratelimited", retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            await web_client(emu).users_info(user="U0USER")
        assert exc.value.response.status_code == 429
        assert exc.value.response.headers["Retry-After"] == "3"
        assert exc.value.response["error"] == "ratelimited"
    assert (await web_client(emu).users_info(user="U0USER"))["ok"]


async def test_dropped_connection(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    # slack_sdk's default retry handler retries a dropped connection once
    emu.fail_next("chat.postMessage", drop=True)
    await web_client(emu).chat_postMessage(channel="C0001", text="second try")
    assert [c.fault for c in emu.calls_to("chat.postMessage")] == ["drop", None]
    assert emu.bot_texts("C0001") == ["second try"]
    # twice in a row, or without retry handlers, it reaches the caller
    emu.fail_next("chat.postMessage", drop=True, times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await web_client(emu).chat_postMessage(channel="C0001", text="lost")
    emu.fail_next("chat.postMessage", drop=True)
    with pytest.raises(aiohttp.ClientError):
        await web_client(emu, retry_handlers=[]).chat_postMessage(channel="C0001", text="lost")
    assert emu.bot_texts("C0001") == ["second try"]


# --------------------------------------------------------------------------- reading threads


async def test_conversations_replies_pages_and_ranges(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    pic = emu.host_file("pic.png", b"png", "image/png")
    parent = emu.user_message("C0001", "question", user="U0ALICE")
    r1 = emu.user_message("C0001", "more", user="U0BOB", thread_ts=parent.ts, files=[pic])
    posted = await client.chat_postMessage(channel="C0001", thread_ts=parent.ts, text="answer")
    r3 = emu.user_message("C0001", "thanks", user="U0ALICE", thread_ts=parent.ts)
    emu.user_message("C0001", "elsewhere")  # not in the thread
    tss = [parent.ts, r1.ts, posted["ts"], r3.ts]

    whole = await client.conversations_replies(channel="C0001", ts=parent.ts)
    assert [m["ts"] for m in whole["messages"]] == tss
    assert whole["has_more"] is False
    assert whole["response_metadata"]["next_cursor"] == ""
    head, files, bot, last = whole["messages"]
    assert head["user"] == "U0ALICE" and head["text"] == "question"
    assert head["thread_ts"] == parent.ts and head["reply_count"] == 3
    assert head["reply_users"] == ["U0ALICE", "U0BOB", "UBOT"]
    assert head["reply_users_count"] == 3 and head["latest_reply"] == r3.ts
    assert files["files"][0]["id"] == pic["id"] and files["thread_ts"] == parent.ts
    assert files["parent_user_id"] == "U0ALICE"
    assert bot["bot_id"] == "BBOT" and bot["user"] == "UBOT" and bot["text"] == "answer"
    assert last["text"] == "thanks"

    # the ts of a reply gives the same thread
    via_reply = await client.conversations_replies(channel="C0001", ts=r1.ts)
    assert [m["ts"] for m in via_reply["messages"]] == tss

    # cursor pages of `limit`
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_replies(
            channel="C0001", ts=parent.ts, limit=3, cursor=cursor
        )
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == tss and pages == 2

    # oldest / latest, exclusive unless inclusive
    between = await client.conversations_replies(
        channel="C0001", ts=parent.ts, oldest=parent.ts, latest=r3.ts
    )
    assert [m["ts"] for m in between["messages"]] == [r1.ts, posted["ts"]]
    inclusive = await client.conversations_replies(
        channel="C0001", ts=parent.ts, oldest=parent.ts, latest=r3.ts, inclusive=True
    )
    assert [m["ts"] for m in inclusive["messages"]] == tss

    # a message without replies comes back alone; errors as Slack names them
    lone = emu.user_message("C0001", "alone")
    alone = await client.conversations_replies(channel="C0001", ts=lone.ts)
    assert [m["ts"] for m in alone["messages"]] == [lone.ts]
    assert "reply_count" not in alone["messages"][0]
    for kwargs, error in [
        ({"ts": "1.000001"}, "thread_not_found"),
        ({"ts": parent.ts, "cursor": "bogus!"}, "invalid_cursor"),
        ({"ts": parent.ts, "oldest": "yesterday"}, "invalid_ts_oldest"),
        ({"ts": parent.ts, "latest": "now-ish"}, "invalid_ts_latest"),
    ]:
        with pytest.raises(SlackApiError) as exc:
            await client.conversations_replies(channel="C0001", **kwargs)
        assert exc.value.response["error"] == error, kwargs


async def test_users_info_names(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    emu.add_user("U0ALICE", display_name="ali", real_name="Alice Liddell")
    alice = (await client.users_info(user="U0ALICE"))["user"]
    assert alice["real_name"] == "Alice Liddell"
    assert alice["profile"]["display_name"] == "ali"
    assert alice["profile"]["real_name"] == "Alice Liddell"
    assert "locale" not in alice
    located = (await client.users_info(user="U0ALICE", include_locale=True))["user"]
    assert located["locale"] == "en-US"
    bot = (await client.users_info(user="UBOT"))["user"]
    assert bot["is_bot"] and bot["profile"]["bot_id"] == "BBOT"
    with pytest.raises(SlackApiError) as exc:
        await client.users_info(user="B0NOPE")
    assert exc.value.response["error"] == "user_not_found"


# --------------------------------------------------------------------------- shortcuts, modals

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "ask_view",
    "title": {"type": "plain_text", "text": "Ask"},
    "submit": {"type": "plain_text", "text": "Send"},
    "private_metadata": "meta",
    "blocks": [
        {
            "type": "input",
            "block_id": "q",
            "label": {"type": "plain_text", "text": "Question"},
            "element": {"type": "plain_text_input", "action_id": "text", "max_length": 20},
        }
    ],
}


def modal_app(emu: SlackEmulator, *, signing_secret: str | None = None) -> AsyncApp:
    """A Bolt app whose message shortcut opens MODAL; a submission saying "bad" gets an
    error under the input, anything else closes the modal."""
    app = AsyncApp(
        client=web_client(emu),
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=True,
    )

    @app.message_shortcut("ask")
    async def on_shortcut(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        await ack()

    @app.view_submission("ask_view")
    async def on_submit(ack: Any, body: dict[str, Any]) -> None:
        text = body["view"]["state"]["values"]["q"]["text"]["value"]
        if text == "bad":
            await ack(response_action="errors", errors={"q": "not that"})
        else:
            await ack()

    return app


async def serve(app: AsyncApp) -> tuple[web.AppRunner, str]:
    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_message_shortcut_modal_and_submission(
    slack_emulator: SlackEmulator, mode: str
) -> None:
    emu = slack_emulator
    root = emu.user_message("C0001", "the plan", user="U0ANN")
    reply = emu.user_message("C0001", "a reply", user="U0ANN", thread_ts=root.ts)
    url: str | None = None
    handler: AsyncSocketModeHandler | None = None
    runner: web.AppRunner | None = None
    if mode == "socket":
        handler = await start_socket_mode(modal_app(emu), emu.app_token)
        await emu.wait_socket_connected()
    else:
        runner, url = await serve(modal_app(emu, signing_secret=emu.signing_secret))
    try:
        shortcut = await emu.message_shortcut("C0001", reply.ts, callback_id="ask", url=url)
        assert shortcut.acked and shortcut.mode == mode and shortcut.kind == "message_action"
        payload = shortcut.payload
        assert payload["message"]["ts"] == reply.ts and payload["message_ts"] == reply.ts
        assert payload["message"]["thread_ts"] == root.ts and payload["channel"]["id"] == "C0001"
        assert payload["user"]["id"] == "U0USER" and payload["team"]["id"] == "T0001"
        [view] = emu.open_views("U0USER")
        assert view.view["private_metadata"] == "meta"
        assert emu.triggers[payload["trigger_id"]].used

        with pytest.raises(ValueError, match="required"):
            await emu.submit_view(view.id, {}, url=url)
        with pytest.raises(ValueError, match="max_length"):
            await emu.submit_view(view.id, {"q": "x" * 21}, url=url)
        refused = await emu.submit_view(view.id, {"q": "bad"}, url=url)
        assert refused.response == {"response_action": "errors", "errors": {"q": "not that"}}
        assert view.open and view.errors == {"q": "not that"}
        sent = refused.payload["view"]
        assert sent["id"] == view.id and sent["private_metadata"] == "meta"
        assert sent["state"]["values"] == {
            "q": {"text": {"type": "plain_text_input", "value": "bad"}}
        }
        done = await emu.submit_view(view.id, {"q": "fine"}, url=url)
        assert done.acked and not done.response
        assert not view.open and view.errors == {} and len(view.submissions) == 2
        assert [d.kind for d in emu.interactive_deliveries] == [
            "message_action",
            "view_submission",
            "view_submission",
        ]
        if mode == "http":
            forged = await emu.deliver_interactive(shortcut.payload, url=url, signing_secret="no")
            assert forged.status == 401 and not forged.acked
    finally:
        if handler is not None:
            await close_socket_mode(handler)
        if runner is not None:
            await runner.cleanup()


async def test_views_open_checks_the_trigger_and_the_view(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)

    async def error_of(**kwargs: Any) -> tuple[str, list[str]]:
        with pytest.raises(SlackApiError) as exc:
            await client.views_open(**kwargs)
        data = exc.value.response.data
        return data["error"], data.get("response_metadata", {}).get("messages", [])

    assert (await error_of(trigger_id="1.2.abc", view=MODAL))[0] == "invalid_trigger_id"
    trigger = emu.issue_trigger()
    too_long = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    error, messages = await error_of(trigger_id=trigger, view=too_long)
    assert error == "invalid_arguments"
    assert messages == ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    error, messages = await error_of(trigger_id=trigger, view=no_submit)
    assert "submit is required" in messages[0]
    bad_title = {**MODAL, "title": {"type": "mrkdwn", "text": "*Ask*"}}
    assert (await error_of(trigger_id=trigger, view=bad_title))[0] == "invalid_arguments"
    opened = await client.views_open(trigger_id=trigger, view=MODAL)  # refusals used nothing
    assert opened["view"]["id"] in emu.views and opened["view"]["callback_id"] == "ask_view"
    assert (await error_of(trigger_id=trigger, view=MODAL))[0] == "exchanged_trigger_id"
    stale = emu.issue_trigger()
    emu.triggers[stale].issued_at -= 3.5
    assert (await error_of(trigger_id=stale, view=MODAL))[0] == "expired_trigger_id"


async def test_interactions_need_the_commands_scope_and_a_timely_answer(
    slack_emulator: SlackEmulator,
) -> None:
    emu = slack_emulator
    msg = emu.user_message("C0001", "hi")
    app = AsyncApp(client=web_client(emu), process_before_response=True)

    @app.message_shortcut("slow")
    async def slow(ack: Any) -> None:
        await asyncio.sleep(3.2)
        await ack()

    handler = await start_socket_mode(app, emu.app_token)
    try:
        await emu.wait_socket_connected()
        late = await emu.message_shortcut("C0001", msg.ts, callback_id="slow")
        assert late.status == 200 and late.seconds > 3 and not late.acked
        unheard = await emu.deliver_interactive(
            {**late.payload, "callback_id": "nobody"}, timeout_seconds=0.5
        )
        assert unheard.status == 0 and not unheard.acked
        emu.scopes.remove("commands")
        with pytest.raises(RuntimeError, match="commands"):
            await emu.message_shortcut("C0001", msg.ts, callback_id="slow")
    finally:
        await close_socket_mode(handler)


async def test_posting_where_the_bot_is_not_a_member(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    emu.add_channel("C0OUT", is_member=False)
    emu.add_channel("G0OUT", is_member=False)
    emu.add_channel("D0OTHER", is_member=False)
    for channel, error in [
        ("C0OUT", "not_in_channel"),
        ("G0OUT", "channel_not_found"),
        ("D0OTHER", "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as exc:
            await client.chat_postMessage(channel=channel, text="hi")
        assert exc.value.response["error"] == error
    await client.chat_postMessage(channel="C0001", text="fine")
