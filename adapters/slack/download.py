"""Fetching files users share in Slack, without leaking the bot token.

The bot token goes only to Slack's file hosts (``SLACK_FILE_HOSTS``, hostname match,
any port) and only over https. Redirects are not followed automatically: a redirect is
followed by hand when its target passes the same check, and refused otherwise, so a
``Location`` pointing elsewhere never receives the token. The size cap is checked
against what Slack declares, against ``Content-Length``, and while reading.

Without the ``files:read`` scope Slack answers ``url_private`` with its HTML sign-in
page (status 200); an HTML answer for a file that is not HTML is reported as that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.attachments import guess_mime, human_size
from bot.models import Attachment, AttachmentError
from bot.text import valid_text

logger = logging.getLogger(__name__)

DEFAULT_FILE_HOSTS = ("files.slack.com",)
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10, sock_read=30)
LOGIN_PAGE = (
    "Slack returned its sign-in page instead of the file: the app needs the files:read "
    "scope (reinstall it after adding the scope)"
)

ConnectorFactory = Callable[[], aiohttp.BaseConnector]
"""Builds the connector for one download session (tests inject DNS and TLS here)."""


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A shared file that is not offered to the model, with the reason for the user."""

    name: str
    reason: str

    @property
    def notice(self) -> str:
        return f"Skipped {self.name}: {self.reason}."


class FileFetcher:
    """Turns Slack file objects into `Attachment`s that download safely."""

    def __init__(
        self,
        *,
        token: str,
        allowed_hosts: Iterable[str] = DEFAULT_FILE_HOSTS,
        connector_factory: ConnectorFactory | None = None,
        timeout: aiohttp.ClientTimeout = TIMEOUT,
    ) -> None:
        self._token = token
        self.allowed_hosts = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
        self._connector_factory = connector_factory
        self._timeout = timeout

    # --- file objects -> attachments --------------------------------------------------

    def attachments(
        self, files: Iterable[Mapping[str, Any]]
    ) -> tuple[tuple[Attachment, ...], tuple[SkippedFile, ...]]:
        """Split shared files into downloadable attachments and skipped ones."""
        attachments: list[Attachment] = []
        skipped: list[SkippedFile] = []
        for info in files:
            result = self.attachment(info)
            if isinstance(result, SkippedFile):
                skipped.append(result)
            else:
                attachments.append(result)
        return tuple(attachments), tuple(skipped)

    def attachment(self, info: Mapping[str, Any]) -> Attachment | SkippedFile:
        name = valid_text(str(info.get("name") or info.get("title") or info.get("id") or "file"))
        if info.get("mode") == "tombstone" or info.get("file_access") == "file_not_found":
            return SkippedFile(name, "it was deleted")
        if info.get("hidden_by_limit"):
            return SkippedFile(name, "it is hidden by the workspace's file history limit")
        if info.get("mode") == "external" or info.get("is_external"):
            return SkippedFile(name, "it is a link to an external file, not a Slack upload")
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        if not url:
            return SkippedFile(name, "Slack sent no download link for it")
        problem = self.check_url(url)
        if problem is not None:
            return SkippedFile(name, problem)
        size = info.get("size")
        mime = guess_mime(name, str(info.get("mimetype") or ""))
        served = mime
        # An audio clip recorded in Slack (a voice memo); its file may say video/mp4.
        clip = info.get("subtype") == "slack_audio" or info.get("media_display_type") == "audio"
        if clip and not mime.startswith("audio/"):
            # video/mp4, or no type at all: the container format, as audio.
            kind = mime.split("/", 1)[1] if mime.startswith("video/") else ""
            mime = "audio/" + (kind or str(info.get("filetype") or "webm")).lower()
        duration_ms = info.get("duration_ms")

        async def download(max_bytes: int) -> bytes:
            return await self.fetch(url, max_bytes=max_bytes, expected_mime=served)

        return Attachment(
            name=name,
            mime_type=mime,
            size=int(size) if isinstance(size, int | float) else None,
            download=download,
            url=url,
            duration=duration_ms / 1000 if isinstance(duration_ms, int | float) else None,
            voice=clip,
        )

    # --- the download itself ------------------------------------------------------------

    def check_url(self, url: str) -> str | None:
        """Why `url` may not receive the token, or None when it may."""
        parts = urlsplit(url)
        if parts.scheme != "https":
            return "its link is not https, so it was not downloaded"
        host = (parts.hostname or "").lower()
        if host not in self.allowed_hosts:
            return f"its link points to {host or 'an unknown host'}, not to Slack's file host"
        return None

    async def fetch(self, url: str, *, max_bytes: int, expected_mime: str = "") -> bytes:
        """Download `url` (at most `max_bytes`) with the bot token; raises AttachmentError."""
        connector = self._connector_factory() if self._connector_factory else None
        async with aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=True
        ) as session:
            for _ in range(MAX_REDIRECTS + 1):
                problem = self.check_url(url)
                if problem is not None:
                    raise AttachmentError(problem.replace("its link", "the download"))
                try:
                    async with session.get(
                        url,
                        headers={"Authorization": f"Bearer {self._token}"},
                        allow_redirects=False,
                    ) as response:
                        if response.status in (301, 302, 303, 307, 308):
                            location = response.headers.get("Location", "")
                            if not location:
                                raise AttachmentError("Slack sent a redirect without a target")
                            url = urljoin(url, location)
                            continue
                        return await self._read(response, max_bytes, expected_mime)
                except aiohttp.ClientError as exc:
                    logger.warning("file download failed: %s", exc.__class__.__name__)
                    raise AttachmentError("the download failed; try again later") from None
            raise AttachmentError("Slack redirected the download too many times")

    @staticmethod
    async def _read(response: aiohttp.ClientResponse, max_bytes: int, expected_mime: str) -> bytes:
        if response.status != 200:
            raise AttachmentError(f"Slack answered {response.status} to the download")
        if response.content_type == "text/html" and not expected_mime.startswith("text/html"):
            raise AttachmentError(LOGIN_PAGE)
        declared = response.content_length
        if declared is not None and declared > max_bytes:
            raise AttachmentError(f"it is {human_size(declared)}, over the size limit")
        data = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK):
            data.extend(chunk)
            if len(data) > max_bytes:
                raise AttachmentError("it is over the size limit")
        return bytes(data)


__all__ = ["DEFAULT_FILE_HOSTS", "LOGIN_PAGE", "ConnectorFactory", "FileFetcher", "SkippedFile"]
