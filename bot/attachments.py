"""Deciding what a user's file is for. Pure functions, no I/O."""

from __future__ import annotations

import io
import mimetypes
from pathlib import PurePath
from typing import Literal

import mutagen

FileKind = Literal["image", "audio", "document", "data", "unsupported"]

# What OpenAI's transcription endpoint takes, by file name; an Ogg Opus voice memo named
# .opus is sent as .ogg (the same container).
TRANSCRIBABLE_EXTENSIONS = {
    ".flac",
    ".m4a",
    ".mp3",
    ".mp4",
    ".mpeg",
    ".mpga",
    ".oga",
    ".ogg",
    ".wav",
    ".webm",
}
AUDIO_EXTENSIONS = TRANSCRIBABLE_EXTENSIONS - {".mp4", ".mpeg"} | {".opus", ".aac", ".amr"}
# The extension to send for an audio type whose file name has none it takes (a Slack clip
# named "Audio clip", say).
AUDIO_TYPE_EXTENSIONS = {
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/ogg": ".ogg",
    "audio/opus": ".ogg",
    "audio/webm": ".webm",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
}

IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
DOCUMENT_TYPES = {
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/html",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
DATA_EXTENSIONS = {
    ".csv",
    ".tsv",
    ".xlsx",
    ".xls",
    ".json",
    ".jsonl",
    ".parquet",
    ".xml",
    ".zip",
    ".py",
    ".txt",
    ".md",
    ".sql",
    ".yaml",
    ".yml",
    ".pptx",
    ".docx",
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
}
TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".rst", ".log", ".py", ".js", ".ts", ".sql"}
DATA_ONLY = {".csv", ".tsv", ".xlsx", ".xls", ".json", ".jsonl", ".parquet", ".xml", ".zip"}


def guess_mime(name: str, declared: str = "") -> str:
    if declared and declared != "application/octet-stream":
        return declared.split(";", 1)[0].strip().lower()
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def classify(name: str, mime_type: str, *, code_interpreter: bool) -> FileKind:
    """Where a file goes: the model's eyes, its reading, the code container, or nowhere."""
    mime = guess_mime(name, mime_type)
    ext = PurePath(name).suffix.lower()
    if mime in IMAGE_TYPES:
        return "image"
    if mime.startswith("audio/") or (ext in AUDIO_EXTENSIONS and not mime.startswith("video/")):
        return "audio"
    if ext in DATA_ONLY or mime in {"text/csv", "application/json"}:
        return "data" if code_interpreter else "unsupported"
    if mime in DOCUMENT_TYPES or ext in TEXT_EXTENSIONS or mime.startswith("text/"):
        return "document"
    if code_interpreter and ext in DATA_EXTENSIONS:
        return "data"
    return "unsupported"


def is_text(name: str, mime_type: str) -> bool:
    mime = guess_mime(name, mime_type)
    return mime.startswith("text/") or PurePath(name).suffix.lower() in TEXT_EXTENSIONS


def transcribable_name(name: str, mime_type: str = "") -> str | None:
    """The file name to send for transcription (the endpoint goes by its extension), or
    None for a format it does not take."""
    path = PurePath(name)
    ext = path.suffix.lower()
    if ext == ".opus":
        return str(path.with_suffix(".ogg"))
    if ext in TRANSCRIBABLE_EXTENSIONS:
        return name
    known = AUDIO_TYPE_EXTENSIONS.get(guess_mime(name, mime_type))
    return f"{name}{known}" if known else None


def audio_seconds(data: bytes) -> float | None:
    """The length of an audio file read from its headers; None when they don't tell
    (an unknown or broken file: the transcription endpoint has the last word)."""
    try:
        found = mutagen.File(io.BytesIO(data))
    except Exception:  # mutagen raises many kinds for broken files
        return None
    length = getattr(getattr(found, "info", None), "length", None)
    return float(length) if isinstance(length, int | float) and length > 0 else None


def clock(seconds: float) -> str:
    """`75.2` -> "1:15"."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
