"""The supervisor's exit code (WEB_CONCURRENCY > 1), as the platform sees it."""

from __future__ import annotations

import signal

from bot.supervisor import exit_code


def test_after_a_signal_it_exits_0_if_every_process_stopped_cleanly() -> None:
    assert exit_code([0, 0], crashed=None) == 0
    # One was still starting when the platform's SIGTERM came: it had nothing to finish.
    assert exit_code([0, -signal.SIGTERM], crashed=None) == 0
    assert exit_code([-signal.SIGINT, 0], crashed=None) == 0


def test_a_process_that_failed_or_was_killed_sets_the_code() -> None:
    assert exit_code([0, 3], crashed=None) == 3
    assert exit_code([-signal.SIGKILL, 0], crashed=None) == 128 + signal.SIGKILL  # grace over
    # One exited on its own: its code, and 1 for a 0 nobody asked for.
    assert exit_code([2, -signal.SIGTERM], crashed=2) == 2
    assert exit_code([0, -signal.SIGTERM], crashed=0) == 1
    assert exit_code([-signal.SIGTERM, 0], crashed=-signal.SIGTERM) == 128 + signal.SIGTERM
