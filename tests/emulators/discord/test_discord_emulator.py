"""Self-tests: the real discord.py client + CommandTree against the emulator."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from . import payloads as P
from .plugin import started_client
from .server import DiscordEmulator

TIMEOUT = 5.0


def make_client(*, message_content: bool = True, **kwargs: Any) -> discord.Client:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return discord.Client(
        intents=intents,
        allowed_mentions=discord.AllowedMentions.none(),
        guild_ready_timeout=0.05,
        **kwargs,
    )


def token(emu: DiscordEmulator) -> str:
    assert emu.bot_token is not None
    return emu.bot_token


class Recorder:
    """Collects client events into queues."""

    def __init__(self, client: discord.Client) -> None:
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.threads: asyncio.Queue[discord.Thread] = asyncio.Queue()
        self.thread_updates: asyncio.Queue[discord.Thread] = asyncio.Queue()
        self.resumed = asyncio.Event()

        @client.event
        async def on_message(message: discord.Message) -> None:
            await self.messages.put(message)

        @client.event
        async def on_thread_create(thread: discord.Thread) -> None:
            await self.threads.put(thread)

        @client.event
        async def on_thread_update(before: discord.Thread, after: discord.Thread) -> None:
            await self.thread_updates.put(after)

        @client.event
        async def on_resumed() -> None:
            self.resumed.set()

    async def next_message(self, *, from_user: bool = True) -> discord.Message:
        async with asyncio.timeout(TIMEOUT):
            while True:
                msg = await self.messages.get()
                if not from_user or not msg.author.bot:
                    return msg


# ---------------------------------------------------------------------------
async def test_login_ready_and_guild_state(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)) as c:
        assert c.user is not None and str(c.user.id) == emu.application_id
        assert c.user.bot
        assert c.application_id == int(emu.application_id)
        assert c.application_flags.gateway_message_content_limited
        guild = c.get_guild(int(emu.guild_id))
        assert guild is not None and guild.name == "G"
        assert guild.member_count == 2
        channel = guild.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel) and channel.name == "general"
        assert guild.me is not None
        assert channel.permissions_for(guild.me).send_messages_in_threads
        identify = next(f for f in emu.gateway.received if f.get("op") == 2)
        assert identify["d"]["intents"] == client.intents.value
        assert emu.gateway.sessions[0].intents & P.INTENT_MESSAGE_CONTENT
        # fetches go through REST
        user = await c.fetch_user(int(emu.alice["id"]))
        assert user.name == "alice"
        fetched_guild = await c.fetch_guild(int(emu.guild_id))
        assert fetched_guild.approximate_member_count == 2
        fetched_channel = await c.fetch_channel(int(emu.channel_id))
        assert fetched_channel.id == channel.id
    assert client.is_closed()
    routes = {r.route for r in emu.requests}
    assert "GET /users/@me" in routes and "GET /oauth2/applications/@me" in routes
    assert not emu.unhandled_requests


async def test_heartbeat_ack(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)) as c:
        # discord.py heartbeats right after HELLO; the ACK gives it a latency
        await emu.wait_until(lambda: c.latency != float("inf"))
        assert emu.gateway.connections[0].heartbeats >= 1


async def test_slash_command_end_to_end(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    tree = app_commands.CommandTree(client)
    guild_obj = discord.Object(id=int(emu.guild_id))
    seen: dict[str, Any] = {}
    done = asyncio.Event()

    @tree.command(name="ask", description="Ask the assistant")
    async def ask(
        interaction: discord.Interaction, prompt: str, file: discord.Attachment | None = None
    ) -> None:
        try:
            seen["prompt"] = prompt
            seen["file"] = file
            await interaction.response.defer(thinking=True)
            channel = interaction.channel
            assert isinstance(channel, discord.TextChannel)
            head = await channel.send(f"Q: {prompt}")
            thread = await head.create_thread(name=prompt[:100], auto_archive_duration=1440)
            seen["thread"] = thread
            await thread.send("working on it")
            await head.edit(content=f"Q: {prompt} (answered)")
            await interaction.edit_original_response(content="see thread")
            seen["followup"] = await interaction.followup.send("done", wait=True)
            seen["original"] = await interaction.original_response()
        except Exception as exc:
            seen["error"] = exc
            raise
        finally:
            done.set()

    rec = Recorder(client)
    tree.copy_global_to(guild=guild_obj)
    async with started_client(client, token(emu)):
        synced = await tree.sync(guild=guild_obj)
        assert [c.name for c in synced] == ["ask"]
        put = emu.requests_to("PUT", f"/guilds/{emu.guild_id}/commands")
        assert len(put) == 1 and put[0].json[0]["name"] == "ask"
        options = {o["name"]: o for o in emu.guild_commands[emu.guild_id][0]["options"]}
        assert options["file"]["type"] == P.OPT_ATTACHMENT and not options["file"].get("required")

        att = emu.host_attachment("notes.txt", b"hello notes", "text/plain")
        inter = await emu.send_slash_command(
            "ask", {"prompt": "what is up"}, attachments={"file": att}
        )
        assert inter["data"]["id"] == synced[0].id.__str__()
        assert inter["data"]["guild_id"] == emu.guild_id
        async with asyncio.timeout(TIMEOUT):
            await done.wait()
        assert "error" not in seen, seen.get("error")
        assert seen["prompt"] == "what is up"
        assert isinstance(seen["file"], discord.Attachment)
        assert seen["file"].filename == "notes.txt" and seen["file"].size == 11

        record = emu.interaction(inter["id"])
        assert record.callback_types == [5]
        assert record.first_callback_elapsed is not None and record.first_callback_elapsed < 3.0

        # THREAD_CREATE reached the client
        async with asyncio.timeout(TIMEOUT):
            created = await rec.threads.get()
        thread = seen["thread"]
        assert created.id == thread.id and created.parent_id == int(emu.channel_id)
        assert thread.owner_id == int(emu.application_id)

        # what a user sees
        general = emu.channel_messages(emu.channel_id)
        original = next(m for m in general if m["id"] == record.original_message_id)
        # edit_original_response replaced the "thinking" message; the followup is new
        assert original["content"] == "see thread"
        assert original["type"] == P.MESSAGE_CHAT_INPUT_COMMAND
        assert not original["flags"] & P.FLAG_LOADING
        followup = next(m for m in general if m["id"] == str(seen["followup"].id))
        assert followup["content"] == "done"
        assert record.followup_message_ids == [followup["id"]]
        assert seen["original"].content == "see thread"
        head = next(m for m in general if m["content"].startswith("Q: "))
        assert head["content"] == "Q: what is up (answered)"
        assert [e["content"] for e in head["edits"]] == ["Q: what is up (answered)"]
        assert head["allowed_mentions"] == {"parse": []}
        assert head["flags"] & P.FLAG_HAS_THREAD
        in_thread = emu.channel_messages(str(thread.id))
        assert [m["content"] for m in in_thread] == ["working on it"]
        assert emu.channel(str(thread.id))["message_count"] == 1

        # a user replies in the thread -> on_message
        user_msg = await emu.send_message(str(thread.id), "thanks!", author=emu.alice)
        got = await rec.next_message()
        assert got.id == int(user_msg["id"]) and got.content == "thanks!"
        assert isinstance(got.channel, discord.Thread) and got.channel.id == thread.id

        # replay delivers the same message id again
        replayed = await emu.replay_last_dispatch()
        assert replayed["id"] == user_msg["id"]
        again = await rec.next_message()
        assert again.id == got.id


async def test_followup_after_defer_replaces_thinking_message(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client()
    tree = app_commands.CommandTree(client)
    result: asyncio.Future[discord.WebhookMessage] = asyncio.get_running_loop().create_future()

    @tree.command(name="ping", description="ping")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        msg = await interaction.followup.send("pong", wait=True)
        second = await interaction.followup.send("again", wait=True)
        await second.edit(content="again (edited)")
        result.set_result(msg)

    async with started_client(client, token(emu)):
        await tree.sync()
        assert emu.global_commands[0]["name"] == "ping"
        inter = await emu.send_slash_command("ping")
        assert "guild_id" not in inter["data"]
        msg = await asyncio.wait_for(result, TIMEOUT)
        record = emu.interaction(inter["id"])
        assert msg.id == int(record.original_message_id or 0)
        contents = [m["content"] for m in emu.channel_messages(emu.channel_id)]
        assert contents == ["pong", "again (edited)"]
        assert all(not m["flags"] & P.FLAG_LOADING for m in emu.channel_messages(emu.channel_id))


async def test_expired_interaction_token(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    tree = app_commands.CommandTree(client)
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    go = asyncio.Event()

    @tree.command(name="slow", description="slow")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await go.wait()
        try:
            await interaction.followup.send("late")
        except discord.HTTPException as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    async with started_client(client, token(emu)):
        await tree.sync()
        inter = await emu.send_slash_command("slow")
        await emu.wait_until(lambda: emu.interaction(inter["id"]).acknowledged)
        emu.expire_interaction_tokens()
        go.set()
        exc = await asyncio.wait_for(outcome, TIMEOUT)
        assert isinstance(exc, discord.NotFound)
        assert exc.code == 10015 and exc.status == 404


async def test_multipart_upload_and_413(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    emu.upload_limit = 1024
    client = make_client()
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        data = b"\x89PNG fake image bytes"
        sent = await channel.send("here", file=discord.File(io.BytesIO(data), filename="a.png"))
        assert sent.attachments[0].filename == "a.png"
        assert sent.attachments[0].size == len(data)
        req = emu.requests_to("POST", "/messages")[-1]
        assert req.multipart and req.json["content"] == "here"
        assert [(f.filename, f.size, f.data) for f in req.files] == [("a.png", len(data), data)]
        stored = emu.channel_messages(emu.channel_id)[-1]
        assert stored["uploaded_files"][0].data == data
        assert stored["attachments"][0]["content_type"] == "image/png"
        # the uploaded attachment is downloadable via discord.py from the CDN? (https) -> ours
        with pytest.raises(discord.HTTPException) as info:
            await channel.send(file=discord.File(io.BytesIO(b"x" * 2048), filename="big.bin"))
        assert info.value.status == 413 and info.value.code == 40005


async def test_rate_limit_is_retried(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        emu.rate_limit_next("POST /channels/", retry_after=0.05)
        msg = await channel.send("after 429")
        posts = emu.requests_to("POST", f"/channels/{emu.channel_id}/messages")
        assert [r.status for r in posts] == [429, 200]
        assert posts[1].time - posts[0].time >= 0.04
        assert msg.content == "after 429"


async def test_archived_thread_and_thread_update(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    rec = Recorder(client)
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        thread = await channel.create_thread(name="x" * 100, type=discord.ChannelType.public_thread)
        assert thread.type is discord.ChannelType.public_thread
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.create_thread(name="y" * 101, type=discord.ChannelType.public_thread)
        assert too_long.value.status == 400 and too_long.value.code == 50035
        assert too_long.value.text.endswith("In name: Must be between 1 and 100 in length.")
        assert [v.operation_id for v in emu.spec_violations] == ["create_thread"]
        emu.spec_violations.clear()
        await emu.archive_thread(str(thread.id))
        async with asyncio.timeout(TIMEOUT):
            updated = await rec.thread_updates.get()
        assert updated.archived
        with pytest.raises(discord.HTTPException) as archived:
            await thread.send("hello?")
        assert archived.value.code == 50083
        await thread.edit(archived=False)
        assert not emu.channel(str(thread.id))["thread_metadata"]["archived"]
        await thread.send("back")
        assert emu.channel_messages(str(thread.id))[-1]["content"] == "back"


async def test_message_content_intent_denied(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    emu.deny_message_content = True
    client = make_client(message_content=True)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with started_client(client, token(emu)):
            pass
    assert client.is_closed()


async def test_without_message_content_only_mentions_have_content(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client(message_content=False)
    rec = Recorder(client)
    async with started_client(client, token(emu)):
        await emu.send_message(emu.channel_id, "no mention", author=emu.alice)
        plain = await rec.next_message()
        assert plain.content == ""
        await emu.send_message(emu.channel_id, f"<@{emu.application_id}> hi", author=emu.alice)
        mentioned = await rec.next_message()
        assert mentioned.content.endswith("hi")
        assert any(u.id == int(emu.application_id) for u in mentioned.mentions)
        dm = emu.create_dm_channel(emu.alice)
        await emu.send_message(dm["id"], "private", author=emu.alice)
        private = await rec.next_message()
        assert private.content == "private" and private.guild is None
        assert isinstance(private.channel, discord.DMChannel)


async def test_force_reconnect_resumes_and_replays(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    rec = Recorder(client)
    async with started_client(client, token(emu)):
        session = emu.gateway.sessions[0]
        await emu.force_reconnect()
        assert session.resumes == 1
        async with asyncio.timeout(TIMEOUT):
            await rec.resumed.wait()
        msg = await emu.send_message(emu.channel_id, "after resume", author=emu.alice)
        got = await rec.next_message()
        assert got.id == int(msg["id"])
        assert len(emu.gateway.sessions) == 1  # resumed, not re-identified


async def test_cdn_download_with_resolver_and_ssl(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    att = emu.host_attachment("report.pdf", b"%PDF-1.4 data", "application/pdf")
    assert att["url"].startswith(f"https://cdn.discordapp.com:{emu.cdn_port}/attachments/")
    connector = aiohttp.TCPConnector(resolver=emu.resolver(), ssl=emu.ssl_client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(att["url"]) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/pdf"
            assert await resp.read() == b"%PDF-1.4 data"
        async with session.get(att["proxy_url"]) as resp:
            assert await resp.read() == b"%PDF-1.4 data"
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get("https://example.org/")
    assert [(r.host, r.status) for r in emu.cdn_requests] == [
        ("cdn.discordapp.com", 200),
        ("media.discordapp.net", 200),
    ]
    assert emu.cdn_requests[0].path == att["url"].split(str(emu.cdn_port), 1)[1].split("?")[0]


async def test_bad_token_is_login_failure(discord_emulator: DiscordEmulator) -> None:
    client = make_client()
    with pytest.raises(discord.LoginFailure):
        async with started_client(client, "wrong-token"):
            pass
    assert client.is_closed()


async def test_callback_after_deadline_is_unknown_interaction(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    emu.callback_deadline = 0.0  # every callback is "too late"
    client = make_client()
    tree = app_commands.CommandTree(client)
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    @tree.command(name="late", description="late")
    async def late(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    async with started_client(client, token(emu)):
        await tree.sync()
        inter = await emu.send_slash_command("late")
        exc = await asyncio.wait_for(outcome, TIMEOUT)
        assert isinstance(exc, discord.NotFound) and exc.code == 10062
        assert emu.interaction(inter["id"]).callbacks[0].status == 404


async def test_dm_slash_command_and_immediate_response_with_file(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client()
    tree = app_commands.CommandTree(client)
    outcome: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    @tree.command(name="hello", description="hello")
    async def hello(interaction: discord.Interaction, count: int, loud: bool) -> None:
        response = await interaction.response.send_message(
            f"hi x{count}", file=discord.File(io.BytesIO(b"abc"), filename="x.txt")
        )
        followup = await interaction.followup.send("secret", ephemeral=True, wait=True)
        outcome.set_result(
            {
                "guild": interaction.guild,
                "channel": interaction.channel,
                "user": interaction.user,
                "count": count,
                "loud": loud,
                "message_id": response.message_id,
                "followup": followup,
                "limit": interaction.filesize_limit,
            }
        )

    async with started_client(client, token(emu)):
        await tree.sync()
        dm = emu.create_dm_channel(emu.alice)
        inter = await emu.send_slash_command(
            "hello", {"count": 3, "loud": True}, channel_id=dm["id"]
        )
        assert inter["user"]["id"] == emu.alice["id"] and "guild_id" not in inter
        got = await asyncio.wait_for(outcome, TIMEOUT)
        assert got["guild"] is None and isinstance(got["channel"], discord.DMChannel)
        assert got["user"].name == "alice" and got["count"] == 3 and got["loud"] is True
        assert got["limit"] == emu.upload_limit
        record = emu.interaction(inter["id"])
        assert record.callback_types == [4]
        assert got["message_id"] == int(record.original_message_id or 0)
        messages = emu.channel_messages(dm["id"])
        assert messages[0]["content"] == "hi x3"
        assert messages[0]["uploaded_files"][0].data == b"abc"
        assert messages[1]["content"] == "secret" and messages[1]["flags"] & P.FLAG_EPHEMERAL
        visible = emu.channel_messages(dm["id"], include_ephemeral=False)
        assert [m["content"] for m in visible] == ["hi x3"]


async def test_misc_routes(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    rec = Recorder(client)
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        # a user message with an attachment reaches on_message with the attachment
        att = emu.host_attachment("pic.png", b"png-bytes", "image/png")
        user_msg = await emu.send_message(
            emu.channel_id, "look", author=emu.alice, attachments=[att]
        )
        got = await rec.next_message()
        assert got.attachments[0].url == att["url"]
        # typing, reactions, fetch, history
        async with channel.typing():
            pass
        await got.add_reaction("👀")
        assert emu.reactions == [("add", emu.channel_id, user_msg["id"], "👀")]
        fetched = await channel.fetch_message(int(user_msg["id"]))
        assert fetched.content == "look"
        reply = await fetched.reply("an answer", mention_author=False)
        assert reply.reference is not None and reply.reference.message_id == fetched.id
        stored = emu.message(str(reply.id))
        assert stored["mentions"] == [] and stored["type"] == P.MESSAGE_REPLY
        history = [m.id async for m in channel.history(limit=10)]
        assert history == [reply.id, fetched.id]
        # join a user's thread; edit keeping attachments; delete
        thread_payload = await emu.create_thread(emu.channel_id, "user thread")
        async with asyncio.timeout(TIMEOUT):
            thread = await rec.threads.get()
        assert str(thread.id) == thread_payload["id"]
        await thread.join()
        assert emu.bot_user["id"] in emu.thread_members[thread_payload["id"]]
        with_file = await thread.send("v1", file=discord.File(io.BytesIO(b"123"), filename="f.txt"))
        edited = await with_file.edit(content="v2")
        assert edited.attachments and edited.attachments[0].filename == "f.txt"
        await edited.delete()
        assert emu.channel_messages(thread_payload["id"]) == []
        assert emu.channel_messages(thread_payload["id"], include_deleted=True)[0]["deleted"]
        # forbidden channel
        emu.deny_send(emu.channel_id)
        with pytest.raises(discord.Forbidden):
            await channel.send("nope")
        # the bot cannot edit a user's message
        with pytest.raises(discord.Forbidden):
            await fetched.edit(content="hijack")
    assert not emu.unhandled_requests


# ---------------------------------------------------------------------------
# message history: paging, replies, permissions
# ---------------------------------------------------------------------------
async def test_history_pages_as_discord_documents(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    ids = [
        int((await emu.send_message(emu.channel_id, f"m{i}", dispatch=False))["id"])
        for i in range(7)
    ]
    async with started_client(make_client(), token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)

        async def page(**query: Any) -> list[int]:
            route = discord.http.Route(
                "GET", "/channels/{channel_id}/messages", channel_id=channel.id
            )
            return [int(m["id"]) for m in await c.http.request(route, params=query)]

        assert await page(limit=3) == ids[:-4:-1]  # newest first
        assert await page(before=ids[3], limit=2) == [ids[2], ids[1]]
        assert await page(after=ids[1], limit=2) == [ids[3], ids[2]]  # right after it
        assert await page(around=ids[3], limit=4) == [ids[5], ids[4], ids[3], ids[2], ids[1]]
        assert await page(around=ids[3], limit=3) == [ids[4], ids[3], ids[2]]
        with pytest.raises(discord.HTTPException) as both:
            await page(before=ids[3], after=ids[1])
        assert both.value.code == 50035
        # discord.py pages across 100-message pages both ways.
        assert [m.id async for m in channel.history(limit=None, oldest_first=True)] == ids
        assert [m.id async for m in channel.history(limit=5, before=discord.Object(ids[6]))] == (
            ids[5::-1][:5]
        )
        around = [m.id async for m in channel.history(limit=3, around=discord.Object(ids[3]))]
        assert around == [ids[4], ids[3], ids[2]]
    assert emu.spec_violations == []


async def test_replies_embed_one_level_of_the_message_they_reply_to(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    a = await emu.send_message(emu.channel_id, "a", dispatch=False)
    b = await emu.send_message(emu.channel_id, "b", reply_to=a["id"], dispatch=False)
    client = make_client()
    rec = Recorder(client)
    async with started_client(client, token(emu)) as c:
        await emu.send_message(emu.channel_id, "c", reply_to=b["id"])
        c_msg = await rec.next_message()
        assert c_msg.type is discord.MessageType.reply
        assert c_msg.reference is not None and c_msg.reference.message_id == int(b["id"])
        resolved = c_msg.reference.resolved
        assert isinstance(resolved, discord.Message) and resolved.content == "b"
        # Not nested further: the next step is a fetch, which embeds a in turn.
        assert resolved.reference is not None and resolved.reference.resolved is None
        channel = c.get_partial_messageable(int(emu.channel_id))
        fetched = await channel.fetch_message(int(b["id"]))
        assert fetched.reference is not None
        inner = fetched.reference.resolved
        assert isinstance(inner, discord.Message) and inner.content == "a"
        await emu.edit_user_message(a["id"], "a, edited")
        again = await channel.fetch_message(int(b["id"]))
        assert isinstance(again.reference and again.reference.resolved, discord.Message)
        assert again.reference.resolved.content == "a, edited"  # its state now
        await emu.delete_user_message(a["id"])
        gone = await channel.fetch_message(int(b["id"]))
        assert gone.reference is not None
        assert isinstance(gone.reference.resolved, discord.DeletedReferencedMessage)
        with pytest.raises(LookupError):
            await emu.send_message(emu.channel_id, "x", reply_to=a["id"])
        await emu.send_message(emu.channel_id, "quiet", reply_to=b["id"], reply_ping=False)
        assert (await rec.next_message()).mentions == []


async def test_history_without_permission(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    msg = await emu.send_message(emu.channel_id, "hidden", dispatch=False)
    async with started_client(make_client(), token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        role = emu.bot_role_id(emu.guild_id)
        await emu.set_permission_overwrite(emu.channel_id, role, deny=P.READ_MESSAGE_HISTORY)
        await emu.wait_until(
            lambda: not channel.permissions_for(channel.guild.me).read_message_history
        )
        # Discord lists no messages rather than refusing; one message is refused.
        assert [m async for m in channel.history(limit=10)] == []
        with pytest.raises(discord.Forbidden) as one:
            await channel.fetch_message(int(msg["id"]))
        assert one.value.code == 50001
        # A member overwrite comes after the roles' and wins.
        await emu.set_permission_overwrite(
            emu.channel_id, emu.bot_user["id"], allow=P.READ_MESSAGE_HISTORY, type=1
        )
        assert [m.id async for m in channel.history(limit=10)] == [int(msg["id"])]
        emu.deny_history(emu.channel_id, code=50013)
        with pytest.raises(discord.Forbidden) as denied:
            await channel.fetch_message(int(msg["id"]))
        assert denied.value.code == 50013
        with pytest.raises(discord.Forbidden):
            await anext(aiter(channel.history(limit=1)))


async def test_rest_history_has_no_content_without_the_privilege(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    bot_id = emu.bot_user["id"]
    await emu.send_message(emu.channel_id, "private words", dispatch=False)
    await emu.send_message(emu.channel_id, f"<@{bot_id}> for the bot", dispatch=False)
    emu.deny_message_content = True
    async with started_client(make_client(message_content=False), token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        got = [m.content async for m in channel.history(limit=10, oldest_first=True)]
        assert got == ["", f"<@{bot_id}> for the bot"]


# ---------------------------------------------------------------------------
# Discord's OpenAPI definition (tests/spec/discord) applied to every request
# ---------------------------------------------------------------------------
async def test_spec_rejects_invalid_bodies_with_50035(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        # through discord.py's own API: an embed title over the spec's 256
        with pytest.raises(discord.HTTPException) as embed:
            await channel.send("x", embed=discord.Embed(title="t" * 257))
        assert embed.value.status == 400 and embed.value.code == 50035
        assert embed.value.text.endswith("In embeds.0.title: Must be 256 or fewer in length.")
        # the same inside a multipart upload's payload_json
        with pytest.raises(discord.HTTPException) as upload:
            await channel.send(
                embed=discord.Embed(title="t" * 257),
                file=discord.File(io.BytesIO(b"1"), filename="a.txt"),
            )
        assert upload.value.code == 50035
        # a raw body: nested errors as Discord reports them
        route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
        with pytest.raises(discord.HTTPException) as raw:
            await c.http.request(
                route,
                json={
                    "content": 5,
                    "allowed_mentions": {"parse": ["bogus"]},
                    "message_reference": {"message_id": "abc"},
                },
            )
        assert raw.value.code == 50035

        def err(code: str, message: str) -> dict[str, Any]:
            return {"_errors": [{"code": code, "message": message}]}

        choices = "Value must be one of {'users', 'roles', 'everyone'}."
        assert emu.requests[-1].response == {
            "code": 50035,
            "message": "Invalid Form Body",
            "errors": {
                "content": err("STRING_TYPE_CONVERT", 'Could not interpret "5" as string.'),
                "allowed_mentions": {"parse": {"0": err("BASE_TYPE_CHOICES", choices)}},
                "message_reference": {
                    "message_id": err("NUMBER_TYPE_COERCE", 'Value "abc" is not snowflake.')
                },
            },
        }
        # a query parameter
        history = discord.http.Route(
            "GET", "/channels/{channel_id}/messages", channel_id=channel.id
        )
        with pytest.raises(discord.HTTPException) as query:
            await c.http.request(history, params={"limit": 500})
        assert query.value.text.endswith("In limit: int value should be less than or equal to 100.")
        # an interaction-style union: the branch named by "type"
        thread = discord.http.Route("POST", "/channels/{channel_id}/threads", channel_id=channel.id)
        with pytest.raises(discord.HTTPException) as variant:
            await c.http.request(thread, json={"name": "n", "type": 3})
        assert variant.value.text.endswith("In type: Value must be one of {10, 11, 12}.")
    # nothing invalid reached a handler: no message was stored
    assert emu.channel_messages(emu.channel_id) == []
    assert [(v.operation_id, v.location) for v in emu.spec_violations] == [
        ("create_message", "body"),
        ("create_message", "body"),
        ("create_message", "body"),
        ("list_messages", "query"),
        ("create_thread", "body"),
    ]
    assert all(r.spec_violation is not None for r in emu.requests if r.status == 400)
    emu.spec_violations.clear()


async def test_spec_accepts_what_discord_py_sends(discord_emulator: DiscordEmulator) -> None:
    """discord.py's own encodings pass, including integer snowflakes (SPEC_EXCEPTIONS)."""
    emu = discord_emulator
    client = make_client()
    rec = Recorder(client)
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)
        await emu.send_message(emu.channel_id, "question", author=emu.alice)
        user_msg = await rec.next_message()
        reply = await user_msg.reply(
            "answer",
            embed=discord.Embed(title="t" * 256, description="d"),
            file=discord.File(io.BytesIO(b"data"), filename="a.txt", description="a file"),
            allowed_mentions=discord.AllowedMentions(users=[user_msg.author], replied_user=False),
        )
        await reply.edit(content="edited", attachments=reply.attachments)
        thread = await reply.create_thread(name="n" * 100, auto_archive_duration=60)
        await thread.edit(archived=True, locked=False)
        await thread.edit(archived=False, name="renamed")
        await thread.send("in thread", silent=True)
        async for _ in channel.history(limit=100, before=reply):
            pass
        await reply.delete()
        own = await channel.create_thread(
            name="private", type=discord.ChannelType.private_thread, invitable=False
        )
        await own.leave()
    assert emu.spec_violations == []
    raw = emu.requests_to("POST", f"/channels/{emu.channel_id}/messages")[0].json
    assert isinstance(raw["message_reference"]["message_id"], int)  # the exception's reason


async def test_every_route_is_in_the_spec(discord_emulator: DiscordEmulator) -> None:
    """Each REST route the emulator serves has its operation in the cut spec, and the
    cut holds nothing the emulator does not serve (re-cut after adding a route)."""
    emu = discord_emulator
    assert emu._runner is not None
    served = set()
    for route in emu._runner.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("*", "HEAD") or not path.startswith("/api/v10/"):
            continue
        probe = re.sub(r"\{[^}]+\}", "1", path.removeprefix("/api/v10"))
        probes = [probe]
        if path.endswith("/messages/{message_id}") and "/webhooks/" in path:
            probes.append(probe.removesuffix("/1") + "/@original")
        for p in probes:
            op = emu.spec.match(route.method, p)
            assert op is not None, f"{route.method} {path} is not in the cut spec"
            served.add((op.method, op.template))
    assert served == {(o.method, o.template) for o in emu.spec.operations}


# ---------------------------------------------------------------------------
# the gateway without DEFAULT_GATEWAY patched (discord_patch_gateway = False)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("discord_patch_gateway", [False])
async def test_unpatched_gateway_traps_a_client_that_ignores_gateway_bot(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    import discord.gateway

    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == emu.trap_gateway_url
    client = make_client()  # a plain Client never asks GET /gateway/bot
    with pytest.raises(discord.ConnectionClosed) as closed:
        async with started_client(client, token(emu)):
            pass
    assert closed.value.code == 4004
    assert len(emu.default_gateway_connects) == 1
    assert not emu.requests_to("GET", "/gateway/bot")
    emu.default_gateway_connects.clear()  # else the fixture fails the test


@pytest.mark.parametrize("discord_patch_gateway", [False])
async def test_unpatched_gateway_serves_a_client_that_asks_gateway_bot(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    intents = discord.Intents.default()
    client = discord.AutoShardedClient(intents=intents, guild_ready_timeout=0.05)
    async with started_client(client, token(emu)) as c:
        assert c.get_guild(int(emu.guild_id)) is not None
    assert emu.requests_to("GET", "/gateway/bot")
    assert emu.default_gateway_connects == []


@pytest.mark.parametrize("discord_patch_gateway", [False])
async def test_unpatched_gateway_invalid_session_falls_back_to_default_gateway(
    discord_emulator: DiscordEmulator,
) -> None:
    """A discord.py fact: after a non-resumable INVALID_SESSION even AutoShardedClient
    reconnects to DEFAULT_GATEWAY (DiscordWebSocket sets ``gateway = DEFAULT_GATEWAY``),
    not to GET /gateway/bot's url. A client on a configured API must cover that too."""
    emu = discord_emulator
    client = discord.AutoShardedClient(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    async with started_client(client, token(emu)) as c:
        await emu.invalidate_session(resumable=False)
        await emu.wait_until(lambda: emu.default_gateway_connects)
        await emu.wait_until(c.is_closed)  # 4004: discord.py gives up
    assert len(emu.requests_to("GET", "/gateway/bot")) == 1
    emu.default_gateway_connects.clear()


async def test_patch_discord_gateway_flag_restores(discord_emulator: DiscordEmulator) -> None:
    import discord.gateway

    emu = discord_emulator
    ws = discord.gateway.DiscordWebSocket
    assert str(ws.DEFAULT_GATEWAY) == emu.gateway_url + "/"
    with emu.patch_discord(gateway=False):
        assert str(ws.DEFAULT_GATEWAY) == emu.trap_gateway_url
    assert str(ws.DEFAULT_GATEWAY) == emu.gateway_url + "/"
