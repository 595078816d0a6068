"""Files users send: downloaded only from Discord's CDN over https, caps first."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord.download import CdnFetcher
from bot.models import AttachmentError
from tests.discord.conftest import Bot
from tests.emulators.discord import DiscordEmulator


def uploaded(openai_emulator: Any) -> list[bytes]:
    """What reached OpenAI's Files API (the engine uploads attachments there)."""
    return [f.data for f in openai_emulator.files.values()]


async def test_message_attachment_from_cdn_reaches_the_model(
    bot: Bot, openai_emulator: Any
) -> None:
    att = bot.emu.host_attachment("notes.txt", b"the secret word is banana", "text/plain")
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    await bot.emu.send_message(dm["id"], "read this", author=bot.emu.alice, attachments=[att])
    await bot.settle()
    assert [(r.host, r.status) for r in bot.emu.cdn_requests] == [("cdn.discordapp.com", 200)]
    assert "authorization" not in {h.lower() for h in bot.emu.cdn_requests[0].headers}
    assert uploaded(openai_emulator) == [b"the secret word is banana"]


async def test_slash_command_attachment_is_downloaded(bot: Bot, openai_emulator: Any) -> None:
    att = bot.emu.host_attachment("brief.txt", b"deadline friday", "text/plain")
    await bot.ask("what is in the file?", attachments={"file": att})
    await bot.settle()
    assert [r.host for r in bot.emu.cdn_requests] == ["cdn.discordapp.com"]
    question = bot.emu.channel_messages(bot.emu.channel_id)[0]["content"]
    assert "📎 brief.txt" in question
    assert uploaded(openai_emulator) == [b"deadline friday"]


async def test_attachment_from_a_foreign_host_is_not_downloaded(
    bot: Bot, openai_emulator: Any
) -> None:
    att = bot.emu.host_attachment("evil.txt", b"nope", "text/plain", host="evil.example.com")
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    await bot.emu.send_message(dm["id"], "open this", author=bot.emu.alice, attachments=[att])
    await bot.settle()
    assert bot.emu.cdn_requests == []
    (reply,) = bot.bot_messages(dm["id"])
    assert "Skipped evil.txt" in reply["content"] and "not hosted on Discord" in reply["content"]
    assert uploaded(openai_emulator) == []


async def test_size_cap_is_checked_before_download(make_bot: Any) -> None:
    bot = await make_bot(THREADBRIDGE_MAX_FILE_BYTES="10")
    att = bot.emu.host_attachment("big.txt", b"x" * 100, "text/plain")
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    await bot.emu.send_message(dm["id"], "too big", author=bot.emu.alice, attachments=[att])
    await bot.settle()
    assert bot.emu.cdn_requests == []
    assert "Skipped big.txt" in bot.bot_messages(dm["id"])[0]["content"]


# --- the fetcher on its own -------------------------------------------------------


@pytest.fixture
async def fetcher(discord_emulator: DiscordEmulator) -> Any:
    emu = discord_emulator
    f = CdnFetcher(resolver=emu.resolver(), ssl_context=emu.ssl_client_context())
    yield f
    await f.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.discordapp.com/attachments/1/2/a.txt",  # not https
        "https://evil.example.com/attachments/1/2/a.txt",
        "https://cdn.discordapp.com.evil.example.com/a.txt",
        "https://user:pw@cdn.discordapp.com/a.txt",
        "file:///etc/passwd",
        "https://127.0.0.1/a.txt",
    ],
)
def test_only_https_discord_cdn_urls_pass(url: str) -> None:
    with pytest.raises(AttachmentError):
        CdnFetcher().check_url(url)


def test_cdn_urls_pass() -> None:
    fetcher = CdnFetcher()
    for host in ("cdn.discordapp.com", "media.discordapp.net", "CDN.discordapp.com."):
        assert (
            fetcher.check_url(f"https://{host}/attachments/1/2/a.png?ex=1&hm=2").scheme == "https"
        )


async def test_redirect_to_another_host_is_not_followed(
    fetcher: CdnFetcher, discord_emulator: DiscordEmulator
) -> None:
    emu = discord_emulator
    target = emu.cdn_serve("evil.example.com", "/steal", b"secret")
    url = emu.cdn_serve(
        "cdn.discordapp.com", "/attachments/1/2/r.txt", status=302, headers={"Location": target}
    )
    with pytest.raises(AttachmentError, match="not hosted on Discord"):
        await fetcher.fetch(url, max_bytes=1000)
    assert [r.host for r in emu.cdn_requests] == ["cdn.discordapp.com"]


async def test_redirect_within_the_cdn_is_followed(
    fetcher: CdnFetcher, discord_emulator: DiscordEmulator
) -> None:
    emu = discord_emulator
    target = emu.cdn_serve("media.discordapp.net", "/attachments/1/2/b.txt", b"moved")
    url = emu.cdn_serve(
        "cdn.discordapp.com", "/attachments/1/2/a.txt", status=301, headers={"Location": target}
    )
    assert await fetcher.fetch(url, max_bytes=1000) == b"moved"


async def test_size_cap_while_downloading(
    fetcher: CdnFetcher, discord_emulator: DiscordEmulator
) -> None:
    att = discord_emulator.host_attachment("big.bin", b"x" * 5000)
    with pytest.raises(AttachmentError, match="size limit"):
        await fetcher.fetch(att["url"], max_bytes=4999)
    assert await fetcher.fetch(att["url"], max_bytes=5000) == b"x" * 5000


async def test_cdn_error_status_is_a_safe_message(
    fetcher: CdnFetcher, discord_emulator: DiscordEmulator
) -> None:
    url = discord_emulator.cdn_serve("cdn.discordapp.com", "/gone", b"", status=404)
    with pytest.raises(AttachmentError, match="HTTP 404"):
        await fetcher.fetch(url, max_bytes=100)
