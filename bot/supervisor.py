"""Several `threadbridge run` processes in one container (WEB_CONCURRENCY > 1).

One process runs one event loop, so it uses one core at most. The supervisor starts
`count` copies of the command as child processes and only watches them: they share the
database (leases keep a thread's turns in one process at a time), and either Slack's
HTTP port (each binds it with SO_REUSEPORT) or a Socket Mode connection each.

- SIGTERM or SIGINT is passed on to every child once; each drains as a single process
  does (repeated SIGTERMs change nothing there). The supervisor exits 0 once all of
  them exited 0 (or died of that signal while starting, before they could take it up).
  A child still running `grace` seconds later is killed.
- A child that exits on its own (a bad token, a crash) takes the others down, and the
  supervisor exits with its code: the platform then restarts the whole container, as
  it would a single process.
- The children die with the supervisor (Linux: PR_SET_PDEATHSIG): a killed supervisor
  leaves no process behind to keep serving the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from bot.logs import setup_logging

# Run as `python -m bot.supervisor`, this module is `__main__`: name it as it is.
logger = logging.getLogger("bot.supervisor")

#: The hidden `run` option that makes a process one of the supervisor's children.
CHILD_OPTION = "--process-index"
#: The supervisor's pid, in its children's environment.
SUPERVISOR_PID = "THREADBRIDGE_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


async def supervise(args: Sequence[str], count: int, *, grace: float = 35.0) -> int:
    """Run `python -m bot <args> --process-index i` for i in range(count) until a
    signal or until one of them exits; returns the exit code for the container."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    children: list[asyncio.subprocess.Process] = []

    def on_signal() -> None:
        if not stopping.is_set():
            stopping.set()
            _signal_all(children, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    env = {**os.environ, SUPERVISOR_PID: str(os.getpid()), "WEB_CONCURRENCY": str(count)}
    crashed: asyncio.subprocess.Process | None = None  # exited before being asked to
    try:
        for index in range(count):
            if stopping.is_set():
                break
            children.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    *args,
                    CHILD_OPTION,
                    str(index),
                    env=env,
                    # A terminal's Ctrl-C reaches the supervisor only; it passes it on.
                    start_new_session=True,
                )
            )
        logger.info(
            "started %d processes (WEB_CONCURRENCY): pids %s",
            len(children),
            ", ".join(str(child.pid) for child in children),
        )
        if not children:
            return 0
        waits = {asyncio.ensure_future(child.wait()): child for child in children}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.is_set():
            crashed = waits[next(iter(done))]
            logger.error(
                "process %s exited with code %s: stopping the others",
                crashed.pid,
                crashed.returncode,
            )
            stopping.set()
            _signal_all(children, signal.SIGTERM)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            if late:
                logger.error("%d process(es) still running after %gs: killed", len(late), grace)
                _signal_all(children, signal.SIGKILL)
                await asyncio.wait(late)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for child in children:
            if child.returncode is None:  # cancelled or failed: leave nothing behind
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
    return exit_code(
        [child.returncode for child in children],
        crashed=None if crashed is None else crashed.returncode,
    )


def exit_code(returncodes: Sequence[int | None], *, crashed: int | None) -> int:
    """The supervisor's exit code: a child's that exited on its own (`crashed`; 1 if
    that was 0, as it was not asked to), else the first failed child's after a signal.
    A child the signal ended before it could take it up (still starting: no handler
    yet, no turn either) stopped cleanly."""
    if crashed is not None:
        return _code(crashed) or 1
    signalled = (-signal.SIGTERM, -signal.SIGINT)
    failed = (code for code in returncodes if code and code not in signalled)
    return next((_code(code) for code in failed), 0)


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


def die_with_supervisor() -> None:
    """In a child: be sent SIGTERM when the supervisor dies (Linux), and stop now if it
    already has (it may have died before this ran)."""
    parent = os.environ.get(SUPERVISOR_PID)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent is not None and os.getppid() != int(parent):
        logger.error("the supervisor (pid %s) is gone: exiting", parent)
        raise SystemExit(1)


def become_supervisor(
    count: int, args: Sequence[str], *, log_level: str, json_logs: bool, grace: float
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
            f"--grace={grace}",
            f"--log-level={log_level}",
            *(["--json-logs"] if json_logs else []),
            "--",
            *args,
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.supervisor")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--grace", type=float, default=35.0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--json-logs", action="store_true")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    setup_logging(options.log_level, json_lines=options.json_logs)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    return asyncio.run(supervise(args, options.count, grace=options.grace))


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CHILD_OPTION",
    "SUPERVISOR_PID",
    "become_supervisor",
    "die_with_supervisor",
    "exit_code",
    "main",
    "supervise",
]
