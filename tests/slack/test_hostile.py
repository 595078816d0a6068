"""Hostile and odd input through the real Bolt app: invalid Unicode, pings hidden in
every output field, long streamed code, a database that refuses writes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.events import Anchor, parse_message
from adapters.slack.text import ZWSP, page_cut, safe_markdown
from bot.models import OutFile, Progress, ThreadKey
from tests.emulators.slack import BOT_USER_ID, app_mention_event, event_callback, message_event
from tests.helpers import model_input

PING = re.compile(r"<!(channel|here|everyone)|<@U|&lt;!|&#60;!|@(channel|here|everyone)\b")


def mention(text: str, **kwargs: Any) -> dict[str, Any]:
    return app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> {text}", **kwargs)


async def test_a_lone_surrogate_in_the_text_is_answered_not_retried_forever(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    event = mention("broken \ud800 text")
    await bot.send(event)
    await bot.settle()
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["echo: broken \ufffd text"]
    sent = model_input(openai_emulator.responses_requests()[0].body)[0]["content"][0]["text"]
    assert sent.endswith("broken \ufffd text")


async def test_an_unwritable_database_answers_500_and_the_retry_is_answered(
    slack_bot: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk as SQLite reports it: the claim fails, Slack is not acked and
    retries; once writes work again the message is answered once."""
    bot = await slack_bot("http")
    db = sqlite3.connect(tmp_path / "threadbridge.db")
    db.execute(
        "CREATE TRIGGER full BEFORE INSERT ON inbound "
        "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
    )
    db.commit()
    event = mention("are you there?")
    body = event_callback(event, event_id="EvFULL")
    with caplog.at_level(logging.ERROR):
        status, _ = await bot.emulator.http_send_event(bot.url, body)
    assert status == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "database or disk is full" in errors[0].getMessage()
    await bot.settle()
    assert bot.emulator.bot_texts("C0001", event["ts"]) == []

    db.execute("DROP TRIGGER full")
    db.commit()
    db.close()
    status, _ = await bot.emulator.http_send_event(
        bot.url, body, retry_num=1, retry_reason="http_error"
    )
    assert status == 200
    await bot.settle()
    # The first delivery looked the name up (in the background, so it is known now).
    assert bot.emulator.bot_texts("C0001", event["ts"]) == ["echo: [u0user] are you there?"]


async def test_pings_are_broken_in_every_field_the_sink_writes(slack_bot: Any) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    parent = emu.user_message("D0001", "question")
    anchor = Anchor(
        thread_ts=parent.ts, user="U0USER", team="T0001", assistant=True, title="<!channel> hi"
    )
    sink = await bot.bridge.replier.open_reply(
        key=ThreadKey("slack", "T0001", "D0001", parent.ts), anchor=anchor.dumps()
    )
    await sink.progress(Progress("c1", "function", "Calling <!here> and <@U999>"))
    await sink.text("Entities: &lt;!channel&gt; &#60;!here&#62; &#x3C;!everyone&#x3E; end")
    await sink.file(OutFile(name="<!everyone> report.csv", mime_type="text/csv", data=b"a,b\n"))
    await sink.finish()

    [title] = [c.params["title"] for c in emu.calls_to("assistant.threads.setTitle")]
    statuses = [
        m
        for c in emu.calls_to("assistant.threads.setStatus")
        for m in c.params.get("loading_messages") or []
    ]
    uploads = [c.params for c in emu.calls if c.method.startswith("files.")]
    fields = [title, *statuses]
    fields += [str(p.get(k, "")) for p in uploads for k in ("title", "filename", "files")]
    fields += [
        str(c.params.get("markdown_text") or c.params.get("text") or "")
        for c in emu.calls
        if c.method.startswith("chat.")
    ]
    assert "Calling" in " ".join(statuses) and "report.csv" in " ".join(fields)
    assert "Entities:" in " ".join(fields)
    for text in fields:
        assert not PING.search(text), text


def test_entity_forms_of_mentions_are_broken_in_markdown() -> None:
    for raw in ("&lt;!channel&gt;", "&#60;!here&#62;", "&#x3c;!everyone&#x3e;", "&LT;@U123&GT;"):
        safe = safe_markdown(raw)
        assert ZWSP in safe and not PING.search(safe), raw


async def test_a_streamed_code_line_paused_at_the_page_limit_stays_on_one_page(
    slack_bot: Any,
) -> None:
    """The model pauses mid-line just before the page is full: the line the user saw
    begin ends on the same page, and the next page starts at a line."""
    bot = await slack_bot()
    replier = bot.bridge.replier
    replier.options = dataclasses.replace(replier.options, flush_interval=0.02, page_limit=300)
    emu = bot.emulator
    parent = emu.user_message("C0001", f"<@{BOT_USER_ID}> code please")
    sink = await replier.open_reply(
        key=ThreadKey("slack", "T0001", "C0001", parent.ts),
        anchor=Anchor(thread_ts=parent.ts, user="U0USER", team="T0001").dumps(),
    )
    lines = [f"result_{i} = compute_something({i}, option=True)  # step {i}" for i in range(12)]
    code = "```python\n" + "\n".join(lines) + "\n```\nDone."
    pause = code.index(lines[5]) + 20  # inside line 5, near the 300-character page limit
    await sink.text(code[:pause])
    await asyncio.sleep(0.2)  # streamed: the user has half of line 5
    for start in range(pause, len(code), 7):
        await sink.text(code[start : start + 7])
        await asyncio.sleep(0.005)
    await sink.finish()

    pages = [m.text for m in emu.bot_messages("C0001", parent.ts)]
    assert len(pages) >= 2
    for line in lines:  # every code line whole, on exactly one page
        assert sum(line in page.split("\n") for page in pages) == 1, (line, pages)
    assert all(page.count("```") % 2 == 0 for page in pages), pages
    assert "Done." in pages[-1]


def test_the_bots_own_messages_are_ignored_even_when_other_bots_are_allowed() -> None:
    """parse_message itself drops them (Bolt's self-event filter is not relied on)."""
    own = event_callback(
        message_event(channel="C0001", text="my own reply", user=BOT_USER_ID, bot_id="B0BOT")
    )
    other = event_callback(
        message_event(channel="C0001", text="another bot", user="U0OTHER", bot_id="B0OTHER")
    )
    for body in (own, other):
        body["event"]["thread_ts"] = "1.0"
    kwargs = {"bot_user_id": BOT_USER_ID, "bot_id": "B0BOT", "allow_bots": True}
    assert parse_message(own, **kwargs) is None  # type: ignore[arg-type]
    only_id = {**own, "event": {**own["event"], "user": None}}
    assert parse_message(only_id, **kwargs) is None  # type: ignore[arg-type]
    incoming = parse_message(other, **kwargs)  # type: ignore[arg-type]
    assert incoming is not None and incoming.is_bot


def test_a_page_never_ends_inside_the_code_line_the_user_is_reading() -> None:
    head = "```\n" + "x = 1\n" * 40  # 244 characters of whole lines
    growing = head + "value = compute(1, 2, 3)"  # a line still arriving
    start = len(head) + 8  # streamed up to "value = "
    assert page_cut(growing, 250, start=start) is None  # wait for the line's end
    assert page_cut(growing, 250, start=start, final=True) == len(growing)
    done = growing + "\nnext = 2\n" + "y = 2\n" * 10
    assert page_cut(done, 250, start=start) == len(growing) + 1  # right after that line
    # Nothing shown yet: the last line end within the limit, as ever.
    assert page_cut(done, 250) == len(head)
