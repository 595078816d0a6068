"""Odd and hostile input through the real discord.py client: pasted code, mentions in
/ask, invalid Unicode, a client without the mention-safe default, another gateway."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord.chunks import split_message
from adapters.discord.events import clean_text
from tests.discord.conftest import Bot, MakeBot
from tests.emulators.openai import Reply
from tests.helpers import model_input

CODE = """look at this:
```python
def f(x):
    if x:
        return  x * 2
    return 0
```
and `a  =  b` inline"""


def model_text(openai_emulator: Any, index: int = -1) -> str:
    body = openai_emulator.responses_requests()[index].body
    return str(model_input(body)[0]["content"][0]["text"])


async def test_pasted_code_reaches_the_model_with_its_indentation(
    bot: Bot, openai_emulator: Any
) -> None:
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> {CODE}", author=bot.emu.alice)
    await bot.settle()
    assert model_text(openai_emulator) == f"[alice] {CODE}"


def test_clean_text_changes_only_mentions_outside_code() -> None:
    text = "<@1> hi  <@2>   there\n```\n<@2>   kept\n```\n`<@2>  x`"
    assert clean_text(text, bot_id=1) == "hi  @user   there\n```\n<@2>   kept\n```\n`<@2>  x`"


async def test_an_ask_prompt_is_cleaned_like_message_text(bot: Bot, openai_emulator: Any) -> None:
    alice = bot.emu.alice["id"]
    await bot.ask(f"<@{bot.id}> ask <@{alice}> about \ud800 this")
    await bot.settle()
    thread = bot.only_thread()
    assert thread["name"] == "ask @alice about \ufffd this"
    assert model_text(openai_emulator) == "[alice] ask @alice about \ufffd this"


async def test_invalid_unicode_in_a_message_is_answered(bot: Bot, openai_emulator: Any) -> None:
    await bot.emu.send_message(
        bot.emu.channel_id, f"<@{bot.id}> odd \udc00 text", author=bot.emu.alice
    )
    await bot.settle()
    thread = bot.only_thread()
    assert [m["content"] for m in bot.bot_messages(thread["id"])] == [
        "echo: [alice] odd \ufffd text"
    ]


def test_a_long_code_line_is_never_split_at_a_space() -> None:
    lines = [f"value_{i} =" + " item" * 30 for i in range(5)]
    text = "```python\n" + "\n".join(lines) + "\n```"
    chunks = split_message(text, limit=400)
    assert len(chunks) > 1
    for line in lines:
        assert sum(line in chunk.split("\n") for chunk in chunks) == 1, chunks


async def test_every_send_says_no_mentions_itself(make_bot: MakeBot, openai_emulator: Any) -> None:
    """Not only the client-wide default: each request carries allowed_mentions."""
    bot = await make_bot(THREADBRIDGE_CODE_INTERPRETER="true")
    bot.client.allowed_mentions = None  # the default gone: each call must say it
    openai_emulator.script(
        Reply(text="@everyone " + "long words " * 300, code="x()", files=[("a.csv", b"a,b\n")])
    )
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> go", author=bot.emu.alice)
    await bot.settle()
    thread = bot.only_thread()
    writes = [
        r
        for r in bot.emu.requests
        if r.method in ("POST", "PATCH") and r.path.startswith(f"/channels/{thread['id']}/messages")
    ]
    assert len(bot.bot_messages(thread["id"])) >= 2  # a split reply and a file
    assert writes and all(r.json.get("allowed_mentions") == {"parse": []} for r in writes), [
        (r.method, r.path, r.json) for r in writes
    ]


@pytest.fixture
def discord_patch_gateway() -> bool:
    return False


async def test_discord_gateway_url_is_used_as_given(make_bot: MakeBot) -> None:
    bot = await make_bot(DISCORD_GATEWAY_URL=None)
    assert bot.emu.requests_to("GET", "/gateway/bot")  # found from DISCORD_API_URL
    bot.emu.requests.clear()
    other = await make_bot(DISCORD_GATEWAY_URL=bot.emu.gateway_url)
    assert other.client.is_ready()
    assert not bot.emu.requests_to("GET", "/gateway/bot")
