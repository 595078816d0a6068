"""What a failed Slack call says, whatever its body was.

A Web API error usually carries JSON (``{"ok": false, "error": "..."}``), but Slack's
edge and proxies answer 5xx with an HTML page, slack_sdk then holds a ``str`` (or, for
a body it cannot decode, the raw aiohttp response) where the dict would be, and a
dropped connection raises aiohttp's own errors. Code that handles failures uses
:data:`FAILURES` and :func:`error_code`, never ``exc.response.get``.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackClientError

#: Everything a Web API call can raise for a failure of Slack or the network.
FAILURES: tuple[type[BaseException], ...] = (SlackClientError, aiohttp.ClientError, TimeoutError)


def error_code(exc: BaseException) -> str:
    """Slack's ``error`` string, else ``http_<status>``, else the exception's class."""
    response = getattr(exc, "response", None)
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str) and error:
            return error
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if isinstance(status, int):
        return f"http_{status}"
    return exc.__class__.__name__


__all__ = ["FAILURES", "error_code"]
