"""Modals as Slack checks them: the view an app opens and the answer to a submission.

Pure functions, no I/O. :func:`modal_problems` lists what Slack's views.open refuses
(``invalid_arguments`` with ``[ERROR] ... [json-pointer:/view/...]`` messages), from
Slack's view, Block Kit and composition object references: a ``modal`` with a
plain_text ``title`` (24 characters at most, like ``submit`` and ``close``), a
``submit`` whenever there is an input block, at most 100 blocks with unique
``block_id`` s, ``private_metadata`` up to 3000 characters, ``callback_id`` up to 255.
:func:`input_values` builds the ``view.state.values`` a user's typing produces (and
refuses what the Slack client would not let them submit); :func:`response_problems`
checks an app's ``response_action`` answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_VIEW_BLOCKS = 100
MAX_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_ID = 255
MAX_SECTION_TEXT = 3000
MAX_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_INPUT_LENGTH = 3000
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
RESPONSE_ACTIONS = frozenset({"errors", "update", "push", "clear"})


def _plain_text(value: Any, pointer: str, limit: int) -> list[str]:
    if value is None:
        name = pointer.rsplit("/", 1)[-1]
        return [f"[ERROR] missing required field: {name} [json-pointer:{pointer}]"]
    if not isinstance(value, Mapping) or value.get("type") != "plain_text":
        return [f"[ERROR] must be a plain_text object [json-pointer:{pointer}]"]
    text = value.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be at least 1 character [json-pointer:{pointer}/text]"]
    if len(text) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _text_object(value: Any, pointer: str, limit: int) -> list[str]:
    if not isinstance(value, Mapping) or value.get("type") not in ("plain_text", "mrkdwn"):
        return [f"[ERROR] must be a text object [json-pointer:{pointer}]"]
    text = value.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be at least 1 character [json-pointer:{pointer}/text]"]
    if len(text) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _input_element(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, Mapping) or not isinstance(element.get("type"), str):
        return [f"[ERROR] missing required field: element [json-pointer:{pointer}]"]
    problems: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ID):
        problems.append(f"[ERROR] invalid action_id [json-pointer:{pointer}/action_id]")
    if element["type"] == "plain_text_input":
        for name in ("max_length", "min_length"):
            value = element.get(name)
            if value is not None and (
                not isinstance(value, int) or not 0 <= value <= MAX_INPUT_LENGTH
            ):
                problems.append(
                    f"[ERROR] must be at most {MAX_INPUT_LENGTH} [json-pointer:{pointer}/{name}]"
                )
        if "placeholder" in element:
            problems += _plain_text(
                element["placeholder"], f"{pointer}/placeholder", MAX_PLACEHOLDER
            )
    elif element["type"] == "static_select":
        # Block Kit: 1-100 options, each a plain_text of at most 75 characters and a
        # value of at most 150; an initial_option must be one of them.
        options = element.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= 100:
            return [
                *problems,
                f"[ERROR] must provide 1-100 options [json-pointer:{pointer}/options]",
            ]
        for i, option in enumerate(options):
            where = f"{pointer}/options/{i}"
            if not isinstance(option, Mapping):
                problems.append(f"[ERROR] must provide an object [json-pointer:{where}]")
                continue
            problems += _plain_text(option.get("text"), f"{where}/text", 75)
            value = option.get("value")
            if not isinstance(value, str) or not 0 < len(value) <= 150:
                problems.append(f"[ERROR] invalid value [json-pointer:{where}/value]")
        initial = element.get("initial_option")
        if initial is not None and initial not in options:
            problems.append(
                "[ERROR] initial_option must be one of the options "
                f"[json-pointer:{pointer}/initial_option]"
            )
    elif element["type"] != "plain_text_input":
        problems.append(f"[ERROR] unsupported element type [json-pointer:{pointer}/type]")
    return problems


def _block(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, Mapping) or block.get("type") not in BLOCK_TYPES:
        return [f"[ERROR] unsupported block type [json-pointer:{pointer}/type]"]
    problems: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_ID):
        problems.append(f"[ERROR] invalid block_id [json-pointer:{pointer}/block_id]")
    kind = block["type"]
    if kind == "section":
        if "text" in block:
            problems += _text_object(block["text"], f"{pointer}/text", MAX_SECTION_TEXT)
        elif "fields" not in block:
            problems.append(f"[ERROR] missing required field: text [json-pointer:{pointer}]")
    elif kind == "input":
        problems += _plain_text(block.get("label"), f"{pointer}/label", MAX_LABEL)
        if "hint" in block:
            problems += _plain_text(block["hint"], f"{pointer}/hint", MAX_LABEL)
        problems += _input_element(block.get("element"), f"{pointer}/element")
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            problems.append(f"[ERROR] must have 1 to 10 elements [json-pointer:{pointer}/elements]")
    return problems


def modal_problems(view: Any) -> list[str]:
    """Why Slack would refuse `view` in views.open (empty: it opens)."""
    if not isinstance(view, Mapping):
        return ["[ERROR] must be an object [json-pointer:/view]"]
    if view.get("type") != "modal":
        return ["[ERROR] must be modal [json-pointer:/view/type]"]
    problems = _plain_text(view.get("title"), "/view/title", MAX_TITLE)
    for name in ("submit", "close"):
        if name in view:
            problems += _plain_text(view[name], f"/view/{name}", MAX_TITLE)
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*problems, "[ERROR] missing required field: blocks [json-pointer:/view]"]
    if len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(
            f"[ERROR] must be at most {MAX_VIEW_BLOCKS} items [json-pointer:/view/blocks]"
        )
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        problems += _block(block, f"/view/blocks/{i}")
        block_id = block.get("block_id") if isinstance(block, Mapping) else None
        if isinstance(block_id, str):
            if block_id in seen:
                problems.append(f"[ERROR] duplicate block_id [json-pointer:/view/blocks/{i}]")
            seen.add(block_id)
    has_input = any(isinstance(b, Mapping) and b.get("type") == "input" for b in blocks)
    if has_input and "submit" not in view:
        problems.append(
            "[ERROR] submit is required when input blocks are used [json-pointer:/view]"
        )
    metadata = view.get("private_metadata", "")
    if not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA:
        problems.append(
            f"[ERROR] must be less than {MAX_PRIVATE_METADATA + 1} characters "
            "[json-pointer:/view/private_metadata]"
        )
    for name in ("callback_id", "external_id"):
        value = view.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_ID:
            problems.append(f"[ERROR] invalid {name} [json-pointer:/view/{name}]")
    return problems


def input_blocks(view: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """block_id -> input block; blocks without a block_id get Slack's generated one."""
    found: dict[str, Mapping[str, Any]] = {}
    for i, block in enumerate(view.get("blocks") or []):
        if isinstance(block, Mapping) and block.get("type") == "input":
            found[str(block.get("block_id") or f"generated-{i}")] = block
    return found


def input_values(view: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, Any]:
    """``view.state.values`` for what a user typed into the modal's plain-text inputs
    (`typed`: block_id -> text) and chose in its static selects (block_id -> the
    option's value; a select left alone keeps its initial option). Raises ValueError
    for what the Slack client does not let a user submit: an unknown block, a required
    input left empty, a text over the input's ``max_length`` or under its
    ``min_length``, an option the select does not have."""
    blocks = input_blocks(view)
    unknown = set(typed) - set(blocks)
    if unknown:
        raise ValueError(f"the modal has no input block {sorted(unknown)}")
    values: dict[str, Any] = {}
    for block_id, block in blocks.items():
        element = block.get("element") or {}
        action_id = str(element.get("action_id") or "generated-action")
        text = typed.get(block_id)
        if element.get("type") == "static_select":
            # `typed` names the chosen option's value; untouched, the initial option.
            options = element.get("options") or []
            chosen = element.get("initial_option")
            if text is not None:
                chosen = next((o for o in options if o.get("value") == text), None)
                if chosen is None:
                    raise ValueError(f"input {block_id} has no option {text!r}")
            if chosen is None and not block.get("optional", False):
                raise ValueError(f"input {block_id} is required")
            values[block_id] = {action_id: {"type": "static_select", "selected_option": chosen}}
            continue
        if element.get("type") != "plain_text_input":
            raise ValueError(f"input {block_id} is a {element.get('type')}, not plain text")
        if not text:
            if not block.get("optional", False):
                raise ValueError(f"input {block_id} is required")
            values[block_id] = {action_id: {"type": "plain_text_input", "value": None}}
            continue
        if len(text) > int(element.get("max_length") or MAX_INPUT_LENGTH):
            raise ValueError(f"input {block_id} is longer than its max_length")
        if len(text) < int(element.get("min_length") or 0):
            raise ValueError(f"input {block_id} is shorter than its min_length")
        values[block_id] = {action_id: {"type": "plain_text_input", "value": text}}
    return values


def response_problems(view: Mapping[str, Any], response: Mapping[str, Any]) -> list[str]:
    """Why Slack would not accept `response` as the answer to a submission of `view`."""
    action = response.get("response_action")
    if action not in RESPONSE_ACTIONS:
        return [f"unknown response_action {action!r}"]
    if action == "errors":
        errors = response.get("errors")
        if not isinstance(errors, Mapping) or not errors:
            return ["response_action errors without errors"]
        inputs = input_blocks(view)
        problems = [f"errors names {k!r}, not an input block" for k in errors if k not in inputs]
        problems += [
            f"error for {k!r} is not a short text"
            for k, v in errors.items()
            if not (isinstance(v, str) and 0 < len(v) <= MAX_LABEL)
        ]
        return problems
    if action in ("update", "push"):
        return modal_problems(response.get("view"))
    return []


__all__ = ["input_blocks", "input_values", "modal_problems", "response_problems"]
