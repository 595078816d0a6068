"""The gateway half of the Discord emulator: a v10 WebSocket over aiohttp.

Implements HELLO / IDENTIFY / READY + GUILD_CREATE / HEARTBEAT(_ACK) / RESUME
(replaying events after the client's seq) / RECONNECT / INVALID_SESSION /
REQUEST_GUILD_MEMBERS, with Discord's intent filtering of dispatches and the
4004 (bad token) and 4014 (disallowed intents) close codes.

Frames are plain-text JSON, or zlib-stream binary when the client asks for
``compress=zlib-stream`` in the URL (as discord.py does).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import payloads as P

if TYPE_CHECKING:
    from .server import DiscordEmulator

JSON = dict[str, Any]

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

# events a session only gets with the GUILDS intent
_GUILDS_EVENTS = frozenset(
    {
        "GUILD_UPDATE",
        "GUILD_DELETE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "CHANNEL_PINS_UPDATE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "THREAD_DELETE",
        "THREAD_LIST_SYNC",
        "THREAD_MEMBER_UPDATE",
    }
)
_MESSAGE_EVENTS = frozenset(
    {
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_DELETE_BULK",
    }
)
CONTENT_FIELDS = ("content", "embeds", "attachments", "components")


@dataclass
class GatewayEvent:
    """One frame the emulator sent (dispatches keep their seq)."""

    op: int
    t: str | None
    s: int | None
    d: Any
    time: float = field(default_factory=time.monotonic)


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    compress: bool
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    compressor: Any = None
    session: GatewaySession | None = None
    heartbeats: int = 0
    closed: bool = False

    def __post_init__(self) -> None:
        if self.compress:
            self.compressor = zlib.compressobj()

    async def send(self, payload: JSON) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.ws.closed:
                return
            try:
                if self.compressor is not None:
                    data = self.compressor.compress(text.encode())
                    data += self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                self.closed = True


@dataclass
class GatewaySession:
    """A gateway session (survives reconnects; RESUME replays its buffer)."""

    session_id: str
    token: str
    intents: int
    identify: JSON
    seq: int = 0
    events: list[GatewayEvent] = field(default_factory=list)
    connection: GatewayConnection | None = None
    invalidated: bool = False
    resumes: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)


class GatewayHub:
    """All gateway state of one emulator."""

    def __init__(self, emulator: DiscordEmulator) -> None:
        self.emulator = emulator
        self.sessions: list[GatewaySession] = []
        self.connections: list[GatewayConnection] = []
        self.received: list[JSON] = []  # every frame clients sent (op, d)
        self.heartbeat_interval_ms: int = 41250
        self.dispatches: list[tuple[str, JSON]] = []  # every dispatch() call (unfiltered)
        self._changed = asyncio.Condition()

    # -- public -----------------------------------------------------------
    @property
    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions if not s.invalidated]

    async def dispatch(self, event: str, data: JSON) -> int:
        """Send an event to every live session that has the intents for it.

        Sessions that are momentarily disconnected buffer it for RESUME.
        Returns the number of sessions that received (or buffered) it.
        """
        self.dispatches.append((event, copy.deepcopy(data)))
        count = 0
        for session in self.live_sessions:
            filtered = self._filter_for(session, event, data)
            if filtered is None:
                continue
            await self._send_dispatch(session, event, filtered)
            count += 1
        return count

    async def reconnect_all(self) -> None:
        """Send op 7 RECONNECT to every connected session."""
        for session in self.live_sessions:
            session.resumed.clear()
            if session.connection is not None:
                await session.connection.send({"op": OP_RECONNECT, "d": None})

    async def invalidate_all(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (``d=resumable``) to every connected session."""
        for session in self.live_sessions:
            conn = session.connection
            if not resumable:
                session.invalidated = True
            if conn is not None:
                await conn.send({"op": OP_INVALID_SESSION, "d": resumable})

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def close(self) -> None:
        for conn in list(self.connections):
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"emulator shutting down")

    # -- websocket handler ------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws=ws, compress=request.query.get("compress") == "zlib-stream")
        self.connections.append(conn)
        await self._notify()
        await conn.send(
            {
                "op": OP_HELLO,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["emulator"]},
                "s": None,
                "t": None,
            }
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await self._on_frame(conn, json.loads(msg.data.decode()))
                else:
                    break
        finally:
            conn.closed = True
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            await self._notify()
        return ws

    # -- internals --------------------------------------------------------
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _on_frame(self, conn: GatewayConnection, frame: JSON) -> None:
        self.received.append(frame)
        op = frame.get("op")
        data = frame.get("d")
        if op == OP_HEARTBEAT:
            conn.heartbeats += 1
            await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif op == OP_REQUEST_GUILD_MEMBERS:
            await self._request_members(conn, data or {})
        # op 3 (presence) and others are only recorded in self.received

    async def _identify(self, conn: GatewayConnection, data: JSON) -> None:
        emu = self.emulator
        token = str(data.get("token", ""))
        if not emu.token_ok(token):
            await conn.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents >= 1 << 26:
            await conn.ws.close(code=CLOSE_INVALID_INTENTS, message=b"Invalid intent(s).")
            return
        if intents & emu.denied_intents:
            await conn.ws.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return
        session = GatewaySession(
            session_id=secrets.token_hex(16), token=token, intents=intents, identify=data
        )
        session.connection = conn
        conn.session = session
        self.sessions.append(session)
        ready: JSON = {
            "v": 10,
            "user": copy.deepcopy(emu.bot_user),
            "user_settings": {},
            "session_type": "normal",
            "session_id": session.session_id,
            "resume_gateway_url": emu.gateway_url,
            "guilds": [
                {"id": gid, "unavailable": True}
                for gid in emu.guilds
                if self._on_shard(session, gid)  # each shard is told only of its guilds
            ],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": emu.application_id, "flags": emu.application_flags},
            "_trace": ["emulator"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._send_dispatch(session, "READY", ready)
        for gid in emu.guilds:
            if self._on_shard(session, gid):
                await self._send_dispatch(session, "GUILD_CREATE", emu.guild_create_payload(gid))
        session.ready.set()
        await self._notify()

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        session = next(
            (s for s in self.live_sessions if s.session_id == data.get("session_id")), None
        )
        if session is None or session.token != data.get("token"):
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        old = session.connection
        session.connection = conn
        conn.session = session
        if old is not None and old is not conn and not old.ws.closed:
            with contextlib.suppress(Exception):
                await old.ws.close(code=4000, message=b"resumed elsewhere")
        after = int(data.get("seq") or 0)
        for event in session.events:
            if event.s is not None and event.s > after:
                await conn.send({"op": OP_DISPATCH, "t": event.t, "s": event.s, "d": event.d})
        session.resumes += 1
        await self._send_dispatch(session, "RESUMED", {"_trace": ["emulator"]})
        session.resumed.set()
        await self._notify()

    async def _request_members(self, conn: GatewayConnection, data: JSON) -> None:
        session = conn.session
        if session is None:
            return
        gid = str(data.get("guild_id"))
        members = self.emulator.guild_member_payloads(gid)
        query = data.get("query")
        user_ids = data.get("user_ids")
        if user_ids:
            wanted = {str(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m["user"]["id"] in wanted]
        elif query:
            members = [m for m in members if m["user"]["username"].startswith(str(query))]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": gid,
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_dispatch(self, session: GatewaySession, event: str, data: JSON) -> None:
        session.seq += 1
        frame = GatewayEvent(op=OP_DISPATCH, t=event, s=session.seq, d=data)
        session.events.append(frame)
        if session.connection is not None:
            await session.connection.send(
                {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
            )

    @staticmethod
    def _on_shard(session: GatewaySession, guild_id: Any) -> bool:
        """Discord's routing: a guild's events go to shard (id >> 22) % count, DMs to 0."""
        shard = session.identify.get("shard")
        if not shard:
            return True
        index, count = int(shard[0]), int(shard[1])
        if guild_id is None:
            return index == 0
        return (int(guild_id) >> 22) % count == index

    def _filter_for(self, session: GatewaySession, event: str, data: JSON) -> JSON | None:
        """Apply Discord's shard and intent rules; None = the session does not get it."""
        guild_id = data.get("guild_id")
        if guild_id is None and event.startswith("GUILD_") and "_" not in event[6:]:
            guild_id = data.get("id")  # GUILD_CREATE / UPDATE / DELETE carry the guild itself
        if not self._on_shard(session, guild_id):
            return None
        if event in _GUILDS_EVENTS and not session.has_intent(P.INTENT_GUILDS):
            return None
        if event in _MESSAGE_EVENTS:
            in_guild = "guild_id" in data
            needed = P.INTENT_GUILD_MESSAGES if in_guild else P.INTENT_DIRECT_MESSAGES
            if not session.has_intent(needed):
                return None
            if (
                event in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
                and in_guild
                and not session.has_intent(P.INTENT_MESSAGE_CONTENT)
                and not self._content_visible(data)
            ):
                stripped = copy.deepcopy(data)
                for key in CONTENT_FIELDS:
                    if key in stripped:
                        stripped[key] = "" if key == "content" else []
                stripped.pop("poll", None)
                return stripped
        return copy.deepcopy(data)

    def _content_visible(self, data: JSON) -> bool:
        """Without MESSAGE_CONTENT a bot still sees its own messages and mentions of it."""
        bot_id = self.emulator.bot_user["id"]
        if data.get("author", {}).get("id") == bot_id:
            return True
        return any(m.get("id") == bot_id for m in data.get("mentions", []))
