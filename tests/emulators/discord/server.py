"""A loopback Discord (API v10 REST + gateway + HTTPS CDN) for end-to-end tests.

Start it, point discord.py at it (``emulator.patch_discord()`` or the
``discord_emulator`` fixture) and drive the real ``discord.Client``:

    async with DiscordEmulator() as emu:
        emu.populate_default()
        with emu.patch_discord():
            async with started_client(client, emu.bot_token):
                await emu.send_message(emu.channel_id, "hi", author=emu.alice)

Every REST request is recorded in ``emulator.requests``; every message the bot
or a test creates is stored and can be read back with ``channel_messages()``.

Every request's query and body (JSON, or the ``payload_json`` part of a multipart
upload) is validated against Discord's official OpenAPI definition (the cut in
``tests/spec/discord/``, see ``spec.py``): a request the spec rejects is answered
400 ``{"code": 50035, "message": "Invalid Form Body", "errors": {...}}`` as Discord
does, and kept in ``emulator.spec_violations`` (``validate_requests = False`` turns
this off).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import re
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from . import components as C
from . import payloads as P
from .cdn import CdnRequest, CdnResolver, CdnServer
from .gateway import CONTENT_FIELDS, GatewayHub
from .spec import DiscordSpec, SpecViolation, load_spec

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/api/v10"
PAYLOAD_KEY: web.ResponseKey[Any] = web.ResponseKey("payload", Any)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
MAX_CONTENT = 2000
MAX_THREAD_NAME = 100

_COMMAND_NAME_RE = re.compile(r"^[-_\w]{1,32}$")

# Where patch_discord(gateway=False) points discord.py's DEFAULT_GATEWAY: a client
# that ignores the gateway URL its configured API returns (GET /gateway/bot) lands
# here, is recorded in ``default_gateway_connects`` and is closed with 4004, a code
# discord.py does not reconnect after, so ``client.start()`` fails at once.
TRAP_GATEWAY_PATH = "/default-gateway-trap"
TRAP_CLOSE_CODE = 4004


# ----------------------------------------------------------------------------
# records
# ----------------------------------------------------------------------------
@dataclass
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Req:
    """One REST request the emulator received."""

    method: str
    path: str  # relative to the API base, e.g. "/channels/1/messages"
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # JSON body, or the parsed ``payload_json`` part of a multipart body
    files: list[UploadedFile] = field(default_factory=list)
    multipart: bool = False
    time: float = field(default_factory=time.monotonic)
    status: int = 0
    response: Any = None
    rate_limited: bool = False
    spec_violation: SpecViolation | None = None  # set when the spec rejected it (400 50035)

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


REQ_KEY: web.RequestKey[Req] = web.RequestKey("req", Req)


@dataclass
class Callback:
    """One POST /interactions/{id}/{token}/callback."""

    type: int
    body: JSON
    time: float
    elapsed: float  # seconds since the INTERACTION_CREATE was dispatched
    status: int


@dataclass
class InteractionRecord:
    """One interaction the emulator dispatched (a slash command or a click) and
    what the bot did with it.

    ``original_message_id`` is what ``@original`` names: the message a type 4/5
    callback created, or, for a click answered with type 6/7, the clicked message.
    Clicks also carry ``message_id`` (the clicked message) and ``custom_id``.
    See ``DiscordEmulator.outcome`` for what the user saw.
    """

    id: str
    token: str
    payload: JSON
    channel_id: str
    guild_id: str | None
    dispatched_at: float
    callbacks: list[Callback] = field(default_factory=list)
    original_message_id: str | None = None
    followup_message_ids: list[str] = field(default_factory=list)
    expired: bool = False
    ephemeral: bool = False
    message_id: str | None = None  # clicks: the message the component is on
    custom_id: str | None = None  # clicks: the clicked component's custom_id

    @property
    def type(self) -> int:
        """The interaction type: 2 application command, 3 message component."""
        return int(self.payload["type"])

    @property
    def user_id(self) -> str:
        """Who triggered it (the member's user in guilds, the user in DMs)."""
        user = self.payload.get("member", {}).get("user") or self.payload["user"]
        return str(user["id"])

    @property
    def response_type(self) -> int | None:
        """The accepted callback's type (4, 5, 6, 7...), None while unanswered."""
        types = self.callback_types
        return types[0] if types else None

    @property
    def acknowledged(self) -> bool:
        return any(200 <= c.status < 300 for c in self.callbacks)

    @property
    def callback_types(self) -> list[int]:
        return [c.type for c in self.callbacks if 200 <= c.status < 300]

    @property
    def first_callback_elapsed(self) -> float | None:
        ok = [c.elapsed for c in self.callbacks if 200 <= c.status < 300]
        return ok[0] if ok else None


@dataclass(frozen=True)
class InteractionReply:
    """A message an interaction created (its callback's type 4/5 message or a
    followup), as it is now."""

    message_id: str
    content: str
    ephemeral: bool  # only the user who clicked / ran the command sees it
    embeds: list[JSON]
    components: list[JSON]
    followup: bool  # False for the callback's own (type 4/5) message
    deleted: bool


@dataclass(frozen=True)
class InteractionOutcome:
    """What the user saw of one interaction (``DiscordEmulator.outcome``).

    ``response_type`` is the accepted callback's type (None: never acknowledged,
    the user sees "This interaction failed"); ``replies`` the messages it created,
    in order; for clicks, ``message`` is the clicked message as it is now and
    ``message_updated`` says whether the bot changed it in answer (type 7, or an
    ``@original`` edit after type 6 / 7).
    """

    interaction_id: str
    response_type: int | None
    ephemeral: bool
    replies: list[InteractionReply]
    message: JSON | None
    message_updated: bool

    @property
    def ephemeral_replies(self) -> list[str]:
        """The contents of the replies only the interacting user sees."""
        return [r.content for r in self.replies if r.ephemeral and not r.deleted]

    @property
    def buttons(self) -> list[JSON]:
        """The clicked message's buttons now (``disabled`` filled in); [] if gone."""
        return C.buttons(self.message["components"]) if self.message else []


@dataclass
class EditRecord:
    time: float
    content: str  # content after the edit
    body: JSON  # the PATCH body as sent
    interaction_id: str | None = None  # set when an interaction's token made the edit


@dataclass
class MessageMeta:
    created: float
    allowed_mentions: JSON | None = None
    files: list[UploadedFile] = field(default_factory=list)
    edits: list[EditRecord] = field(default_factory=list)
    deleted: bool = False
    deleted_at: float | None = None
    ephemeral: bool = False
    interaction_id: str | None = None


@dataclass
class RateLimitRule:
    pattern: str
    retry_after: float
    is_global: bool
    remaining: int


@dataclass
class GuildState:
    id: str
    name: str
    owner_id: str
    roles: list[JSON]
    joined_at: str
    channel_ids: list[str] = field(default_factory=list)
    members: dict[str, JSON] = field(default_factory=dict)  # user id -> member payload w/o user


@dataclass
class DefaultWorld:
    guild_id: str
    channel_id: str
    alice: JSON


class ApiError(Exception):
    def __init__(self, status: int, body: JSON, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _not_found(code: int, what: str) -> ApiError:
    return ApiError(404, P.error_body(code, f"Unknown {what}"))


def _json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    resp = web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    resp[PAYLOAD_KEY] = data
    return resp


def _no_content() -> web.Response:
    return web.Response(status=204)


# ----------------------------------------------------------------------------
# the emulator
# ----------------------------------------------------------------------------
class DiscordEmulator:
    """Discord API v10 + gateway + CDN on 127.0.0.1 (random ports)."""

    def __init__(
        self,
        *,
        application_id: str | None = None,
        bot_name: str = "threadbridge",
        bot_token: str | None = "test-bot-token",  # noqa: S107
    ) -> None:
        self.application_id: str = application_id or P.new_snowflake()
        self.bot_user: JSON = P.user_payload(self.application_id, bot_name, bot=True)
        self.bot_token: str | None = bot_token  # None accepts any token
        self.owner: JSON = P.user_payload(None, "owner")

        # knobs
        self.upload_limit: int = DEFAULT_UPLOAD_LIMIT
        self.denied_intents: int = 0
        self._application_flags: int | None = None
        self.callback_deadline: float | None = 3.0
        self.interaction_token_lifetime: float = 15 * 60.0
        self.expired_token_status: int = 404  # 404 -> 10015 Unknown Webhook; 401 -> 50027
        self.forbidden_channels: set[str] = set()
        self.history_failures: dict[str, tuple[int, int]] = {}  # channel -> (status, code)
        self.validate_requests: bool = True
        self.expect_spec_violations: bool = False  # the fixture then does not fail on them
        self.spec: DiscordSpec = load_spec()

        # world
        self.users: dict[str, JSON] = {self.bot_user["id"]: self.bot_user}
        self.guilds: dict[str, GuildState] = {}
        self.channels: dict[str, JSON] = {}
        self.thread_members: dict[str, set[str]] = {}
        self.world: DefaultWorld | None = None

        # records
        self.requests: list[Req] = []
        self.unhandled_requests: list[Req] = []
        self.spec_violations: list[SpecViolation] = []
        self.default_gateway_connects: list[float] = []  # monotonic times, see patch_discord
        self.messages: dict[str, JSON] = {}
        self.message_meta: dict[str, MessageMeta] = {}
        self._channel_order: dict[str, list[str]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self._token_index: dict[str, str] = {}
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[str, list[JSON]] = {}
        self.reactions: list[tuple[str, str, str, str]] = []  # (op, channel, message, emoji)
        self._rate_limits: list[RateLimitRule] = []

        self.gateway = GatewayHub(self)
        self.cdn = CdnServer()
        self.port: int = 0
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ life
    async def start(self) -> DiscordEmulator:
        await self.cdn.start()
        app = web.Application(client_max_size=1024 * 1024 * 1024, middlewares=[self._middleware])
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.cdn.close()

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What GET /gateway/bot returns (and READY's resume_gateway_url)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def trap_gateway_url(self) -> str:
        """Where ``patch_discord(gateway=False)`` points DEFAULT_GATEWAY."""
        return f"ws://127.0.0.1:{self.port}{TRAP_GATEWAY_PATH}/"

    @contextlib.contextmanager
    def patch_discord(self, *, gateway: bool = True) -> Iterator[None]:
        """Point discord.py at this emulator; restores the originals on exit.

        Sets ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``.
        A plain ``discord.Client`` never calls GET /gateway/bot (only
        AutoShardedClient does), it connects to DEFAULT_GATEWAY directly.

        ``gateway=True`` (the default) points DEFAULT_GATEWAY at the emulator's
        gateway. ``gateway=False`` leaves finding the gateway to the client under
        test (it must ask GET /gateway/bot on its configured API and connect to the
        ``url`` it returns) and points DEFAULT_GATEWAY at a trap instead of
        discord.gg: a connection there is recorded in ``default_gateway_connects``
        and closed with 4004, which makes ``client.start()`` raise
        ``discord.ConnectionClosed`` at once.
        """
        import yarl
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base = Route.BASE
        old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
            self.gateway_url + "/" if gateway else self.trap_gateway_url
        )
        try:
            yield
        finally:
            Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ------------------------------------------------------------------ knobs
    def token_ok(self, token: str) -> bool:
        return self.bot_token is None or token == self.bot_token

    @property
    def deny_message_content(self) -> bool:
        return bool(self.denied_intents & P.INTENT_MESSAGE_CONTENT)

    @deny_message_content.setter
    def deny_message_content(self, value: bool) -> None:
        if value:
            self.denied_intents |= P.INTENT_MESSAGE_CONTENT
        else:
            self.denied_intents &= ~P.INTENT_MESSAGE_CONTENT

    @property
    def application_flags(self) -> int:
        """Application flags (GET /applications/@me, READY). Settable; by default the
        *_LIMITED intent flags of an unverified bot, minus message content when denied."""
        if self._application_flags is not None:
            return self._application_flags
        flags = P.APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED | P.APP_FLAG_APPLICATION_COMMAND_BADGE
        if not self.deny_message_content:
            flags |= P.APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED
        return flags

    @application_flags.setter
    def application_flags(self, value: int | None) -> None:
        self._application_flags = value

    def rate_limit_next(
        self,
        route_substring: str,
        retry_after: float = 0.05,
        *,
        is_global: bool = False,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` requests whose ``"METHOD /path"`` contains
        ``route_substring`` with a 429 (headers + body as Discord sends them)."""
        self._rate_limits.append(RateLimitRule(route_substring, retry_after, is_global, count))

    def expire_interaction_tokens(self, interaction_id: str | None = None) -> None:
        """Make interaction tokens invalid (as after 15 minutes): callbacks answer
        404 10062, webhook routes 404 10015 (or 401 50027, see expired_token_status)."""
        for rec in self.interactions.values():
            if interaction_id is None or rec.id == interaction_id:
                rec.expired = True

    def deny_send(self, channel_id: str) -> None:
        """Posting in this channel answers 403 50013 Missing Permissions."""
        self.forbidden_channels.add(str(channel_id))

    def deny_history(self, channel_id: str, *, code: int = 50001, status: int = 403) -> None:
        """Reading this channel's messages (``GET /channels/{id}/messages`` and
        ``/messages/{mid}``) answers ``status`` with ``code``: 50001 Missing Access,
        50013 Missing Permissions (or any other, e.g. 500/0). Unlike a permission
        overwrite (`set_permission_overwrite`), discord.py's cache does not know."""
        self.history_failures[str(channel_id)] = (status, code)

    async def set_permission_overwrite(
        self,
        channel_id: str,
        target_id: str,
        *,
        allow: int = 0,
        deny: int = 0,
        type: int = P.OVERWRITE_ROLE,
    ) -> JSON:
        """Set (replace) a guild channel's permission overwrite for a role or member,
        as a moderator would: CHANNEL_UPDATE. Threads take their parent's."""
        channel = self._get_channel(channel_id)
        if channel["type"] in P.THREAD_TYPES or "permission_overwrites" not in channel:
            raise ValueError("overwrites live on guild (non-thread) channels")
        kept = [o for o in channel["permission_overwrites"] if o["id"] != str(target_id)]
        kept.append(
            P.permission_overwrite_payload(str(target_id), type=type, allow=allow, deny=deny)
        )
        channel["permission_overwrites"] = kept
        await self.dispatch("CHANNEL_UPDATE", channel)
        return copy.deepcopy(channel)

    def bot_role_id(self, guild_id: str) -> str:
        """The id of the bot's managed role in the guild."""
        guild = self.guilds[guild_id]
        return next(r["id"] for r in guild.roles if r.get("tags", {}).get("bot_id"))

    # ------------------------------------------------------------------ world
    def add_user(self, username: str, *, user_id: str | None = None, bot: bool = False) -> JSON:
        user = P.user_payload(user_id, username, bot=bot)
        self.users[user["id"]] = user
        return user

    def add_guild(self, name: str = "G", *, guild_id: str | None = None) -> GuildState:
        gid = guild_id or P.new_snowflake()
        bot_role_id = P.new_snowflake()
        roles = [
            P.role_payload(gid, "@everyone", permissions=P.EVERYONE_PERMISSIONS),
            P.role_payload(
                bot_role_id,
                self.bot_user["username"],
                permissions=P.BOT_ROLE_PERMISSIONS,
                position=1,
                managed=True,
                bot_id=self.bot_user["id"],
            ),
        ]
        guild = GuildState(
            id=gid, name=name, owner_id=self.owner["id"], roles=roles, joined_at=P.iso_now()
        )
        self.users.setdefault(self.owner["id"], self.owner)
        self.guilds[gid] = guild
        guild.members[self.bot_user["id"]] = P.member_payload(None, roles=[bot_role_id])
        return guild

    def add_member(
        self, guild_id: str, user: Mapping[str, Any], *, roles: Sequence[str] = ()
    ) -> JSON:
        self.users.setdefault(user["id"], dict(user))
        member = P.member_payload(None, roles=roles)
        self.guilds[guild_id].members[user["id"]] = member
        return member

    def add_text_channel(self, guild_id: str, name: str, *, channel_id: str | None = None) -> JSON:
        guild = self.guilds[guild_id]
        cid = channel_id or P.new_snowflake()
        channel = P.text_channel_payload(cid, guild_id, name, position=len(guild.channel_ids))
        self.channels[cid] = channel
        guild.channel_ids.append(cid)
        return channel

    def create_dm_channel(self, user: Mapping[str, Any]) -> JSON:
        """The DM channel (type 1, no guild) between the bot and ``user``."""
        for channel in self.channels.values():
            if channel["type"] == P.CHANNEL_DM and channel["recipients"][0]["id"] == user["id"]:
                return channel
        self.users.setdefault(user["id"], dict(user))
        channel = P.dm_channel_payload(P.new_snowflake(), user)
        self.channels[channel["id"]] = channel
        return channel

    def populate_default(self) -> DefaultWorld:
        """Guild "G" with text channel "general", the bot and a human "alice"."""
        guild = self.add_guild("G")
        channel = self.add_text_channel(guild.id, "general")
        alice = self.add_user("alice")
        self.add_member(guild.id, alice)
        self.world = DefaultWorld(guild_id=guild.id, channel_id=channel["id"], alice=alice)
        return self.world

    def _world(self) -> DefaultWorld:
        if self.world is None:
            raise RuntimeError("call populate_default() first")
        return self.world

    @property
    def guild_id(self) -> str:
        return self._world().guild_id

    @property
    def channel_id(self) -> str:
        return self._world().channel_id

    @property
    def alice(self) -> JSON:
        return self._world().alice

    def channel(self, channel_id: str) -> JSON:
        return copy.deepcopy(self.channels[str(channel_id)])

    def threads(self, parent_id: str | None = None) -> list[JSON]:
        return [
            copy.deepcopy(c)
            for c in self.channels.values()
            if c["type"] in P.THREAD_TYPES and (parent_id is None or c["parent_id"] == parent_id)
        ]

    # -- payload builders over the world
    def _guild_of(self, channel: Mapping[str, Any]) -> GuildState | None:
        gid = channel.get("guild_id")
        return self.guilds.get(gid) if gid else None

    def member_permissions(self, guild: GuildState, user_id: str) -> int:
        if user_id == guild.owner_id:
            return (1 << 41) - 1
        member = guild.members.get(user_id)
        perms = 0
        role_ids = {guild.id, *(member["roles"] if member else [])}
        for role in guild.roles:
            if role["id"] in role_ids:
                perms |= int(role["permissions"])
        return perms

    def channel_permissions(self, channel: Mapping[str, Any], user_id: str) -> int:
        """A member's permissions in a guild channel (a thread: its parent's), with
        the channel's overwrites applied in Discord's order: @everyone, roles, member."""
        guild = self._guild_of(channel)
        if guild is None:
            return (1 << 41) - 1
        perms = self.member_permissions(guild, user_id)
        if perms & P.ADMINISTRATOR:
            return (1 << 41) - 1
        if channel["type"] in P.THREAD_TYPES:
            channel = self.channels.get(channel.get("parent_id") or "", {})
        overwrites = {o["id"]: o for o in channel.get("permission_overwrites", [])}
        everyone = overwrites.get(guild.id)
        if everyone is not None:
            perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
        member = guild.members.get(user_id)
        allow = deny = 0
        for role_id in member["roles"] if member else []:
            o = overwrites.get(role_id)
            if o is not None and o["type"] == P.OVERWRITE_ROLE:
                allow, deny = allow | int(o["allow"]), deny | int(o["deny"])
        perms = (perms & ~deny) | allow
        own = overwrites.get(user_id)
        if own is not None and own["type"] == P.OVERWRITE_MEMBER:
            perms = (perms & ~int(own["deny"])) | int(own["allow"])
        return perms

    def _member_with_user(self, guild: GuildState, user_id: str) -> JSON:
        member = copy.deepcopy(guild.members[user_id])
        member["user"] = copy.deepcopy(self.users[user_id])
        return member

    def guild_member_payloads(self, guild_id: str) -> list[JSON]:
        guild = self.guilds.get(guild_id)
        if guild is None:
            return []
        return [self._member_with_user(guild, uid) for uid in guild.members]

    def _guild_base(self, guild: GuildState) -> JSON:
        return {
            "id": guild.id,
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": guild.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": copy.deepcopy(guild.roles),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": guild.channel_ids[0] if guild.channel_ids else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
        }

    def guild_create_payload(self, guild_id: str) -> JSON:
        guild = self.guilds[guild_id]
        data = self._guild_base(guild)
        data.update(
            {
                "joined_at": guild.joined_at,
                "large": False,
                "unavailable": False,
                "member_count": len(guild.members),
                "voice_states": [],
                "members": [self._member_with_user(guild, self.bot_user["id"])],
                "channels": [copy.deepcopy(self.channels[c]) for c in guild.channel_ids],
                "threads": [
                    copy.deepcopy(c)
                    for c in self.channels.values()
                    if c.get("guild_id") == guild_id
                    and c["type"] in P.THREAD_TYPES
                    and not c["thread_metadata"]["archived"]
                ],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return data

    def _bot_member_partial(self, guild: GuildState) -> JSON:
        member = copy.deepcopy(guild.members[self.bot_user["id"]])
        member.pop("user", None)
        return member

    def _user(self, user: Mapping[str, Any] | str | int | None) -> JSON:
        if user is None:
            return self.alice
        if isinstance(user, Mapping):
            self.users.setdefault(str(user["id"]), dict(user))
            return self.users[str(user["id"])]
        return self.users[str(user)]

    def _mention_objects(self, ids: Iterable[str], guild: GuildState | None) -> list[JSON]:
        out: list[JSON] = []
        for uid in ids:
            user = self.users.get(str(uid))
            if user is None:
                continue
            obj = copy.deepcopy(user)
            if guild is not None and uid in guild.members:
                obj["member"] = copy.deepcopy(guild.members[uid])
            out.append(obj)
        return out

    # ------------------------------------------------------------------ messages
    def _store_message(self, msg: JSON, meta: MessageMeta) -> None:
        self.messages[msg["id"]] = msg
        self.message_meta[msg["id"]] = meta
        self._channel_order.setdefault(msg["channel_id"], []).append(msg["id"])
        channel = self.channels.get(msg["channel_id"])
        if channel is not None and not meta.ephemeral:
            channel["last_message_id"] = msg["id"]
            if channel["type"] in P.THREAD_TYPES:
                channel["message_count"] += 1
                channel["total_message_sent"] += 1

    def message(self, message_id: str) -> JSON:
        """Current state of one message (see channel_messages for the extra keys)."""
        return self._view(str(message_id))

    def _view(self, mid: str) -> JSON:
        msg = copy.deepcopy(self.messages[mid])
        meta = self.message_meta[mid]
        msg["allowed_mentions"] = copy.deepcopy(meta.allowed_mentions)
        msg["uploaded_files"] = list(meta.files)
        msg["edits"] = [
            {
                "time": e.time,
                "content": e.content,
                "body": copy.deepcopy(e.body),
                "interaction_id": e.interaction_id,
            }
            for e in meta.edits
        ]
        msg["deleted"] = meta.deleted
        msg["created_monotonic"] = meta.created
        return msg

    def _referenced(self, mid: str) -> JSON | None:
        """A replied-to message as Discord embeds it (``referenced_message``): its
        current state, one level deep (its own ``referenced_message`` is not
        included), None once deleted."""
        msg = self.messages.get(mid)
        if msg is None or self.message_meta[mid].deleted:
            return None
        snapshot = copy.deepcopy(msg)
        snapshot.pop("referenced_message", None)
        return snapshot

    def _rest_message(self, mid: str) -> JSON:
        """A stored message as REST answers it: the replied-to message as it is now;
        without the Message Content privilege, guild messages that neither come from
        the bot nor mention it have their content fields emptied (as on the gateway)."""
        msg = copy.deepcopy(self.messages[mid])
        ref = msg.get("message_reference")
        if ref is not None and "referenced_message" in msg:
            msg["referenced_message"] = self._referenced(str(ref["message_id"]))
        for data in (msg, msg.get("referenced_message")):
            if data and self.deny_message_content and not self._content_visible(data):
                for key in CONTENT_FIELDS:
                    if key in data:
                        data[key] = "" if key == "content" else []
                data.pop("poll", None)
        return msg

    def _content_visible(self, data: Mapping[str, Any]) -> bool:
        if "guild_id" not in data:
            return True  # DMs keep their content
        bot_id = self.bot_user["id"]
        if data.get("author", {}).get("id") == bot_id:
            return True
        return any(m.get("id") == bot_id for m in data.get("mentions", []))

    def _check_readable(self, channel: Mapping[str, Any], *, one: bool) -> bool:
        """Raise what Discord answers to a bot that may not read ``channel``'s
        messages; False if it may see the channel but not read its history, which
        Discord answers with an empty list when listing and 403 for one message."""
        failure = self.history_failures.get(channel["id"])
        if failure is not None:
            status, code = failure
            text = {50001: "Missing Access", 50013: "Missing Permissions"}.get(code, "Error")
            raise ApiError(status, P.error_body(code, text))
        perms = self.channel_permissions(channel, self.bot_user["id"])
        if not perms & P.VIEW_CHANNEL:
            raise ApiError(403, P.error_body(50001, "Missing Access"))
        if not perms & P.READ_MESSAGE_HISTORY:
            if one:
                raise ApiError(403, P.error_body(50001, "Missing Access"))
            return False
        return True

    def channel_messages(
        self,
        channel_id: str,
        *,
        include_deleted: bool = False,
        include_ephemeral: bool = True,
    ) -> list[JSON]:
        """What the channel shows now, oldest first: message payloads (content after
        edits, attachments, flags...) plus ``allowed_mentions`` (as sent),
        ``uploaded_files`` (UploadedFile list), ``edits`` ([{time, content, body}]),
        ``deleted`` and ``created_monotonic``."""
        out = []
        for mid in self._channel_order.get(str(channel_id), []):
            meta = self.message_meta[mid]
            if meta.deleted and not include_deleted:
                continue
            if meta.ephemeral and not include_ephemeral:
                continue
            out.append(self._view(mid))
        return out

    def _validate_message_body(
        self, body: JSON, files: Sequence[UploadedFile], *, edit: bool, flags: int | None = None
    ) -> None:
        """Discord's checks beyond the spec: lengths, embed size, files, the
        component rules of ``components.check`` (``flags``: the message's flags,
        by default the body's, decide whether components v2 apply)."""
        if flags is None:
            flags = int(body.get("flags") or 0)
        problems = C.check(body.get("components"), flags=flags)
        if problems:
            raise ApiError(400, P.form_errors(problems))
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            content = str(content)
        if content is not None and len(content) > MAX_CONTENT:
            raise ApiError(
                400,
                P.form_error(
                    "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
                ),
            )
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            raise ApiError(
                400,
                P.form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."),
            )
        total = 0
        for i, embed in enumerate(embeds):
            desc = embed.get("description") or ""
            title = embed.get("title") or ""
            if len(desc) > 4096:
                raise ApiError(
                    400,
                    P.form_error(
                        f"embeds.{i}.description",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 4096 or fewer in length.",
                    ),
                )
            if len(title) > 256:
                raise ApiError(
                    400,
                    P.form_error(
                        f"embeds.{i}.title",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 256 or fewer in length.",
                    ),
                )
            total += len(desc) + len(title)
            total += sum(
                len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", [])
            )
        if total > 6000:
            raise ApiError(
                400,
                P.form_error(
                    "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
                ),
            )
        if len(files) > 10:
            raise ApiError(
                400, P.form_error("files", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            )
        for f in files:
            if f.size > self.upload_limit:
                raise ApiError(413, P.error_body(40005, "Request entity too large"))
        if not edit and not (
            content
            or embeds
            or files
            or body.get("sticker_ids")
            or body.get("components")
            or body.get("poll")
        ):
            raise ApiError(400, P.error_body(50006, "Cannot send an empty message"))

    def _resolve_mentions(
        self,
        content: str,
        allowed: Mapping[str, Any] | None,
        guild: GuildState | None,
        replied_author: str | None,
    ) -> tuple[list[JSON], list[str], bool]:
        user_ids = P.mentioned_user_ids(content)
        role_ids = P.mentioned_role_ids(content)
        everyone = "@everyone" in content or "@here" in content
        if allowed is not None:
            parse = allowed.get("parse") or []
            if "users" not in parse:
                explicit = {str(u) for u in allowed.get("users") or []}
                user_ids = [u for u in user_ids if u in explicit]
            if "roles" not in parse:
                explicit_roles = {str(r) for r in allowed.get("roles") or []}
                role_ids = [r for r in role_ids if r in explicit_roles]
            everyone = everyone and "everyone" in parse
            replied_ok = bool(allowed.get("replied_user", False))
        else:
            replied_ok = True
        if replied_author and replied_ok and replied_author not in user_ids:
            user_ids.append(replied_author)
        return self._mention_objects(user_ids, guild), role_ids, everyone

    def _attachments_from(
        self,
        body: JSON,
        files: Sequence[UploadedFile],
        channel_id: str,
        existing: Sequence[JSON] = (),
    ) -> list[JSON]:
        by_index = {i: f for i, f in enumerate(files)}
        by_field = {f.field: f for f in files}
        existing_by_id = {a["id"]: a for a in existing}
        specs = body.get("attachments")
        out: list[JSON] = []
        used: set[int] = set()
        if specs is None:
            out.extend(copy.deepcopy(list(existing)))
            specs = [{"id": i} for i in range(len(files))]
        for spec in specs:
            sid = str(spec.get("id"))
            if sid in existing_by_id:
                out.append(copy.deepcopy(existing_by_id[sid]))
                continue
            try:
                index = int(sid)
            except ValueError:
                continue
            upload = by_field.get(f"files[{index}]") or by_index.get(index)
            if upload is None or index in used:
                continue
            used.add(index)
            filename = spec.get("filename") or upload.filename
            att = self._host_upload(channel_id, filename, upload.data, upload.content_type)
            if spec.get("description"):
                att["description"] = spec["description"]
            out.append(att)
        return out

    def _host_upload(
        self, channel_id: str, filename: str, data: bytes, content_type: str | None
    ) -> JSON:
        ctype = content_type
        if not ctype or ctype == "application/octet-stream":
            ctype = P.guess_content_type(filename)
        return self.host_attachment(filename, data, ctype, channel_id=channel_id)

    def _check_postable(self, channel: JSON) -> None:
        if channel["id"] in self.forbidden_channels:
            raise ApiError(403, P.error_body(50013, "Missing Permissions"))
        if channel["type"] in P.THREAD_TYPES:
            meta = channel["thread_metadata"]
            if meta["archived"]:
                raise ApiError(400, P.error_body(50083, "Thread is archived"))
            if meta.get("locked"):
                raise ApiError(403, P.error_body(160005, "Thread is locked"))

    def _get_channel(self, channel_id: str) -> JSON:
        channel = self.channels.get(str(channel_id))
        if channel is None:
            raise _not_found(10003, "Channel")
        return channel

    async def _create_bot_message(
        self,
        channel_id: str,
        body: JSON,
        files: Sequence[UploadedFile],
        *,
        msg_type: int | None = None,
        flags: int = 0,
        webhook_id: str | None = None,
        interaction: InteractionRecord | None = None,
        check_postable: bool = True,
        validate: bool = True,
    ) -> JSON:
        channel = self._get_channel(channel_id)
        if check_postable:
            self._check_postable(channel)
        if validate:
            self._validate_message_body(body, files, edit=False)
        guild = self._guild_of(channel)
        content = str(body.get("content") or "")
        ref = body.get("message_reference")
        referenced: JSON | None = None
        if ref:
            ref_id = str(ref.get("message_id"))
            referenced = self._referenced(ref_id)
            if referenced is None and ref.get("fail_if_not_exists", True):
                raise ApiError(
                    400,
                    P.form_error(
                        "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                    ),
                )
            ref = {
                "type": 0,
                "message_id": ref_id,
                "channel_id": str(ref.get("channel_id") or channel_id),
                **({"guild_id": guild.id} if guild else {}),
            }
        mentions, role_ids, everyone = self._resolve_mentions(
            content,
            body.get("allowed_mentions"),
            guild,
            referenced["author"]["id"] if referenced else None,
        )
        ephemeral = bool(flags & P.FLAG_EPHEMERAL)
        msg_flags = int(body.get("flags") or 0) | flags
        interaction_metadata = None
        if interaction is not None:
            interaction_metadata = self._interaction_metadata(interaction)
            if interaction.message_id is not None and ref is None:
                # an answer to a click replies to the clicked message (no ping)
                clicked = self._referenced(interaction.message_id)
                if clicked is not None:
                    ref = {
                        "type": 0,
                        "message_id": interaction.message_id,
                        "channel_id": clicked["channel_id"],
                        **({"guild_id": guild.id} if guild else {}),
                    }
                    referenced = clicked
                    msg_type = P.MESSAGE_REPLY
        components = C.assign_ids(copy.deepcopy(body.get("components") or []))
        msg = P.message_payload(
            channel_id=channel_id,
            author=self.bot_user,
            content=content,
            guild_id=guild.id if guild else None,
            member=self._bot_member_partial(guild) if guild else None,
            mentions=mentions,
            mention_roles=role_ids,
            mention_everyone=everyone,
            attachments=self._attachments_from(body, files, channel_id),
            embeds=body.get("embeds") or [],
            components=components,
            type=msg_type
            if msg_type is not None
            else (P.MESSAGE_REPLY if ref else P.MESSAGE_DEFAULT),
            flags=msg_flags,
            message_reference=ref,
            referenced_message=referenced,
            webhook_id=webhook_id,
            application_id=self.application_id if interaction is not None else None,
            interaction_metadata=interaction_metadata,
            nonce=body.get("nonce"),
            tts=bool(body.get("tts", False)),
        )
        meta = MessageMeta(
            created=time.monotonic(),
            allowed_mentions=copy.deepcopy(body.get("allowed_mentions")),
            files=list(files),
            ephemeral=ephemeral,
            interaction_id=interaction.id if interaction else None,
        )
        self._store_message(msg, meta)
        if not ephemeral:
            await self.dispatch("MESSAGE_CREATE", msg)
        return copy.deepcopy(msg)

    async def _edit_message(
        self,
        mid: str,
        body: JSON,
        files: Sequence[UploadedFile],
        *,
        by: InteractionRecord | None = None,
    ) -> JSON:
        msg = self.messages[mid]
        meta = self.message_meta[mid]
        self._validate_message_body(
            body, files, edit=True, flags=msg["flags"] | int(body.get("flags") or 0)
        )
        guild = self._guild_of(self.channels.get(msg["channel_id"], {}))
        if "content" in body:
            msg["content"] = "" if body["content"] is None else str(body["content"])
        if "embeds" in body:
            msg["embeds"] = body["embeds"] or []
        if "components" in body:
            msg["components"] = C.assign_ids(copy.deepcopy(body["components"] or []))
        if "flags" in body and body["flags"] is not None:
            keep = msg["flags"] & (P.FLAG_EPHEMERAL | P.FLAG_HAS_THREAD)
            msg["flags"] = int(body["flags"]) | keep
        if "attachments" in body or files:
            msg["attachments"] = self._attachments_from(
                body, files, msg["channel_id"], msg["attachments"]
            )
            meta.files.extend(files)
        if "allowed_mentions" in body:
            meta.allowed_mentions = copy.deepcopy(body["allowed_mentions"])
        ref = msg.get("referenced_message")
        mentions, role_ids, everyone = self._resolve_mentions(
            msg["content"], meta.allowed_mentions, guild, ref["author"]["id"] if ref else None
        )
        msg["mentions"], msg["mention_roles"], msg["mention_everyone"] = (
            mentions,
            role_ids,
            everyone,
        )
        msg["flags"] &= ~P.FLAG_LOADING
        msg["edited_timestamp"] = P.iso_now()
        meta.edits.append(
            EditRecord(
                time=time.monotonic(),
                content=msg["content"],
                body=copy.deepcopy(body),
                interaction_id=by.id if by is not None else None,
            )
        )
        if not meta.ephemeral:
            await self.dispatch("MESSAGE_UPDATE", msg)
        return copy.deepcopy(msg)

    def _interaction_metadata(self, rec: InteractionRecord) -> JSON:
        """``interaction_metadata`` of a message an interaction created."""
        user = rec.payload.get("member", {}).get("user") or rec.payload.get("user")
        data: JSON = {
            "id": rec.id,
            "type": rec.type,
            "user": copy.deepcopy(user),
            "authorizing_integration_owners": rec.payload.get("authorizing_integration_owners", {}),
        }
        if rec.type == 3:
            data["interacted_message_id"] = rec.message_id
            if rec.original_message_id and rec.original_message_id != rec.message_id:
                data["original_response_message_id"] = rec.original_message_id
        else:
            data["name"] = rec.payload["data"].get("name")
            data["command_type"] = 1
        return data

    async def _delete_message(self, mid: str) -> None:
        msg = self.messages[mid]
        meta = self.message_meta[mid]
        meta.deleted = True
        meta.deleted_at = time.monotonic()
        if not meta.ephemeral:
            event: JSON = {"id": mid, "channel_id": msg["channel_id"]}
            if "guild_id" in msg:
                event["guild_id"] = msg["guild_id"]
            await self.dispatch("MESSAGE_DELETE", event)

    def _live_message(self, channel_id: str, mid: str) -> JSON:
        msg = self.messages.get(str(mid))
        if (
            msg is None
            or msg["channel_id"] != str(channel_id)
            or self.message_meta[str(mid)].deleted
        ):
            raise _not_found(10008, "Message")
        return msg

    # ------------------------------------------------------------------ test-side actions
    async def dispatch(self, event_name: str, data: JSON) -> int:
        """Send a gateway dispatch to every connected bot session (intent-filtered)."""
        return await self.gateway.dispatch(event_name, data)

    async def send_message(
        self,
        channel_id: str | None = None,
        content: str = "",
        *,
        author: Mapping[str, Any] | str | None = None,
        mentions: Iterable[Mapping[str, Any] | str] = (),
        attachments: Iterable[Mapping[str, Any]] = (),
        embeds: Iterable[Mapping[str, Any]] = (),
        reply_to: str | None = None,
        message_id: str | None = None,
        message_type: int | None = None,
        dispatch: bool = True,
        reply_ping: bool = True,
        flags: int = 0,
    ) -> JSON:
        """A user posts a message: stored + MESSAGE_CREATE. Mentions come from
        ``<@id>`` in content plus ``mentions`` (user dicts or ids). ``reply_to`` makes
        it a reply (type 19, ``message_reference`` + ``referenced_message``, the
        replied-to author mentioned unless ``reply_ping=False``, as when the user turns
        the reply's ping off). With
        ``dispatch=False`` it is only stored: written before the bot connected, or in
        a channel it does not receive, readable through the REST history. ``flags``:
        message flags, e.g. ``P.FLAG_IS_VOICE_MESSAGE`` with a ``voice_attachment``."""
        channel = self._get_channel(channel_id or self.channel_id)
        user = self._user(author)
        guild = self._guild_of(channel)
        ids = P.mentioned_user_ids(content)
        for m in mentions:
            uid = str(m["id"]) if isinstance(m, Mapping) else str(m)
            if uid not in ids:
                ids.append(uid)
        if channel["type"] in P.THREAD_TYPES and channel["thread_metadata"]["archived"]:
            if channel["thread_metadata"].get("locked"):
                raise RuntimeError("thread is archived and locked; a user cannot post there")
            await self.archive_thread(channel["id"], archived=False)
        ref = referenced = None
        if reply_to is not None:
            referenced = self._referenced(str(reply_to))
            if referenced is None:
                raise LookupError(f"no message {reply_to} to reply to")
            ref = {"type": 0, "message_id": str(reply_to), "channel_id": channel["id"]}
            if guild:
                ref["guild_id"] = guild.id
            if reply_ping and referenced["author"]["id"] not in ids:
                ids.append(referenced["author"]["id"])
        member = None
        if guild is not None:
            if user["id"] not in guild.members:
                self.add_member(guild.id, user)
            member = copy.deepcopy(guild.members[user["id"]])
        msg = P.message_payload(
            channel_id=channel["id"],
            author=user,
            content=content,
            guild_id=guild.id if guild else None,
            member=member,
            message_id=message_id,
            mentions=self._mention_objects(ids, guild),
            mention_roles=P.mentioned_role_ids(content),
            mention_everyone="@everyone" in content or "@here" in content,
            attachments=attachments,
            embeds=embeds,
            type=message_type
            if message_type is not None
            else (P.MESSAGE_REPLY if ref else P.MESSAGE_DEFAULT),
            message_reference=ref,
            referenced_message=referenced,
        )
        msg["flags"] = int(msg.get("flags") or 0) | flags
        self._store_message(msg, MessageMeta(created=time.monotonic()))
        if dispatch:
            await self.dispatch("MESSAGE_CREATE", msg)
        return copy.deepcopy(msg)

    async def edit_user_message(self, message_id: str, content: str) -> JSON:
        """A user edits their message: MESSAGE_UPDATE."""
        msg = self.messages[str(message_id)]
        msg["content"] = content
        msg["edited_timestamp"] = P.iso_now()
        self.message_meta[msg["id"]].edits.append(
            EditRecord(time=time.monotonic(), content=content, body={"content": content})
        )
        await self.dispatch("MESSAGE_UPDATE", msg)
        return copy.deepcopy(msg)

    async def delete_user_message(self, message_id: str) -> None:
        await self._delete_message(str(message_id))

    async def replay_last_dispatch(
        self, event_name: str = "MESSAGE_CREATE", *, include_bot: bool = False
    ) -> JSON:
        """Deliver the most recent ``event_name`` dispatch again, unchanged (same ids),
        like a gateway resume replay. By default skips the bot's own messages."""
        for name, data in reversed(self.gateway.dispatches):
            if name != event_name:
                continue
            if (
                not include_bot
                and event_name.startswith("MESSAGE_")
                and data.get("author", {}).get("id") == self.bot_user["id"]
            ):
                continue
            await self.dispatch(name, copy.deepcopy(data))
            return data
        raise LookupError(f"no {event_name} dispatched yet")

    async def force_reconnect(self, *, wait: bool = True, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Gateway op 7 RECONNECT; discord.py reconnects and RESUMEs (events sent
        meanwhile are replayed). With ``wait``, returns once every session resumed."""
        sessions = self.gateway.live_sessions
        await self.gateway.reconnect_all()
        if wait:
            async with asyncio.timeout(timeout):
                for session in sessions:
                    await session.resumed.wait()

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Gateway op 9 INVALID_SESSION; with resumable=False the client re-IDENTIFYs."""
        await self.gateway.invalidate_all(resumable)

    async def send_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: str | None = None,
        user: Mapping[str, Any] | str | None = None,
        attachments: Mapping[str, Mapping[str, Any]] | None = None,
        subcommand: str | None = None,
        guild_command: bool | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """Dispatch INTERACTION_CREATE (type 2, chat input). ``options`` maps option
        name -> value (str/int/float/bool, a user/channel/role dict, or an
        attachment dict from host_attachment()); ``attachments`` maps attachment
        option names to attachment dicts. Option types come from the synced
        command if present. Returns the interaction payload."""
        channel = self._get_channel(channel_id or self.channel_id)
        guild = self._guild_of(channel)
        invoker = self._user(user)
        command, cmd_guild = self._find_command(name, guild.id if guild else None, guild_command)
        values: dict[str, Any] = dict(options or {})
        values.update(attachments or {})
        definitions = command.get("options", []) if command else []
        if subcommand is not None:
            sub_def: JSON = next((o for o in definitions if o.get("name") == subcommand), {})
            sub_defs = sub_def.get("options", [])
        else:
            sub_defs = definitions
        resolved: JSON = {}
        built = [self._build_option(k, v, sub_defs, resolved, guild) for k, v in values.items()]
        if subcommand is not None:
            built = [{"type": P.OPT_SUB_COMMAND, "name": subcommand, "options": built}]
        data: JSON = {
            "id": command["id"] if command else P.new_snowflake(),
            "name": name,
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if cmd_guild is not None:
            data["guild_id"] = cmd_guild
        payload = self._interaction_payload(2, data, channel, invoker, locale=locale)
        await self._dispatch_interaction(payload, channel, guild)
        return copy.deepcopy(payload)

    async def send_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: str | None = None,
        user: Mapping[str, Any] | str | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """Dispatch INTERACTION_CREATE type 4 (APPLICATION_COMMAND_AUTOCOMPLETE): the
        user is typing option `focused` of command `name` (`options`: what is typed so
        far, as strings). The bot answers with callback type 8 and `data.choices`
        (read them from ``interaction(id).callbacks``). Returns the payload."""
        channel = self._get_channel(channel_id or self.channel_id)
        guild = self._guild_of(channel)
        invoker = self._user(user)
        command, cmd_guild = self._find_command(name, guild.id if guild else None, None)
        definitions = command.get("options", []) if command else []
        resolved: JSON = {}
        built = [self._build_option(k, v, definitions, resolved, guild) for k, v in options.items()]
        for option in built:
            if option["name"] == focused:
                option["focused"] = True
        data: JSON = {
            "id": command["id"] if command else P.new_snowflake(),
            "name": name,
            "type": 1,
            "options": built,
        }
        if cmd_guild is not None:
            data["guild_id"] = cmd_guild
        payload = self._interaction_payload(4, data, channel, invoker, locale=locale)
        await self._dispatch_interaction(payload, channel, guild)
        return copy.deepcopy(payload)

    def _interaction_payload(
        self,
        itype: int,
        data: JSON,
        channel: JSON,
        invoker: JSON,
        *,
        locale: str,
    ) -> JSON:
        """The INTERACTION_CREATE body common to commands and clicks: who, where,
        a fresh id and token; ``member`` (with user, roles, permissions) in
        guilds, ``user`` in DMs."""
        guild = self._guild_of(channel)
        payload: JSON = {
            "id": P.new_snowflake(),
            "application_id": self.application_id,
            "type": itype,
            "data": data,
            "channel_id": channel["id"],
            "channel": copy.deepcopy(channel),
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48),
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": self.upload_limit,
        }
        if guild is not None:
            if invoker["id"] not in guild.members:
                self.add_member(guild.id, invoker)
            member = self._member_with_user(guild, invoker["id"])
            member["permissions"] = str(self.member_permissions(guild, invoker["id"]))
            payload.update(
                {
                    "guild_id": guild.id,
                    "guild": {"id": guild.id, "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": member,
                    "app_permissions": str(self.member_permissions(guild, self.bot_user["id"])),
                    "authorizing_integration_owners": {"0": guild.id},
                    "context": 0,
                }
            )
            payload["channel"]["permissions"] = member["permissions"]
        else:
            payload.update(
                {
                    "user": copy.deepcopy(invoker),
                    "app_permissions": str(P.EVERYONE_PERMISSIONS),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        return payload

    async def _dispatch_interaction(
        self,
        payload: JSON,
        channel: JSON,
        guild: GuildState | None,
        *,
        message_id: str | None = None,
        custom_id: str | None = None,
    ) -> InteractionRecord:
        rec = InteractionRecord(
            id=payload["id"],
            token=payload["token"],
            payload=payload,
            channel_id=channel["id"],
            guild_id=guild.id if guild else None,
            dispatched_at=time.monotonic(),
            message_id=message_id,
            custom_id=custom_id,
        )
        self.interactions[rec.id] = rec
        self._token_index[rec.token] = rec.id
        await self.dispatch("INTERACTION_CREATE", payload)
        return rec

    async def click(
        self,
        message_id: str,
        custom_id: str,
        *,
        user: Mapping[str, Any] | str | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """A user clicks a button: INTERACTION_CREATE type 3 (MESSAGE_COMPONENT).

        The button is looked up on the stored message (any action row, or a v2
        section / container); a message without an enabled button of that
        ``custom_id`` fails the test (AssertionError: Discord clients cannot
        click a disabled button, a link button has no custom_id), as does a
        deleted message or another user's ephemeral one. ``user`` (default
        alice) is a user dict or id; the guild and ``member`` (user, roles,
        permissions) come from the message's channel as for slash commands, a DM
        sends ``user`` instead. ``data`` is ``{custom_id, component_type: 2}``
        and ``message`` the message as it is now, components included.

        Returns the payload; ``interaction(payload["id"])`` is its record (with
        ``message_id`` and ``custom_id``), ``outcome(payload["id"])`` what the
        user saw. The bot answers through the callback route within
        ``callback_deadline`` (3 s): type 4 (a reply to the clicked message,
        ephemeral with flags 64), 5, 6 (deferred update) or 7 (UPDATE_MESSAGE,
        edits the clicked message); then ``@original`` is the reply (4/5) or the
        clicked message (6/7).
        """
        mid = str(message_id)
        msg = self.messages.get(mid)
        if msg is None or self.message_meta[mid].deleted:
            raise AssertionError(f"click: no message {mid} (deleted or never sent)")
        meta = self.message_meta[mid]
        invoker = self._user(user)
        if meta.ephemeral and meta.interaction_id:
            owner = self.interactions[meta.interaction_id].user_id
            if owner != invoker["id"]:
                raise AssertionError(
                    f"click: message {mid} is ephemeral, only user {owner} sees it"
                )
        if msg["author"]["id"] != self.bot_user["id"]:
            raise AssertionError(f"click: message {mid} is not the bot's; its clicks go elsewhere")
        found = [c for c in C.walk(msg.get("components") or []) if c.get("custom_id") == custom_id]
        if not found or found[0].get("type") != C.BUTTON:
            available = [
                (b.get("custom_id"), "disabled" if b["disabled"] else "enabled")
                for b in C.buttons(msg.get("components") or [])
            ]
            raise AssertionError(
                f"click: message {mid} has no button with custom_id {custom_id!r}; "
                f"its buttons (custom_id, state): {available}"
            )
        if found[0].get("disabled"):
            raise AssertionError(
                f"click: the button {custom_id!r} on message {mid} is disabled; "
                "Discord clients cannot click it"
            )
        channel = self._get_channel(msg["channel_id"])
        guild = self._guild_of(channel)
        data = {"custom_id": custom_id, "component_type": C.BUTTON}
        payload = self._interaction_payload(3, data, channel, invoker, locale=locale)
        payload["message"] = self._rest_message(mid)
        await self._dispatch_interaction(
            payload, channel, guild, message_id=mid, custom_id=custom_id
        )
        return copy.deepcopy(payload)

    def _find_command(
        self, name: str, guild_id: str | None, guild_command: bool | None
    ) -> tuple[JSON | None, str | None]:
        if guild_id is not None and guild_command is not False:
            for cmd in self.guild_commands.get(guild_id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, guild_id
        if guild_command is not True:
            for cmd in self.global_commands:
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, None
        return None, (guild_id if guild_command else None)

    def _build_option(
        self,
        name: str,
        value: Any,
        definitions: Sequence[Mapping[str, Any]],
        resolved: JSON,
        guild: GuildState | None,
    ) -> JSON:
        definition = next((d for d in definitions if d.get("name") == name), None)
        opt_type = definition.get("type") if definition else None
        if opt_type is None:
            if isinstance(value, bool):
                opt_type = P.OPT_BOOLEAN
            elif isinstance(value, int):
                opt_type = P.OPT_INTEGER
            elif isinstance(value, float):
                opt_type = P.OPT_NUMBER
            elif isinstance(value, Mapping) and "filename" in value:
                opt_type = P.OPT_ATTACHMENT
            elif isinstance(value, Mapping) and "username" in value:
                opt_type = P.OPT_USER
            elif isinstance(value, Mapping) and "permissions" in value and "type" not in value:
                opt_type = P.OPT_ROLE
            elif isinstance(value, Mapping) and "type" in value:
                opt_type = P.OPT_CHANNEL
            else:
                opt_type = P.OPT_STRING
        if opt_type == P.OPT_ATTACHMENT:
            att = dict(value)
            resolved.setdefault("attachments", {})[att["id"]] = att
            value = att["id"]
        elif opt_type == P.OPT_USER:
            user = self._user(value if isinstance(value, Mapping) else str(value))
            resolved.setdefault("users", {})[user["id"]] = copy.deepcopy(user)
            if guild is not None and user["id"] in guild.members:
                member = copy.deepcopy(guild.members[user["id"]])
                member["permissions"] = str(self.member_permissions(guild, user["id"]))
                resolved.setdefault("members", {})[user["id"]] = member
            value = user["id"]
        elif opt_type == P.OPT_CHANNEL:
            cid = str(value["id"]) if isinstance(value, Mapping) else str(value)
            ch = copy.deepcopy(self.channels[cid])
            ch["permissions"] = str(P.EVERYONE_PERMISSIONS)
            resolved.setdefault("channels", {})[cid] = ch
            value = cid
        elif opt_type == P.OPT_ROLE:
            rid = str(value["id"]) if isinstance(value, Mapping) else str(value)
            role = next((r for r in (guild.roles if guild else []) if r["id"] == rid), None)
            if role is not None:
                resolved.setdefault("roles", {})[rid] = copy.deepcopy(role)
            value = rid
        return {"name": name, "type": opt_type, "value": value}

    async def create_thread(
        self,
        parent_id: str | None = None,
        name: str = "thread",
        *,
        owner: Mapping[str, Any] | str | None = None,
        message_id: str | None = None,
        type: int = P.CHANNEL_PUBLIC_THREAD,
    ) -> JSON:
        """A user creates a thread (THREAD_CREATE, the bot is not a member)."""
        parent = self._get_channel(parent_id or self.channel_id)
        user = self._user(owner)
        thread = await self._make_thread(parent, name, user["id"], type=type, message_id=message_id)
        return thread

    async def archive_thread(
        self, thread_id: str, *, archived: bool = True, locked: bool | None = None
    ) -> JSON:
        """Archive (or unarchive) a thread as a moderator/auto-archive would: THREAD_UPDATE."""
        thread = self._get_channel(thread_id)
        meta = thread["thread_metadata"]
        meta["archived"] = archived
        meta["archive_timestamp"] = P.iso_now()
        if locked is not None:
            meta["locked"] = locked
        await self.dispatch("THREAD_UPDATE", thread)
        return copy.deepcopy(thread)

    async def _make_thread(
        self,
        parent: JSON,
        name: str,
        owner_id: str,
        *,
        type: int,
        message_id: str | None,
        auto_archive_duration: int = 1440,
        invitable: bool | None = None,
        rate_limit_per_user: int = 0,
    ) -> JSON:
        if not name or len(name) > MAX_THREAD_NAME:
            raise ApiError(
                400,
                P.form_error(
                    "name",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {MAX_THREAD_NAME} in length.",
                ),
            )
        if parent["type"] != P.CHANNEL_GUILD_TEXT:
            raise ApiError(400, P.error_body(50024, "Cannot execute action on this channel type"))
        thread = P.thread_payload(
            message_id or P.new_snowflake(),
            parent["guild_id"],
            parent["id"],
            name,
            owner_id=owner_id,
            type=type,
            auto_archive_duration=auto_archive_duration,
            invitable=invitable,
            rate_limit_per_user=rate_limit_per_user or 0,
        )
        self.channels[thread["id"]] = thread
        self.thread_members[thread["id"]] = {owner_id}
        thread["member_count"] = 1
        event = copy.deepcopy(thread)
        event["newly_created"] = True
        if owner_id == self.bot_user["id"]:
            event["member"] = P.thread_member_payload(thread["id"], owner_id)
        await self.dispatch("THREAD_CREATE", event)
        if message_id is not None:
            starter = self.messages[message_id]
            starter["thread"] = copy.deepcopy(thread)
            starter["flags"] |= P.FLAG_HAS_THREAD
            await self.dispatch("MESSAGE_UPDATE", starter)
        return thread

    # ------------------------------------------------------------------ CDN
    def host_attachment(
        self,
        filename: str,
        content: bytes,
        content_type: str | None = None,
        host: str = "cdn.discordapp.com",
        *,
        channel_id: str | None = None,
    ) -> JSON:
        """Serve ``content`` over the HTTPS CDN; returns an attachment dict
        (id, filename, size, url, proxy_url, content_type)."""
        aid = P.new_snowflake()
        cid = channel_id or (self.world.channel_id if self.world else "0")
        path = f"/attachments/{cid}/{aid}/{filename}"
        ctype = content_type or P.guess_content_type(filename)
        self.cdn.put(host, path, content, content_type=ctype)
        self.cdn.put("media.discordapp.net", path, content, content_type=ctype)
        query = (
            f"?ex={int(time.time()) + 86400:x}&is={int(time.time()):x}&hm={secrets.token_hex(32)}&"
        )
        return P.attachment_payload(
            filename,
            len(content),
            self.cdn.url(host, path) + query,
            attachment_id=aid,
            proxy_url=self.cdn.url("media.discordapp.net", path) + query,
            content_type=ctype,
        )

    def voice_attachment(
        self, content: bytes, duration_secs: float, *, channel_id: str | None = None
    ) -> JSON:
        """A voice message's attachment as the client records one: ``voice-message.ogg``
        (Ogg Opus) with ``duration_secs`` and a base64 ``waveform``; send it with
        ``send_message(..., flags=P.FLAG_IS_VOICE_MESSAGE)``."""
        att = self.host_attachment("voice-message.ogg", content, "audio/ogg", channel_id=channel_id)
        att["duration_secs"] = duration_secs
        att["waveform"] = base64.b64encode(bytes(range(0, 256, 4))).decode()
        return att

    def cdn_serve(
        self,
        host: str,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        content_type: str = "application/octet-stream",
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve an arbitrary response (e.g. a redirect) on the CDN; returns its URL."""
        return self.cdn.put(
            host, path, body, content_type=content_type, status=status, headers=headers
        )

    @property
    def cdn_port(self) -> int:
        return self.cdn.port

    @property
    def cdn_requests(self) -> list[CdnRequest]:
        return self.cdn.requests

    def resolver(self, extra_hosts: Iterable[str] = ()) -> CdnResolver:
        """aiohttp resolver mapping the CDN host names (and evil.example.com) to 127.0.0.1."""
        return self.cdn.resolver(extra_hosts)

    def ssl_client_context(self) -> ssl.SSLContext:
        """An SSLContext that trusts the emulator's CA (and nothing else)."""
        return self.cdn.client_ssl_context()

    # ------------------------------------------------------------------ queries / waiting
    def interaction(self, id_or_token: str) -> InteractionRecord:
        iid = self._token_index.get(id_or_token, id_or_token)
        return self.interactions[iid]

    def clicks(self, message_id: str | None = None) -> list[InteractionRecord]:
        """The click interactions (type 3) dispatched so far, oldest first; with
        ``message_id`` only those on that message."""
        return [
            r
            for r in self.interactions.values()
            if r.type == 3 and (message_id is None or r.message_id == str(message_id))
        ]

    def buttons(self, message_id: str) -> list[JSON]:
        """A message's buttons as they are now, in order (copies, ``disabled``
        filled in): ``[b["custom_id"] for b in emu.buttons(mid) if not b["disabled"]]``."""
        return C.buttons(self.messages[str(message_id)].get("components") or [])

    def outcome(self, id_or_token: str) -> InteractionOutcome:
        """What the user saw of an interaction (a click or a command), now: the
        accepted callback type, the replies (callback message and followups, with
        content and whether ephemeral), and for clicks the clicked message as it
        is now and whether the bot updated it. For example::

            out = emu.outcome(payload["id"])
            assert out.response_type == 4 and out.ephemeral_replies == ["Saved."]
            assert all(b["disabled"] for b in out.buttons)
        """
        rec = self.interaction(id_or_token)
        ids: list[tuple[str, bool]] = []
        if rec.original_message_id and rec.original_message_id != rec.message_id:
            ids.append((rec.original_message_id, False))
        ids.extend((mid, True) for mid in rec.followup_message_ids)
        replies = []
        for mid, followup in ids:
            msg, meta = self.messages[mid], self.message_meta[mid]
            replies.append(
                InteractionReply(
                    message_id=mid,
                    content=msg["content"],
                    ephemeral=meta.ephemeral,
                    embeds=copy.deepcopy(msg["embeds"]),
                    components=copy.deepcopy(msg["components"]),
                    followup=followup,
                    deleted=meta.deleted,
                )
            )
        message = None
        updated = False
        if rec.message_id is not None:
            meta = self.message_meta[rec.message_id]
            message = None if meta.deleted else self._view(rec.message_id)
            updated = any(e.interaction_id == rec.id for e in meta.edits)
        return InteractionOutcome(
            interaction_id=rec.id,
            response_type=rec.response_type,
            ephemeral=rec.ephemeral,
            replies=replies,
            message=message,
            message_updated=updated,
        )

    def requests_to(self, method: str | None = None, path_contains: str = "") -> list[Req]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and path_contains in r.path
        ]

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Poll ``predicate`` (every 5 ms) until it returns something truthy."""
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if value:
                    return value
                await asyncio.sleep(0.005)

    async def wait_for_request(
        self,
        method: str | None = None,
        path_contains: str = "",
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        count: int = 1,
    ) -> Req:
        """Wait until ``count`` matching requests were answered; returns the last."""

        def ready() -> Req | None:
            done = [r for r in self.requests_to(method, path_contains) if r.status]
            return done[count - 1] if len(done) >= count else None

        result: Req = await self.wait_until(ready, timeout)
        return result

    async def wait_for_message(
        self,
        channel_id: str,
        predicate: Callable[[JSON], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        from_bot: bool = True,
    ) -> JSON:
        """Wait for a (by default bot-authored) message in the channel matching predicate."""

        def find() -> JSON | None:
            for msg in self.channel_messages(channel_id):
                if from_bot and msg["author"]["id"] != self.bot_user["id"]:
                    continue
                if predicate is None or predicate(msg):
                    return msg
            return None

        result: JSON = await self.wait_until(find, timeout)
        return result

    # ------------------------------------------------------------------ HTTP plumbing
    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        a = API_PREFIX
        r.add_get("/gateway", self.gateway.handle)
        r.add_get("/gateway/", self.gateway.handle)
        r.add_get(TRAP_GATEWAY_PATH, self._trap_gateway)
        r.add_get(TRAP_GATEWAY_PATH + "/", self._trap_gateway)
        r.add_get(f"{a}/gateway", self._get_gateway)
        r.add_get(f"{a}/gateway/bot", self._get_gateway_bot)
        r.add_get(f"{a}/users/@me", self._get_me)
        r.add_post(f"{a}/users/@me/channels", self._create_dm)
        r.add_get(f"{a}/users/{{user_id}}", self._get_user)
        r.add_get(f"{a}/applications/@me", self._get_application)
        r.add_get(f"{a}/oauth2/applications/@me", self._get_application)
        r.add_get(f"{a}/applications/{{app_id}}/commands", self._get_commands)
        r.add_put(f"{a}/applications/{{app_id}}/commands", self._put_commands)
        r.add_get(f"{a}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._get_commands)
        r.add_put(f"{a}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._put_commands)
        r.add_post(f"{a}/interactions/{{iid}}/{{token}}/callback", self._interaction_callback)
        r.add_post(f"{a}/webhooks/{{app_id}}/{{token}}", self._webhook_execute)
        wm = f"{a}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}"
        r.add_get(wm, self._webhook_message)
        r.add_patch(wm, self._webhook_message)
        r.add_delete(wm, self._webhook_message)
        r.add_get(f"{a}/channels/{{channel_id}}", self._get_channel_route)
        r.add_patch(f"{a}/channels/{{channel_id}}", self._patch_channel)
        r.add_get(f"{a}/channels/{{channel_id}}/messages", self._get_messages)
        r.add_post(f"{a}/channels/{{channel_id}}/messages", self._post_message)
        m = f"{a}/channels/{{channel_id}}/messages/{{message_id}}"
        r.add_get(m, self._get_message)
        r.add_patch(m, self._patch_message)
        r.add_delete(m, self._delete_message_route)
        r.add_post(f"{m}/threads", self._thread_from_message)
        r.add_put(f"{m}/reactions/{{emoji}}/@me", self._reaction)
        r.add_delete(f"{m}/reactions/{{emoji}}/@me", self._reaction)
        r.add_post(f"{a}/channels/{{channel_id}}/threads", self._thread_without_message)
        r.add_post(f"{a}/channels/{{channel_id}}/typing", self._typing)
        r.add_put(f"{a}/channels/{{channel_id}}/thread-members/@me", self._join_thread)
        r.add_delete(f"{a}/channels/{{channel_id}}/thread-members/@me", self._leave_thread)
        r.add_get(f"{a}/guilds/{{guild_id}}", self._get_guild)
        r.add_get(f"{a}/guilds/{{guild_id}}/channels", self._get_guild_channels)
        r.add_get(f"{a}/guilds/{{guild_id}}/members/{{user_id}}", self._get_member)
        r.add_get(f"{a}/guilds/{{guild_id}}/threads/active", self._get_active_threads)
        r.add_route("*", "/{tail:.*}", self._unhandled)

    @staticmethod
    def _needs_auth(path: str) -> bool:
        return not (path.startswith("/webhooks/") or path.startswith("/interactions/"))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.rstrip("/") in ("/gateway", TRAP_GATEWAY_PATH):
            return await handler(request)
        path = (
            request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX) else request.path
        )
        req = Req(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
        )
        self.requests.append(req)
        request[REQ_KEY] = req
        try:
            try:
                await self._read_body(request, req)
            except (ValueError, UnicodeDecodeError):
                raise ApiError(
                    400, P.error_body(50109, "The request body contains invalid JSON.")
                ) from None
            if self._needs_auth(path) and not self._auth_ok(request):
                raise ApiError(401, P.error_body(0, "401: Unauthorized"))
            rule = self._take_rate_limit(req)
            resp: web.StreamResponse
            if rule is not None:
                req.rate_limited = True
                resp = self._rate_limited_response(rule)
            else:
                self._check_spec(request, req)
                resp = await handler(request)
        except ApiError as exc:
            resp = _json_response(exc.body, exc.status, exc.headers)
        req.status = resp.status
        req.response = resp.get(PAYLOAD_KEY)
        if resp.status != 429:
            resp.headers.update(self._ratelimit_headers(req))
        return resp

    def _check_spec(self, request: web.Request, req: Req) -> None:
        """Reject what Discord's OpenAPI definition does not allow (400 50035)."""
        if not self.validate_requests:
            return
        body: Any = req.json
        if req.multipart and isinstance(body, dict):
            # the other form fields count as body fields too (as on Discord)
            body = {k: v for k, v in body.items() if k != "_form"} | body.get("_form", {})
        violation = self.spec.check(
            req.method,
            req.path,
            query=req.query,
            body=body,
            has_body=req.json is not None,
            content_type=request.content_type,
            variant=self._spec_variant(req),
        )
        if violation is None:
            return
        req.spec_violation = violation
        self.spec_violations.append(violation)
        raise ApiError(400, P.error_body(50035, "Invalid Form Body", violation.discord_errors))

    def _spec_variant(self, req: Req) -> str | None:
        """Which variant of a body union applies, where only the resource tells
        (the spec's unions of all-optional schemas would accept anything)."""
        parts = req.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "channels":
            return None
        channel = self.channels.get(parts[1])
        if channel is None:
            return None
        ctype = channel["type"]
        if req.method == "PATCH" and len(parts) == 2:
            if ctype in P.THREAD_TYPES:
                return "UpdateThreadRequestPartial"
            if ctype == P.CHANNEL_DM:
                return "UpdateDMRequestPartial"
            if ctype == 3:
                return "UpdateGroupDMRequestPartial"
            return "UpdateGuildChannelRequestPartial"
        if req.method == "POST" and parts[2:] == ["threads"]:
            return (
                "CreateForumThreadRequest"
                if ctype in (15, 16)
                else ("CreateTextThreadWithoutMessageRequest")
            )
        return None

    def spec_violation_report(self) -> str:
        """All spec violations so far, one block each (for assertion messages)."""
        return "\n".join(str(v) for v in self.spec_violations)

    async def _trap_gateway(self, request: web.Request) -> web.StreamResponse:
        self.default_gateway_connects.append(time.monotonic())
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close(
            code=TRAP_CLOSE_CODE,
            message=b"connected to discord.py's DEFAULT_GATEWAY, not GET /gateway/bot's url",
        )
        return ws

    def _auth_ok(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bot "):
            return False
        return self.token_ok(auth[4:])

    async def _read_body(self, request: web.Request, req: Req) -> None:
        if not request.body_exists:
            return
        if request.content_type == "multipart/form-data":
            req.multipart = True
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if part.filename is not None:
                    data = bytes(await part.read(decode=False))
                    req.files.append(
                        UploadedFile(
                            field=name,
                            filename=part.filename,
                            content_type=part.headers.get(
                                "Content-Type", "application/octet-stream"
                            ),
                            data=data,
                        )
                    )
                elif name == "payload_json":
                    req.json = json.loads(await part.text())
                else:
                    text = await part.text()
                    if req.json is None:
                        req.json = {}
                    if isinstance(req.json, dict):
                        req.json.setdefault("_form", {})[name] = text
            return
        raw = await request.read()
        if raw:
            req.json = json.loads(raw.decode())

    def _take_rate_limit(self, req: Req) -> RateLimitRule | None:
        for rule in self._rate_limits:
            if rule.remaining > 0 and rule.pattern in req.route:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rate_limits.remove(rule)
                return rule
        return None

    @staticmethod
    def _bucket(req: Req) -> str:
        template = re.sub(r"/\d{5,}", "/{id}", req.path)
        return f"{abs(hash((req.method, template))):x}"[:16]

    def _ratelimit_headers(self, req: Req) -> dict[str, str]:
        now = time.time()
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{now + 1.0:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self._bucket(req),
        }

    @staticmethod
    def _rate_limited_response(rule: RateLimitRule) -> web.Response:
        now = time.time()
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, int(rule.retry_after + 0.999))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{now + rule.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{rule.retry_after:.3f}",
            "X-RateLimit-Scope": "global" if rule.is_global else "user",
        }
        if rule.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": rule.retry_after,
            "global": rule.is_global,
        }
        if rule.is_global:
            body["code"] = 0
        return _json_response(body, 429, headers)

    @staticmethod
    def _req(request: web.Request) -> Req:
        req: Req = request[REQ_KEY]
        return req

    def _body(self, request: web.Request) -> JSON:
        body = self._req(request).json
        return body if isinstance(body, dict) else {}

    async def _unhandled(self, request: web.Request) -> web.StreamResponse:
        self.unhandled_requests.append(self._req(request))
        raise ApiError(404, P.error_body(0, "404: Not Found"))

    # ------------------------------------------------------------------ REST handlers
    async def _get_gateway(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.StreamResponse:
        return _json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_me(self, request: web.Request) -> web.StreamResponse:
        me = copy.deepcopy(self.bot_user)
        me.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        return _json_response(me)

    async def _get_user(self, request: web.Request) -> web.StreamResponse:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise _not_found(10013, "User")
        return _json_response(user)

    async def _create_dm(self, request: web.Request) -> web.StreamResponse:
        uid = str(self._body(request).get("recipient_id"))
        user = self.users.get(uid)
        if user is None:
            raise _not_found(10013, "User")
        return _json_response(self.create_dm_channel(user))

    async def _get_application(self, request: web.Request) -> web.StreamResponse:
        return _json_response(
            {
                "id": self.application_id,
                "name": self.bot_user["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": copy.deepcopy(self.bot_user),
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self.application_flags,
                "owner": copy.deepcopy(self.owner),
                "team": None,
                "hook": True,
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "tags": [],
                "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
                "integration_types_config": {"0": {}},
                "approximate_guild_count": len(self.guilds),
            }
        )

    def _check_app(self, request: web.Request) -> None:
        if request.match_info["app_id"] != self.application_id:
            raise ApiError(403, P.error_body(50001, "Missing Access"))

    async def _get_commands(self, request: web.Request) -> web.StreamResponse:
        self._check_app(request)
        gid = request.match_info.get("guild_id")
        if gid is not None:
            if gid not in self.guilds:
                raise ApiError(403, P.error_body(50001, "Missing Access"))
            return _json_response(self.guild_commands.get(gid, []))
        return _json_response(self.global_commands)

    async def _put_commands(self, request: web.Request) -> web.StreamResponse:
        self._check_app(request)
        gid = request.match_info.get("guild_id")
        if gid is not None and gid not in self.guilds:
            raise ApiError(403, P.error_body(50001, "Missing Access"))
        body = self._req(request).json
        if not isinstance(body, list):
            raise ApiError(400, P.form_error("_root", "LIST_TYPE_CONVERT", "Must be a list."))
        previous = self.guild_commands.get(gid, []) if gid else self.global_commands
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in previous}
        out = []
        for i, cmd in enumerate(body):
            self._validate_command(cmd, i)
            key = (cmd["name"], cmd.get("type", 1))
            out.append(
                P.application_command_payload(
                    cmd,
                    command_id=old_ids.get(key) or P.new_snowflake(),
                    application_id=self.application_id,
                    guild_id=gid,
                )
            )
        if gid is not None:
            self.guild_commands[gid] = out
        else:
            self.global_commands = out
        return _json_response(out)

    @staticmethod
    def _validate_command(cmd: Mapping[str, Any], index: int) -> None:
        name = str(cmd.get("name", ""))
        ctype = cmd.get("type", 1)
        if ctype == 1:
            if not _COMMAND_NAME_RE.match(name) or name != name.lower():
                raise ApiError(
                    400,
                    P.form_error(
                        f"{index}.name",
                        "APPLICATION_COMMAND_INVALID_NAME",
                        "Command name is invalid",
                    ),
                )
            desc = str(cmd.get("description", ""))
            if not 1 <= len(desc) <= 100:
                raise ApiError(
                    400,
                    P.form_error(
                        f"{index}.description",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    ),
                )
        seen_optional = False
        for j, opt in enumerate(cmd.get("options") or []):
            if opt.get("type") in (P.OPT_SUB_COMMAND, P.OPT_SUB_COMMAND_GROUP):
                continue
            if opt.get("required"):
                if seen_optional:
                    raise ApiError(
                        400,
                        P.form_error(
                            f"{index}.options.{j}",
                            "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                            "Required options must be placed before non-required options",
                        ),
                    )
            else:
                seen_optional = True

    # -- interactions
    def _interaction_for(self, iid: str, token: str) -> InteractionRecord:
        rec = self.interactions.get(iid)
        if rec is None or rec.token != token:
            raise _not_found(10062, "interaction")
        return rec

    def _token_expired(self, rec: InteractionRecord) -> bool:
        return rec.expired or time.monotonic() - rec.dispatched_at > self.interaction_token_lifetime

    async def _interaction_callback(self, request: web.Request) -> web.StreamResponse:
        req = self._req(request)
        now = time.monotonic()
        rec = self._interaction_for(request.match_info["iid"], request.match_info["token"])
        body = self._body(request)
        cb_type = int(body.get("type", 0))
        elapsed = now - rec.dispatched_at
        callback = Callback(
            type=cb_type, body=copy.deepcopy(body), time=now, elapsed=elapsed, status=0
        )
        rec.callbacks.append(callback)
        try:
            if self._token_expired(rec) or (
                self.callback_deadline is not None and elapsed > self.callback_deadline
            ):
                raise _not_found(10062, "interaction")
            if any(200 <= c.status < 300 for c in rec.callbacks[:-1]):
                raise ApiError(
                    400, P.error_body(40060, "Interaction has already been acknowledged.")
                )
            data = body.get("data") or {}
            message: JSON | None = None
            if cb_type in (6, 7) and rec.type != 3:
                # only a component's (or a modal's) message can be updated
                raise ApiError(
                    400,
                    P.form_error(
                        "type",
                        "INTERACTION_CALLBACK_TYPE_INVALID",
                        f"Interaction callback type {cb_type} is not valid for this interaction",
                    ),
                )
            if cb_type in (6, 7):
                mid = rec.message_id or ""
                rec.original_message_id = mid
                rec.ephemeral = mid in self.message_meta and self.message_meta[mid].ephemeral
                if cb_type == 7:
                    if mid not in self.messages or self.message_meta[mid].deleted:
                        raise _not_found(10008, "Message")
                    update = {k: v for k, v in data.items() if k != "flags"}
                    if "flags" in data and data["flags"] is not None:
                        update["flags"] = int(data["flags"])
                    message = await self._edit_message(mid, update, req.files, by=rec)
            elif cb_type in (4, 5):
                flags = int(data.get("flags") or 0)
                ephemeral = bool(flags & P.FLAG_EPHEMERAL)
                rec.ephemeral = ephemeral
                if cb_type == 5:
                    msg_body: JSON = {"content": ""}
                    extra = P.FLAG_LOADING | (flags & P.FLAG_EPHEMERAL)
                    validate = False
                else:
                    msg_body = dict(data)
                    extra = flags & P.FLAG_EPHEMERAL
                    validate = True
                message = await self._create_bot_message(
                    rec.channel_id,
                    msg_body,
                    req.files,
                    msg_type=self._interaction_message_type(rec),
                    flags=extra,
                    webhook_id=self.application_id,
                    interaction=rec,
                    check_postable=False,
                    validate=validate,
                )
                rec.original_message_id = message["id"]
            elif cb_type not in (1, 6, 7, 8, 9, 10, 12):
                raise ApiError(
                    400,
                    P.form_error(
                        "type",
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.",
                    ),
                )
        except ApiError as exc:
            callback.status = exc.status
            raise
        callback.status = 200
        if req.query.get("with_response", "").lower() not in ("1", "true"):
            callback.status = 204
            return _no_content()
        interaction_info: JSON = {"id": rec.id, "type": rec.payload["type"]}
        resource: JSON = {"type": cb_type}
        if message is not None:
            interaction_info.update(
                {
                    "response_message_id": message["id"],
                    "response_message_loading": cb_type == 5,
                    "response_message_ephemeral": bool(message["flags"] & P.FLAG_EPHEMERAL),
                }
            )
            resource["message"] = message
        return _json_response({"interaction": interaction_info, "resource": resource})

    @staticmethod
    def _interaction_message_type(rec: InteractionRecord) -> int:
        """Messages answering a command are type 20; answers to a click are
        replies (19) to the clicked message (``_create_bot_message`` adds the
        reference)."""
        return P.MESSAGE_REPLY if rec.type == 3 else P.MESSAGE_CHAT_INPUT_COMMAND

    def _webhook_interaction(self, request: web.Request) -> InteractionRecord:
        token = request.match_info["token"]
        iid = self._token_index.get(token)
        rec = self.interactions.get(iid) if iid else None
        if rec is None or request.match_info["app_id"] != self.application_id:
            raise _not_found(10015, "Webhook")
        if self._token_expired(rec):
            if self.expired_token_status == 401:
                raise ApiError(401, P.error_body(50027, "Invalid Webhook Token"))
            raise _not_found(10015, "Webhook")
        return rec

    async def _webhook_execute(self, request: web.Request) -> web.StreamResponse:
        req = self._req(request)
        rec = self._webhook_interaction(request)
        if not rec.acknowledged:
            raise _not_found(10015, "Webhook")
        body = self._body(request)
        channel_id = req.query.get("thread_id") or rec.channel_id
        flags = int(body.get("flags") or 0)
        original = self.messages.get(rec.original_message_id or "")
        if original is not None and original["flags"] & P.FLAG_LOADING:
            # the first followup after a deferred response replaces the "thinking" message
            self._validate_message_body(body, req.files, edit=False)
            msg = await self._edit_message(original["id"], body, req.files, by=rec)
        else:
            msg = await self._create_bot_message(
                channel_id,
                body,
                req.files,
                msg_type=self._interaction_message_type(rec),
                flags=flags & P.FLAG_EPHEMERAL,
                webhook_id=self.application_id,
                interaction=rec,
            )
            rec.followup_message_ids.append(msg["id"])
        if req.query.get("wait", "").lower() in ("1", "true"):
            return _json_response(msg)
        return _no_content()

    async def _webhook_message(self, request: web.Request) -> web.StreamResponse:
        req = self._req(request)
        rec = self._webhook_interaction(request)
        mid = request.match_info["message_id"]
        if mid == "@original":
            mid = rec.original_message_id or ""
        elif mid not in rec.followup_message_ids and mid != rec.original_message_id:
            raise _not_found(10008, "Message")
        msg = self.messages.get(mid)
        if msg is None or self.message_meta[mid].deleted:
            raise _not_found(10008, "Message")
        if request.method == "GET":
            return _json_response(copy.deepcopy(msg))
        if request.method == "DELETE":
            await self._delete_message(mid)
            return _no_content()
        return _json_response(await self._edit_message(mid, self._body(request), req.files, by=rec))

    # -- channels
    async def _get_channel_route(self, request: web.Request) -> web.StreamResponse:
        channel = self._get_channel(request.match_info["channel_id"])
        data = copy.deepcopy(channel)
        if channel["type"] in P.THREAD_TYPES and self.bot_user["id"] in self.thread_members.get(
            channel["id"], set()
        ):
            data["member"] = P.thread_member_payload(channel["id"], self.bot_user["id"])
        return _json_response(data)

    async def _patch_channel(self, request: web.Request) -> web.StreamResponse:
        channel = self._get_channel(request.match_info["channel_id"])
        body = self._body(request)
        if "name" in body:
            name = str(body["name"] or "")
            if not 1 <= len(name) <= MAX_THREAD_NAME:
                raise ApiError(
                    400,
                    P.form_error(
                        "name",
                        "BASE_TYPE_BAD_LENGTH",
                        f"Must be between 1 and {MAX_THREAD_NAME} in length.",
                    ),
                )
            channel["name"] = name
        if "rate_limit_per_user" in body:
            channel["rate_limit_per_user"] = body["rate_limit_per_user"] or 0
        if channel["type"] in P.THREAD_TYPES:
            meta = channel["thread_metadata"]
            for key in ("archived", "locked", "auto_archive_duration", "invitable"):
                if key in body and body[key] is not None:
                    meta[key] = body[key]
            if "archived" in body:
                meta["archive_timestamp"] = P.iso_now()
            await self.dispatch("THREAD_UPDATE", channel)
        else:
            if "topic" in body:
                channel["topic"] = body["topic"]
            await self.dispatch("CHANNEL_UPDATE", channel)
        return _json_response(copy.deepcopy(channel))

    async def _get_messages(self, request: web.Request) -> web.StreamResponse:
        """Newest first, as Discord documents: ``before``, ``after`` (the ``limit``
        messages right after it) or ``around`` (half the limit each side, plus the
        message itself), mutually exclusive; ``limit`` 1-100, default 50."""
        channel = self._get_channel(request.match_info["channel_id"])
        q = request.query
        given = [k for k in ("around", "before", "after") if k in q]
        if len(given) > 1:
            # Discord documents them as mutually exclusive without saying what it does
            # with two; refusing catches a client that relies on either.
            raise ApiError(
                400,
                P.form_error(
                    given[1], "MUTUALLY_EXCLUSIVE", f"Cannot be used together with {given[0]}."
                ),
            )
        if not self._check_readable(channel, one=False):
            return _json_response([])
        limit = int(q.get("limit", "50"))
        ids = [
            mid
            for mid in self._channel_order.get(channel["id"], [])
            if not self.message_meta[mid].deleted and not self.message_meta[mid].ephemeral
        ]
        ids.sort(key=int)
        if "around" in q:
            pivot, half = int(q["around"]), limit // 2
            older = [m for m in ids if int(m) < pivot]
            ids = (
                (older[-half:] if half else [])
                + [m for m in ids if int(m) == pivot]
                + [m for m in ids if int(m) > pivot][:half]
            )
        elif "after" in q:
            ids = [m for m in ids if int(m) > int(q["after"])][:limit]
        else:
            if "before" in q:
                ids = [m for m in ids if int(m) < int(q["before"])]
            ids = ids[-limit:]
        return _json_response([self._rest_message(m) for m in reversed(ids)])

    async def _post_message(self, request: web.Request) -> web.StreamResponse:
        req = self._req(request)
        msg = await self._create_bot_message(
            request.match_info["channel_id"], self._body(request), req.files
        )
        return _json_response(msg)

    async def _get_message(self, request: web.Request) -> web.StreamResponse:
        channel = self._get_channel(request.match_info["channel_id"])
        self._check_readable(channel, one=True)
        msg = self._live_message(channel["id"], request.match_info["message_id"])
        return _json_response(self._rest_message(msg["id"]))

    async def _patch_message(self, request: web.Request) -> web.StreamResponse:
        req = self._req(request)
        channel = self._get_channel(request.match_info["channel_id"])
        msg = self._live_message(channel["id"], request.match_info["message_id"])
        if msg["author"]["id"] != self.bot_user["id"]:
            raise ApiError(
                403, P.error_body(50005, "Cannot edit a message authored by another user")
            )
        if channel["type"] in P.THREAD_TYPES and channel["thread_metadata"]["archived"]:
            raise ApiError(400, P.error_body(50083, "Thread is archived"))
        return _json_response(await self._edit_message(msg["id"], self._body(request), req.files))

    async def _delete_message_route(self, request: web.Request) -> web.StreamResponse:
        msg = self._live_message(request.match_info["channel_id"], request.match_info["message_id"])
        await self._delete_message(msg["id"])
        return _no_content()

    async def _reaction(self, request: web.Request) -> web.StreamResponse:
        cid = request.match_info["channel_id"]
        msg = self._live_message(cid, request.match_info["message_id"])
        emoji = request.match_info["emoji"]
        op = "add" if request.method == "PUT" else "remove"
        self.reactions.append((op, cid, msg["id"], emoji))
        event: JSON = {
            "user_id": self.bot_user["id"],
            "channel_id": cid,
            "message_id": msg["id"],
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if "guild_id" in msg:
            event["guild_id"] = msg["guild_id"]
        await self.dispatch(
            "MESSAGE_REACTION_ADD" if op == "add" else "MESSAGE_REACTION_REMOVE", event
        )
        return _no_content()

    async def _thread_from_message(self, request: web.Request) -> web.StreamResponse:
        parent = self._get_channel(request.match_info["channel_id"])
        msg = self._live_message(parent["id"], request.match_info["message_id"])
        if msg["id"] in self.channels:
            raise ApiError(
                400, P.error_body(160004, "A thread has already been created for this message")
            )
        body = self._body(request)
        thread = await self._make_thread(
            parent,
            str(body.get("name") or ""),
            self.bot_user["id"],
            type=P.CHANNEL_PUBLIC_THREAD,
            message_id=msg["id"],
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
        )
        return _json_response(self._thread_response(thread))

    async def _thread_without_message(self, request: web.Request) -> web.StreamResponse:
        parent = self._get_channel(request.match_info["channel_id"])
        body = self._body(request)
        ttype = int(body.get("type") or P.CHANNEL_PRIVATE_THREAD)
        if ttype not in P.THREAD_TYPES:
            raise ApiError(
                400, P.form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")
            )
        thread = await self._make_thread(
            parent,
            str(body.get("name") or ""),
            self.bot_user["id"],
            type=ttype,
            message_id=None,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            invitable=body.get("invitable"),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
        )
        if ttype == P.CHANNEL_PUBLIC_THREAD:
            # Discord announces public threads in the parent with a system message
            guild = self._guild_of(parent)
            notice = P.message_payload(
                channel_id=parent["id"],
                author=self.bot_user,
                content=thread["name"],
                guild_id=parent["guild_id"],
                member=self._bot_member_partial(guild) if guild else None,
                type=P.MESSAGE_THREAD_CREATED,
                message_reference={
                    "type": 0,
                    "channel_id": thread["id"],
                    "guild_id": parent["guild_id"],
                },
            )
            notice.pop("referenced_message", None)
            self._store_message(notice, MessageMeta(created=time.monotonic()))
            await self.dispatch("MESSAGE_CREATE", notice)
        return _json_response(self._thread_response(thread))

    def _thread_response(self, thread: JSON) -> JSON:
        data = copy.deepcopy(thread)
        if self.bot_user["id"] in self.thread_members.get(thread["id"], set()):
            data["member"] = P.thread_member_payload(thread["id"], self.bot_user["id"])
        return data

    async def _typing(self, request: web.Request) -> web.StreamResponse:
        channel = self._get_channel(request.match_info["channel_id"])
        self._check_postable(channel)
        return _no_content()

    async def _join_thread(self, request: web.Request) -> web.StreamResponse:
        channel = self._get_channel(request.match_info["channel_id"])
        if channel["type"] not in P.THREAD_TYPES:
            raise ApiError(400, P.error_body(50024, "Cannot execute action on this channel type"))
        if channel["thread_metadata"]["archived"]:
            raise ApiError(400, P.error_body(50083, "Thread is archived"))
        members = self.thread_members.setdefault(channel["id"], set())
        if self.bot_user["id"] not in members:
            members.add(self.bot_user["id"])
            channel["member_count"] = len(members)
            event = P.thread_member_payload(channel["id"], self.bot_user["id"])
            event["guild_id"] = channel["guild_id"]
            await self.dispatch("THREAD_MEMBER_UPDATE", event)
        return _no_content()

    async def _leave_thread(self, request: web.Request) -> web.StreamResponse:
        channel = self._get_channel(request.match_info["channel_id"])
        members = self.thread_members.setdefault(channel["id"], set())
        members.discard(self.bot_user["id"])
        channel["member_count"] = len(members)
        return _no_content()

    # -- guilds
    def _guild(self, request: web.Request) -> GuildState:
        guild = self.guilds.get(request.match_info["guild_id"])
        if guild is None:
            raise _not_found(10004, "Guild")
        return guild

    async def _get_guild(self, request: web.Request) -> web.StreamResponse:
        guild = self._guild(request)
        data = self._guild_base(guild)
        data["approximate_member_count"] = len(guild.members)
        data["approximate_presence_count"] = 0
        return _json_response(data)

    async def _get_guild_channels(self, request: web.Request) -> web.StreamResponse:
        guild = self._guild(request)
        return _json_response([copy.deepcopy(self.channels[c]) for c in guild.channel_ids])

    async def _get_member(self, request: web.Request) -> web.StreamResponse:
        guild = self._guild(request)
        uid = request.match_info["user_id"]
        if uid not in guild.members:
            raise _not_found(10007, "Member")
        return _json_response(self._member_with_user(guild, uid))

    async def _get_active_threads(self, request: web.Request) -> web.StreamResponse:
        guild = self._guild(request)
        threads = [
            copy.deepcopy(c)
            for c in self.channels.values()
            if c.get("guild_id") == guild.id
            and c["type"] in P.THREAD_TYPES
            and not c["thread_metadata"]["archived"]
        ]
        members = [
            P.thread_member_payload(t["id"], self.bot_user["id"])
            for t in threads
            if self.bot_user["id"] in self.thread_members.get(t["id"], set())
        ]
        return _json_response({"threads": threads, "members": members})
