"""Message blocks as Slack checks them: ``invalid_blocks`` for what Slack refuses.

Pure functions, no I/O. :func:`block_problems` lists why Slack would refuse a
message's ``blocks`` (chat.postMessage, chat.update, chat.postEphemeral,
chat.stopStream, a ``blocks`` streaming chunk, a response_url body); the server
answers ``{"ok": false, "error": "invalid_blocks", "errors": [...],
"response_metadata": {"messages": ["[ERROR] ..."]}}`` as Slack does, each problem
naming its place with ``[json-pointer:/blocks/...]``.

Shapes and limits, from Slack's Block Kit reference (docs.slack.dev):

- reference/block-kit/blocks/actions-block: ``elements`` 1..25 interactive elements;
- reference/block-kit/blocks/context-actions-block: ``elements`` 1..5, only
  ``feedback_buttons`` and ``icon_button``;
- reference/block-kit/block-elements/feedback-buttons-element: ``positive_button``
  and ``negative_button``, each ``text`` (plain_text, at most 75 characters),
  ``value`` (required, at most 2000), ``accessibility_label`` (at most 75);
- reference/block-kit/block-elements/button-element: ``text`` plain_text up to 75,
  ``action_id`` up to 255, ``value`` up to 2000, ``url`` up to 3000, ``style``
  ``primary``/``danger``, ``accessibility_label`` up to 75, ``confirm``;
- reference/block-kit/block-elements/icon-button-element: ``icon``, ``text``,
  ``value``, ``accessibility_label``, ``confirm``;
- reference/block-kit/composition-objects/confirmation-dialog-object: ``title``
  (plain_text, 100), ``text`` (300), ``confirm`` and ``deny`` (plain_text, 30),
  ``style`` ``primary``/``danger``;
- reference/block-kit/blocks/{section,context,header,image,divider,markdown,
  rich_text,input,file,video}-block: section text up to 3000, fields up to 10 of up
  to 2000; context 1..10 elements; header plain_text up to 150; image ``alt_text``
  up to 2000, ``image_url`` up to 3000; markdown ``text`` up to 12000, all the
  markdown blocks of one payload together too;
- every ``block_id`` up to 255 characters and unique in the message; at most 50
  blocks in a message.

The limits come from the docs and from slack_sdk's models (which check the same
numbers); the wording of each error is the emulator's, in Slack's style ("must be
less than 76 characters [json-pointer:...]"). ``action_id`` must be unique in the
whole message here; Slack's reference says "unique among all other action_ids in
the containing block" and real Slack has been seen to refuse duplicates across
blocks too, so the stricter reading is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_BLOCKS = 50
MAX_ID = 255
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_URL = 3000
MAX_ACCESSIBILITY_LABEL = 75
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_ACTIONS_ELEMENTS = 5
MAX_ALT_TEXT = 2000
MAX_MARKDOWN_TEXT = 12000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_INPUT_LABEL = 2000

BUTTON_STYLES = frozenset({"primary", "danger"})
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})

#: Block types a message may carry (Block Kit's "Messages" surface, plus the
#: streaming blocks ``task_card`` and ``plan`` slack_sdk models).
MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "plan",
        "rich_text",
        "section",
        "table",
        "task_card",
        "video",
    }
)

#: Interactive elements an ``actions`` block takes.
ACTIONS_ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "external_select",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "overflow",
        "radio_buttons",
        "static_select",
        "timepicker",
        "users_select",
        "workflow_button",
    }
)

#: Elements a ``context_actions`` block takes.
CONTEXT_ACTIONS_ELEMENT_TYPES = frozenset({"feedback_buttons", "icon_button"})

#: Elements a section's ``accessory`` may be.
ACCESSORY_TYPES = ACTIONS_ELEMENT_TYPES | {"image"}


def _err(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _too_long(limit: int, pointer: str) -> str:
    return _err(f"must be less than {limit + 1} characters", pointer)


def text_object(
    value: Any, pointer: str, limit: int, *, plain_only: bool = False, required: bool = True
) -> list[str]:
    """Problems of a text composition object (``plain_text`` or ``mrkdwn``)."""
    if value is None:
        if not required:
            return []
        name = pointer.rsplit("/", 1)[-1]
        return [_err(f"missing required field: {name}", pointer.rsplit("/", 1)[0] or "/")]
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(value, Mapping):
        return [_err("must provide an object", pointer)]
    if value.get("type") not in allowed:
        expected = "plain_text" if plain_only else "plain_text or mrkdwn"
        return [_err(f"must be a {expected} text object", f"{pointer}/type")]
    text = value.get("text")
    if not isinstance(text, str):
        return [_err("missing required field: text", pointer)]
    if not text:
        return [_err("must be more than 0 characters", f"{pointer}/text")]
    if len(text) > limit:
        return [_too_long(limit, f"{pointer}/text")]
    problems: list[str] = []
    if "emoji" in value and value.get("type") != "plain_text":
        problems.append(_err("emoji is only allowed in plain_text", f"{pointer}/emoji"))
    return problems


def _string(
    value: Any, pointer: str, limit: int, *, required: bool = False, nonempty: bool = True
) -> list[str]:
    if value is None:
        if required:
            name = pointer.rsplit("/", 1)[-1]
            return [_err(f"missing required field: {name}", pointer.rsplit("/", 1)[0] or "/")]
        return []
    if not isinstance(value, str):
        return [_err("must be a string", pointer)]
    if nonempty and not value:
        return [_err("must be more than 0 characters", pointer)]
    if len(value) > limit:
        return [_too_long(limit, pointer)]
    return []


def confirm_object(value: Any, pointer: str) -> list[str]:
    """Problems of a confirmation dialog object (``confirm`` on a button)."""
    if not isinstance(value, Mapping):
        return [_err("must provide an object", pointer)]
    problems = text_object(
        value.get("title"), f"{pointer}/title", MAX_CONFIRM_TITLE, plain_only=True
    )
    problems += text_object(value.get("text"), f"{pointer}/text", MAX_CONFIRM_TEXT)
    problems += text_object(
        value.get("confirm"), f"{pointer}/confirm", MAX_CONFIRM_BUTTON, plain_only=True
    )
    problems += text_object(
        value.get("deny"), f"{pointer}/deny", MAX_CONFIRM_BUTTON, plain_only=True
    )
    style = value.get("style")
    if style is not None and style not in BUTTON_STYLES:
        problems.append(_err("must be a valid enum value", f"{pointer}/style"))
    return problems


def _action_id(element: Mapping[str, Any], pointer: str) -> list[str]:
    return _string(element.get("action_id"), f"{pointer}/action_id", MAX_ID)


def _button(element: Mapping[str, Any], pointer: str) -> list[str]:
    problems = text_object(element.get("text"), f"{pointer}/text", MAX_BUTTON_TEXT, plain_only=True)
    problems += _action_id(element, pointer)
    problems += _string(element.get("value"), f"{pointer}/value", MAX_VALUE)
    problems += _string(element.get("url"), f"{pointer}/url", MAX_URL)
    problems += _string(
        element.get("accessibility_label"),
        f"{pointer}/accessibility_label",
        MAX_ACCESSIBILITY_LABEL,
    )
    style = element.get("style")
    if style is not None and style not in BUTTON_STYLES:
        problems.append(_err("must be a valid enum value", f"{pointer}/style"))
    if "confirm" in element:
        problems += confirm_object(element["confirm"], f"{pointer}/confirm")
    return problems


def _feedback_button(value: Any, pointer: str) -> list[str]:
    if value is None:
        name = pointer.rsplit("/", 1)[-1]
        return [_err(f"missing required field: {name}", pointer.rsplit("/", 1)[0])]
    if not isinstance(value, Mapping):
        return [_err("must provide an object", pointer)]
    problems = text_object(value.get("text"), f"{pointer}/text", MAX_BUTTON_TEXT, plain_only=True)
    problems += _string(value.get("value"), f"{pointer}/value", MAX_VALUE, required=True)
    problems += _string(
        value.get("accessibility_label"),
        f"{pointer}/accessibility_label",
        MAX_ACCESSIBILITY_LABEL,
    )
    return problems


def _feedback_buttons(element: Mapping[str, Any], pointer: str) -> list[str]:
    problems = _action_id(element, pointer)
    problems += _feedback_button(element.get("positive_button"), f"{pointer}/positive_button")
    problems += _feedback_button(element.get("negative_button"), f"{pointer}/negative_button")
    return problems


def _icon_button(element: Mapping[str, Any], pointer: str) -> list[str]:
    problems = _string(element.get("icon"), f"{pointer}/icon", MAX_ID, required=True)
    problems += text_object(
        element.get("text"), f"{pointer}/text", MAX_BUTTON_TEXT, plain_only=True
    )
    problems += _action_id(element, pointer)
    problems += _string(element.get("value"), f"{pointer}/value", MAX_VALUE)
    problems += _string(
        element.get("accessibility_label"),
        f"{pointer}/accessibility_label",
        MAX_ACCESSIBILITY_LABEL,
    )
    if "confirm" in element:
        problems += confirm_object(element["confirm"], f"{pointer}/confirm")
    return problems


def _element(element: Any, pointer: str, allowed: frozenset[str]) -> list[str]:
    if not isinstance(element, Mapping):
        return [_err("must provide an object", pointer)]
    kind = element.get("type")
    if not isinstance(kind, str):
        return [_err("missing required field: type", pointer)]
    if kind not in allowed:
        return [_err(f"unsupported type: {kind}", f"{pointer}/type")]
    if kind == "button":
        return _button(element, pointer)
    if kind == "feedback_buttons":
        return _feedback_buttons(element, pointer)
    if kind == "icon_button":
        return _icon_button(element, pointer)
    if kind == "image":
        return _image(element, pointer)
    problems = _action_id(element, pointer)
    if "confirm" in element:
        problems += confirm_object(element["confirm"], f"{pointer}/confirm")
    return problems


def _elements(
    block: Mapping[str, Any], pointer: str, allowed: frozenset[str], most: int
) -> list[str]:
    elements = block.get("elements")
    if elements is None:
        return [_err("missing required field: elements", pointer)]
    if not isinstance(elements, list):
        return [_err("must be an array", f"{pointer}/elements")]
    if not elements:
        return [_err("must have at least 1 items", f"{pointer}/elements")]
    problems: list[str] = []
    if len(elements) > most:
        problems.append(_err(f"must have no more than {most} items", f"{pointer}/elements"))
    for i, element in enumerate(elements):
        problems += _element(element, f"{pointer}/elements/{i}", allowed)
    return problems


def _image(block: Mapping[str, Any], pointer: str) -> list[str]:
    problems = _string(block.get("alt_text"), f"{pointer}/alt_text", MAX_ALT_TEXT, required=True)
    if block.get("image_url") is None and block.get("slack_file") is None:
        problems.append(_err("missing required field: image_url", pointer))
    problems += _string(block.get("image_url"), f"{pointer}/image_url", MAX_URL)
    return problems


def _context_element(element: Any, pointer: str) -> list[str]:
    if isinstance(element, Mapping) and element.get("type") == "image":
        return _image(element, pointer)
    return text_object(element, pointer, MAX_SECTION_TEXT)


def _block(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, Mapping):
        return [_err("must provide an object", pointer)]
    kind = block.get("type")
    if not isinstance(kind, str):
        return [_err("missing required field: type", pointer)]
    if kind not in MESSAGE_BLOCK_TYPES:
        return [_err(f"unsupported type: {kind}", f"{pointer}/type")]
    problems = _string(block.get("block_id"), f"{pointer}/block_id", MAX_ID)
    if kind == "section":
        if "text" in block:
            problems += text_object(block["text"], f"{pointer}/text", MAX_SECTION_TEXT)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
                problems.append(
                    _err(f"must have no more than {MAX_SECTION_FIELDS} items", f"{pointer}/fields")
                )
            else:
                for i, f in enumerate(fields):
                    problems += text_object(f, f"{pointer}/fields/{i}", MAX_FIELD_TEXT)
        if "text" not in block and fields is None:
            problems.append(_err("missing required field: text", pointer))
        if "accessory" in block:
            problems += _element(block["accessory"], f"{pointer}/accessory", ACCESSORY_TYPES)
    elif kind == "actions":
        problems += _elements(block, pointer, ACTIONS_ELEMENT_TYPES, MAX_ACTIONS_ELEMENTS)
    elif kind == "context_actions":
        problems += _elements(
            block, pointer, CONTEXT_ACTIONS_ELEMENT_TYPES, MAX_CONTEXT_ACTIONS_ELEMENTS
        )
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            problems.append(
                _err(f"must have 1 to {MAX_CONTEXT_ELEMENTS} items", f"{pointer}/elements")
            )
        else:
            for i, element in enumerate(elements):
                problems += _context_element(element, f"{pointer}/elements/{i}")
    elif kind == "header":
        problems += text_object(
            block.get("text"), f"{pointer}/text", MAX_HEADER_TEXT, plain_only=True
        )
    elif kind == "image":
        problems += _image(block, pointer)
        if "title" in block:
            problems += text_object(
                block["title"], f"{pointer}/title", MAX_ALT_TEXT, plain_only=True
            )
    elif kind == "markdown":
        problems += _string(block.get("text"), f"{pointer}/text", MAX_MARKDOWN_TEXT, required=True)
    elif kind == "rich_text":
        if not isinstance(block.get("elements"), list):
            problems.append(_err("missing required field: elements", pointer))
    elif kind == "input":
        problems += text_object(
            block.get("label"), f"{pointer}/label", MAX_INPUT_LABEL, plain_only=True
        )
        if not isinstance(block.get("element"), Mapping):
            problems.append(_err("missing required field: element", pointer))
    elif kind == "task_card":
        problems += _string(block.get("task_id"), f"{pointer}/task_id", MAX_ID, required=True)
        problems += _string(block.get("title"), f"{pointer}/title", MAX_VALUE, required=True)
        if block.get("status") not in TASK_STATUSES:
            problems.append(_err("must be a valid enum value", f"{pointer}/status"))
    elif kind == "plan":
        problems += _string(block.get("title"), f"{pointer}/title", MAX_VALUE, required=True)
    return problems


def _interactive_ids(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(action_id, pointer suffix) of the interactive elements of a block."""
    found: list[tuple[str, str]] = []
    elements = (
        block.get("elements") if block.get("type") in ("actions", "context_actions") else None
    )
    if isinstance(elements, list):
        for i, element in enumerate(elements):
            if isinstance(element, Mapping) and isinstance(element.get("action_id"), str):
                found.append((element["action_id"], f"/elements/{i}/action_id"))
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping) and isinstance(accessory.get("action_id"), str):
        found.append((accessory["action_id"], "/accessory/action_id"))
    return found


def block_problems(blocks: Any, pointer: str = "/blocks") -> list[str]:
    """Why Slack would refuse `blocks` in a message (empty: it takes them).

    Each problem is ``"<what> [json-pointer:<where>]"`` (no ``[ERROR]`` prefix:
    that is added for ``response_metadata.messages``).
    """
    if not isinstance(blocks, list):
        return [_err("must be an array", pointer)]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(_err(f"must have no more than {MAX_BLOCKS} items", pointer))
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    markdown = 0  # characters of all markdown blocks: 12,000 at most in one payload
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        problems += _block(block, where)
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "markdown" and isinstance(block.get("text"), str):
            markdown += len(block["text"])
            if markdown > MAX_MARKDOWN_TEXT and len(block["text"]) <= MAX_MARKDOWN_TEXT:
                problems.append(
                    _err(f"markdown blocks must total no more than {MAX_MARKDOWN_TEXT}", where)
                )
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in block_ids:
                problems.append(_err(f"duplicate block_id: {block_id}", f"{where}/block_id"))
            block_ids.add(block_id)
        for action_id, suffix in _interactive_ids(block):
            if action_id in action_ids:
                problems.append(_err(f"duplicate action_id: {action_id}", f"{where}{suffix}"))
            action_ids.add(action_id)
    return problems


__all__ = [
    "ACTIONS_ELEMENT_TYPES",
    "CONTEXT_ACTIONS_ELEMENT_TYPES",
    "MESSAGE_BLOCK_TYPES",
    "TASK_STATUSES",
    "block_problems",
    "confirm_object",
    "text_object",
]
