"""Slack adapter: Bolt listeners, a streaming reply sink, safe file downloads.

`runner.run_slack` is what the command line starts (Socket Mode, or HTTP mode with
``--http``); `app.SlackBridge` is the Bolt app wired to the service.
"""

from .app import LISTENED_EVENTS, SCOPES, SlackBridge, SlackOptions, build_client
from .download import FileFetcher
from .events import PLATFORM, Anchor
from .runner import build_bridge, run_slack
from .sink import SinkOptions, SlackReplier, SlackSink

__all__ = [
    "LISTENED_EVENTS",
    "PLATFORM",
    "SCOPES",
    "Anchor",
    "FileFetcher",
    "SinkOptions",
    "SlackBridge",
    "SlackOptions",
    "SlackReplier",
    "SlackSink",
    "build_bridge",
    "build_client",
    "run_slack",
]
