"""Fixtures of the emulator's self-tests: the emulator, and the real SDK pointed at it."""

from collections.abc import AsyncIterator

import openai
import pytest_asyncio

from tests.emulators.openai.plugin import llama_like_emulator, openai_emulator  # noqa: F401
from tests.emulators.openai.server import OpenAIEmulator


@pytest_asyncio.fixture
async def client(openai_emulator: OpenAIEmulator) -> AsyncIterator[openai.AsyncOpenAI]:  # noqa: F811
    """The real openai SDK against the emulator: no retries, a short timeout."""
    async with openai.AsyncOpenAI(
        base_url=openai_emulator.base_url, api_key="sk-test", max_retries=0, timeout=10
    ) as c:
        yield c
