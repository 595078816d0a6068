"""Builders for Discord API v10 payloads (the JSON shapes discord.py 2.x parses).

Everything here is a plain ``dict`` so tests can tweak fields freely. Ids are
strings (as Discord sends them) and are real snowflakes derived from the
current time, so ``discord.utils.snowflake_time`` gives sensible values.
"""

from __future__ import annotations

import datetime as _dt
import mimetypes
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000

# --- permission bits -------------------------------------------------------
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38

EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = EVERYONE_PERMISSIONS

# --- gateway intents ---------------------------------------------------------
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# --- application flags -------------------------------------------------------
APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_PRESENCE_LIMITED = 1 << 13
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED = 1 << 15
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18
APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
APP_FLAG_APPLICATION_COMMAND_BADGE = 1 << 23

# --- channel types -----------------------------------------------------------
CHANNEL_GUILD_TEXT = 0
CHANNEL_DM = 1
CHANNEL_ANNOUNCEMENT_THREAD = 10
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_PRIVATE_THREAD = 12
THREAD_TYPES = frozenset(
    {CHANNEL_ANNOUNCEMENT_THREAD, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD}
)

# --- permission overwrite targets ------------------------------------------
OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1

# --- message types / flags ---------------------------------------------------
MESSAGE_DEFAULT = 0
MESSAGE_THREAD_CREATED = 18
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_THREAD_STARTER = 21

FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_IS_VOICE_MESSAGE = 1 << 13
FLAG_IS_COMPONENTS_V2 = 1 << 15

# --- application command option types ---------------------------------------
OPT_SUB_COMMAND = 1
OPT_SUB_COMMAND_GROUP = 2
OPT_STRING = 3
OPT_INTEGER = 4
OPT_BOOLEAN = 5
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_NUMBER = 10
OPT_ATTACHMENT = 11

_MENTION_RE = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")


class SnowflakeGenerator:
    """Monotonic, time-based snowflakes (thread-safe)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            value = max(ms << 22, self._last + 1)
            self._last = value
            return str(value)


new_snowflake = SnowflakeGenerator()


def iso_now() -> str:
    """The current UTC time in the ISO-8601 form Discord uses."""
    return _dt.datetime.now(_dt.UTC).isoformat()


def iso_in(seconds: float) -> str:
    return (_dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=seconds)).isoformat()


def guess_content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def user_payload(
    user_id: str | int | None = None,
    username: str = "user",
    *,
    bot: bool = False,
    global_name: str | None = None,
    discriminator: str = "0",
    avatar: str | None = None,
) -> JSON:
    data: JSON = {
        "id": str(user_id or new_snowflake()),
        "username": username,
        "global_name": global_name if global_name is not None else (None if bot else username),
        "discriminator": discriminator,
        "avatar": avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }
    if bot:
        data["bot"] = True
    return data


def role_payload(
    role_id: str,
    name: str,
    *,
    permissions: int = 0,
    position: int = 0,
    managed: bool = False,
    bot_id: str | None = None,
) -> JSON:
    data: JSON = {
        "id": role_id,
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": managed,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if bot_id is not None:
        data["tags"] = {"bot_id": bot_id}
    return data


def member_payload(
    user: Mapping[str, Any] | None,
    *,
    roles: Sequence[str] = (),
    joined_at: str | None = None,
    nick: str | None = None,
    permissions: int | None = None,
) -> JSON:
    """A guild member. ``user=None`` gives the partial form used inside messages."""
    data: JSON = {
        "roles": list(roles),
        "joined_at": joined_at or iso_now(),
        "nick": nick,
        "avatar": None,
        "banner": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "premium_since": None,
        "communication_disabled_until": None,
    }
    if user is not None:
        data["user"] = dict(user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def text_channel_payload(
    channel_id: str,
    guild_id: str,
    name: str,
    *,
    position: int = 0,
    topic: str | None = None,
    parent_id: str | None = None,
) -> JSON:
    return {
        "id": channel_id,
        "type": CHANNEL_GUILD_TEXT,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "topic": topic,
        "nsfw": False,
        "parent_id": parent_id,
        "permission_overwrites": [],
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "default_auto_archive_duration": 1440,
        "default_thread_rate_limit_per_user": 0,
        "flags": 0,
    }


def thread_payload(
    thread_id: str,
    guild_id: str,
    parent_id: str,
    name: str,
    *,
    owner_id: str,
    type: int = CHANNEL_PUBLIC_THREAD,
    auto_archive_duration: int = 1440,
    archived: bool = False,
    locked: bool = False,
    invitable: bool | None = None,
    rate_limit_per_user: int = 0,
) -> JSON:
    metadata: JSON = {
        "archived": archived,
        "auto_archive_duration": auto_archive_duration,
        "archive_timestamp": iso_now(),
        "locked": locked,
        "create_timestamp": iso_now(),
    }
    if type == CHANNEL_PRIVATE_THREAD:
        metadata["invitable"] = True if invitable is None else invitable
    return {
        "id": thread_id,
        "type": type,
        "guild_id": guild_id,
        "parent_id": parent_id,
        "owner_id": owner_id,
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": rate_limit_per_user,
        "message_count": 0,
        "member_count": 0,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": metadata,
    }


def thread_member_payload(thread_id: str, user_id: str) -> JSON:
    return {"id": thread_id, "user_id": user_id, "join_timestamp": iso_now(), "flags": 1}


def dm_channel_payload(channel_id: str, recipient: Mapping[str, Any]) -> JSON:
    return {
        "id": channel_id,
        "type": CHANNEL_DM,
        "last_message_id": None,
        "flags": 0,
        "recipients": [dict(recipient)],
    }


def permission_overwrite_payload(
    target_id: str, *, type: int = OVERWRITE_ROLE, allow: int = 0, deny: int = 0
) -> JSON:
    return {"id": target_id, "type": type, "allow": str(allow), "deny": str(deny)}


def attachment_payload(
    filename: str,
    size: int,
    url: str,
    *,
    attachment_id: str | None = None,
    proxy_url: str | None = None,
    content_type: str | None = None,
    description: str | None = None,
) -> JSON:
    data: JSON = {
        "id": attachment_id or new_snowflake(),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": proxy_url or url,
        "content_type": content_type or guess_content_type(filename),
    }
    if description is not None:
        data["description"] = description
    return data


def mentioned_user_ids(content: str) -> list[str]:
    seen: list[str] = []
    for uid in _MENTION_RE.findall(content or ""):
        if uid not in seen:
            seen.append(uid)
    return seen


def mentioned_role_ids(content: str) -> list[str]:
    return list(dict.fromkeys(_ROLE_MENTION_RE.findall(content or "")))


def message_payload(
    *,
    channel_id: str,
    author: Mapping[str, Any],
    content: str = "",
    guild_id: str | None = None,
    member: Mapping[str, Any] | None = None,
    message_id: str | None = None,
    mentions: Iterable[Mapping[str, Any]] = (),
    mention_roles: Iterable[str] = (),
    mention_everyone: bool = False,
    attachments: Iterable[Mapping[str, Any]] = (),
    embeds: Iterable[Mapping[str, Any]] = (),
    components: Iterable[Mapping[str, Any]] = (),
    type: int = MESSAGE_DEFAULT,
    flags: int = 0,
    message_reference: Mapping[str, Any] | None = None,
    referenced_message: Mapping[str, Any] | None = None,
    webhook_id: str | None = None,
    application_id: str | None = None,
    interaction_metadata: Mapping[str, Any] | None = None,
    nonce: str | int | None = None,
    tts: bool = False,
) -> JSON:
    data: JSON = {
        "id": message_id or new_snowflake(),
        "channel_id": channel_id,
        "author": dict(author),
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": tts,
        "mention_everyone": mention_everyone,
        "mentions": [dict(m) for m in mentions],
        "mention_roles": list(mention_roles),
        "attachments": [dict(a) for a in attachments],
        "embeds": [dict(e) for e in embeds],
        "components": [dict(c) for c in components],
        "pinned": False,
        "type": type,
        "flags": flags,
    }
    if guild_id is not None:
        data["guild_id"] = guild_id
    if member is not None:
        data["member"] = dict(member)
    if message_reference is not None:
        data["message_reference"] = dict(message_reference)
        data["referenced_message"] = dict(referenced_message) if referenced_message else None
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
    if application_id is not None:
        data["application_id"] = application_id
    if interaction_metadata is not None:
        data["interaction_metadata"] = dict(interaction_metadata)
    if nonce is not None:
        data["nonce"] = nonce
    return data


def application_command_payload(
    body: Mapping[str, Any],
    *,
    command_id: str,
    application_id: str,
    guild_id: str | None = None,
    version: str | None = None,
) -> JSON:
    data: JSON = {
        "id": command_id,
        "application_id": application_id,
        "version": version or new_snowflake(),
        "type": body.get("type", 1),
        "name": body["name"],
        "description": body.get("description", ""),
        "options": [dict(o) for o in body.get("options", []) or []],
        "default_member_permissions": body.get("default_member_permissions"),
        "dm_permission": body.get("dm_permission", True),
        "nsfw": body.get("nsfw", False),
        "name_localizations": body.get("name_localizations"),
        "description_localizations": body.get("description_localizations"),
    }
    if "contexts" in body:
        data["contexts"] = body["contexts"]
    if "integration_types" in body:
        data["integration_types"] = body["integration_types"]
    if guild_id is not None:
        data["guild_id"] = guild_id
    return data


def error_body(code: int, message: str, errors: Mapping[str, Any] | None = None) -> JSON:
    data: JSON = {"message": message, "code": code}
    if errors is not None:
        data["errors"] = dict(errors)
    return data


def form_error(field: str, code: str, message: str) -> JSON:
    """A 50035 'Invalid Form Body' error for one field (dotted path)."""
    return form_errors([(field, code, message)])


def form_errors(problems: Iterable[tuple[str, str, str]]) -> JSON:
    """A 50035 'Invalid Form Body' error for several ``(dotted path, code, message)``
    problems, merged into Discord's nested ``errors`` shape (one tree, an
    ``_errors`` list at each failing field)."""
    root: JSON = {}
    for field, code, message in problems:
        node = root
        for part in field.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return error_body(50035, "Invalid Form Body", root)
