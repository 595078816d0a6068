"""Messages: mentions, DMs, follow-ups, replays, filters, allowlists, intents."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from adapters.discord.client import NO_CONTENT_HINT
from adapters.discord.download import CdnFetcher
from adapters.discord.runner import MESSAGE_CONTENT_OFF, DiscordRunner
from bot.models import ThreadKey
from tests.discord.conftest import Bot
from tests.emulators.discord import DiscordEmulator
from tests.emulators.openai import Reply
from tests.helpers import model_input


async def test_mention_in_channel_opens_thread_from_the_message(
    bot: Bot, openai_emulator: Any
) -> None:
    msg = await bot.emu.send_message(
        bot.emu.channel_id, f"<@{bot.id}> summarize our plan", author=bot.emu.alice
    )
    await bot.settle()
    thread = bot.only_thread()
    assert thread["id"] == msg["id"]  # started from the user's message
    assert thread["name"] == "summarize our plan"
    assert [m["content"] for m in bot.bot_messages(thread["id"])] == [
        "echo: [alice] summarize our plan"
    ]
    # The bot's mention is not part of what the model reads.
    sent = model_input(openai_emulator.responses_requests()[0].body)[0]["content"][0]["text"]
    assert sent == "[alice] summarize our plan"
    key = ThreadKey("discord", bot.emu.guild_id, thread["id"], thread["id"])
    assert await bot.core.store.find_thread(key) is not None


async def test_plain_channel_message_is_ignored(bot: Bot) -> None:
    await bot.emu.send_message(bot.emu.channel_id, "just chatting", author=bot.emu.alice)
    await bot.handled("ignored")
    assert bot.emu.threads() == []
    assert bot.bot_messages(bot.emu.channel_id) == []


async def test_dm_channel_is_one_conversation(bot: Bot, openai_emulator: Any) -> None:
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    await bot.emu.send_message(dm["id"], "hello in private", author=bot.emu.alice)
    await bot.settle()
    await bot.emu.send_message(dm["id"], "again", author=bot.emu.alice)
    await bot.settle(count=2)
    assert [m["content"] for m in bot.bot_messages(dm["id"])] == [
        "echo: [alice] hello in private",
        "echo: [alice] again",
    ]
    first, second = openai_emulator.responses_requests()
    assert second.body["conversation"] == first.body["conversation"]
    assert await bot.core.store.find_thread(ThreadKey("discord", "", dm["id"], dm["id"]))


async def test_same_message_create_twice_gets_one_reply(bot: Bot, openai_emulator: Any) -> None:
    # In a channel (thread creation must not run twice) and in the bot's thread.
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> once", author=bot.emu.alice)
    await bot.settle()
    await bot.emu.replay_last_dispatch()  # gateway resume replays the same event
    await bot.handled("duplicate")
    thread_id = bot.only_thread()["id"]
    await bot.emu.send_message(thread_id, "follow", author=bot.emu.alice)
    await bot.settle(count=2)
    await bot.emu.replay_last_dispatch()
    await bot.settle("duplicate", count=2)
    assert len(bot.bot_messages(thread_id)) == 2
    assert len(openai_emulator.responses_requests()) == 2
    assert len(bot.emu.requests_to("POST", "/threads")) == 1


async def test_other_bots_and_itself_are_ignored(bot: Bot) -> None:
    other = bot.emu.add_user("otherbot", bot=True)
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> hi", author=other)
    await bot.emu.send_message(dm["id"], "from me", author=bot.emu.bot_user)
    await bot.handled("ignored", count=2)
    assert bot.emu.threads() == []
    assert [m["content"] for m in bot.bot_messages(dm["id"])] == ["from me"]


async def test_channel_allowlist(make_bot: Any, discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    other = emu.add_text_channel(emu.guild_id, "random")
    bot = await make_bot(THREADBRIDGE_DISCORD_ALLOWED_CHANNELS=emu.channel_id)
    await emu.send_message(other["id"], f"<@{bot.id}> here?", author=emu.alice)
    await bot.handled("refused")
    inter = await bot.ask("and here?", channel_id=other["id"])
    await emu.wait_until(lambda: emu.interaction(inter["id"]).acknowledged)
    body = emu.interaction(inter["id"]).callbacks[0].body
    assert body["data"]["flags"] & 64 and "not enabled in this channel" in body["data"]["content"]
    await emu.send_message(emu.channel_id, f"<@{bot.id}> allowed", author=emu.alice)
    await bot.settle()
    assert [t["parent_id"] for t in emu.threads()] == [emu.channel_id]


async def test_role_allowlist_and_dms_refused(
    make_bot: Any, discord_emulator: DiscordEmulator
) -> None:
    emu = discord_emulator
    role = {"id": "4242", "name": "helpers", "permissions": "0"}
    emu.guilds[emu.guild_id].roles.append(
        {**emu.guilds[emu.guild_id].roles[0], "id": "4242", "name": "helpers", "position": 2}
    )
    bob = emu.add_user("bob")
    emu.add_member(emu.guild_id, bob, roles=[role["id"]])
    bot = await make_bot(THREADBRIDGE_DISCORD_ALLOWED_ROLES="4242")
    await emu.send_message(emu.channel_id, f"<@{bot.id}> alice asks", author=emu.alice)
    await bot.handled("refused")
    dm = emu.create_dm_channel(bob)
    await emu.send_message(dm["id"], "bob in a DM", author=bob)
    await bot.handled("refused", count=2)
    await emu.send_message(emu.channel_id, f"<@{bot.id}> bob asks", author=bob)
    await bot.settle()
    assert [t["name"] for t in emu.threads()] == ["bob asks"]


@pytest.mark.parametrize("flags_say_granted", [False, True], ids=["app-flags", "close-4014"])
async def test_without_message_content_intent_mentions_still_work(
    make_core: Any,
    discord_emulator: DiscordEmulator,
    caplog: pytest.LogCaptureFixture,
    flags_say_granted: bool,
) -> None:
    emu = discord_emulator
    emu.deny_message_content = True
    if flags_say_granted:
        # The application flags claim the intent, the gateway still refuses it (4014).
        emu.application_flags = 1 << 19
    core = await make_core(DISCORD_TOKEN=emu.bot_token, DISCORD_API_URL=emu.api_base)
    runner = DiscordRunner(
        service=core.service,
        settings=core.settings,
        fetcher_factory=lambda: CdnFetcher(
            resolver=emu.resolver(), ssl_context=emu.ssl_client_context()
        ),
        client_options={"guild_ready_timeout": 0.05},
    )
    caplog.set_level(logging.WARNING, logger="adapters.discord")
    task = asyncio.create_task(runner.run())
    try:
        await emu.wait_until(lambda: runner.client is not None and runner.client.is_ready())
        client = runner.client
        assert client is not None and not client.intents.message_content
        bot = Bot(core=core, client=client, emu=emu)
        await emu.send_message(emu.channel_id, f"<@{bot.id}> still here?", author=emu.alice)
        await bot.settle()
        thread_id = bot.only_thread()["id"]
        assert bot.bot_messages(thread_id)[0]["content"] == "echo: [alice] still here?"
        # A follow-up without a mention arrives without content: nothing to answer, but
        # the thread is told once how to reach the bot (and the log says it once).
        await emu.send_message(thread_id, "no mention", author=emu.alice)
        await bot.handled("empty")
        await emu.send_message(thread_id, "again no mention", author=emu.alice)
        await bot.handled("empty", count=2)
        hints = [m["content"] for m in bot.bot_messages(thread_id) if "/ask" in m["content"]]
        assert hints == [NO_CONTENT_HINT]
        posts = emu.requests_to("POST", f"/channels/{thread_id}/messages")
        [hint] = [r.json for r in posts if "/ask" in r.json.get("content", "")]
        assert hint["allowed_mentions"] == {"parse": []}
        assert caplog.text.count("no Message Content intent") == 1
        await emu.send_message(thread_id, f"<@{bot.id}> with mention", author=emu.alice)
        await bot.settle(count=2)
        assert bot.bot_messages(thread_id)[-1]["content"] == "echo: [alice] with mention"
    finally:
        if runner.client is not None:
            await runner.client.close()
        await asyncio.wait_for(task, 5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings.count(MESSAGE_CONTENT_OFF) == 1
    identify = [f["d"]["intents"] for f in emu.gateway.received if f.get("op") == 2]
    assert identify and not identify[-1] & (1 << 15)


async def test_shutdown_lets_a_running_turn_post_its_reply(
    make_core: Any, discord_emulator: DiscordEmulator, openai_emulator: Any
) -> None:
    emu = discord_emulator
    core = await make_core(DISCORD_TOKEN=emu.bot_token, DISCORD_API_URL=emu.api_base)
    runner = DiscordRunner(
        service=core.service,
        settings=core.settings,
        fetcher_factory=lambda: CdnFetcher(
            resolver=emu.resolver(), ssl_context=emu.ssl_client_context()
        ),
        client_options={"guild_ready_timeout": 0.05},
    )
    task = asyncio.create_task(runner.run())
    await emu.wait_until(lambda: runner.client is not None and runner.client.is_ready())
    assert runner.client is not None
    bot = Bot(core=core, client=runner.client, emu=emu)
    openai_emulator.script(Reply(text="made it", ttft=0.5))
    dm = emu.create_dm_channel(emu.alice)
    await emu.send_message(dm["id"], "quick, before shutdown", author=emu.alice)
    await bot.handled()
    task.cancel()  # what SIGTERM does to the runners
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.client.is_closed()
    assert [m["content"] for m in bot.bot_messages(dm["id"])] == ["made it"]


async def test_mention_in_someone_elses_thread_adopts_it(bot: Bot) -> None:
    emu = bot.emu
    thread = await emu.create_thread(emu.channel_id, "alice's thread", owner=emu.alice)
    await emu.send_message(thread["id"], "chatting among us", author=emu.alice)
    await bot.handled("ignored")
    await emu.send_message(thread["id"], f"<@{bot.id}> can you help?", author=emu.alice)
    await bot.settle()
    assert emu.bot_user["id"] in emu.thread_members[thread["id"]]  # joined
    await emu.send_message(thread["id"], "thanks, and also", author=emu.alice)
    await bot.settle(count=2)  # known in the store now: no mention needed
    assert [m["content"] for m in bot.bot_messages(thread["id"])] == [
        "echo: [alice] can you help?",
        "echo: [alice] thanks, and also",
    ]
