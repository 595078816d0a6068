"""The function tool of the llama-server tests (`THREADBRIDGE_TOOLS=tests.llama.llama_tools`).

The tiny model calls `current_time` when tools are offered and, given a result with
"noon" in it, answers "The time is noon.". Each call appends a line to the file named
by `LLAMA_TOOL_CALLS_FILE`, so a test can tell that the function really ran.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["current_time"]

CALLS_FILE_VARIABLE = "LLAMA_TOOL_CALLS_FILE"


def current_time() -> str:
    """Tell the current time of day."""
    calls_file = os.environ.get(CALLS_FILE_VARIABLE)
    if calls_file:
        with Path(calls_file).open("a", encoding="utf-8") as f:
            f.write("current_time\n")
    return "noon"
