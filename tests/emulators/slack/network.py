"""TLS material and name resolution for the emulated ``files.slack.com``."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable

import trustme
from aiohttp.abc import AbstractResolver, ResolveResult

#: Names the HTTPS file host's certificate is valid for.
TLS_HOSTNAMES: tuple[str, ...] = (
    "files.slack.com",
    "evil.example.com",
    "localhost",
    "127.0.0.1",
)


class EmulatorResolver(AbstractResolver):
    """Resolves a fixed set of names to 127.0.0.1; anything else fails like NXDOMAIN.

    Failing closed keeps tests hermetic: code under test that wanders off to a
    real host gets ``aiohttp.ClientConnectorDNSError`` instead of the internet.
    """

    def __init__(self, names: Iterable[str], address: str = "127.0.0.1") -> None:
        self._names = {n.lower() for n in names}
        self._address = address
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host.lower() not in self._names:
            raise OSError(socket.EAI_NONAME, f"emulator resolver: unknown host {host!r}")
        return [
            ResolveResult(
                hostname=host,
                host=self._address,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


def make_ca() -> trustme.CA:
    return trustme.CA()


def server_ssl_context(ca: trustme.CA, hostnames: Iterable[str] = TLS_HOSTNAMES) -> ssl.SSLContext:
    cert = ca.issue_cert(*hostnames)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def client_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx
