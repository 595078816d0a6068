"""An HTTPS stand-in for cdn.discordapp.com / media.discordapp.net.

A trustme CA signs one certificate valid for the CDN host names (plus
``evil.example.com`` for SSRF/redirect tests, ``localhost`` and 127.0.0.1);
``CdnResolver`` maps those names to 127.0.0.1 so code under test that takes
an injected aiohttp resolver + ``ssl.SSLContext`` downloads from here.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

CDN_HOSTS: tuple[str, ...] = (
    "cdn.discordapp.com",
    "media.discordapp.net",
    "evil.example.com",
    "localhost",
)


@dataclass
class CdnRequest:
    method: str
    host: str  # host name from the Host header, without port
    path: str
    query: str
    headers: dict[str, str]
    time: float = field(default_factory=time.monotonic)
    status: int = 0


@dataclass
class CdnObject:
    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class CdnResolver(AbstractResolver):
    """Resolves the emulator's host names to 127.0.0.1; everything else fails."""

    def __init__(self, hosts: Iterable[str], *, passthrough: bool = False) -> None:
        self.hosts = {h.lower() for h in hosts}
        self.passthrough = passthrough
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        name = host.lower().rstrip(".")
        if name in self.hosts or name == "127.0.0.1":
            return [
                ResolveResult(
                    hostname=host,
                    host="127.0.0.1",
                    port=port,
                    family=socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            ]
        raise OSError(f"emulator resolver: unknown host {host!r}")

    async def close(self) -> None:
        return None


class CdnServer:
    """TLS aiohttp server on 127.0.0.1:0 serving registered (host, path) objects."""

    def __init__(self, hosts: Iterable[str] = CDN_HOSTS) -> None:
        self.hosts = tuple(hosts)
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert(*self.hosts, "127.0.0.1")
        self.objects: dict[tuple[str, str], CdnObject] = {}
        self.requests: list[CdnRequest] = []
        self.port: int = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.server_ssl_context())
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def server_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(ctx)
        return ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        return ctx

    def resolver(self, extra_hosts: Iterable[str] = ()) -> CdnResolver:
        return CdnResolver((*self.hosts, *extra_hosts))

    def url(self, host: str, path: str) -> str:
        return f"https://{host}:{self.port}{path}"

    def put(
        self,
        host: str,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        self.objects[(host.lower(), path)] = CdnObject(
            body=body, content_type=content_type, status=status, headers=dict(headers or {})
        )
        return self.url(host, path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").rsplit(":", 1)[0].lower()
        rec = CdnRequest(
            method=request.method,
            host=host,
            path=request.path,
            query=request.query_string,
            headers=dict(request.headers),
        )
        self.requests.append(rec)
        obj = self.objects.get((host, request.path))
        if obj is None:
            rec.status = 404
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        rec.status = obj.status
        headers = {"Content-Type": obj.content_type, **obj.headers}
        return web.Response(status=obj.status, body=obj.body, headers=headers)
