"""Which arguments a Web API method takes, read from slack_sdk itself.

Slack publishes no current machine-readable definition of its Web API, so the
emulator holds calls to the one the real client encodes: for ``chat.postMessage``
the explicit keyword parameters of
``slack_sdk.web.async_client.AsyncWebClient.chat_postMessage``. slack_sdk puts each
of them into the request under the same name (JSON-encoding ``blocks``,
``attachments``, ``metadata``, ``chunks``, ``files``, ... and joining lists like
``channels`` with commas, but never renaming one; checked over the SDK's source by
``test_sdk_sends_parameters_under_their_own_names``). What a caller passes through
the method's ``**kwargs`` reaches Slack unchecked; here it is an unknown argument.
"""

from __future__ import annotations

import functools
import inspect

from slack_sdk.web.async_client import AsyncWebClient

#: Arguments any call may carry besides the method's own: the token (as a form
#: field when not in the Authorization header) and ``team_id``, which slack_sdk adds
#: to every call of a client built with ``team_id=`` (org-wide apps).
STANDARD_ARGUMENTS = frozenset({"token", "team_id"})

#: Methods that take any argument: api.test echoes what it gets back in ``args``.
ANY_ARGUMENTS = frozenset({"api.test"})


def sdk_function_name(method: str) -> str:
    """``chat.postMessage`` -> ``chat_postMessage`` (slack_sdk's naming)."""
    return method.replace(".", "_")


@functools.cache
def sdk_arguments(method: str) -> frozenset[str] | None:
    """The explicit parameter names of slack_sdk's method for ``method`` (None if
    slack_sdk has no such method, or it takes anything)."""
    if method in ANY_ARGUMENTS:
        return None
    fn = getattr(AsyncWebClient, sdk_function_name(method), None)
    if fn is None or not callable(fn):
        return None
    names = {
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    return frozenset(names)


def unknown_arguments(method: str, names: set[str] | frozenset[str]) -> list[str]:
    """The argument names slack_sdk's method for ``method`` does not have, sorted."""
    known = sdk_arguments(method)
    if known is None:
        return []
    return sorted(set(names) - known - STANDARD_ARGUMENTS)
