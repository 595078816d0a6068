"""The `responses.create` parameters the engine sends as given (bot.engine.SENT_AS_IS)."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin, get_type_hints

from openai._models import PropertyInfo
from openai.types.responses import response_create_params
from typing_extensions import TypedDict, is_typeddict

from bot.engine import SENT_AS_IS


def _renamed_or_reformatted(tp: Any, path: str, seen: set[int], found: list[str]) -> None:
    if id(tp) in seen:
        return
    seen.add(id(tp))
    if get_origin(tp) is Annotated:
        inner, *meta = get_args(tp)
        for m in meta:
            if isinstance(m, PropertyInfo) and (m.alias or m.format):
                found.append(path)
        _renamed_or_reformatted(inner, path, seen, found)
        return
    if is_typeddict(tp):
        for name, hint in get_type_hints(tp, include_extras=True).items():
            _renamed_or_reformatted(hint, f"{path}.{name}", seen, found)
        return
    for arg in get_args(tp):
        _renamed_or_reformatted(arg, path, seen, found)


def test_no_parameter_sent_as_is_needs_the_sdks_transform() -> None:
    hints = get_type_hints(
        response_create_params.ResponseCreateParamsStreaming, include_extras=True
    )
    found: list[str] = []
    seen: set[int] = set()
    for name in SENT_AS_IS:
        _renamed_or_reformatted(hints[name], name, seen, found)
    # Each TypedDict is visited: the walk is not vacuous.
    assert len(seen) > 100
    assert found == []


class _Inner(TypedDict, total=False):
    card_id: Annotated[str, PropertyInfo(alias="cardID")]


class _Outer(TypedDict, total=False):
    items: list[_Inner | str]


def test_the_walk_finds_an_alias() -> None:
    found: list[str] = []
    _renamed_or_reformatted(_Outer, "outer", set(), found)
    assert found == ["outer.items.card_id"]
