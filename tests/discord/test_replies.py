"""How replies look on Discord: streaming, splitting, status, files, mentions, errors."""

from __future__ import annotations

import asyncio
import base64
import itertools
from typing import Any

import discord

from adapters.discord.chunks import MESSAGE_LIMIT
from bot.models import PostedRefs, ThreadKey
from bot.tools import ToolRegistry
from tests.discord.conftest import Bot
from tests.emulators.discord import DiscordEmulator
from tests.emulators.openai import Reply

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 600).decode()


def long_answer() -> str:
    intro = "\n\n".join(f"Paragraph {i}: " + "some words here " * 12 for i in range(6))
    code = "\n".join(f"value_{i} = compute({i})  # step {i}" for i in range(80))
    outro = "\n\n".join(f"Closing {i}: " + "more words " * 15 for i in range(5))
    return f"{intro}\n\n```python\n{code}\n```\n\n{outro}"


def fences_balanced(text: str) -> bool:
    return sum(1 for line in text.splitlines() if line.lstrip().startswith("```")) % 2 == 0


def prose_and_code(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("```")]


async def test_long_reply_splits_keeps_fences_and_edits_at_most_once_a_second(
    bot: Bot, openai_emulator: Any
) -> None:
    text = long_answer()
    assert 4000 < len(text) < 6000
    deltas = len(text) / 60
    openai_emulator.script(Reply(text=text, chunk_chars=60, tokens_per_second=deltas / 2.5))
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> long one", author=bot.emu.alice)
    await bot.settle()
    replies = bot.bot_messages(bot.only_thread()["id"])
    contents = [m["content"] for m in replies]
    assert len(contents) >= 3
    assert all(len(c) <= MESSAGE_LIMIT for c in contents)
    assert all(fences_balanced(c) for c in contents)
    assert prose_and_code("\n".join(contents)) == prose_and_code(text)
    # The code block is cut between messages: closed in one, reopened as python.
    assert any(c.startswith("```python\n") for c in contents[1:])
    for message in replies:
        times = [message["created_monotonic"]] + [e["time"] for e in message["edits"]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.85 for gap in gaps), gaps
        assert all(len(e["content"]) <= MESSAGE_LIMIT for e in message["edits"])
    assert any(m["edits"] for m in replies)  # it did stream


async def test_status_line_and_typing_while_a_tool_runs(
    make_bot: Any, openai_emulator: Any
) -> None:
    async def slow_lookup(query: str) -> str:
        """Look something up slowly.

        Args:
            query: What to look up.
        """
        await asyncio.sleep(1.6)
        return "42"

    bot = await make_bot(tools=ToolRegistry.from_functions([slow_lookup]))
    openai_emulator.script(
        Reply(function_calls=[("slow_lookup", {"query": "answer"})]), Reply(text="It is 42.")
    )
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    await bot.emu.send_message(dm["id"], "what is the answer?", author=bot.emu.alice)
    await bot.settle()
    (reply,) = bot.bot_messages(dm["id"])
    assert reply["content"] == "It is 42."
    shown = [e["content"] for e in reply["edits"]]
    first = bot.emu.requests_to("POST", f"/channels/{dm['id']}/messages")[0].json["content"]
    assert "Calling slow_lookup" in first or any("Calling slow_lookup" in s for s in shown)
    assert len(bot.emu.requests_to("POST", f"/channels/{dm['id']}/typing")) >= 2


async def test_generated_file_is_uploaded_into_the_thread(bot: Bot, openai_emulator: Any) -> None:
    openai_emulator.script(Reply(text="Here is the chart.", image_b64=PNG))
    await bot.ask("draw me a chart")
    await bot.settle()
    thread_id = bot.only_thread()["id"]
    text_msg, file_msg = bot.bot_messages(thread_id)
    assert text_msg["content"] == "Here is the chart."
    (upload,) = file_msg["uploaded_files"]
    assert upload.data == base64.b64decode(PNG) and upload.filename == "image-1.png"
    assert file_msg["attachments"][0]["filename"] == "image-1.png"
    request = next(
        r for r in bot.emu.requests_to("POST", f"/channels/{thread_id}/messages") if r.files
    )
    assert request.multipart
    stored = await bot.core.store.find_thread(
        ThreadKey("discord", bot.emu.guild_id, thread_id, thread_id)
    )
    assert stored is not None
    turns = await bot.core.store.turns_of(stored.id)
    assert turns[0].posted == [text_msg["id"], f"file:{file_msg['id']}"]


async def test_file_over_upload_limit_gets_a_notice(bot: Bot, openai_emulator: Any) -> None:
    bot.emu.upload_limit = 300  # told to the bot in the interaction
    openai_emulator.script(Reply(text="Chart attached.", image_b64=PNG))
    await bot.ask("big chart")
    await bot.settle()
    thread_id = bot.only_thread()["id"]
    (reply,) = bot.bot_messages(thread_id)
    assert reply["content"].startswith("Chart attached.")
    assert "image-1.png" in reply["content"] and "upload limit" in reply["content"]
    assert not any(r.files for r in bot.emu.requests)  # no doomed upload


async def test_upload_rejected_as_too_large_becomes_a_notice(
    bot: Bot, openai_emulator: Any
) -> None:
    # The bot believes the guild allows 10 MiB; Discord says 413.
    bot.emu.upload_limit = 300
    openai_emulator.script(Reply(text="Chart attached.", image_b64=PNG))
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> chart", author=bot.emu.alice)
    await bot.settle()
    contents = [m["content"] for m in bot.bot_messages(bot.only_thread()["id"])]
    assert contents[0] == "Chart attached."
    assert "upload limit" in contents[1]
    turns = await bot.core.store.turns_of(1)
    assert [t.status for t in turns] == ["done"]


async def test_model_output_cannot_ping_anyone(bot: Bot, openai_emulator: Any) -> None:
    emu = bot.emu
    ping = f"@everyone @here <@&123> <@{emu.alice['id']}> <@&{emu.guild_id}> hello"
    openai_emulator.model = lambda request: Reply(text=ping)
    await bot.ask("ping everyone")  # thread reply: channel messages
    await bot.settle()
    thread_id = bot.only_thread()["id"]
    await bot.ask("again", channel_id=thread_id)  # interaction follow-up (webhook)
    await bot.settle(count=2)
    dm = emu.create_dm_channel(emu.alice)
    await emu.send_message(dm["id"], "dm", author=emu.alice)
    await bot.settle(count=3)

    payloads = []
    for request in emu.requests:
        body = request.json if isinstance(request.json, dict) else {}
        if request.path.endswith("/callback"):
            body = body.get("data") or {}
        if request.method in ("POST", "PATCH") and "content" in body:
            payloads.append((request.path, body))
    # Two questions echoed (webhook edits), three answers: channel, webhook, DM channel.
    assert len(payloads) == 5
    assert sum("/webhooks/" in path for path, _ in payloads) == 3
    for _, body in payloads:
        allowed = body.get("allowed_mentions")
        assert allowed is not None, body
        assert allowed.get("parse") == [] and not allowed.get("users") and not allowed.get("roles")
    shown = [
        m for c in (thread_id, dm["id"]) for m in bot.bot_messages(c) if "hello" in m["content"]
    ]
    assert len(shown) == 3
    for message in shown:
        assert message["mentions"] == [] and message["mention_roles"] == []
        assert message["mention_everyone"] is False


async def test_failure_shows_reference_and_thread_stays_usable(
    bot: Bot, openai_emulator: Any
) -> None:
    openai_emulator.script(
        Reply(text="Partial ans", fail="model exploded"), Reply(text="Fine now.")
    )
    await bot.ask("break please")
    await bot.settle()
    thread_id = bot.only_thread()["id"]
    (reply,) = bot.bot_messages(thread_id)
    assert "⚠️" in reply["content"] and "(ref " in reply["content"]
    assert "model exploded" not in reply["content"]  # short, safe message only
    await bot.emu.send_message(thread_id, "try again", author=bot.emu.alice)
    await bot.settle(count=2)
    assert bot.bot_messages(thread_id)[-1]["content"] == "Fine now."


async def test_archived_thread_is_unarchived_before_posting(
    bot: Bot, openai_emulator: Any, discord_emulator: DiscordEmulator
) -> None:
    emu = discord_emulator
    await bot.ask("start a thread")
    await bot.settle()
    thread_id = bot.only_thread()["id"]
    # Archived while the answer is being written.
    openai_emulator.script(Reply(text="still here", ttft=0.4))
    await emu.send_message(thread_id, "one more", author=emu.alice)
    await bot.handled(count=2)
    await emu.wait_for_request("POST", f"/channels/{thread_id}/typing", count=2)
    await emu.archive_thread(thread_id)
    await bot.core.service.drain()
    assert bot.bot_messages(thread_id)[-1]["content"] == "still here"
    assert not emu.channel(thread_id)["thread_metadata"]["archived"]
    posts = emu.requests_to("POST", f"/channels/{thread_id}/messages")
    assert [r.status for r in posts[-2:]] == [400, 200]  # refused while archived, then sent
    assert emu.requests_to("PATCH", f"/channels/{thread_id}")[-1].json == {"archived": False}
    # And a sink rebuilt from stored data (as after a restart) for an archived thread.
    await emu.archive_thread(thread_id)
    cached = bot.client.get_channel(int(thread_id))
    assert isinstance(cached, discord.Thread)
    await emu.wait_until(lambda: cached.archived)
    key = ThreadKey("discord", emu.guild_id, thread_id, thread_id)
    sink = await bot.client.replier.open_reply(key=key, anchor="")
    assert not emu.channel(thread_id)["thread_metadata"]["archived"]
    await sink.text("resumed")
    await sink.finish()
    assert bot.bot_messages(thread_id)[-1]["content"] == "resumed"


async def test_a_resumed_reply_edits_the_messages_already_posted(
    bot: Bot, openai_emulator: Any
) -> None:
    """After a crash the service reopens the reply with what was posted: no second reply."""
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> hi", author=bot.emu.alice)
    await bot.settle()
    thread_id = bot.only_thread()["id"]
    key = ThreadKey("discord", bot.emu.guild_id, thread_id, thread_id)
    recorded: list[tuple[str, ...]] = []

    async def on_posted(refs: PostedRefs) -> None:
        recorded.append(refs.message_ids)

    first = await bot.client.replier.open_reply(key=key, anchor="", on_posted=on_posted)
    await first.text("the first half, and then the process d")
    await first.finish()  # what a dead process had shown
    before = bot.bot_messages(thread_id)
    assert recorded == [(before[-1]["id"],)]  # reported as soon as it was posted

    resumed = await bot.client.replier.open_reply(key=key, anchor="", posted=recorded[-1])
    await resumed.text("the whole answer, written into the same message")
    refs = await resumed.finish()
    after = bot.bot_messages(thread_id)
    assert [m["id"] for m in after] == [m["id"] for m in before]
    assert after[-1]["content"] == "the whole answer, written into the same message"
    assert refs.message_ids == (before[-1]["id"],)
