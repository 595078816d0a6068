"""Real (silent) audio files made in memory, and reading their length back.

Tests send these to ``/audio/transcriptions`` and the emulator answers ``/audio/speech``
with them; each is a well-formed file a real decoder plays (as silence), and mutagen
reads its length:

- ``wav_bytes``: PCM WAV (the ``wave`` module).
- ``mp3_bytes``: MPEG-1 Layer III frames, 32 kbit/s mono 48 kHz, each 24 ms of silence.
- ``ogg_opus_bytes``: Ogg Opus (``mutagen.ogg.OggPage``): OpusHead and OpusTags pages,
  then pages of 20 ms Opus silence frames with their granule positions.
- ``flac_bytes``: FLAC, STREAMINFO and frames of CONSTANT (zero) subframes.
- ``webm_bytes``: WebM (Matroska) with one Opus track, as a browser records a voice clip;
  ``duration=False`` leaves Info/Duration out, as MediaRecorder does.
- ``pcm_bytes``: raw 16-bit little-endian mono samples (``/audio/speech`` "pcm").

``audio_length(data)`` is how the emulator reads a length: ``mutagen.File`` (None when it
does not know the file, or it is broken), and for WebM, which mutagen does not read, the
EBML Duration or the last block's timestamp.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from typing import Any, cast

import mutagen
from mutagen.ogg import OggPage

__all__ = [
    "OPUS_SILENCE",
    "audio_length",
    "flac_bytes",
    "mp3_bytes",
    "ogg_opus_bytes",
    "pcm_bytes",
    "wav_bytes",
    "webm_bytes",
    "webm_length",
]

# One 20 ms CELT frame of silence (TOC 0xF8: fullband, 20 ms, mono, one frame).
OPUS_SILENCE = b"\xf8\xff\xfe"
_OPUS_FRAME_SAMPLES = 960  # 20 ms at 48 kHz, the rate Opus granule positions count in
_OPUS_PRE_SKIP = 312


def wav_bytes(seconds: float, *, rate: int = 16_000, channels: int = 1) -> bytes:
    """A silent 16-bit PCM WAV of ``seconds``."""
    frames = round(seconds * rate)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * channels * frames)
    return buf.getvalue()


def pcm_bytes(seconds: float, *, rate: int = 24_000) -> bytes:
    """Raw silent 16-bit little-endian mono samples."""
    return b"\x00\x00" * round(seconds * rate)


# MPEG-1 Layer III, no CRC; 32 kbit/s (index 1), 48 kHz (index 1), no padding; mono,
# original. 1152 samples a frame: 144 * 32000 / 48000 = 96 bytes, 24 ms.
_MP3_HEADER = b"\xff\xfb\x14\xc4"
_MP3_FRAME = _MP3_HEADER + bytes(96 - len(_MP3_HEADER))  # zero side info: silence
_MP3_FRAME_SECONDS = 1152 / 48_000


def mp3_bytes(seconds: float) -> bytes:
    """Silent MPEG-1 Layer III frames lasting ``seconds`` (rounded up to 24 ms)."""
    return _MP3_FRAME * max(1, math.ceil(seconds / _MP3_FRAME_SECONDS - 1e-9))


def _ogg_page() -> Any:
    return cast(Any, OggPage)()  # mutagen leaves OggPage untyped


def ogg_opus_bytes(seconds: float, *, serial: int = 0x7B0B) -> bytes:
    """A mono Ogg Opus stream of 20 ms silence frames lasting ``seconds``."""
    head = _ogg_page()
    head.serial, head.sequence, head.position = serial, 0, 0
    head.first = True
    head.packets = [b"OpusHead" + struct.pack("<BBHIhB", 1, 1, _OPUS_PRE_SKIP, 48_000, 0, 0)]
    vendor = b"threadbridge tests"
    tags = _ogg_page()
    tags.serial, tags.sequence, tags.position = serial, 1, 0
    tags.packets = [b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)]
    pages = [head, tags]
    frames = max(1, math.ceil(seconds * 50 - 1e-9))
    done = 0
    while done < frames:
        count = min(50, frames - done)  # a second a page (<= 255 lacing values)
        done += count
        page = _ogg_page()
        page.serial, page.sequence = serial, len(pages)
        page.position = _OPUS_PRE_SKIP + done * _OPUS_FRAME_SAMPLES
        page.packets = [OPUS_SILENCE] * count
        pages.append(page)
    pages[-1].last = True
    return b"".join(bytes(p.write()) for p in pages)


# ----------------------------------------------------------------------------- FLAC


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _flac_utf8(n: int) -> bytes:
    """FLAC's UTF-8-like coding of a frame number (up to 36 bits)."""
    if n < 0x80:
        return bytes([n])
    count = 2
    while n >= 1 << (5 * count + 1):
        count += 1
    out = []
    for _ in range(count - 1):
        out.append(0x80 | (n & 0x3F))
        n >>= 6
    lead = (0xFF << (8 - count)) & 0xFF
    return bytes([lead | n, *reversed(out)])


_FLAC_RATE_CODES = {8_000: 4, 16_000: 5, 22_050: 6, 24_000: 7, 32_000: 8, 44_100: 9, 48_000: 10}


def flac_bytes(seconds: float, *, rate: int = 24_000, block: int = 4096) -> bytes:
    """A silent mono 16-bit FLAC of ``seconds`` (frames of one CONSTANT subframe)."""
    code = _FLAC_RATE_CODES[rate]
    total = max(1, round(seconds * rate))
    md5 = hashlib.md5(usedforsecurity=False)
    zeros = bytes(2 * block)
    frames = []
    for number, start in enumerate(range(0, total, block)):
        size = min(block, total - start)
        md5.update(zeros[: 2 * size])
        # sync + fixed blocking; block size "16 bits at the end" (7), the rate's code;
        # mono (0), 16 bits a sample (4); frame number; block size - 1.
        header = bytes([0xFF, 0xF8, (7 << 4) | code, 4 << 1])
        header += _flac_utf8(number) + struct.pack(">H", size - 1)
        header += bytes([_crc8(header)])
        frame = header + b"\x00" + b"\x00\x00"  # CONSTANT subframe, value 0
        frames.append(frame + struct.pack(">H", _crc16(frame)))
    info = struct.pack(">HH", block, block) + bytes(6)  # min/max frame size unknown (0)
    packed = (rate << 44) | (0 << 41) | (15 << 36) | total  # mono, 16 bits
    info += packed.to_bytes(8, "big") + md5.digest()
    streaminfo = bytes([0x80]) + len(info).to_bytes(3, "big") + info  # last block, type 0
    return b"fLaC" + streaminfo + b"".join(frames)


# ----------------------------------------------------------------------------- WebM


def _ebml_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError("EBML size too large")


def _el(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _ebml_size(len(payload)) + payload


def _uint(eid: int, value: int) -> bytes:
    return _el(eid, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def webm_bytes(seconds: float, *, duration: bool = True) -> bytes:
    """A WebM file with one mono Opus track of 20 ms silence frames (1 ms timestamps).

    ``duration=False``: no Info/Duration, as a browser's MediaRecorder writes it.
    """
    header = _el(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _el(0x4282, b"webm")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    frames = max(1, math.ceil(seconds * 50 - 1e-9))
    info = _uint(0x2AD7B1, 1_000_000) + _el(0x4D80, b"threadbridge") + _el(0x5741, b"tests")
    if duration:
        info += _el(0x4489, struct.pack(">d", frames * 20.0))
    opus_head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, _OPUS_PRE_SKIP, 48_000, 0, 0)
    track = _el(
        0xAE,
        _uint(0xD7, 1)
        + _uint(0x73C5, 1)
        + _uint(0x83, 2)
        + _el(0x86, b"A_OPUS")
        + _el(0x63A2, opus_head)
        + _el(0xE1, _el(0xB5, struct.pack(">d", 48_000.0)) + _uint(0x9F, 1)),
    )
    clusters = b""
    for first in range(0, frames, 50):  # a cluster a second
        blocks = b"".join(
            _el(0xA3, b"\x81" + struct.pack(">hB", (n - first) * 20, 0x80) + OPUS_SILENCE)
            for n in range(first, min(frames, first + 50))
        )
        clusters += _el(0x1F43B675, _uint(0xE7, first * 20) + blocks)
    segment = _el(0x1549A966, info) + _el(0x1654AE6B, track) + clusters
    return header + _el(0x18538067, segment)


# Master elements whose children webm_length reads: Segment, Cluster, BlockGroup.
_WEBM_ENTER = {0x18538067, 0x1F43B675, 0xA0}


def _read_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """(value, next position, all-ones) of an EBML variable-length integer."""
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if first == 0 or pos + length > len(data):
        raise ValueError("bad EBML integer")
    raw = int.from_bytes(data[pos : pos + length], "big")
    value = raw if keep_marker else raw & ((1 << (7 * length)) - 1)
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, pos + length, unknown


def webm_length(data: bytes) -> float | None:
    """Seconds of a WebM/Matroska file: Info/Duration, else the last block's timestamp."""
    if not data.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    pos, scale = 0, 1_000_000
    duration: float | None = None
    cluster_time, last_block = 0, None
    doc_type = b""
    try:
        while pos < len(data):
            eid, pos, _ = _read_vint(data, pos, keep_marker=True)
            size, pos, unknown = _read_vint(data, pos, keep_marker=False)
            if eid == 0x1A45DFA3:  # EBML header: enter, to read DocType
                continue
            if eid in _WEBM_ENTER or eid == 0x1549A966:  # ... and Info
                continue
            if unknown:
                break
            body = data[pos : pos + size]
            pos += size
            if eid == 0x4282:
                doc_type = body
            elif eid == 0x2AD7B1:
                scale = int.from_bytes(body, "big")
            elif eid == 0x4489:
                duration = float(struct.unpack(">f" if size == 4 else ">d", body)[0])
            elif eid == 0xE7:
                cluster_time = int.from_bytes(body, "big")
            elif eid in (0xA3, 0xA1):  # SimpleBlock, Block
                _, at, _ = _read_vint(body, 0, keep_marker=False)
                (relative,) = struct.unpack(">h", body[at : at + 2])
                stamp = cluster_time + int(relative)
                last_block = stamp if last_block is None else max(last_block, stamp)
    except (ValueError, IndexError, struct.error):
        return None
    if doc_type not in (b"webm", b"matroska"):
        return None
    if duration is not None and duration > 0:
        return duration * scale / 1e9
    if last_block is not None:
        return last_block * scale / 1e9
    return None


def audio_length(data: bytes) -> float | None:
    """Seconds of audio in ``data`` as read from its headers; None if it cannot be read."""
    try:
        found = mutagen.File(io.BytesIO(data))
    except Exception:  # mutagen raises many kinds for broken files
        found = None
    if found is None:
        length = webm_length(data)
    else:
        length = getattr(getattr(found, "info", None), "length", None)
    if not isinstance(length, int | float) or not length > 0 or math.isinf(length):
        return None
    return float(length)
