"""pytest fixtures: ``openai_emulator`` and ``llama_like_emulator`` (started, stopped after).

Use them from a conftest.py: ``from tests.emulators.openai.plugin import openai_emulator``
(or ``pytest_plugins = ["tests.emulators.openai.plugin"]`` in a root-level conftest).

- ``openai_emulator``: OpenAI, every request held to the official definition; a request
  it rejects gets 400 and lands in ``emulator.spec_violations``.
- ``llama_like_emulator``: ``compat="llama.cpp"``, answers like llama.cpp's llama-server
  (no Conversations, files, containers, vector stores or GET /v1/models/{id}; its input
  rules and error bodies). Point the bot at it in stateless mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import OpenAIEmulator

__all__ = ["llama_like_emulator", "openai_emulator"]


@pytest_asyncio.fixture
async def openai_emulator() -> AsyncIterator[OpenAIEmulator]:
    emulator = OpenAIEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest_asyncio.fixture
async def llama_like_emulator() -> AsyncIterator[OpenAIEmulator]:
    emulator = OpenAIEmulator(compat="llama.cpp")
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
