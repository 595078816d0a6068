"""Files in (shared by users, downloaded safely) and out (uploaded into the thread)."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, app_mention_event

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def mention(text: str, **kwargs: Any) -> dict[str, Any]:
    return app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> {text}", **kwargs)


def sent_to_model(openai_emulator: Any) -> str:
    """Everything OpenAI got: request bodies and uploaded file contents."""
    uploads = [f.data.decode("utf-8", "replace") for f in openai_emulator.files.values()]
    return json.dumps([r.body for r in openai_emulator.responses_requests()]) + "".join(uploads)


async def test_generated_file_is_uploaded_into_the_thread(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_CODE_INTERPRETER="true")
    emu = bot.emulator
    openai_emulator.script(
        Reply(text="Here is the chart", code="plot()", files=[("chart.png", PNG)]),
    )
    event = mention("plot it")
    await bot.send(event)
    await bot.settle()

    messages = emu.bot_messages("C0001", event["ts"])
    assert messages[0].text == "Here is the chart"
    [with_file] = [m for m in messages if m.files]
    assert with_file.thread_ts == event["ts"]
    [shared] = with_file.files
    stored = emu.files[shared["id"]]
    assert stored.content == PNG and stored.name == "chart.png"
    assert stored.title == "chart.png" and stored.alt_txt
    thread = await bot.store.find_thread(_key(event["ts"]))
    [turn] = await bot.store.turns_of(thread.id)
    assert f"file:{shared['id']}" in turn.posted


def _key(ts: str) -> Any:
    from bot.models import ThreadKey

    return ThreadKey("slack", "T0001", "C0001", ts)


async def test_shared_file_is_downloaded_with_the_token_from_slack(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    hosted = emu.host_file("notes.txt", b"the secret notes", "text/plain")
    event = mention("summarize", files=[hosted])
    await bot.send(event)
    await bot.settle()

    [request] = emu.file_requests
    assert (request.scheme, request.host, request.served) == ("https", "files.slack.com", "file")
    assert request.authorization == f"Bearer {emu.bot_token}"
    assert "the secret notes" in sent_to_model(openai_emulator)
    assert len(emu.bot_texts("C0001", event["ts"])) == 1


async def test_unsafe_files_are_never_fetched_and_the_user_is_told(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_MAX_FILE_BYTES="1000")
    emu = bot.emulator
    foreign = emu.host_file(
        "evil.txt", b"evil", "text/plain", host="evil.example.com", require_token=False
    )
    plain = emu.host_file("plain.txt", b"plain", "text/plain")
    plain["url_private_download"] = plain["url_private"] = emu.http_url(plain)
    redirected = emu.host_file("moved.txt", b"moved", "text/plain")
    target = emu.host_file(
        "target.txt", b"elsewhere", "text/plain", host="evil.example.com", require_token=False
    )
    emu.redirect_file(redirected["url_private_download"], target["url_private"])
    big = emu.host_file("big.txt", b"x" * 5000, "text/plain")
    external = emu.host_file("gdoc", b"", "application/pdf", mode="external", is_external=True)
    hidden = emu.host_file("old.txt", b"old", "text/plain", hidden_by_limit=True)
    event = mention("look", files=[foreign, plain, redirected, big, external, hidden])
    await bot.send(event)
    await bot.settle()

    # Only the redirecting Slack URL was asked, and its redirect was not followed.
    assert [(r.host, r.scheme, r.served) for r in emu.file_requests] == [
        ("files.slack.com", "https", "redirect")
    ]
    assert not any(r.has_auth for r in emu.file_requests if r.host != "files.slack.com")
    texts = emu.bot_texts("C0001", event["ts"])
    notices = [t for t in texts if t.startswith(":information_source:")]
    joined = "\n".join(notices)
    for name in ("evil.txt", "plain.txt", "moved.txt", "big.txt", "gdoc", "old.txt"):
        assert f"Skipped {name}:" in joined
    assert "evil.example.com" in joined and "not https" in joined
    assert "external" in joined and "limit" in joined
    sent = sent_to_model(openai_emulator)
    assert not openai_emulator.files
    assert "elsewhere" not in sent and "xxxxx" not in sent
    # The question is still answered.
    assert texts[-1].startswith("echo: ")


async def test_login_page_means_missing_files_read(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    emu.scopes.remove("files:read")
    hosted = emu.host_file("report.pdf", b"%PDF-1.4 report", "application/pdf")
    event = mention("read this", files=[hosted])
    await bot.send(event)
    await bot.settle()
    assert [r.served for r in emu.file_requests] == ["login_page"]
    notices = [t for t in emu.bot_texts("C0001", event["ts"]) if "report.pdf" in t]
    assert notices and "files:read" in notices[0]
    assert "%PDF" not in sent_to_model(openai_emulator)


async def test_size_cap_holds_when_slack_understates_the_size(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_MAX_FILE_BYTES="1000")
    emu = bot.emulator
    liar = emu.host_file("liar.txt", b"y" * 5000, "text/plain", size=10)
    event = mention("read", files=[liar])
    await bot.send(event)
    await bot.settle()
    # Fetched (the declared size was fine), but refused once the real size showed.
    assert [r.served for r in emu.file_requests] == ["file"]
    notices = [t for t in emu.bot_texts("C0001", event["ts"]) if "liar.txt" in t]
    assert notices and "size limit" in notices[0]
    assert "yyyyy" not in sent_to_model(openai_emulator)


async def test_the_size_cap_stops_the_download_while_it_streams(
    slack_bot: Any, openai_emulator: Any
) -> None:
    """No Content-Length and a body far over the cap: the read stops near the cap
    (the host never gets to send most of it), not after the whole download."""
    bot = await slack_bot(THREADBRIDGE_MAX_FILE_BYTES=str(1024 * 1024))
    emu = bot.emulator
    body = b"z" * (64 * 1024 * 1024)
    huge = emu.host_file("huge.log", body, "text/plain", size=10)
    event = mention("read", files=[huge])
    await bot.send(event)
    await bot.settle()
    [request] = emu.file_requests
    assert request.served == "file"
    assert request.bytes_sent < len(body) // 4, request.bytes_sent
    notices = [t for t in emu.bot_texts("C0001", event["ts"]) if "huge.log" in t]
    assert notices and "size limit" in notices[0]
    assert emu.bot_texts("C0001", event["ts"])[-1].startswith("echo: ")


async def test_a_large_content_length_is_refused_before_the_body(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_MAX_FILE_BYTES="1000")
    emu = bot.emulator
    body = b"b" * (64 * 1024 * 1024)
    big = emu.host_file("big.bin", body, "application/pdf", size=10)
    emu.files[big["id"]].served_length = len(body)
    event = mention("read", files=[big])
    await bot.send(event)
    await bot.settle()
    [request] = emu.file_requests
    assert request.bytes_sent < len(body) // 4, request.bytes_sent
    notices = [t for t in emu.bot_texts("C0001", event["ts"]) if "big.bin" in t]
    assert notices and "over the size limit" in notices[0]


async def test_look_alike_hosts_get_no_request_and_no_token(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    files = []
    for url in (
        "https://files.slack.com.evil.example/files-pri/T-F1/a.txt",
        "https://evilfiles.slack.com/files-pri/T-F2/b.txt",
        "https://files.slack.com@evil.example/files-pri/T-F3/c.txt",
    ):
        hosted = emu.host_file(url.rsplit("/", 1)[1], b"secret", "text/plain")
        hosted["url_private"] = hosted["url_private_download"] = url
        files.append(hosted)
    event = mention("look", files=files)
    await bot.send(event)
    await bot.settle()
    assert emu.file_requests == []
    assert bot.resolver.lookups == []  # not even a DNS lookup: no connection, no token
    texts = emu.bot_texts("C0001", event["ts"])
    for name in ("a.txt", "b.txt", "c.txt"):
        assert any(f"Skipped {name}:" in t and "not to Slack's file host" in t for t in texts)
