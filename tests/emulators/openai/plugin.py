"""pytest fixture: ``openai_emulator`` (a started OpenAIEmulator, stopped afterwards).

Use it from a conftest.py: ``from tests.emulators.openai.plugin import openai_emulator``
(or ``pytest_plugins = ["tests.emulators.openai.plugin"]`` in a root-level conftest).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import OpenAIEmulator

__all__ = ["openai_emulator"]


@pytest_asyncio.fixture
async def openai_emulator() -> AsyncIterator[OpenAIEmulator]:
    emulator = OpenAIEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
