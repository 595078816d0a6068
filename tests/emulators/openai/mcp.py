"""OpenAI's remote MCP tool (``{"type": "mcp", ...}``) as the Responses API runs it.

Pure functions over request tools and context items; ``server.py`` emits the items.
What the emulator does (from OpenAI's guide "Connectors and MCP servers" and the
vendored definition, ``MCPTool`` / ``MCPListTools`` / ``MCPApprovalRequest`` /
``MCPToolCall`` and the ``response.mcp_*`` stream events):

- Tools: every ``mcp`` tool of a request whose ``server_label`` has no ``mcp_list_tools``
  item in the context yet (conversation items, the ``previous_response_id`` chain or the
  input) gets one at the start of the output: the API imports a server's tools once and
  keeps using the list while it is in the context.
- A scripted call (``Reply.mcp_calls``) is made only if the request has an mcp tool with
  that ``server_label`` and the tool is allowed (``allowed_tools``; the server's tools if
  ``OpenAIEmulator.mcp_server_tools`` names them). The model cannot call anything else, so
  anything else is not called (kept in ``OpenAIEmulator.mcp_calls_ignored``), the way a
  code-interpreter script is ignored without that tool.
- ``require_approval``: absent or null means "always" (the definition's default, and the
  guide: "By default, OpenAI will request your approval before any data is shared").
  "never" runs the call at once. The filter object ``{"always": F, "never": F}`` (``F`` =
  ``{"tool_names": [...], "read_only": bool}``): a tool ``never`` matches runs without
  approval unless ``always`` matches it too; a tool neither matches needs approval.
- Approval: the call becomes an ``mcp_approval_request`` item and the response completes
  without running it. A later request answers with an ``mcp_approval_response`` input item;
  approved, that response runs the call first (an ``mcp_call`` carrying the
  ``approval_request_id``). An unanswered approval request blocks nothing: the next user
  message is accepted (approval is the caller's choice; nothing in the definition or the
  guide pairs requests with responses the way function calls need outputs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

JSON = dict[str, Any]

__all__ = [
    "DEFAULT_REQUIRE_APPROVAL",
    "McpCallRun",
    "allowed",
    "answered_ids",
    "approval_requests",
    "filter_matches",
    "listed_labels",
    "mcp_tools",
    "needs_approval",
    "public_tool",
    "read_only",
    "server_tool",
]

DEFAULT_REQUIRE_APPROVAL = "always"


@dataclass
class McpCallRun:
    """One MCP tool call the emulated API made (an ``mcp_call`` item it emitted)."""

    server_label: str
    name: str
    arguments: JSON  # parsed from the item's JSON string ({} if it was not JSON)
    response_id: str
    item_id: str  # "mcp_..."
    # The mcp_approval_request this call was approved through; None: no approval needed.
    approval_request_id: str | None = None
    output: str | None = None
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # the tool's headers, as sent


def mcp_tools(tools: Iterable[Any]) -> dict[str, JSON]:
    """The request's mcp tools by ``server_label`` (the first of a label wins)."""
    found: dict[str, JSON] = {}
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "mcp":
            found.setdefault(str(tool.get("server_label")), tool)
    return found


def read_only(annotations: Any) -> bool | None:
    """A listed tool's read-only flag (``read_only`` as the API lists it, or MCP's
    ``readOnlyHint``); None if the tool does not say."""
    if not isinstance(annotations, dict):
        return None
    for key in ("read_only", "readOnlyHint"):
        if isinstance(annotations.get(key), bool):
            return bool(annotations[key])
    return None


def filter_matches(flt: Any, name: str, annotations: Any = None) -> bool:
    """Whether an ``MCPToolFilter`` (``tool_names``, ``read_only``) selects the tool.

    Each key given must hold; a filter without keys selects every tool.
    """
    if not isinstance(flt, dict):
        return False
    names = flt.get("tool_names")
    if isinstance(names, list) and name not in names:
        return False
    wanted = flt.get("read_only")
    return not (isinstance(wanted, bool) and read_only(annotations) is not wanted)


def allowed(tool: JSON, name: str, annotations: Any = None) -> bool:
    """Whether ``allowed_tools`` (a name list or a filter; absent: all) lets the model call it."""
    rule = tool.get("allowed_tools")
    if rule is None:
        return True
    if isinstance(rule, list):
        return name in rule
    return filter_matches(rule, name, annotations)


def needs_approval(tool: JSON, name: str, annotations: Any = None) -> bool:
    """Whether a call of ``name`` waits for an ``mcp_approval_response`` (see module doc)."""
    rule = tool.get("require_approval")
    if rule is None:
        rule = DEFAULT_REQUIRE_APPROVAL
    if rule == "always":
        return True
    if rule == "never":
        return False
    if isinstance(rule, dict):
        if filter_matches(rule.get("always"), name, annotations):
            return True
        return not filter_matches(rule.get("never"), name, annotations)
    return True


def server_tool(entry: JSON | str) -> JSON:
    """One ``MCPListToolsTool`` (name, input_schema, description, annotations)."""
    if isinstance(entry, str):
        entry = {"name": entry}
    return {
        "name": str(entry["name"]),
        "input_schema": entry.get("input_schema") or {"type": "object", "properties": {}},
        "description": entry.get("description"),
        "annotations": entry.get("annotations", {"read_only": False}),
    }


def listed_labels(context: Iterable[JSON]) -> set[str]:
    """Server labels with an ``mcp_list_tools`` item in the context."""
    return {str(i.get("server_label")) for i in context if i.get("type") == "mcp_list_tools"}


def approval_requests(context: Iterable[JSON]) -> dict[str, JSON]:
    """``mcp_approval_request`` items of the context by id."""
    return {str(i.get("id")): i for i in context if i.get("type") == "mcp_approval_request"}


def answered_ids(context: Iterable[JSON]) -> set[str]:
    """Approval requests answered in the context (a response, or a call that ran on one)."""
    out: set[str] = set()
    for item in context:
        if item.get("type") in ("mcp_approval_response", "mcp_call") and item.get(
            "approval_request_id"
        ):
            out.add(str(item["approval_request_id"]))
    return out


def public_tool(tool: JSON) -> JSON:
    """An mcp tool as the response object echoes it.

    The guide: the API "does not store the values of any string you provide in the
    headers object. These values will also not be visible in the Response object", and
    "we also discard the path portion of the server_url in our responses". The OAuth
    ``authorization`` token is left out the same way.
    """
    out = {k: v for k, v in tool.items() if k != "authorization"}
    if "headers" in out:
        out["headers"] = None
    url = out.get("server_url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            out["server_url"] = f"{parts.scheme}://{parts.netloc}"
    return out
