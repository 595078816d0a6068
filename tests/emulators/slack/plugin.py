"""pytest fixtures for the Slack emulator.

Use from a conftest.py::

    from tests.emulators.slack.plugin import slack_emulator  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import SlackEmulator


@pytest_asyncio.fixture
async def slack_emulator() -> AsyncIterator[SlackEmulator]:
    """A started emulator (bot token ``xoxb-test-bot``, app token ``xapp-test-app``,
    signing secret ``test-signing-secret``); stopped after the test."""
    emulator = SlackEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
