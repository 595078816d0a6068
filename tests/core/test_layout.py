"""The dependency rule of DESIGN.md for the OpenAI SDK: who may import it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
ALLOWED = {"bot/engine/errors.py", "bot/engine/resources.py", "bot/engine/stream.py"}
ALLOWED |= {"bot/engine/turn.py", "bot/engine/pool.py", "bot/engine/audio.py"}
ALLOWED |= {"bot/knowledge.py"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_engine_modules_and_knowledge_import_openai() -> None:
    users = {
        str(path.relative_to(REPO))
        for package in ("bot", "adapters")
        for path in (REPO / package).rglob("*.py")
        if "openai" in imported(path)
    }
    assert users == ALLOWED


def test_the_engine_leaves_the_http_layer_to_the_sdk() -> None:
    for name in ALLOWED:
        assert not imported(REPO / name) & {"httpx", "httpx2", "anyio", "ssl", "aiohttp"}, name
