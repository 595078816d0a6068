"""Loopback Discord emulator (REST v10 + gateway + HTTPS CDN) for driving discord.py.

discord.py imports the stdlib ``audioop`` module, which warns with a
DeprecationWarning on Python 3.11/3.12; under ``filterwarnings = error`` that
would break collection, so it is imported once here with the warning silenced.
"""

from __future__ import annotations

import contextlib
import warnings

with warnings.catch_warnings(), contextlib.suppress(ImportError):  # no audioop on 3.13+
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import audioop  # noqa: F401

from .cdn import CdnRequest, CdnResolver, CdnServer
from .gateway import GatewayHub, GatewaySession
from .server import (
    Callback,
    DefaultWorld,
    DiscordEmulator,
    EditRecord,
    InteractionOutcome,
    InteractionRecord,
    InteractionReply,
    Req,
    UploadedFile,
)
from .spec import SPEC_EXCEPTIONS, DiscordSpec, FieldError, SpecException, SpecViolation

__all__ = [
    "SPEC_EXCEPTIONS",
    "Callback",
    "CdnRequest",
    "CdnResolver",
    "CdnServer",
    "DefaultWorld",
    "DiscordEmulator",
    "DiscordSpec",
    "EditRecord",
    "FieldError",
    "GatewayHub",
    "GatewaySession",
    "InteractionOutcome",
    "InteractionRecord",
    "InteractionReply",
    "Req",
    "SpecException",
    "SpecViolation",
    "UploadedFile",
]
