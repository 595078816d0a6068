"""Several `threadbridge run` processes in one container (WEB_CONCURRENCY > 1).

One process runs one event loop, so it uses one core at most. The supervisor starts
`count` copies of the command as child processes and only watches them: they share the
database (leases keep a thread's turns in one process at a time), and either Slack's
HTTP port (each binds it with SO_REUSEPORT) or a Socket Mode connection each.

- SIGTERM or SIGINT is passed on to every child, which drains as a single process does;
  the supervisor exits 0 once all of them exited 0.
- A child that exits on its own (a bad token, a crash) takes the others down, and the
  supervisor exits with its code: the platform then restarts the whole container, as
  it would a single process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from bot.logs import setup_logging

logger = logging.getLogger(__name__)

#: The hidden `run` option that makes a process one of the supervisor's children.
CHILD_OPTION = "--process-index"


async def supervise(args: Sequence[str], count: int) -> int:
    """Run `python -m bot <args> --process-index i` for i in range(count) until a
    signal or until one of them exits; returns the exit code for the container."""
    loop = asyncio.get_running_loop()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, CHILD_OPTION, str(index)
        )
        for index in range(count)
    ]
    logger.info(
        "started %d processes (WEB_CONCURRENCY): pids %s",
        count,
        ", ".join(str(child.pid) for child in children),
    )
    stopping = asyncio.Event()

    def on_signal() -> None:
        stopping.set()
        _signal_all(children, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        waits = {asyncio.ensure_future(child.wait()): child for child in children}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        first = waits[next(iter(done))]
        if not stopping.is_set():
            logger.error(
                "process %s exited with code %s: stopping the others", first.pid, first.returncode
            )
            _signal_all(children, signal.SIGTERM)
        if pending:
            await asyncio.wait(pending)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for child in children:
            if child.returncode is None:  # cancelled: leave nothing behind
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
    if stopping.is_set():
        return next((_code(c.returncode) for c in children if c.returncode), 0)
    # The child that went first says why; 1 if it exited 0 without being asked to.
    return _code(first.returncode) or 1


def _code(returncode: int | None) -> int:
    """A child's exit status as a shell reports it (killed by signal N: 128 + N)."""
    if returncode is None:
        return 1
    return returncode if returncode >= 0 else 128 - returncode


def _signal_all(children: Sequence[asyncio.subprocess.Process], signum: int) -> None:
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)


def become_supervisor(
    count: int, args: Sequence[str], *, log_level: str, json_logs: bool
) -> NoReturn:
    """Replace this process (same pid: the platform's signals still reach it) by a
    fresh interpreter that runs only the supervisor: it holds ~20 MB, not the ~100 MB
    of everything `threadbridge run` imported."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(  # noqa: S606 - this interpreter, fixed arguments
        sys.executable,
        [
            sys.executable,
            "-m",
            "bot.supervisor",
            f"--count={count}",
            f"--log-level={log_level}",
            *(["--json-logs"] if json_logs else []),
            "--",
            *args,
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.supervisor")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--json-logs", action="store_true")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    setup_logging(options.log_level, json_lines=options.json_logs)
    args = [a for a in options.args if a != "--"]
    return asyncio.run(supervise(args, options.count))


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["CHILD_OPTION", "become_supervisor", "main", "supervise"]
