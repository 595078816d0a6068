"""Pure functions: Markdown -> mrkdwn, ping safety, splitting, event translation."""

from __future__ import annotations

import pytest

from adapters.slack.events import Anchor, parse_message, permitted, strip_mention, title_from
from adapters.slack.text import (
    ZWJ,
    escape,
    open_fence,
    safe_markdown,
    split_markdown,
    split_point,
    to_mrkdwn,
)
from tests.emulators.slack import (
    app_mention_event,
    event_callback,
    message_changed_event,
    message_event,
)

# --- mrkdwn ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __also__", "*bold* and *also*"),
        ("*italic* and _too_", "_italic_ and _too_"),
        ("~~gone~~", "~gone~"),
        ("# Title", "*Title*"),
        ("### **Bold** title", "*Bold title*"),
        ("[site](https://e.com/?a=1&b=2)", "<https://e.com/?a=1&amp;b=2|site>"),
        ("[x](javascript:alert(1))", "x"),
        ("![chart](https://e.com/c.png)", "<https://e.com/c.png|chart>"),
        ("see <https://e.com>", "see <https://e.com>"),
        ("- one\n  - two", "• one\n    • two"),
        ("> quoted <b>", "> quoted &lt;b&gt;"),
        ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
        ("`x < y` and **`code`**", "`x &lt; y` and *`code`*"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("---", "──────────"),
        ("```js\nif (a < b) {}\n```", "```\nif (a &lt; b) {}\n```"),
        ("```\nnot closed", "```\nnot closed\n```"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"),
    ],
)
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


PINGS = "<!channel> <!here|here> <!everyone> <!subteam^S1|@ops> <@U123> <@W9X|w> @here @channel"


def test_mrkdwn_never_pings() -> None:
    out = to_mrkdwn(PINGS)
    assert "<" not in out and ">" not in out
    assert out.count("&lt;") == 6
    assert f"@{ZWJ}here" in out and f"@{ZWJ}channel" in out
    # Code is escaped too: Slack parses control characters there as well.
    assert "<!channel>" not in to_mrkdwn(f"```\n{PINGS}\n```")


def test_mrkdwn_user_mentions_when_allowed() -> None:
    out = to_mrkdwn(PINGS, allow_user_mentions=True)
    assert "<@U123>" in out and "<@W9X>" in out
    for token in ("<!channel", "<!here", "<!everyone", "<!subteam"):
        assert token not in out


def test_safe_markdown_breaks_only_ping_tokens() -> None:
    out = safe_markdown(PINGS + "\n```html\n<!DOCTYPE html><a href='x'>&amp;</a>\n```")
    for token in ("<!channel", "<!here", "<!everyone", "<!subteam", "<@U123", "<@W9X"):
        assert token not in out
    assert "<!DOCTYPE html><a href='x'>&amp;</a>" in out
    assert "<@U123>" in safe_markdown("<@U123>", allow_user_mentions=True)
    assert "<!here" not in safe_markdown("<!here>", allow_user_mentions=True)


def test_escape() -> None:
    assert escape("<&>") == "&lt;&amp;&gt;"


# --- splitting ---------------------------------------------------------------------------


def test_split_point_prefers_paragraphs_then_lines_then_spaces() -> None:
    text = "a" * 60 + "\n\n" + "b" * 20 + "\n" + "c" * 10 + " " + "d" * 50
    assert split_point(text, 100) == 62  # the paragraph end, though a line ends later
    lines = "a" * 40 + "\n\n" + "b" * 20 + "\n" + "c" * 10 + " " + "d" * 50
    assert split_point(lines, 100) == 42 + 21  # the paragraph is in the first half
    words = "a" * 70 + " " + "b" * 50
    assert split_point(words, 100) == 71
    assert split_point("x" * 150, 100) == 100
    assert split_point("short", 100) == 5
    assert split_point("aaaa bbbb " + "c" * 200, 100, start=50) == 100


def test_split_keeps_code_fences_balanced_and_loses_nothing() -> None:
    code = "\n".join(f"line {i}" for i in range(200))
    text = f"intro\n\n```python\n{code}\n```\n\noutro " + "word " * 100
    parts = split_markdown(text, 400)
    assert len(parts) > 4
    assert all(len(p) <= 400 for p in parts)
    assert all(open_fence(p) is None for p in parts)
    assert all(p.startswith("```python") for p in parts[1:-2])
    lines = [line for p in parts for line in p.split("\n") if line.startswith("line ")]
    assert lines == [f"line {i}" for i in range(200)]
    assert parts[-1].rstrip().endswith("word")


def test_open_fence() -> None:
    assert open_fence("a\n```py\nx") == "```py"
    assert open_fence("```\nx\n```") is None
    assert open_fence("````\n```\nstill open") == "````"
    assert open_fence("no code") is None


# --- events ------------------------------------------------------------------------------


def parse(event: dict, **kwargs: object) -> object:
    return parse_message(
        event_callback(event),
        bot_user_id="UBOT",
        bot_id="BBOT",
        **kwargs,  # type: ignore[arg-type]
    )


def test_parse_mention_and_thread_keys() -> None:
    top = parse(app_mention_event(channel="C1", text="<@UBOT>  what &amp; why &lt;x&gt;"))
    assert top is not None
    assert top.text == "what & why <x>" and top.mentioned  # type: ignore[attr-defined]
    assert top.key.thread == top.ts  # type: ignore[attr-defined]
    reply = parse(message_event(channel="C1", text="more", thread_ts="1.5"))
    assert reply.key.thread == "1.5" and not reply.mentioned  # type: ignore[attr-defined]
    dm = parse(message_event(channel="D1", text="hi"))
    assert dm.key.thread == "" and dm.is_dm and not dm.assistant  # type: ignore[attr-defined]
    pane = parse(message_event(channel="D1", text="hi", thread_ts="2.5"))
    assert pane.assistant and pane.anchor(first=True).title == "hi"  # type: ignore[attr-defined]


def test_parse_filters() -> None:
    assert parse(message_event(text="me", user="UBOT", bot_id="BBOT")) is None
    other = message_event(text="bot", user=None, bot_id="B2", subtype="bot_message")
    assert parse(other) is None
    assert parse(other, allow_bots=True) is not None
    assert parse(message_changed_event(ts="1.1", new_text="x")) is None
    assert parse(message_event(text="x", subtype="channel_join")) is None
    assert parse(message_event(text="file", files=[{"id": "F1"}])) is not None


def test_permitted() -> None:
    dm = parse(message_event(channel="D1", text="hi", user="U1"))
    chan = parse(message_event(channel="C1", text="hi", user="U1"))
    assert permitted(chan, allowed_channels=[], allowed_users=[])  # type: ignore[arg-type]
    assert not permitted(chan, allowed_channels=["C2"], allowed_users=[])  # type: ignore[arg-type]
    assert not permitted(dm, allowed_channels=["C2"], allowed_users=[])  # type: ignore[arg-type]
    assert permitted(dm, allowed_channels=["C2", "DM"], allowed_users=[])  # type: ignore[arg-type]
    assert not permitted(chan, allowed_channels=[], allowed_users=["U2"])  # type: ignore[arg-type]


def test_helpers() -> None:
    assert strip_mention("<@UBOT|bot> hi <@UOTHER>", "UBOT") == ("hi <@UOTHER>", True)
    assert title_from("\n  short question  \nmore") == "short question"
    long = title_from("word " * 40)
    assert long.endswith("…") and len(long) <= 60
    anchor = Anchor(thread_ts="1.2", user="U1", team="T1", assistant=True, title="é")
    assert Anchor.loads(anchor.dumps()) == anchor
