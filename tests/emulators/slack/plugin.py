"""pytest fixtures for the Slack emulator.

Use from a conftest.py::

    from tests.emulators.slack.plugin import slack_emulator  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .server import SlackEmulator


@pytest_asyncio.fixture
async def slack_emulator() -> AsyncIterator[SlackEmulator]:
    """A started emulator (bot token ``xoxb-test-bot``, app token ``xapp-test-app``,
    signing secret ``test-signing-secret``); stopped after the test.

    At teardown the test fails if a call named an argument slack_sdk's method does
    not have (``emulator.unknown_arguments``; a test that sends them on purpose
    clears the list or sets ``emulator.expect_unknown_arguments = True``).
    """
    emulator = SlackEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
    if emulator.unknown_arguments and not emulator.expect_unknown_arguments:
        pytest.fail(
            "Slack Web API calls with arguments slack_sdk's method does not name "
            "(answered invalid_arguments):\n" + emulator.unknown_argument_report(),
            pytrace=False,
        )
