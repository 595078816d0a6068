"""Estimated cost of tokens: USD per million input and output tokens, per model.

The defaults are OpenAI's list prices for its current text models (standard tier,
uncached input) as published on openai.com/api/pricing; they change, so they are an
estimate, and the assistants file's `[prices]` table overrides or adds models:

```toml
[prices]
"gpt-5-mini" = { input = 0.25, output = 2.0 }
"my-local-model" = { input = 0, output = 0 }
"gpt-4o-mini-transcribe" = { minute = 0.003 }   # audio transcribed
"gpt-4o-mini-tts" = { million_characters = 15 }  # spoken replies
"gpt-image-1" = { image = 0.042 }                # generated images
```

A dated model id (`gpt-5-mini-2025-08-07`) takes the price of its longest listed prefix.
Audio and images are priced by the models the deployment uses for them now
(`THREADBRIDGE_TRANSCRIPTION_MODEL`, `THREADBRIDGE_SPEECH_MODEL`, and the image tool's
default `gpt-image-1` at medium quality).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

Price = tuple[float, float]  # USD per 1M input tokens, per 1M output tokens

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0),
    "o4-mini": (1.10, 4.40),
}


# USD per unit of the media models: a minute of audio transcribed, a million characters
# spoken, one image generated.
MediaUnit = Literal["minute", "million_characters", "image"]
MEDIA_UNITS: tuple[MediaUnit, ...] = ("minute", "million_characters", "image")
DEFAULT_MEDIA_PRICES: dict[str, float] = {
    "gpt-4o-mini-transcribe": 0.003,
    "gpt-4o-transcribe": 0.006,
    "whisper-1": 0.006,
    "gpt-4o-mini-tts": 15.0,
    "tts-1": 15.0,
    "tts-1-hd": 30.0,
    "gpt-image-1": 0.042,
}
IMAGE_MODEL = "gpt-image-1"

P = TypeVar("P")


def price_of(model: str, prices: Mapping[str, P]) -> P | None:
    """The price of `model`, or of the longest listed prefix of it; None if unknown."""
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(name + "-")]
    return prices[max(prefixes, key=len)] if prefixes else None


def media_cost(
    *,
    audio_seconds: float,
    speech_characters: int,
    images: int,
    models: tuple[str, str],
    prices: Mapping[str, float],
) -> tuple[float, bool]:
    """Estimated USD for audio heard, speech made and images generated, by the
    (transcription, speech) models, and whether any of them used has no price (then the
    sum is a lower bound)."""
    transcription, speech = models
    total, unknown = 0.0, False
    for used, model, per in (
        (audio_seconds / 60, transcription, 1.0),
        (speech_characters, speech, 1_000_000.0),
        (images, IMAGE_MODEL, 1.0),
    ):
        if not used:
            continue
        price = price_of(model, prices)
        if price is None:
            unknown = True
        else:
            total += used * price / per
    return total, unknown


def cost(
    model: str, input_tokens: int, output_tokens: int, prices: Mapping[str, Price]
) -> float | None:
    """Estimated USD for the tokens; None when the model's price is unknown."""
    price = price_of(model, prices)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


__all__ = [
    "DEFAULT_MEDIA_PRICES",
    "DEFAULT_PRICES",
    "MEDIA_UNITS",
    "Price",
    "cost",
    "media_cost",
    "price_of",
]
