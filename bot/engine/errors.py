"""API errors as the engine meets them: what they mean and what the user is told.

The API's error body (`{"error": {"message", "type", "param", "code"}}`) is read
through the SDK's `APIStatusError.code` / `.param` / `.body`. Message text is looked at
only where the real API is known to answer without a code.
"""

from __future__ import annotations

import random

import openai

REASON_LIMIT = 200
# Containers: the real API answers an expired one with a 400 whose code is null
# ("Container is expired.", reported in the OpenAI community forum, thread 1321773), so
# the message is the fallback there; these codes are honoured where a server sends one.
CONTAINER_GONE_CODES = frozenset({"container_expired", "container_not_found"})


class TurnFailed(Exception):
    """A turn that cannot go on; `user_message` is short and safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


def user_message_for(exc: BaseException) -> str:
    """What the user is told about `exc` (the log has the details)."""
    if isinstance(exc, TurnFailed):
        return exc.user_message
    if isinstance(exc, openai.RateLimitError):
        return "The assistant is busy right now (rate limited). Please try again in a minute."
    if isinstance(exc, openai.APITimeoutError):
        return "The assistant took too long to answer. Please try again."
    if isinstance(exc, openai.APIConnectionError):
        return "The assistant could not be reached. Please try again."
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "The assistant is not configured correctly (the API key was refused)."
    if isinstance(exc, openai.APIStatusError):
        reason = server_reason(exc)
        if exc.status_code < 500:
            if reason:
                return f"The assistant's server refused this request: {reason}"
            return "The assistant could not handle this request."
        if reason:
            return f"The assistant's server failed: {reason}"
    return "Sorry, something went wrong while answering."


def _message(exc: openai.APIStatusError) -> str | None:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None


def server_reason(exc: openai.APIStatusError) -> str:
    """The error message a server gave (its JSON `error.message`), on one short line;
    "" for a body without one (an HTML page from a proxy, say)."""
    message = _message(exc)
    if message is None:
        return ""
    line = " ".join(message.split())
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1].rstrip() + "…"


def retry_delay(exc: openai.APIError, attempt: int) -> float:
    """The server's Retry-After if it gave one (up to a minute), else exponential backoff."""
    headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        try:
            seconds: float | None = float(value) * scale if value is not None else None
        except ValueError:
            seconds = None
        if seconds is not None and 0 <= seconds <= 60:
            return seconds
    return min(0.5 * 2.0 ** (attempt - 1), 8.0) * random.uniform(0.75, 1.0)  # noqa: S311


def is_transient(exc: openai.APIStatusError) -> bool:
    """What the SDK itself would retry: 408, 409, 429 and 5xx."""
    return exc.status_code in (408, 409, 429) or exc.status_code >= 500


def is_locked(exc: openai.APIStatusError) -> bool:
    """Another response of the conversation is still running (400 `conversation_locked`)."""
    return exc.code == "conversation_locked"


def is_conversation_gone(exc: openai.APIStatusError) -> bool:
    """The request's Conversation was deleted (or belongs to another project): a 404 about
    the `conversation` parameter. The message is read only when the body names neither
    a code nor a parameter."""
    if not isinstance(exc, openai.NotFoundError):
        return False
    if exc.code is not None or exc.param is not None:
        return exc.param == "conversation" or exc.code == "conversation_not_found"
    return "conversation" in (_message(exc) or "").lower()


def is_container_gone(exc: openai.APIStatusError) -> bool:
    """The code interpreter's container expired or was deleted (a 400 or 404)."""
    if exc.status_code not in (400, 404):
        return False
    if exc.code is not None:
        return exc.code in CONTAINER_GONE_CODES
    message = (_message(exc) or "").lower()
    return "container" in message and ("expired" in message or "not found" in message)
