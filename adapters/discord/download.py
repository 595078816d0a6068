"""Downloads of user attachments, only from Discord's CDN.

Attachment URLs come from message payloads, which other users control (embeds, forged
links): fetching whatever URL a payload names would let anyone make the bot request
internal addresses. So only https URLs on Discord's CDN hosts are fetched, redirects
are followed by hand and only to those hosts, and the size cap is checked against
Content-Length before reading and again while reading. The bot token is never sent:
CDN URLs are signed.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot.models import AttachmentError, Downloader

logger = logging.getLogger(__name__)

CDN_HOSTS: frozenset[str] = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class CdnFetcher:
    """Fetches attachment bytes from Discord's CDN over https.

    The aiohttp session is created on first use and closed by `close()`. Tests pass
    the emulator's `resolver` and `ssl` context; production uses system DNS and the
    default certificate store.
    """

    def __init__(
        self,
        *,
        hosts: Iterable[str] = CDN_HOSTS,
        resolver: AbstractResolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.hosts = frozenset(h.lower() for h in hosts)
        self._resolver = resolver
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=15)
        self._session: aiohttp.ClientSession | None = None

    def check_url(self, url: str | URL) -> URL:
        """Return `url` parsed if it may be fetched, else raise AttachmentError."""
        parsed = URL(url) if isinstance(url, str) else url
        host = (parsed.host or "").lower().rstrip(".")
        if parsed.scheme != "https" or host not in self.hosts:
            raise AttachmentError("it is not hosted on Discord's CDN, so it was not downloaded.")
        if parsed.user or parsed.password:
            raise AttachmentError("its address is not a plain Discord CDN link.")
        return parsed

    def downloader(self, url: str) -> Downloader:
        """A `download(max_bytes)` callable for `Attachment.download`."""

        async def download(max_bytes: int) -> bytes:
            return await self.fetch(url, max_bytes=max_bytes)

        return download

    async def fetch(self, url: str, *, max_bytes: int) -> bytes:
        """Download `url`, raising AttachmentError (safe to show) on any problem."""
        target = self.check_url(url)
        session = self._get_session()
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with session.get(target, allow_redirects=False) as resp:
                    if resp.status in _REDIRECTS:
                        location = resp.headers.get("Location", "")
                        target = self.check_url(target.join(URL(location)))
                        continue
                    if resp.status != 200:
                        raise AttachmentError(f"Discord's CDN answered HTTP {resp.status}.")
                    if resp.content_length is not None and resp.content_length > max_bytes:
                        raise AttachmentError("it is over the size limit.")
                    data = bytearray()
                    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                        data += chunk
                        if len(data) > max_bytes:
                            raise AttachmentError("it is over the size limit.")
                    return bytes(data)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning("attachment download failed: %s", exc.__class__.__name__)
            raise AttachmentError("the download from Discord failed.") from None
        raise AttachmentError("Discord's CDN redirected too often.")

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=self._resolver, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


__all__ = ["CDN_HOSTS", "CdnFetcher"]
