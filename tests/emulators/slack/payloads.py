"""Realistic Slack Events API payloads and the HTTP request signing Slack does.

Everything here is pure: no emulator needed. Shapes follow what Slack sends for
``event_callback`` deliveries (team_id, api_app_id, event_id ``Ev...``, event_time,
authorizations, event_context).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from .models import (
    APP_ID,
    BOT_USER_ID,
    DEFAULT_USER_ID,
    ENTERPRISE_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    new_ts,
)

_ALNUM = string.ascii_uppercase + string.digits


def new_event_id() -> str:
    return "Ev" + "".join(secrets.choice(_ALNUM) for _ in range(9))


def _authorizations() -> list[dict[str, Any]]:
    return [
        {
            "enterprise_id": ENTERPRISE_ID,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """The rich_text block Slack clients attach to a typed message (mentions kept)."""
    elements: list[dict[str, Any]] = []
    pos = 0
    while pos < len(text):
        start = text.find("<@", pos)
        if start == -1:
            elements.append({"type": "text", "text": text[pos:]})
            break
        end = text.find(">", start)
        if end == -1:
            elements.append({"type": "text", "text": text[pos:]})
            break
        if start > pos:
            elements.append({"type": "text", "text": text[pos:start]})
        elements.append({"type": "user", "user_id": text[start + 2 : end].split("|")[0]})
        pos = end + 1
    return [
        {
            "type": "rich_text",
            "block_id": hashlib.sha1(
                text.encode("utf-8", "surrogatepass"), usedforsecurity=False
            ).hexdigest()[:5],
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def channel_type_for(channel: str) -> str:
    """``channel`` / ``group`` / ``im`` / ``mpim`` guessed from the id prefix."""
    if channel.startswith("D"):
        return "im"
    if channel.startswith("G"):
        return "group"
    return "channel"


def event_callback(
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    event_time: int | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """Wrap an inner event the way Slack delivers it (HTTP body / Socket Mode payload)."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": ENTERPRISE_ID,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": _authorizations(),
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }


def app_mention_event(
    *,
    channel: str = "C0001",
    user: str = DEFAULT_USER_ID,
    text: str = f"<@{BOT_USER_ID}> hello",
    ts: str | None = None,
    thread_ts: str | None = None,
    files: list[dict[str, Any]] | None = None,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """An ``app_mention`` inner event (wrap with :func:`event_callback`)."""
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "team": team,
        "blocks": rich_text_blocks(text),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = user
    if files:
        event["files"] = files
        event["upload"] = False
    return event


def message_event(
    *,
    channel: str = "C0001",
    user: str | None = DEFAULT_USER_ID,
    text: str = "hello",
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str | None = None,
    files: list[dict[str, Any]] | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
    team: str = TEAM_ID,
    parent_user_id: str | None = None,
) -> dict[str, Any]:
    """A ``message`` inner event (``message.channels`` / ``message.im`` / ...).

    ``channel_type`` defaults from the id prefix (``D`` -> ``im``). Pass ``bot_id``
    (and usually ``subtype="bot_message"``) for another bot's message; pass
    ``files`` for an upload (``subtype`` becomes ``file_share`` unless given).
    """
    ts = ts or new_ts()
    event: dict[str, Any] = {"type": "message"}
    if subtype is None and files:
        subtype = "file_share"
    if subtype is not None:
        event["subtype"] = subtype
    if user is not None:
        event["user"] = user
    if bot_id is not None:
        event["bot_id"] = bot_id
        event["app_id"] = "A" + bot_id[1:]
        event["bot_profile"] = {"id": bot_id, "name": "other-bot", "team_id": team}
    event["text"] = text
    event["ts"] = ts
    if bot_id is None:
        event["client_msg_id"] = str(uuid.uuid4())
        event["blocks"] = rich_text_blocks(text)
    event["team"] = team
    event["channel"] = channel
    event["event_ts"] = ts
    event["channel_type"] = channel_type or channel_type_for(channel)
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = parent_user_id or user or BOT_USER_ID
    if files:
        event["files"] = files
        event["upload"] = False
        event["display_as_bot"] = False
    return event


def message_changed_event(
    *,
    channel: str = "C0001",
    ts: str,
    new_text: str,
    old_text: str = "",
    user: str = DEFAULT_USER_ID,
    thread_ts: str | None = None,
    channel_type: str | None = None,
) -> dict[str, Any]:
    """``message`` with ``subtype: message_changed`` (an edit); filter these out."""
    event_ts = new_ts()
    inner: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": new_text,
        "ts": ts,
        "edited": {"user": user, "ts": event_ts},
        "team": TEAM_ID,
    }
    prev: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": old_text,
        "ts": ts,
        "team": TEAM_ID,
    }
    if thread_ts is not None:
        inner["thread_ts"] = thread_ts
        prev["thread_ts"] = thread_ts
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": inner,
        "previous_message": prev,
        "channel": channel,
        "hidden": True,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel_type or channel_type_for(channel),
    }


def message_deleted_event(
    *,
    channel: str = "C0001",
    deleted_ts: str,
    user: str = DEFAULT_USER_ID,
    text: str = "",
    thread_ts: str | None = None,
    channel_type: str | None = None,
) -> dict[str, Any]:
    """``message`` with ``subtype: message_deleted``; filter these out."""
    event_ts = new_ts()
    prev: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": deleted_ts,
        "team": TEAM_ID,
    }
    if thread_ts is not None:
        prev["thread_ts"] = thread_ts
    return {
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": prev,
        "channel": channel,
        "hidden": True,
        "deleted_ts": deleted_ts,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel_type or channel_type_for(channel),
    }


def assistant_thread_started_event(
    *,
    channel: str = "D0001",
    thread_ts: str | None = None,
    user: str = DEFAULT_USER_ID,
    context_channel_id: str | None = "C0001",
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """``assistant_thread_started``: the user opened the assistant container."""
    thread_ts = thread_ts or new_ts()
    context: dict[str, Any] = {"team_id": team_id, "enterprise_id": ENTERPRISE_ID}
    if context_channel_id is not None:
        context["channel_id"] = context_channel_id
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": context,
            "channel_id": channel,
            "thread_ts": thread_ts,
        },
        "event_ts": new_ts(),
    }


def assistant_thread_context_changed_event(
    *,
    channel: str = "D0001",
    thread_ts: str,
    user: str = DEFAULT_USER_ID,
    context_channel_id: str = "C0002",
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """``assistant_thread_context_changed``: the user switched channels beside the assistant."""
    event = assistant_thread_started_event(
        channel=channel,
        thread_ts=thread_ts,
        user=user,
        context_channel_id=context_channel_id,
        team_id=team_id,
    )
    event["type"] = "assistant_thread_context_changed"
    return event


def new_trigger_id() -> str:
    """A trigger_id shaped like Slack's (``"12345.98765.abcd2358fdea"``)."""
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"


def _interaction_user(user: str, team_id: str) -> dict[str, Any]:
    name = user.lower()
    return {"id": user, "username": name, "name": name, "team_id": team_id}


def message_action_payload(
    *,
    message: dict[str, Any],
    channel: str,
    callback_id: str,
    trigger_id: str,
    user: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
    channel_name: str | None = None,
) -> dict[str, Any]:
    """A message shortcut (``type: message_action``): `message` as the Web API returns
    it, the channel it is in, the user who chose the shortcut."""
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": new_ts(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _interaction_user(user, team_id),
        "channel": {"id": channel, "name": channel_name or _channel_name(channel)},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": f"https://hooks.slack.com/app/{TEAM_ID}/{secrets.token_hex(8)}",
        "message_ts": message["ts"],
        "message": message,
    }


def block_actions_payload(
    *,
    channel: str,
    message_ts: str,
    action: dict[str, Any],
    trigger_id: str,
    response_url: str,
    message: dict[str, Any] | None = None,
    thread_ts: str | None = None,
    is_ephemeral: bool = False,
    user: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
    channel_name: str | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on a message's button (or feedback
    button), shaped as Slack sends it (docs.slack.dev/reference/interaction-payloads/
    block_actions-payload; bolt-python's tests/scenario_tests*/test_block_actions.py).

    `action` is the one entry of ``actions`` (``action_id``, ``block_id``, ``type``,
    ``text``, ``value``, ``action_ts``). `message` is the message as the Web API
    returns it now; Slack leaves it out for an ephemeral message (`is_ephemeral`).
    ``container.thread_ts`` is set when the message is in a thread.
    """
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": is_ephemeral,
    }
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _interaction_user(user, team_id),
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel_name or _channel_name(channel)},
    }
    if message is not None:
        payload["message"] = message
    payload["state"] = {"values": {}}
    payload["response_url"] = response_url
    payload["actions"] = [action]
    return payload


def _channel_name(channel: str) -> str:
    if channel.startswith("D"):
        return "directmessage"
    if channel.startswith("G"):
        return "privategroup"
    return f"general-{channel.lower()}"


def view_submission_payload(
    *,
    view: dict[str, Any],
    trigger_id: str,
    user: str = DEFAULT_USER_ID,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """A ``view_submission``: `view` is the view object with ``state.values`` filled."""
    return {
        "type": "view_submission",
        "token": "legacy-verification-token",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _interaction_user(user, team_id),
        "api_app_id": APP_ID,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def url_verification(challenge: str = "test-challenge") -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "challenge": challenge,
        "type": "url_verification",
    }


# ---------------------------------------------------------------------------
# Signing (https://docs.slack.dev/authentication/verifying-requests-from-slack/)


def slack_signature(signing_secret: str, timestamp: int | str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes,
    signing_secret: str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/json",
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack_signature(signing_secret, ts, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
    if retry_reason is not None:
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


def signed_interactive_request(
    payload: dict[str, Any], signing_secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an interaction delivered over HTTP: the payload as JSON in
    the ``payload`` field of a form-encoded body, signed over the exact bytes."""
    body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
    headers = signed_headers(
        body,
        signing_secret,
        timestamp=timestamp,
        content_type="application/x-www-form-urlencoded",
    )
    return body, headers


def signed_event_request(
    payload: dict[str, Any],
    signing_secret: str,
    *,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an Events API HTTP delivery, signed as Slack signs it.

    ``retry_num``/``retry_reason`` add ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason``
    (Slack sends them only on redeliveries, e.g. ``1`` / ``http_timeout``).
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_headers(
        body,
        signing_secret,
        timestamp=timestamp,
        retry_num=retry_num,
        retry_reason=retry_reason,
    )
    return body, headers
