"""Message components as Discord checks and stores them, beyond what the spec says.

Discord's OpenAPI definition describes each component on its own (a button's
``label`` at most 80 characters, a row at most 5 items, ``style`` 1-6); the rules
that tie fields or components together it cannot express, and Discord enforces
them itself, answering 400 ``50035 Invalid Form Body`` with the field's path:

- without the ``IS_COMPONENTS_V2`` flag (``1 << 15``) a message holds at most 5
  action rows and nothing else at the top level;
- a row holds up to 5 buttons or exactly one select menu;
- a button has a ``custom_id`` (styles 1-4), a ``url`` (style 5, link) or a
  ``sku_id`` (style 6, premium), exactly one of them;
- ``custom_id`` is 1-100 characters and unique within the message (disabled
  components count too, discord/discord-api-docs#3673);
- a unicode ``emoji`` (no ``id``) is an emoji, not text or ``<:name:id>``.

The length / choice rules the spec does have are repeated here so they hold with
``validate_requests = False`` too; with validation on, the spec answers first.

Stored messages get numeric component ``id``s where the request gave none, as
Discord does: sequential in document order, skipping ids already used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

JSON = dict[str, Any]
FormError = tuple[str, str, str]  # (dotted path, Discord error code, message)

FLAG_IS_COMPONENTS_V2 = 1 << 15

ACTION_ROW = 1
BUTTON = 2
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})  # string, user, role, mentionable, channel
INTERACTIVE_TYPES = SELECT_TYPES | {BUTTON, 4}  # 4: text input (modals)

STYLE_LINK = 5
STYLE_PREMIUM = 6
MAX_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 80


def walk(components: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every component, depth first in document order (rows, then their items;
    v2 containers / sections and a section's ``accessory`` included)."""
    for component in components:
        yield component
        yield from walk(component.get("components") or [])
        accessory = component.get("accessory")
        if isinstance(accessory, Mapping):
            yield from walk([accessory])


def buttons(components: Sequence[Mapping[str, Any]]) -> list[JSON]:
    """The buttons of a message, in order, as copies with ``disabled`` filled in."""
    out: list[JSON] = []
    for component in walk(components):
        if component.get("type") == BUTTON:
            button = dict(component)
            button["disabled"] = bool(button.get("disabled", False))
            out.append(button)
    return out


def assign_ids(components: list[JSON]) -> list[JSON]:
    """Give every component without an ``id`` the next free number (from 1), in
    document order, as Discord does when it stores a message; in place."""
    used = {c["id"] for c in walk(components) if isinstance(c.get("id"), int)}
    next_id = 1

    def visit(items: list[Any]) -> None:
        nonlocal next_id
        for component in items:
            if not isinstance(component, dict):
                continue
            if not isinstance(component.get("id"), int):
                while next_id in used:
                    next_id += 1
                component["id"] = next_id
                used.add(next_id)
            visit(component.get("components") or [])
            if isinstance(component.get("accessory"), dict):
                visit([component["accessory"]])

    visit(components)
    return components


def check(components: Sequence[Any] | None, *, flags: int = 0) -> list[FormError]:
    """Discord's component rules the spec cannot express (see the module docstring).

    Returns ``(path, code, message)`` triples, paths dotted from the body root
    (``components.0.components.1.custom_id``); empty when the components pass.
    """
    if not components or not isinstance(components, list):
        return []  # absent, or not a list (the spec's business)
    errors: list[FormError] = []
    v2 = bool(flags & FLAG_IS_COMPONENTS_V2)
    if not v2:
        if len(components) > MAX_ROWS:
            errors.append(
                ("components", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROWS} or fewer in length.")
            )
        for i, top in enumerate(components):
            if isinstance(top, Mapping) and top.get("type") != ACTION_ROW:
                # components v2 (containers, text displays...) need the flag
                errors.append(
                    (f"components.{i}.type", "BASE_TYPE_CHOICES", "Value must be one of {1}.")
                )
    for i, top in enumerate(components):
        if isinstance(top, Mapping):
            errors.extend(_check_tree(top, f"components.{i}"))
    errors.extend(_check_unique_custom_ids(components))
    return errors


def _check_tree(component: Mapping[str, Any], path: str) -> list[FormError]:
    errors: list[FormError] = []
    ctype = component.get("type")
    children = component.get("components") or []
    if ctype == ACTION_ROW and isinstance(children, list):
        kinds = [c.get("type") for c in children if isinstance(c, Mapping)]
        selects = sum(1 for k in kinds if k in SELECT_TYPES)
        if len(kinds) > MAX_ROW_BUTTONS:
            errors.append(
                (
                    f"{path}.components",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_ROW_BUTTONS} or fewer in length.",
                )
            )
        elif selects and len(kinds) > 1:
            # a select menu takes the whole row
            errors.append(
                (
                    f"{path}.components",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            )
    if ctype == BUTTON:
        errors.extend(_check_button(component, path))
    for j, child in enumerate(children if isinstance(children, list) else []):
        if isinstance(child, Mapping):
            errors.extend(_check_tree(child, f"{path}.components.{j}"))
    accessory = component.get("accessory")
    if isinstance(accessory, Mapping):
        errors.extend(_check_tree(accessory, f"{path}.accessory"))
    return errors


def _given(button: Mapping[str, Any], key: str) -> bool:
    return button.get(key) not in (None, "")


def _check_button(button: Mapping[str, Any], path: str) -> list[FormError]:
    errors: list[FormError] = []
    style = button.get("style")
    forbidden: tuple[str, ...]
    if style not in (1, 2, 3, 4, STYLE_LINK, STYLE_PREMIUM):
        return [(f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.")]
    if style == STYLE_LINK:
        required, forbidden = "url", ("custom_id", "sku_id")
    elif style == STYLE_PREMIUM:
        required, forbidden = "sku_id", ("custom_id", "url", "label", "emoji")
    else:
        required, forbidden = "custom_id", ("url", "sku_id")
    if not _given(button, required):
        what = {"url": "A url", "sku_id": "A sku id", "custom_id": "A custom id"}[required]
        errors.append(
            (
                f"{path}.{required}",
                f"BUTTON_COMPONENT_{required.upper()}_REQUIRED",
                f"{what} is required",
            )
        )
    for key in forbidden:
        if _given(button, key):
            errors.append(
                (
                    f"{path}.{key}",
                    "BUTTON_COMPONENT_INVALID_FIELD",
                    f"A button of style {style} cannot have a {key}",
                )
            )
    custom_id = button.get("custom_id")
    if isinstance(custom_id, str) and not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        errors.append(
            (
                f"{path}.custom_id",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
            )
        )
    label = button.get("label")
    if isinstance(label, str) and len(label) > MAX_LABEL:
        errors.append(
            (f"{path}.label", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_LABEL} or fewer in length.")
        )
    emoji = button.get("emoji")
    if isinstance(emoji, Mapping) and not _emoji_ok(emoji):
        errors.append((f"{path}.emoji", "BUTTON_COMPONENT_INVALID_EMOJI", "Invalid emoji"))
    return errors


def _emoji_ok(emoji: Mapping[str, Any]) -> bool:
    """A custom emoji is ``{"id": snowflake, "name"?}``; a unicode one is
    ``{"name": "👍"}``: emoji code points, not ``:thumbsup:`` or ``<:x:1>``."""
    eid, name = emoji.get("id"), emoji.get("name")
    if eid is not None:
        return str(eid).isdigit()
    if not isinstance(name, str) or not name:
        return False
    if any(ch.isspace() or ch in ":<>" for ch in name):
        return False
    # every emoji (keycaps like "1️⃣" included) has a code point outside ASCII
    return any(ord(ch) > 0x7F for ch in name) and not any(ch.isalpha() for ch in name)


def _check_unique_custom_ids(components: Sequence[Any]) -> list[FormError]:
    errors: list[FormError] = []
    seen: set[str] = set()

    def visit(component: Mapping[str, Any], path: str) -> None:
        custom_id = component.get("custom_id")
        if component.get("type") in INTERACTIVE_TYPES and isinstance(custom_id, str):
            if custom_id in seen:
                errors.append(
                    (
                        f"{path}.custom_id",
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                )
            seen.add(custom_id)
        for j, child in enumerate(component.get("components") or []):
            if isinstance(child, Mapping):
                visit(child, f"{path}.components.{j}")
        accessory = component.get("accessory")
        if isinstance(accessory, Mapping):
            visit(accessory, f"{path}.accessory")

    for i, top in enumerate(components):
        if isinstance(top, Mapping):
            visit(top, f"components.{i}")
    return errors
